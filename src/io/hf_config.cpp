#include "io/hf_config.h"

#include <fstream>

#include "core/error.h"

namespace turbolm {

HfConfig HfConfig::load(const std::filesystem::path& dir) {
    auto path = dir / "config.json";
    std::ifstream in(path);
    if (!in) fail(StatusCode::kNotFound, path.string(), ": cannot open (is this a Hugging Face model directory?)");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        fail(StatusCode::kDataLoss, path.string(), ": not valid JSON: ", e.what());
    }
    if (!j.is_object()) fail(StatusCode::kDataLoss, path.string(), ": not a JSON object");
    return from_json(std::move(j), path.string());
}

HfConfig HfConfig::from_json(nlohmann::json json, std::string source) {
    HfConfig c;
    c.json_ = std::move(json);
    c.source_ = std::move(source);
    return c;
}

void HfConfig::bad(const std::string& key, const std::string& what) const {
    fail(StatusCode::kInvalidArgument, source_, ": '", key, "' ", what);
}

std::string HfConfig::architecture() const {
    if (!json_.contains("architectures") || !json_["architectures"].is_array() || json_["architectures"].empty() ||
        !json_["architectures"][0].is_string())
        bad("architectures", "is missing (expected e.g. [\"LlamaForCausalLM\"])");
    return json_["architectures"][0].get<std::string>();
}

bool HfConfig::has(const std::string& key) const { return json_.contains(key) && !json_[key].is_null(); }

int64_t HfConfig::get_int(const std::string& key) const {
    if (!has(key)) bad(key, "is missing");
    const auto& v = json_[key];
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float() && v.get<double>() == double(int64_t(v.get<double>()))) return int64_t(v.get<double>());
    bad(key, "is not an integer");
}

int64_t HfConfig::get_int_or(const std::string& key, int64_t fallback) const {
    return has(key) ? get_int(key) : fallback;
}

double HfConfig::get_double(const std::string& key) const {
    if (!has(key)) bad(key, "is missing");
    if (!json_[key].is_number()) bad(key, "is not a number");
    return json_[key].get<double>();
}

double HfConfig::get_double_or(const std::string& key, double fallback) const {
    return has(key) ? get_double(key) : fallback;
}

bool HfConfig::get_bool_or(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!json_[key].is_boolean()) bad(key, "is not a boolean");
    return json_[key].get<bool>();
}

std::string HfConfig::get_string_or(const std::string& key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!json_[key].is_string()) bad(key, "is not a string");
    return json_[key].get<std::string>();
}

int64_t HfConfig::get_int_any(const std::vector<std::string>& keys) const {
    for (const auto& k : keys)
        if (has(k)) return get_int(k);
    std::string names;
    for (const auto& k : keys) names += (names.empty() ? "" : " / ") + k;
    bad(names, "is missing");
}

DType HfConfig::dtype() const {
    for (const char* key : {"torch_dtype", "dtype"}) {
        if (!has(key)) continue;
        DType dt;
        if (!json_[key].is_string() || !dtype_from_torch_name(json_[key].get<std::string>(), &dt))
            bad(key, "names an unsupported dtype");
        return dt;
    }
    return DType::kF32;
}

namespace {

double number_or(const nlohmann::json& j, const char* key, double fallback) {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_number()) fail(StatusCode::kInvalidArgument, "rope parameter '", key, "' is not a number");
    return j[key].get<double>();
}

std::optional<double> optional_number(const nlohmann::json& j, const char* key) {
    if (!j.contains(key) || j[key].is_null()) return std::nullopt;
    return number_or(j, key, 0.0);
}

}  // namespace

RopeConfig HfConfig::rope() const {
    RopeConfig r;
    // 5.x puts everything in rope_parameters (possibly per layer type); 4.x splits rope_theta and rope_scaling.
    nlohmann::json params = nlohmann::json::object();
    if (has("rope_parameters") && json_["rope_parameters"].is_object()) {
        params = json_["rope_parameters"];
        if (!params.contains("rope_type") && !params.contains("rope_theta") && params.contains("full_attention"))
            params = params["full_attention"];
    } else if (has("rope_scaling")) {
        if (!json_["rope_scaling"].is_object()) bad("rope_scaling", "is not an object");
        params = json_["rope_scaling"];
    }
    r.theta = number_or(params, "rope_theta", get_double_or("rope_theta", 10000.0));
    if (params.contains("rope_type") && params["rope_type"].is_string()) {
        r.type = params["rope_type"].get<std::string>();
    } else if (params.contains("type") && params["type"].is_string()) {
        r.type = params["type"].get<std::string>();
    }
    r.factor = number_or(params, "factor", r.type == "yarn" ? 0.0 : 1.0);  // yarn derives a missing factor
    r.partial_rotary_factor = number_or(params, "partial_rotary_factor", get_double_or("partial_rotary_factor", 1.0));
    r.low_freq_factor = number_or(params, "low_freq_factor", 1.0);
    r.high_freq_factor = number_or(params, "high_freq_factor", 4.0);
    r.original_max_position_embeddings = int(number_or(params, "original_max_position_embeddings", 0));
    r.beta_fast = number_or(params, "beta_fast", 32.0);
    r.beta_slow = number_or(params, "beta_slow", 1.0);
    r.mscale = optional_number(params, "mscale");
    r.mscale_all_dim = optional_number(params, "mscale_all_dim");
    r.attention_factor = optional_number(params, "attention_factor");
    if (params.contains("truncate") && params["truncate"].is_boolean()) r.truncate = params["truncate"].get<bool>();
    static const char* kKnown[] = {"default", "linear", "dynamic", "llama3", "yarn"};
    bool known = false;
    for (const char* k : kKnown) known |= r.type == k;
    if (!known) fail(StatusCode::kUnimplemented, source_, ": rope type '", r.type, "' is not supported (supported: ",
                     "default, linear, dynamic, llama3, yarn)");
    return r;
}

}  // namespace turbolm
