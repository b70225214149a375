// A read-only memory map of a whole file. Checkpoint tensors point straight into it, so a model's
// weights cost no copy and the page cache is shared between processes.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>

namespace turbolm {

class FileMap {
public:
    // Throws Error: kNotFound when the file does not exist, kDataLoss when it cannot be read.
    static std::shared_ptr<FileMap> open(const std::filesystem::path& path);
    ~FileMap();
    FileMap(const FileMap&) = delete;
    FileMap& operator=(const FileMap&) = delete;

    const std::filesystem::path& path() const { return path_; }
    const unsigned char* data() const { return static_cast<const unsigned char*>(data_); }
    size_t size() const { return size_; }

private:
    FileMap() = default;
    std::filesystem::path path_;
    void* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace turbolm
