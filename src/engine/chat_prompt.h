// Turning a conversation into prompt ids the way HF's apply_chat_template(tokenize=True) does:
// render the model's chat template, then encode without adding special tokens (the template
// writes BOS itself where the model expects one).
#pragma once

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace turbolm {

// The model's template, parsed; throws Error(kNotFound) when the tokenizer has none.
ChatTemplate chat_template_of(const Tokenizer& tokenizer);

// messages: [{"role": "user", "content": "..."}, ...]. Throws Error(kInvalidArgument) when the
// template rejects the conversation (its raise_exception message) or fails to render.
std::string render_chat(const Tokenizer& tokenizer, const ChatTemplate& tmpl, const nlohmann::ordered_json& messages,
                        bool add_generation_prompt);
std::vector<int32_t> encode_chat(const Tokenizer& tokenizer, const ChatTemplate& tmpl,
                                 const nlohmann::ordered_json& messages, bool add_generation_prompt);

}  // namespace turbolm
