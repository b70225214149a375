#include "server/api/openai_routes.h"

#include "server/api/http_util.h"
#include "server/api/json_errors.h"
#include "server/api/json_fields.h"
#include "server/api/openai_job.h"
#include "server/api/openai_params.h"
#include "server/api/sampling_fields.h"

namespace turbolm::server {

namespace {

using nlohmann::json;

std::vector<int32_t> prompt_ids(const Engine& engine, const PromptInput& prompt) {
    if (!prompt.text) {
        for (int32_t id : prompt.ids)
            if (id >= engine.vocab_size())
                throw ApiError(400, "'prompt' holds token id " + std::to_string(id) + ", outside the vocabulary of " +
                                        std::to_string(engine.vocab_size()) + " tokens", "prompt");
        return prompt.ids;
    }
    Expected<std::vector<int32_t>> ids = engine.tokenize(*prompt.text);
    if (!ids) {
        if (ids.status().code() == StatusCode::kNotFound)
            throw ApiError(400, "this model has no tokenizer: send the prompt as token ids", "prompt");
        throw ApiError(http_status_of(ids.status().code()), ids.status().message(), "prompt");
    }
    return std::move(ids).value();
}

std::vector<int32_t> chat_ids(const Engine& engine, const OpenAiRequest& r) {
    Expected<std::vector<int32_t>> ids = engine.encode_chat(r.messages_json, r.add_generation_prompt);
    if (!ids) throw ApiError(400, ids.status().message(), "messages");  // malformed, or no chat template
    return std::move(ids).value();
}

json model_card(const ServiceContext& ctx, const Engine& engine) {
    const std::string& name = ctx.options.served_model_name;
    return {{"id", name},          {"object", "model"},  {"created", ctx.created},
            {"owned_by", "turbolm"}, {"root", name},      {"parent", nullptr},
            {"max_model_len", engine.max_model_len()}};
}

void handle_openai(const ServiceContext& ctx, const http::Request& request, std::shared_ptr<http::Responder> responder,
                   bool chat) {
    const json body = fields::parse_body(request.body);
    const std::string& served = ctx.options.served_model_name;
    OpenAiRequest r = chat ? parse_chat_request(body, served) : parse_completion_request(body, served);
    const std::shared_ptr<Engine> engine = require_engine(ctx);
    check_stop_token_ids(r.params, engine->vocab_size());
    check_admission(ctx, *engine);

    std::vector<std::vector<int32_t>> prompts;
    if (chat) {
        prompts.push_back(chat_ids(*engine, r));
    } else {
        for (const PromptInput& p : r.prompts) prompts.push_back(prompt_ids(*engine, p));
    }
    const std::string prompt_param = chat ? "messages" : "prompt";
    OpenAiReplySpec spec;
    spec.chat = chat;
    spec.id = (chat ? "chatcmpl-" : "cmpl-") + random_hex(16);
    spec.created = unix_time_now();
    spec.model = served;
    spec.stream = r.stream;
    spec.include_usage = r.include_usage;
    spec.return_token_ids = r.return_token_ids;
    spec.completions_per_prompt = r.params.beam_width > 1 ? 1 : r.params.n;
    spec.logprobs = r.logprobs;
    std::vector<GenerationRequest> requests;
    for (size_t i = 0; i < prompts.size(); ++i) {
        if (prompts[i].empty()) throw ApiError(400, "the prompt is empty", prompt_param);
        GenerationRequest g;
        g.params = r.params;
        g.params.max_tokens = settle_max_tokens(int64_t(prompts[i].size()), r.max_tokens, engine->max_model_len(),
                                                prompt_param);
        g.params.logprobs = r.logprobs;
        spec.prompt_tokens.push_back(int64_t(prompts[i].size()));
        if (r.echo) spec.echo.push_back(*r.prompts[i].text);
        g.prompt_ids = std::move(prompts[i]);
        requests.push_back(std::move(g));
    }
    auto job = std::make_shared<OpenAiJob>(std::move(spec), ctx.metrics, std::move(responder), ctx.arrival);
    job->start(engine, std::move(requests), ctx.delivery);
}

}  // namespace

void handle_completions(const ServiceContext& ctx, const http::Request& request,
                        std::shared_ptr<http::Responder> responder) {
    handle_openai(ctx, request, std::move(responder), /*chat=*/false);
}

void handle_chat_completions(const ServiceContext& ctx, const http::Request& request,
                             std::shared_ptr<http::Responder> responder) {
    handle_openai(ctx, request, std::move(responder), /*chat=*/true);
}

void handle_models(const ServiceContext& ctx, const std::string& name, http::Responder& responder) {
    const std::shared_ptr<Engine> engine = require_engine(ctx);
    if (name.empty()) {
        reply_json(responder, 200, {{"object", "list"}, {"data", json::array({model_card(ctx, *engine)})}});
        return;
    }
    if (name != ctx.options.served_model_name) throw ApiError(404, "The model `" + name + "` does not exist.", "model");
    reply_json(responder, 200, model_card(ctx, *engine));
}

}  // namespace turbolm::server
