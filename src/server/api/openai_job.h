// The reply to a completions or chat request, built from the engine's outputs: one JSON body when
// every choice has finished, or Server-Sent Events as pieces arrive ("data: {chunk}\n\n", ending
// with "data: [DONE]\n\n"). Choices are numbered prompt by prompt: prompt p's completion i is
// choice p * n + i, as in vLLM. An error before anything was sent is an HTTP error; after, an
// error event.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/api/engine_job.h"

namespace turbolm::server {

struct OpenAiReplySpec {
    bool chat = false;
    std::string id;  // "cmpl-..." or "chatcmpl-..."
    int64_t created = 0;
    std::string model;
    bool stream = false;
    bool include_usage = false;
    bool return_token_ids = false;  // "token_ids" in each choice; a stream then sends every token at once
    int completions_per_prompt = 1;
    std::optional<int> logprobs;        // asked for: completions' count or chat's top_logprobs
    std::vector<int64_t> prompt_tokens;  // per prompt
    std::vector<std::string> echo;       // per prompt, when echo is on: the text before each completion
};

class OpenAiJob : public EngineJob {
public:
    OpenAiJob(OpenAiReplySpec spec, std::shared_ptr<ServerMetrics> metrics, std::shared_ptr<http::Responder> responder,
              Clock::time_point arrival);

protected:
    void on_output(size_t request_index, const GenerationOutput& out) override;
    void on_success() override;
    void on_failure(const Status& status) override;

private:
    struct Choice {
        std::string text;                 // whole text (replies) or text not yet sent (streams)
        std::vector<TokenLogprobs> logprobs;  // likewise
        std::vector<int32_t> token_ids;       // likewise, when asked for
        int64_t text_offset = 0;
        int64_t completion_tokens = 0;
        std::string finish_reason;
    };

    nlohmann::json envelope() const;  // id, object, created, model
    nlohmann::json logprobs_json(Choice& c);
    void start_stream();
    void send_chunk(size_t index, Choice& c, bool finished);
    nlohmann::json full_reply();

    const OpenAiReplySpec spec_;
    std::vector<Choice> choices_;
    bool streaming_ = false;  // the event stream has begun
};

}  // namespace turbolm::server
