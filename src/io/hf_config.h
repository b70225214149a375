// config.json of a Hugging Face checkpoint, read in both key layouts: transformers 4.x
// (rope_theta, rope_scaling, torch_dtype) and 5.x (rope_parameters, dtype). Architectures read
// their own keys through the typed getters, which name the file and key when something is wrong.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dtype.h"

namespace turbolm {

// Rotary position embedding parameters, normalized from either layout.
struct RopeConfig {
    std::string type = "default";  // default | linear | dynamic | llama3 | yarn
    double theta = 10000.0;
    double factor = 1.0;
    double partial_rotary_factor = 1.0;
    // llama3
    double low_freq_factor = 1.0;
    double high_freq_factor = 4.0;
    int original_max_position_embeddings = 0;  // 0: use max_position_embeddings
    // yarn
    double beta_fast = 32.0;
    double beta_slow = 1.0;
    std::optional<double> mscale;
    std::optional<double> mscale_all_dim;
    std::optional<double> attention_factor;
    bool truncate = true;
};

class HfConfig {
public:
    // Reads <dir>/config.json. Throws kNotFound / kDataLoss naming the file.
    static HfConfig load(const std::filesystem::path& dir);
    static HfConfig from_json(nlohmann::json json, std::string source = "config.json");

    const nlohmann::json& json() const { return json_; }
    const std::string& source() const { return source_; }

    // The first entry of "architectures" (e.g. "LlamaForCausalLM"); throws when absent.
    std::string architecture() const;
    std::string model_type() const { return get_string_or("model_type", ""); }

    bool has(const std::string& key) const;  // present and not null
    int64_t get_int(const std::string& key) const;
    int64_t get_int_or(const std::string& key, int64_t fallback) const;
    double get_double(const std::string& key) const;
    double get_double_or(const std::string& key, double fallback) const;
    bool get_bool_or(const std::string& key, bool fallback) const;
    std::string get_string_or(const std::string& key, const std::string& fallback) const;
    // The first key present among `keys` (configs name the same thing differently across models).
    int64_t get_int_any(const std::vector<std::string>& keys) const;

    // torch_dtype (4.x) or dtype (5.x); f32 when neither is given.
    DType dtype() const;
    RopeConfig rope() const;

private:
    [[noreturn]] void bad(const std::string& key, const std::string& what) const;
    nlohmann::json json_;
    std::string source_;
};

}  // namespace turbolm
