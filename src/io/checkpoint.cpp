#include "io/checkpoint.h"

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace turbolm {
namespace {

nlohmann::json read_json_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) fail(StatusCode::kNotFound, path.string(), ": cannot open");
    nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) fail(StatusCode::kDataLoss, path.string(), ": not valid JSON");
    return j;
}

}  // namespace

Checkpoint Checkpoint::open(const std::filesystem::path& dir) {
    Checkpoint ck;
    ck.dir_ = dir;
    if (!std::filesystem::is_directory(dir)) fail(StatusCode::kNotFound, dir.string(), ": not a directory");
    const auto index_path = dir / "model.safetensors.index.json";
    const auto single_path = dir / "model.safetensors";
    if (std::filesystem::exists(index_path)) {
        nlohmann::json index = read_json_file(index_path);
        if (!index.contains("weight_map") || !index["weight_map"].is_object())
            fail(StatusCode::kDataLoss, index_path.string(), ": has no weight_map object");
        std::map<std::string, std::string> wanted;  // tensor -> shard
        std::set<std::string> shard_names;
        for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
            if (!it->is_string()) fail(StatusCode::kDataLoss, index_path.string(), ": weight_map entry is not a string");
            std::string shard = it->get<std::string>();
            if (shard.find('/') != std::string::npos || shard == "..")
                fail(StatusCode::kDataLoss, index_path.string(), ": shard name '", shard, "' leaves the directory");
            wanted[it.key()] = shard;
            shard_names.insert(shard);
        }
        std::map<std::string, const SafetensorsFile*> by_shard;
        for (const auto& shard : shard_names) {
            auto path = dir / shard;
            if (!std::filesystem::exists(path)) {
                std::string example;
                for (const auto& [t, s] : wanted)
                    if (s == shard) { example = t; break; }
                fail(StatusCode::kNotFound, path.string(), ": shard is missing (model.safetensors.index.json maps ",
                     "tensor '", example, "' to it)");
            }
            ck.files_.push_back(SafetensorsFile::open(path));
            by_shard[shard] = ck.files_.back().get();
        }
        for (const auto& [tensor, shard] : wanted) {
            const SafetensorsFile* f = by_shard[shard];
            if (!f->has(tensor))
                fail(StatusCode::kDataLoss, f->path().string(), ": tensor '", tensor,
                     "' is listed in model.safetensors.index.json but absent from this shard");
            ck.where_[tensor] = f;
        }
    } else if (std::filesystem::exists(single_path)) {
        ck.files_.push_back(SafetensorsFile::open(single_path));
        for (const auto& [name, e] : ck.files_.back()->entries()) ck.where_[name] = ck.files_.back().get();
    } else {
        fail(StatusCode::kNotFound, dir.string(),
             ": no model.safetensors or model.safetensors.index.json (only safetensors checkpoints are supported)");
    }
    return ck;
}

Tensor Checkpoint::get(const std::string& name) const {
    auto it = where_.find(name);
    if (it == where_.end()) fail(StatusCode::kNotFound, dir_.string(), ": tensor '", name, "' is missing from the checkpoint");
    return it->second->tensor(name);
}

std::string Checkpoint::file_of(const std::string& name) const {
    auto it = where_.find(name);
    return it == where_.end() ? dir_.string() : it->second->path().string();
}

std::vector<std::string> Checkpoint::names() const {
    std::vector<std::string> out;
    for (const auto& [n, f] : where_) out.push_back(n);
    return out;
}

}  // namespace turbolm
