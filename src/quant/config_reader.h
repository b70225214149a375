// Typed reads of a quantization_config object that record the first problem in
// QuantizationConfig::unsupported instead of throwing (quantization_config.cpp and the parsers of
// the formats that have files of their own).
#pragma once

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "quant/quantization_config.h"

namespace turbolm::quant {

inline std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

class Reader {
  public:
    Reader(const nlohmann::json& j, QuantizationConfig& q, const std::string& source) : j_(j), q_(q), source_(source) {}

    template <typename... Args>
    void refuse(Args&&... what) {
        if (q_.unsupported.empty())
            q_.unsupported = str_cat(source_, ": quantization_config: ", std::forward<Args>(what)...);
    }
    bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }
    // For a Reader of a nested object that records into the same config.
    QuantizationConfig& config() { return q_; }
    const std::string& source() const { return source_; }
    int64_t integer(const char* key, int64_t fallback) {
        if (!has(key)) return fallback;
        if (!j_[key].is_number_integer()) {
            refuse("'", key, "' is not an integer: ", j_[key].dump());
            return fallback;
        }
        return j_[key].get<int64_t>();
    }
    bool boolean(const char* key, bool fallback) {
        if (!has(key)) return fallback;
        if (!j_[key].is_boolean()) {
            refuse("'", key, "' is not true or false: ", j_[key].dump());
            return fallback;
        }
        return j_[key].get<bool>();
    }
    std::string text(const char* key, const std::string& fallback) {
        if (!has(key)) return fallback;
        if (!j_[key].is_string()) {
            refuse("'", key, "' is not a string: ", j_[key].dump());
            return fallback;
        }
        return j_[key].get<std::string>();
    }
    void names(const char* key, std::vector<std::string>& out) {
        if (!has(key)) return;
        if (!j_[key].is_array()) return refuse("'", key, "' is not a list of module names");
        for (const auto& n : j_[key]) {
            if (!n.is_string()) return refuse("'", key, "' holds a non-string entry ", n.dump());
            out.push_back(n.get<std::string>());
        }
    }
    // A block shape [rows, columns] of positive integers, into q's fp8 block; false (and refused) otherwise.
    bool fp8_block(const char* key) {
        const auto& b = j_[key];
        if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || !b[1].is_number_integer() ||
            b[0].get<int64_t>() <= 0 || b[1].get<int64_t>() <= 0) {
            refuse("'", key, "' is not a block shape [rows, columns]: ", b.dump());
            return false;
        }
        q_.fp8_block_rows = b[0].get<int64_t>();
        q_.fp8_block_cols = b[1].get<int64_t>();
        return true;
    }
    // bits must be 4 and group_size -1 or a positive multiple of 32 (what ops::linear_int4 takes).
    void int4_shape(const char* method, const char* bits_key, const char* group_key, int64_t group_default) {
        q_.bits = integer(bits_key, 4);
        if (q_.bits != 4) refuse("quant_method '", method, "' with bits ", q_.bits, " is not supported (only 4)");
        q_.group_size = integer(group_key, group_default);
        if (q_.group_size != -1 && (q_.group_size <= 0 || q_.group_size % 32 != 0))
            refuse("quant_method '", method, "' with group_size ", q_.group_size,
                   " is not supported (a multiple of 32, or -1 for whole rows)");
        if (has("turbolm_group_sizes")) {
            const auto& g = j_["turbolm_group_sizes"];
            if (!g.is_object()) return refuse("'turbolm_group_sizes' is not an object");
            for (auto it = g.begin(); it != g.end(); ++it) {
                if (!it->is_number_integer() || it->get<int64_t>() <= 0 || it->get<int64_t>() % 32 != 0)
                    return refuse("'turbolm_group_sizes' entry '", it.key(), "' is not a multiple of 32: ", it->dump());
                q_.group_overrides[it.key()] = it->get<int64_t>();
            }
        }
    }

  private:
    const nlohmann::json& j_;
    QuantizationConfig& q_;
    const std::string& source_;
};

}  // namespace turbolm::quant
