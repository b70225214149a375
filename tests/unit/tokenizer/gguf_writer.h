// A minimal GGUF writer for tests: builds files with any metadata, to read back or to break.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace turbolm::test {

class GgufWriter {
  public:
    explicit GgufWriter(uint32_t version = 3) {
        raw("GGUF", 4);
        pod(version);
        count_pos_ = bytes_.size();
        pod<uint64_t>(0);  // tensors
        pod<uint64_t>(0);  // key/values
    }
    template <typename T>
    void pod(T v) {
        raw(&v, sizeof(T));
    }
    void raw(const void* p, size_t n) { bytes_.append(static_cast<const char*>(p), n); }
    void str(const std::string& s) {
        pod<uint64_t>(s.size());
        raw(s.data(), s.size());
    }
    void key(const std::string& k, uint32_t type) {
        str(k);
        pod(type);
        ++n_kv_;
    }
    void kv_string(const std::string& k, const std::string& v) {
        key(k, 8);
        str(v);
    }
    template <typename T>
    void kv_scalar(const std::string& k, uint32_t type, T v) {
        key(k, type);
        pod(v);
    }
    void kv_strings(const std::string& k, const std::vector<std::string>& v) {
        key(k, 9);
        pod<uint32_t>(8);
        pod<uint64_t>(v.size());
        for (const auto& s : v) str(s);
    }
    template <typename T>
    void kv_array(const std::string& k, uint32_t elem_type, const std::vector<T>& v) {
        key(k, 9);
        pod(elem_type);
        pod<uint64_t>(v.size());
        for (T x : v) pod(x);
    }
    void tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
        tensors_.push_back({name, dims, type, offset});
    }
    void data(std::string bytes) { data_ = std::move(bytes); }
    std::string bytes() const {
        std::string b = bytes_;
        for (const auto& t : tensors_) {
            append_str(b, t.name);
            append<uint32_t>(b, static_cast<uint32_t>(t.dims.size()));
            for (uint64_t d : t.dims) append(b, d);
            append(b, t.type);
            append(b, t.offset);
        }
        if (!tensors_.empty()) {
            b.resize((b.size() + 31) / 32 * 32, '\0');
            b += data_;
        }
        uint64_t n_t = tensors_.size(), n_kv = n_kv_;
        std::memcpy(b.data() + count_pos_, &n_t, 8);
        std::memcpy(b.data() + count_pos_ + 8, &n_kv, 8);
        return b;
    }
    void write(const std::filesystem::path& p, size_t truncate_to = std::string::npos) const {
        std::string b = bytes();
        std::ofstream(p, std::ios::binary)
            .write(b.data(), static_cast<std::streamsize>(std::min(truncate_to, b.size())));
    }

  private:
    struct Tensor {
        std::string name;
        std::vector<uint64_t> dims;
        uint32_t type;
        uint64_t offset;
    };
    template <typename T>
    static void append(std::string& b, T v) {
        b.append(reinterpret_cast<const char*>(&v), sizeof(T));
    }
    static void append_str(std::string& b, const std::string& s) {
        append<uint64_t>(b, s.size());
        b += s;
    }
    std::string bytes_;
    size_t count_pos_ = 0;
    uint64_t n_kv_ = 0;
    std::vector<Tensor> tensors_;
    std::string data_;
};

}  // namespace turbolm::test
