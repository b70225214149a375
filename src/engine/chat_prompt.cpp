#include "engine/chat_prompt.h"

#include "core/error.h"

namespace turbolm {

ChatTemplate chat_template_of(const Tokenizer& tokenizer) {
    if (tokenizer.chat_template().empty())
        fail(StatusCode::kNotFound, "this model has no chat template (tokenizer_config.json has no chat_template and ",
             "there is no chat_template.jinja)");
    return ChatTemplate::parse(tokenizer.chat_template());
}

std::string render_chat(const Tokenizer& tokenizer, const ChatTemplate& tmpl, const nlohmann::ordered_json& messages,
                        bool add_generation_prompt) {
    if (!messages.is_array() || messages.empty())
        fail(StatusCode::kInvalidArgument, "a conversation is a non-empty list of messages");
    return apply_chat_template(tmpl, messages, add_generation_prompt, tokenizer.bos_token(), tokenizer.eos_token());
}

std::vector<int32_t> encode_chat(const Tokenizer& tokenizer, const ChatTemplate& tmpl,
                                 const nlohmann::ordered_json& messages, bool add_generation_prompt) {
    return tokenizer.encode(render_chat(tokenizer, tmpl, messages, add_generation_prompt),
                            /*add_special_tokens=*/false);
}

}  // namespace turbolm
