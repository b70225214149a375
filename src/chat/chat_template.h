// Chat templates: the Jinja2 programs that HF models ship (tokenizer_config.json "chat_template" or
// chat_template.jinja) to turn a list of messages into the prompt text. ChatTemplate renders them the way
// transformers does: jinja2's sandboxed environment with trim_blocks and lstrip_blocks, the loopcontrols
// extension, HF's `tojson` (no HTML escaping, non-ASCII kept) and the globals raise_exception() and
// strftime_now(); values behave like the Python objects jinja2 sees, down to how they print.
//
//   auto tmpl = turbolm::ChatTemplate::parse(config["chat_template"]);
//   std::string prompt = turbolm::apply_chat_template(tmpl, messages, true, "<s>", "</s>");
//
// Pass nlohmann::ordered_json to keep the key order of dicts (`tojson` prints keys in insertion order, as
// Python does); nlohmann::json stores objects sorted by key.
//
// Known differences from jinja2, all outside what chat templates do: integers are 64-bit (Python's are
// unbounded) and there are no complex numbers; Markup (from |safe, |escape) is a plain string; Unicode
// case mapping covers Latin, Greek, Cyrillic and Armenian; include/extends/import are not supported and
// filters outside the common set (groupby, truncate, striptags, ...) are unknown, which is a parse error.
// Rendering is bounded (10M steps, 256 MiB of output, 200 nested macro calls) so that a hostile template
// fails instead of hanging a server.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace turbolm {

class ChatTemplate {
  public:
    // Throws turbolm::Error(kInvalidArgument) with the line and column of a syntax error, an unknown tag,
    // filter or test.
    static ChatTemplate parse(std::string source);

    // Renders with the variables of `context` (a JSON object: messages, add_generation_prompt, bos_token,
    // eos_token, tools, ...). Throws turbolm::Error(kInvalidArgument): when the template calls
    // raise_exception(msg) the error's message is exactly msg; other failures name the template line.
    // Thread-safe: one parsed template may render on many threads at once.
    std::string render(const nlohmann::ordered_json& context) const;
    std::string render(const nlohmann::json& context) const;

    const std::string& source() const;

    ~ChatTemplate();
    ChatTemplate(const ChatTemplate&);
    ChatTemplate& operator=(const ChatTemplate&);
    ChatTemplate(ChatTemplate&&) noexcept;
    ChatTemplate& operator=(ChatTemplate&&) noexcept;

  private:
    friend std::string apply_chat_template(const ChatTemplate&, const nlohmann::ordered_json&, bool, const std::string&,
                                           const std::string&, const nlohmann::ordered_json&);
    struct Impl;
    template <typename Fn>
    std::string render_with(Fn&& run) const;
    explicit ChatTemplate(std::shared_ptr<const Impl> impl);
    std::shared_ptr<const Impl> impl_;
};

// Renders with the variables transformers passes: messages, add_generation_prompt, bos_token, eos_token,
// tools = None, documents = None, then every key of `extra` (tools, documents, date_string, ... override).
// An empty bos_token or eos_token stays undefined, as transformers leaves out special tokens a model lacks.
std::string apply_chat_template(const ChatTemplate& tmpl, const nlohmann::ordered_json& messages,
                                bool add_generation_prompt, const std::string& bos_token, const std::string& eos_token,
                                const nlohmann::ordered_json& extra = nlohmann::ordered_json::object());
std::string apply_chat_template(const ChatTemplate& tmpl, const nlohmann::json& messages, bool add_generation_prompt,
                                const std::string& bos_token, const std::string& eos_token,
                                const nlohmann::json& extra = nlohmann::json::object());

}  // namespace turbolm
