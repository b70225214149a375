// The safetensors format: an 8-byte little-endian header length, a JSON header describing each
// tensor (dtype, shape, byte range), then the raw data. Everything in the header is validated
// against the file before any tensor is handed out, so a truncated or corrupt file fails at open.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "core/tensor.h"
#include "io/file_map.h"

namespace turbolm {

struct SafetensorsEntry {
    DType dtype;
    Shape shape;
    size_t begin = 0;  // byte offsets into the data section
    size_t end = 0;
};

class SafetensorsFile {
public:
    // Throws Error: kNotFound (no file), kDataLoss (truncated / malformed header or ranges),
    // kUnimplemented (a dtype we do not support).
    static std::shared_ptr<SafetensorsFile> open(const std::filesystem::path& path);

    const std::filesystem::path& path() const { return map_->path(); }
    const std::map<std::string, SafetensorsEntry>& entries() const { return entries_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    bool has(const std::string& name) const { return entries_.count(name) != 0; }
    // A zero-copy CPU view into the mapped file; throws kNotFound when the tensor is absent.
    Tensor tensor(const std::string& name) const;

private:
    std::shared_ptr<FileMap> map_;
    size_t data_start_ = 0;
    std::map<std::string, SafetensorsEntry> entries_;
    std::map<std::string, std::string> metadata_;
};

// Writes tensors (CPU, any layout) to a safetensors file; used by tools and tests.
void write_safetensors(const std::filesystem::path& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace turbolm
