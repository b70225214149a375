#include "server/api/kserve_generate.h"

#include <limits>
#include <optional>

#include "server/api/engine_job.h"
#include "server/api/http_util.h"
#include "server/api/json_errors.h"
#include "server/api/json_fields.h"
#include "server/api/sampling_fields.h"

namespace turbolm::server {

namespace {

using nlohmann::json;

struct GenerateRequest {
    std::string text_input;
    GenerationParams params;
    std::optional<int64_t> max_tokens = 16;  // vLLM's default, as Triton's vLLM backend has it
    bool exclude_input_in_output = false;
    std::optional<bool> stream;
};

void read_field(const std::string& name, const json& v, GenerateRequest& r, bool top_level) {
    using namespace fields;
    if (read_sampling_field(name, v, r.params)) return;
    if (name == "max_tokens") {
        if (!v.is_null()) r.max_tokens = integer_in(v, name, 1, std::numeric_limits<int64_t>::max());
    } else if (name == "exclude_input_in_output") {
        if (!v.is_null()) r.exclude_input_in_output = boolean(v, name);
    } else if (name == "stream") {
        if (!v.is_null()) r.stream = boolean(v, name);
    } else if (top_level && name == "text_input") {
        r.text_input = string(v, name);
    } else if (top_level && name == "parameters") {
        if (v.is_null()) return;
        for (const auto& [key, item] : object(v, name).items()) read_field(key, item, r, /*top_level=*/false);
    } else if (top_level && name == "id") {
        string(v, name);  // a client's request id: nothing to correlate here
    } else {
        throw ApiError(400, "unexpected inference input '" + name + "'", name);
    }
}

// One request's reply: a JSON body, or one event per piece of text.
class GenerateJob : public EngineJob {
public:
    GenerateJob(std::string model, bool stream, std::string prefix, std::shared_ptr<ServerMetrics> metrics,
                std::shared_ptr<http::Responder> responder, Clock::time_point arrival)
        : EngineJob(std::move(metrics), std::move(responder), arrival),
          model_(std::move(model)),
          stream_(stream),
          text_(std::move(prefix)) {}

protected:
    void on_output(size_t, const GenerationOutput& out) override {
        if (!stream_) {
            text_ += out.text;
            return;
        }
        start_stream();
        if (!out.text.empty()) responder().write(sse_data(body(out.text)));
    }
    void on_success() override {
        if (!stream_) {
            reply_json(responder(), 200, body(text_));
            return;
        }
        start_stream();
        responder().end();
    }
    void on_failure(const Status& status) override {
        if (!streaming_) {
            reply_json(responder(), http_status_of(status.code()), kserve_error_body(status.message()));
            return;
        }
        responder().write(sse_data(kserve_error_body(status.message())));
        responder().end();
    }

private:
    json body(const std::string& text) const {
        return {{"model_name", model_}, {"model_version", "1"}, {"text_output", text}};
    }
    void start_stream() {
        if (streaming_) return;
        streaming_ = true;
        responder().begin_stream(200, kEventStreamContentType, event_stream_headers());
    }

    const std::string model_;
    const bool stream_;
    std::string text_;
    bool streaming_ = false;
};

}  // namespace

void handle_kserve_generate(const ServiceContext& ctx, const http::Request& request,
                            std::shared_ptr<http::Responder> responder, bool stream) {
    const json body = fields::parse_body(request.body);
    GenerateRequest r;
    for (const auto& [name, v] : body.items()) read_field(name, v, r, /*top_level=*/true);
    if (!body.contains("text_input")) throw ApiError(400, "'text_input' is required", "text_input");
    if (!stream && r.stream.value_or(false))
        throw ApiError(400, "'stream' needs the generate_stream endpoint", "stream");
    const std::shared_ptr<Engine> engine = require_engine(ctx);
    check_stop_token_ids(r.params, engine->vocab_size());
    check_admission(ctx, *engine);

    Expected<std::vector<int32_t>> ids = engine->tokenize(r.text_input);
    if (!ids) throw ApiError(400, ids.status().message(), "text_input");
    if (ids->empty()) throw ApiError(400, "'text_input' is empty", "text_input");
    GenerationRequest g;
    g.params = r.params;
    g.params.max_tokens = settle_max_tokens(int64_t(ids->size()), r.max_tokens, engine->max_model_len(), "text_input");
    g.prompt_ids = std::move(ids).value();
    std::string prefix = stream || r.exclude_input_in_output ? std::string() : r.text_input;
    auto job = std::make_shared<GenerateJob>(ctx.options.served_model_name, stream, std::move(prefix), ctx.metrics,
                                             std::move(responder), ctx.arrival);
    std::vector<GenerationRequest> requests;
    requests.push_back(std::move(g));
    job->start(engine, std::move(requests), ctx.delivery);
}

}  // namespace turbolm::server
