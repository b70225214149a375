#include "server/api/openai_job.h"

#include <algorithm>
#include <utility>

#include "server/api/http_util.h"
#include "server/api/json_errors.h"
#include "server/api/openai_format.h"

namespace turbolm::server {

using nlohmann::json;

OpenAiJob::OpenAiJob(OpenAiReplySpec spec, std::shared_ptr<ServerMetrics> metrics,
                     std::shared_ptr<http::Responder> responder, Clock::time_point arrival)
    : EngineJob(std::move(metrics), std::move(responder), arrival), spec_(std::move(spec)) {
    choices_.resize(spec_.prompt_tokens.size() * size_t(spec_.completions_per_prompt));
    if (spec_.echo.empty()) return;
    // The echoed prompt leads the text, and log-probability offsets count from its end.
    for (size_t i = 0; i < choices_.size(); ++i) {
        choices_[i].text = spec_.echo[i / size_t(spec_.completions_per_prompt)];
        choices_[i].text_offset = int64_t(choices_[i].text.size());
    }
}

json OpenAiJob::envelope() const {
    const char* object = spec_.chat ? (spec_.stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";
    return {{"id", spec_.id}, {"object", object}, {"created", spec_.created}, {"model", spec_.model}};
}

json OpenAiJob::logprobs_json(Choice& c) {
    if (!spec_.logprobs) return nullptr;
    json j = spec_.chat ? chat_logprobs(engine(), c.logprobs) : completion_logprobs(engine(), c.logprobs, c.text_offset);
    c.logprobs.clear();
    return j;
}

void OpenAiJob::on_output(size_t request_index, const GenerationOutput& out) {
    const size_t index = request_index * size_t(spec_.completions_per_prompt) + size_t(out.index);
    if (index >= choices_.size()) return;
    Choice& c = choices_[index];
    c.text += out.text;
    c.logprobs.insert(c.logprobs.end(), out.logprobs.begin(), out.logprobs.end());
    if (spec_.return_token_ids) c.token_ids.insert(c.token_ids.end(), out.token_ids.begin(), out.token_ids.end());
    c.completion_tokens = std::max(c.completion_tokens, out.completion_tokens);
    if (out.finished) c.finish_reason = out.finish_reason;
    if (!spec_.stream) return;
    start_stream();
    // A piece whose text is held back (a stop string may be forming) waits; its log-probabilities
    // go with the next text. A client that asked for token ids gets each token as it comes.
    if (!c.text.empty() || out.finished || !c.token_ids.empty()) send_chunk(index, c, out.finished);
}

void OpenAiJob::start_stream() {
    if (streaming_) return;
    streaming_ = true;
    responder().begin_stream(200, kEventStreamContentType, event_stream_headers());
    if (!spec_.chat) return;
    // Chat streams open each choice with the role, as OpenAI's do.
    for (size_t i = 0; i < choices_.size(); ++i) {
        json chunk = envelope();
        chunk["choices"] = json::array(
            {{{"index", i}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}}});
        if (spec_.include_usage) chunk["usage"] = nullptr;
        responder().write(sse_data(chunk));
    }
}

void OpenAiJob::send_chunk(size_t index, Choice& c, bool finished) {
    json choice = {{"index", index}};
    if (spec_.chat) {
        json delta = json::object();
        if (!c.text.empty()) delta["content"] = c.text;
        choice["delta"] = std::move(delta);
    } else {
        choice["text"] = c.text;
    }
    choice["logprobs"] = logprobs_json(c);
    choice["finish_reason"] = finished ? json(c.finish_reason) : json(nullptr);
    if (spec_.return_token_ids) choice["token_ids"] = std::exchange(c.token_ids, {});
    c.text.clear();
    json chunk = envelope();
    chunk["choices"] = json::array({std::move(choice)});
    if (spec_.include_usage) chunk["usage"] = nullptr;
    responder().write(sse_data(chunk));
}

json OpenAiJob::full_reply() {
    json choices = json::array();
    for (size_t i = 0; i < choices_.size(); ++i) {
        Choice& c = choices_[i];
        json choice = {{"index", i}};
        if (spec_.chat) choice["message"] = {{"role", "assistant"}, {"content", c.text}};
        else choice["text"] = c.text;
        choice["logprobs"] = logprobs_json(c);
        choice["finish_reason"] = c.finish_reason;
        if (spec_.return_token_ids) choice["token_ids"] = c.token_ids;
        choices.push_back(std::move(choice));
    }
    json reply = envelope();
    reply["choices"] = std::move(choices);
    return reply;
}

void OpenAiJob::on_success() {
    int64_t prompt_tokens = 0, completion_tokens = 0;
    for (int64_t n : spec_.prompt_tokens) prompt_tokens += n;
    for (const Choice& c : choices_) completion_tokens += c.completion_tokens;
    if (!spec_.stream) {
        json reply = full_reply();
        reply["usage"] = usage_json(prompt_tokens, completion_tokens);
        reply_json(responder(), 200, reply);
        return;
    }
    start_stream();
    if (spec_.include_usage) {
        json chunk = envelope();
        chunk["choices"] = json::array();
        chunk["usage"] = usage_json(prompt_tokens, completion_tokens);
        responder().write(sse_data(chunk));
    }
    responder().write(kSseDone);
    responder().end();
}

void OpenAiJob::on_failure(const Status& status) {
    const int http_status = http_status_of(status.code());
    if (!streaming_) {
        reply_json(responder(), http_status, openai_error_body(http_status, status.message()));
        return;
    }
    responder().write(sse_data(openai_error_body(http_status, status.message())));
    responder().write(kSseDone);
    responder().end();
}

}  // namespace turbolm::server
