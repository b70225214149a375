#include "tokenizer/post_processors.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace turbolm {

namespace {

using json = nlohmann::json;

// A later processor wraps the output of an earlier one.
void wrap_around(PostProcessor::Wrap& acc, const PostProcessor::Wrap& outer) {
    acc.prefix.insert(acc.prefix.begin(), outer.prefix.begin(), outer.prefix.end());
    acc.suffix.insert(acc.suffix.end(), outer.suffix.begin(), outer.suffix.end());
}

PostProcessor::Wrap read_wrap(const json& spec, const std::string& here,
                              const std::function<std::optional<int32_t>(std::string_view)>& token_id) {
    const std::string type = spec.at("type").get<std::string>();
    PostProcessor::Wrap wrap;
    if (type == "ByteLevel") return wrap;
    if (type == "Sequence") {
        for (const json& p : spec.at("processors")) wrap_around(wrap, read_wrap(p, here, token_id));
        return wrap;
    }
    if (type == "RobertaProcessing" || type == "BertProcessing") {
        // "cls": [token, id], "sep": [token, id]
        wrap.prefix.push_back(spec.at("cls").at(1).get<int32_t>());
        wrap.suffix.push_back(spec.at("sep").at(1).get<int32_t>());
        return wrap;
    }
    if (type == "TemplateProcessing") {
        const json& special = spec.value("special_tokens", json::object());
        bool seen_sequence = false;
        for (const json& item : spec.at("single")) {
            if (item.contains("Sequence")) {
                seen_sequence = true;
                continue;
            }
            const std::string name = item.at("SpecialToken").at("id").get<std::string>();
            std::vector<int32_t> ids;
            if (special.contains(name)) {
                ids = special.at(name).at("ids").get<std::vector<int32_t>>();
            } else if (auto id = token_id(name)) {
                ids.push_back(*id);
            } else {
                fail(StatusCode::kInvalidArgument, here, ": template names unknown special token '", name, "'");
            }
            auto& side = seen_sequence ? wrap.suffix : wrap.prefix;
            side.insert(side.end(), ids.begin(), ids.end());
        }
        return wrap;
    }
    fail(StatusCode::kUnimplemented, here, ": post_processor type '", type, "' is not supported");
}

}  // namespace

void PostProcessor::apply(std::vector<int32_t>& ids) const {
    if (!wrap_.prefix.empty()) ids.insert(ids.begin(), wrap_.prefix.begin(), wrap_.prefix.end());
    ids.insert(ids.end(), wrap_.suffix.begin(), wrap_.suffix.end());
}

PostProcessor make_post_processor(const json& spec, const std::string& where,
                                  const std::function<std::optional<int32_t>(std::string_view)>& token_id) {
    if (spec.is_null()) return {};
    if (!spec.is_object() || !spec.contains("type")) {
        fail(StatusCode::kInvalidArgument, where, ": post_processor must be an object with a \"type\"");
    }
    const std::string here = str_cat(where, ": post_processor");
    try {
        return PostProcessor(read_wrap(spec, here, token_id));
    } catch (const nlohmann::json::exception& e) {
        fail(StatusCode::kInvalidArgument, here, ": ", e.what());
    }
}

}  // namespace turbolm
