#include "tokenizer/tokenizer_config.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace turbolm {

namespace {

using json = nlohmann::json;

std::string read_text(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) fail(StatusCode::kNotFound, file.string(), ": cannot open");
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

json read_json(const std::filesystem::path& file) {
    try {
        return json::parse(read_text(file));
    } catch (const json::exception& e) {
        fail(StatusCode::kInvalidArgument, file.string(), ": not valid JSON: ", e.what());
    }
}

// A special token is written as a string or as an AddedToken object {"content": ...}.
std::optional<std::string> token_name(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v.at("content").is_string())
        return v.at("content").get<std::string>();
    return std::nullopt;
}

void read_special_names(const json& j, TokenizerConfig& c, bool overwrite) {
    auto take = [&](const char* key, std::optional<std::string>& into) {
        if (j.contains(key) && (overwrite || !into)) into = token_name(j.at(key));
    };
    take("bos_token", c.bos_token);
    take("eos_token", c.eos_token);
    take("unk_token", c.unk_token);
    take("pad_token", c.pad_token);
    if (j.contains("additional_special_tokens") && j.at("additional_special_tokens").is_array() &&
        (overwrite || c.additional_special_tokens.empty())) {
        c.additional_special_tokens.clear();
        for (const json& t : j.at("additional_special_tokens")) {
            if (auto name = token_name(t)) c.additional_special_tokens.push_back(*name);
        }
    }
}

}  // namespace

TokenizerConfig read_tokenizer_config(const std::filesystem::path& dir) {
    TokenizerConfig c;
    const std::filesystem::path config_file = dir / "tokenizer_config.json";
    if (std::filesystem::exists(config_file)) {
        json j = read_json(config_file);
        if (!j.is_object()) fail(StatusCode::kInvalidArgument, config_file.string(), ": expected a JSON object");
        c.present = true;
        try {
            c.tokenizer_class = j.value("tokenizer_class", std::string());
            read_special_names(j, c, true);
            auto flag = [&](const char* key, std::optional<bool>& into) {
                if (j.contains(key) && j.at(key).is_boolean()) into = j.at(key).get<bool>();
            };
            flag("add_bos_token", c.add_bos_token);
            flag("add_eos_token", c.add_eos_token);
            flag("add_prefix_space", c.add_prefix_space);
            flag("legacy", c.legacy);
            if (j.contains("clean_up_tokenization_spaces") && j.at("clean_up_tokenization_spaces").is_boolean()) {
                c.clean_up_tokenization_spaces = j.at("clean_up_tokenization_spaces").get<bool>();
            }
            if (j.contains("added_tokens_decoder") && j.at("added_tokens_decoder").is_object()) {
                for (const auto& [id, t] : j.at("added_tokens_decoder").items()) {
                    c.added_tokens.push_back(added_token_from_json(t, std::stoi(id)));
                }
            }
            const json& tpl = j.value("chat_template", json());
            if (tpl.is_string()) {
                c.chat_template = tpl.get<std::string>();
            } else if (tpl.is_array()) {
                for (const json& named : tpl) {
                    if (named.value("name", std::string()) == "default")
                        c.chat_template = named.at("template").get<std::string>();
                }
            }
        } catch (const json::exception& e) {
            fail(StatusCode::kInvalidArgument, config_file.string(), ": ", e.what());
        } catch (const std::logic_error& e) {
            fail(StatusCode::kInvalidArgument, config_file.string(), ": bad added_tokens_decoder id: ", e.what());
        }
    }
    const std::filesystem::path map_file = dir / "special_tokens_map.json";
    if (std::filesystem::exists(map_file)) {
        json j = read_json(map_file);
        if (j.is_object()) read_special_names(j, c, false);
    }
    const std::filesystem::path jinja = dir / "chat_template.jinja";
    if (std::filesystem::exists(jinja)) c.chat_template = read_text(jinja);
    return c;
}

void apply_tokenizer_config(const TokenizerConfig& c, bool take_added_tokens, TokenizerParts& parts) {
    if (take_added_tokens) {
        for (const AddedToken& t : c.added_tokens) {
            bool replaced = false;
            for (AddedToken& existing : parts.added_tokens) {
                if (existing.id == t.id || existing.content == t.content) {
                    existing = t;
                    replaced = true;
                }
            }
            if (!replaced) parts.added_tokens.push_back(t);
        }
        // Named special tokens that the vocabulary has but no added-token entry covers.
        std::vector<std::string> names = c.additional_special_tokens;
        for (const auto* n : {&c.bos_token, &c.eos_token, &c.unk_token, &c.pad_token}) {
            if (*n) names.push_back(**n);
        }
        for (const std::string& name : names) {
            bool known = false;
            for (AddedToken& t : parts.added_tokens) {
                if (t.content == name) known = true;
            }
            if (known) continue;
            for (size_t id = 0; id < parts.model_tokens.size(); ++id) {
                if (parts.model_tokens[id] == name) {
                    parts.added_tokens.push_back({name, static_cast<int32_t>(id), true, false, false, false, false});
                    break;
                }
            }
        }
    }
    if (c.present || c.bos_token) parts.bos_token = c.bos_token;
    if (c.present || c.eos_token) parts.eos_token = c.eos_token;
    if (c.add_bos_token) parts.add_bos = c.add_bos_token;
    if (c.add_eos_token) parts.add_eos = c.add_eos_token;
    if (c.present) parts.clean_up_tokenization_spaces = c.clean_up_tokenization_spaces;
    if (!c.chat_template.empty()) parts.chat_template = c.chat_template;
}

}  // namespace turbolm
