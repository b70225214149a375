#include "io/checkpoint_writing.h"

#include <cstdio>
#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/safetensors.h"

namespace turbolm {
namespace {

namespace fs = std::filesystem;

void remove_stale_weights(const fs::path& dir) {
    static const std::regex kShard(R"(model-\d+-of-\d+\.safetensors)");
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (!entry.is_regular_file()) continue;
        const std::string name = entry.path().filename().string();
        if (name == "model.safetensors" || name == "model.safetensors.index.json" || std::regex_match(name, kShard))
            fs::remove(entry.path());
    }
}

std::string shard_name(size_t i, size_t n) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, n);
    return buf;
}

}  // namespace

std::vector<std::string> write_checkpoint_weights(const fs::path& dir, const std::map<std::string, Tensor>& tensors,
                                                  size_t max_shard_bytes) {
    TURBOLM_CHECK(max_shard_bytes > 0, "shards of 0 bytes");
    for (const auto& [name, t] : tensors)
        TURBOLM_CHECK(t.defined() && t.device() == Device::kCpu, "tensor '", name, "' to write is not on the CPU");
    fs::create_directories(dir);
    remove_stale_weights(dir);
    const std::map<std::string, std::string> metadata{{"format", "pt"}};
    // Tensors in name order, a new shard whenever the next one would overflow the current.
    std::vector<std::map<std::string, Tensor>> shards(1);
    size_t shard_bytes = 0, total = 0;
    for (const auto& [name, t] : tensors) {
        if (shard_bytes > 0 && shard_bytes + t.nbytes() > max_shard_bytes) {
            shards.emplace_back();
            shard_bytes = 0;
        }
        shards.back()[name] = t;
        shard_bytes += t.nbytes();
        total += t.nbytes();
    }
    if (shards.size() == 1) {
        write_safetensors(dir / "model.safetensors", shards[0], metadata);
        return {"model.safetensors"};
    }
    std::vector<std::string> files;
    nlohmann::json weight_map = nlohmann::json::object();
    for (size_t i = 0; i < shards.size(); ++i) {
        const std::string file = shard_name(i, shards.size());
        write_safetensors(dir / file, shards[i], metadata);
        for (const auto& [name, t] : shards[i]) weight_map[name] = file;
        files.push_back(file);
    }
    nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    std::ofstream out(dir / "model.safetensors.index.json");
    out << index.dump(2) << "\n";
    if (!out) fail(StatusCode::kDataLoss, (dir / "model.safetensors.index.json").string(), ": write failed");
    files.push_back("model.safetensors.index.json");
    return files;
}

}  // namespace turbolm
