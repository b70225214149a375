#include "chat/chat_template.h"

#include <algorithm>

#include "chat/jinja_eval.h"
#include "chat/jinja_parser.h"
#include "core/error.h"

namespace turbolm {

struct ChatTemplate::Impl {
    std::string source;
    jinja::Template program;
};

ChatTemplate::ChatTemplate(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(const ChatTemplate&) = default;
ChatTemplate& ChatTemplate::operator=(const ChatTemplate&) = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

const std::string& ChatTemplate::source() const {
    return impl_->source;
}

ChatTemplate ChatTemplate::parse(std::string source) {
    auto impl = std::make_shared<Impl>();
    try {
        impl->program = jinja::parse_template(source);
    } catch (const jinja::RenderError& e) {
        fail(StatusCode::kInvalidArgument, "chat template ", e.what());
    } catch (const std::bad_alloc&) {
        fail(StatusCode::kResourceExhausted, "chat template: out of memory while parsing");
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        fail(StatusCode::kInvalidArgument, "chat template: ", e.what());
    }
    impl->source = std::move(source);
    return ChatTemplate(std::move(impl));
}

template <typename Fn>
std::string ChatTemplate::render_with(Fn&& run) const {
    jinja::Evaluator evaluator;
    try {
        return run(evaluator, impl_->program);
    } catch (const jinja::RenderError& e) {
        // raise_exception() is the template's own message to the caller: pass it on unchanged.
        if (e.kind() == "TemplateError") throw Error(StatusCode::kInvalidArgument, e.what());
        fail(StatusCode::kInvalidArgument, "chat template error at line ", evaluator.line(), ": ", e.kind(), ": ",
             e.what());
    } catch (const std::bad_alloc&) {
        fail(StatusCode::kResourceExhausted, "chat template: out of memory while rendering");
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        fail(StatusCode::kInvalidArgument, "chat template error at line ", evaluator.line(), ": ", e.what());
    }
}

std::string ChatTemplate::render(const nlohmann::ordered_json& context) const {
    return render_with(
        [&](jinja::Evaluator& ev, const jinja::Template& program) { return ev.render(program, context); });
}

std::string ChatTemplate::render(const nlohmann::json& context) const {
    return render(nlohmann::ordered_json(context));
}

std::string apply_chat_template(const ChatTemplate& tmpl, const nlohmann::ordered_json& messages,
                                bool add_generation_prompt, const std::string& bos_token, const std::string& eos_token,
                                const nlohmann::ordered_json& extra) {
    TURBOLM_REQUIRE(extra.is_object(), "apply_chat_template: extra variables must be a JSON object");
    return tmpl.render_with([&](jinja::Evaluator& ev, const jinja::Template& program) {
        std::vector<std::pair<std::string, jinja::Value>> vars;
        vars.emplace_back("messages", jinja::from_json(messages));
        vars.emplace_back("tools", jinja::Value::none());
        vars.emplace_back("documents", jinja::Value::none());
        vars.emplace_back("add_generation_prompt", jinja::Value(add_generation_prompt));
        if (!bos_token.empty()) vars.emplace_back("bos_token", jinja::Value(bos_token));
        if (!eos_token.empty()) vars.emplace_back("eos_token", jinja::Value(eos_token));
        for (auto it = extra.begin(); it != extra.end(); ++it) {
            auto found = std::find_if(vars.begin(), vars.end(), [&](const auto& v) { return v.first == it.key(); });
            if (found != vars.end()) {
                found->second = jinja::from_json(it.value());
            } else {
                vars.emplace_back(it.key(), jinja::from_json(it.value()));
            }
        }
        return ev.render(program, std::move(vars));
    });
}

std::string apply_chat_template(const ChatTemplate& tmpl, const nlohmann::json& messages, bool add_generation_prompt,
                                const std::string& bos_token, const std::string& eos_token,
                                const nlohmann::json& extra) {
    return apply_chat_template(tmpl, nlohmann::ordered_json(messages), add_generation_prompt, bos_token, eos_token,
                               nlohmann::ordered_json(extra));
}

}  // namespace turbolm
