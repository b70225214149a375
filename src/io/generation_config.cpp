#include "io/generation_config.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace turbolm {
namespace {

template <typename T>
void read_number(const nlohmann::json& j, const char* key, std::optional<T>* out, const std::string& file) {
    if (!j.contains(key) || j[key].is_null()) return;
    if (!j[key].is_number()) fail(StatusCode::kDataLoss, file, ": '", key, "' is not a number");
    *out = j[key].get<T>();
}

}  // namespace

GenerationConfig GenerationConfig::load(const std::filesystem::path& dir) {
    GenerationConfig g;
    auto path = dir / "generation_config.json";
    if (!std::filesystem::exists(path)) return g;
    std::ifstream in(path);
    nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    const std::string file = path.string();
    if (j.is_discarded() || !j.is_object()) fail(StatusCode::kDataLoss, file, ": not a valid JSON object");
    if (j.contains("eos_token_id") && !j["eos_token_id"].is_null()) {
        const auto& e = j["eos_token_id"];
        if (e.is_number_integer()) {
            g.eos_token_ids.push_back(e.get<int32_t>());
        } else if (e.is_array()) {
            for (const auto& id : e) {
                if (!id.is_number_integer()) fail(StatusCode::kDataLoss, file, ": eos_token_id holds a non-integer");
                g.eos_token_ids.push_back(id.get<int32_t>());
            }
        } else {
            fail(StatusCode::kDataLoss, file, ": eos_token_id is neither an integer nor a list");
        }
    }
    read_number(j, "bos_token_id", &g.bos_token_id, file);
    read_number(j, "pad_token_id", &g.pad_token_id, file);
    read_number(j, "temperature", &g.temperature, file);
    read_number(j, "top_p", &g.top_p, file);
    read_number(j, "top_k", &g.top_k, file);
    read_number(j, "min_p", &g.min_p, file);
    read_number(j, "repetition_penalty", &g.repetition_penalty, file);
    read_number(j, "max_new_tokens", &g.max_new_tokens, file);
    read_number(j, "max_length", &g.max_length, file);
    if (j.contains("do_sample") && j["do_sample"].is_boolean()) g.do_sample = j["do_sample"].get<bool>();
    return g;
}

}  // namespace turbolm
