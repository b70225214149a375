// A Hugging Face checkpoint directory's weights: one model.safetensors, or shards listed by
// model.safetensors.index.json. All shards are opened (and their headers validated) up front, so
// a missing or truncated shard fails the load with the file named, before any compute starts.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace turbolm {

class Checkpoint {
public:
    // Throws Error (kNotFound, kDataLoss) naming the directory or file at fault.
    static Checkpoint open(const std::filesystem::path& dir);

    const std::filesystem::path& dir() const { return dir_; }
    bool has(const std::string& name) const { return where_.count(name) != 0; }
    // Zero-copy view; throws kNotFound ("<dir>: tensor 'x' is missing from the checkpoint").
    Tensor get(const std::string& name) const;
    // The file a tensor lives in, for error messages.
    std::string file_of(const std::string& name) const;
    std::vector<std::string> names() const;
    const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }

private:
    std::filesystem::path dir_;
    std::vector<std::shared_ptr<SafetensorsFile>> files_;
    std::map<std::string, const SafetensorsFile*> where_;
};

}  // namespace turbolm
