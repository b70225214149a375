// Encodes a text file N times with a turbolm tokenizer on one thread and prints one JSON line: the
// best time, MB/s, tokens/s, the token count and an FNV-1a hash of the ids (the same hash as
// hf_tokenizer_speed.py, so the two runs can be checked for identical output).
//
//   turbolm_tokenizer_speed TOKENIZER_DIR_OR_FILE TEXT_FILE [--repeat N] [--ids-out FILE]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace {

uint64_t fnv1a(const std::vector<int32_t>& ids) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int32_t id : ids) {
        uint32_t v = static_cast<uint32_t>(id);
        for (int shift = 0; shift < 32; shift += 8) {
            h ^= (v >> shift) & 0xFF;
            h *= 0x100000001b3ull;
        }
    }
    return h;
}

std::string json_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::cerr << "usage: " << argv[0] << " TOKENIZER_DIR_OR_FILE TEXT_FILE [--repeat N] [--ids-out FILE]\n";
        return 2;
    }
    std::string tokenizer_path = argv[1], text_path = argv[2], ids_out;
    int repeat = 5;
    for (int i = 3; i + 1 < argc; i += 2) {
        std::string flag = argv[i];
        if (flag == "--repeat") repeat = std::max(1, std::stoi(argv[i + 1]));
        if (flag == "--ids-out") ids_out = argv[i + 1];
    }
    try {
        using clock = std::chrono::steady_clock;
        auto t0 = clock::now();
        auto tok = turbolm::Tokenizer::load(tokenizer_path);
        double load_s = std::chrono::duration<double>(clock::now() - t0).count();
        std::ifstream in(text_path, std::ios::binary);
        if (!in) throw std::runtime_error(text_path + ": cannot open");
        std::ostringstream buf;
        buf << in.rdbuf();
        const std::string text = buf.str();

        std::vector<int32_t> ids = tok->encode(text, false);  // warm-up
        double best = 1e30;
        for (int r = 0; r < repeat; ++r) {
            auto start = clock::now();
            ids = tok->encode(text, false);
            best = std::min(best, std::chrono::duration<double>(clock::now() - start).count());
        }
        if (!ids_out.empty()) {
            std::ofstream out(ids_out);
            for (size_t i = 0; i < ids.size(); ++i) out << (i ? " " : "") << ids[i];
            out << "\n";
        }
        char hash[17];
        std::snprintf(hash, sizeof(hash), "%016llx", static_cast<unsigned long long>(fnv1a(ids)));
        std::cout << "{\"impl\": \"turbolm\", \"tokenizer\": \"" << json_escape(tokenizer_path) << "\", \"source\": \""
                  << json_escape(tok->source()) << "\", \"load_seconds\": " << load_s
                  << ", \"text_bytes\": " << text.size() << ", \"tokens\": " << ids.size() << ", \"repeat\": " << repeat
                  << ", \"best_seconds\": " << best << ", \"mb_per_s\": " << text.size() / best / 1e6
                  << ", \"tokens_per_s\": " << ids.size() / best << ", \"ids_fnv1a\": \"" << hash << "\"}\n";
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
