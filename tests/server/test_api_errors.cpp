// What the service refuses, and how: malformed bodies and fields (400 naming the field), prompts
// over the context (vLLM's message), unknown models (404), API keys (401), a model still loading
// or failed (503), unknown paths and methods (404, 405), a full queue (503).
#include <limits>

#include <gtest/gtest.h>

#include "server/test_api_support.h"

namespace turbolm::test {
namespace {

class ApiErrors : public ::testing::Test {
protected:
    void SetUp() override {
        engine_ = demo_engine();
        ASSERT_TRUE(engine_);
        service_ = demo_service();
    }
    std::shared_ptr<FakeResponder> complete(const json& body) { return post(*service_, "/v1/completions", body); }
    std::shared_ptr<FakeResponder> chat(const json& body) { return post(*service_, "/v1/chat/completions", body); }
    std::string message(const FakeResponder& r) { return r.body_json()["error"]["message"]; }

    std::shared_ptr<Engine> engine_;
    std::unique_ptr<server::ApiService> service_;
};

TEST_F(ApiErrors, BodyMustBeAJsonObject) {
    auto r = send(*service_, {"POST", "/v1/completions", "{\"prompt\": \"a\",", {}});
    expect_openai_error(*r, 400);
    EXPECT_EQ(r->body_json()["error"]["type"], "invalid_request_error");
    EXPECT_TRUE(r->body_json()["error"]["param"].is_null());
    expect_openai_error(*send(*service_, {"POST", "/v1/completions", "[1, 2]", {}}), 400);
    expect_openai_error(*send(*service_, {"POST", "/v1/chat/completions", "", {}}), 400);
    // No Content-Type at all is accepted: the body decides.
    EXPECT_EQ(send(*service_, {"POST", "/v1/completions", R"({"prompt": "a", "max_tokens": 1})", {}})->status(), 200);
}

TEST_F(ApiErrors, WrongTypesNameTheField) {
    const std::vector<std::pair<json, std::string>> cases = {
        {{{"prompt", "a"}, {"max_tokens", "x"}}, "max_tokens"},
        {{{"prompt", "a"}, {"max_tokens", 1.5}}, "max_tokens"},
        {{{"prompt", "a"}, {"max_tokens", true}}, "max_tokens"},
        {{{"prompt", "a"}, {"temperature", "hot"}}, "temperature"},
        {{{"prompt", "a"}, {"temperature", 2.5}}, "temperature"},
        {{{"prompt", "a"}, {"top_p", 0}}, "top_p"},
        {{{"prompt", "a"}, {"top_k", -2}}, "top_k"},
        {{{"prompt", "a"}, {"presence_penalty", 3}}, "presence_penalty"},
        {{{"prompt", "a"}, {"repetition_penalty", 0}}, "repetition_penalty"},
        {{{"prompt", "a"}, {"stop", 5}}, "stop"},
        {{{"prompt", "a"}, {"stop", {"a", 1}}}, "stop"},
        {{{"prompt", "a"}, {"n", 0}}, "n"},
        {{{"prompt", "a"}, {"n", 65}}, "n"},
        {{{"prompt", "a"}, {"seed", "s"}}, "seed"},
        {{{"prompt", "a"}, {"logprobs", 21}}, "logprobs"},
        {{{"prompt", "a"}, {"logprobs", true}}, "logprobs"},
        {{{"prompt", "a"}, {"stream", "yes"}}, "stream"},
        {{{"prompt", "a"}, {"model", 3}}, "model"},
        {{{"prompt", 5}}, "prompt"},
        {{{"prompt", json::array()}}, "prompt"},
        {{{"prompt", {1, -1}}}, "prompt"},
        {{{"prompt", {1, 1 << 20}}}, "prompt"},  // outside the vocabulary
        {{{"prompt", "a"}, {"stop_token_ids", {1 << 20}}}, "stop_token_ids"},
        {{{"prompt", "a"}, {"suffix", "the end"}}, "suffix"},
        {{{"prompt", "a"}, {"best_of", 2}}, "best_of"},
        {{{"prompt", "a"}, {"echo", true}, {"logprobs", 1}}, "echo"},
        {{{"prompt", "a"}, {"stream_options", {{"include_usage", true}}}}, "stream_options"},
        {{{"prompt", "a"}, {"stream", true}, {"stream_options", {{"include_usage", 1}}}}, "stream_options.include_usage"},
        {{{"prompt", "a"}, {"logit_bias", {{"5", 10}}}}, "logit_bias"},
        {{{"prompt", "a"}, {"min_tokens", 3}}, "min_tokens"},
    };
    for (const auto& [body, param] : cases) {
        SCOPED_TRACE(body.dump());
        expect_openai_error(*complete(body), 400, param);
    }
    const json messages = {{{"role", "user"}, {"content", "hi"}}};
    const std::vector<std::pair<json, std::string>> chat_cases = {
        {{{"messages", "hi"}}, "messages"},
        {{{"messages", json::array()}}, "messages"},
        {{{"messages", {{{"content", "hi"}}}}}, "messages"},
        {{{"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}, {"image_url", "x"}}}}}}}}, "messages"},
        {{{"messages", messages}, {"logprobs", 1}}, "logprobs"},
        {{{"messages", messages}, {"top_logprobs", 2}}, "top_logprobs"},
        {{{"messages", messages}, {"max_completion_tokens", 0}}, "max_completion_tokens"},
        {{{"messages", messages}, {"tools", {{{"type", "function"}}}}}, "tools"},
        {{{"messages", messages}, {"response_format", {{"type", "json_object"}}}}, "response_format"},
    };
    for (const auto& [body, param] : chat_cases) {
        SCOPED_TRACE(body.dump());
        expect_openai_error(*chat(body), 400, param);
    }
    EXPECT_EQ(service_->requests_in_flight(), 0);
}

TEST_F(ApiErrors, UnknownFieldsAreRefusedByName) {
    auto r = complete({{"prompt", "a"}, {"max_tokns", 5}});
    expect_openai_error(*r, 400, "max_tokns");
    EXPECT_EQ(message(*r), "Unrecognized request argument supplied: max_tokns");
    expect_openai_error(*chat({{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"prompt", "a"}}), 400, "prompt");
    // vLLM's extras and OpenAI's fields with nothing to do are accepted.
    const json accepted = {{"prompt", "a"},   {"max_tokens", 1},        {"top_k", -1},      {"min_p", 0.1},
                           {"user", "me"},    {"ignore_eos", false},    {"priority", 0},    {"suffix", nullptr},
                           {"best_of", 1},    {"skip_special_tokens", true}, {"logit_bias", json::object()},
                           {"stop", nullptr}, {"include_stop_str_in_output", false}, {"min_tokens", 0}};
    EXPECT_EQ(complete(accepted)->status(), 200);
}

TEST_F(ApiErrors, MissingPromptOrMessages) {
    expect_openai_error(*complete({{"max_tokens", 3}}), 400, "prompt");
    expect_openai_error(*chat({{"max_tokens", 3}}), 400, "messages");
}

TEST_F(ApiErrors, MaxTokensMustBePositiveAndFitTheContext) {
    expect_openai_error(*complete({{"prompt", "a"}, {"max_tokens", -1}}), 400, "max_tokens");
    expect_openai_error(*complete({{"prompt", "a"}, {"max_tokens", 0}}), 400, "max_tokens");
    const int64_t prompt = int64_t(tokenize(*engine_, "And God said").size());
    auto r = complete({{"prompt", "And God said"}, {"max_tokens", 1000000000}});
    expect_openai_error(*r, 400, "prompt");
    EXPECT_EQ(message(*r), "This model's maximum context length is 256 tokens. However, you requested " +
                               std::to_string(prompt + 1000000000) + " tokens (" + std::to_string(prompt) +
                               " in the messages, 1000000000 in the completion). Please reduce the length of the "
                               "messages or completion.");
    r = complete({{"prompt", "And God said"}, {"max_tokens", std::numeric_limits<int64_t>::max()}});
    expect_openai_error(*r, 400, "prompt");
    // Exactly the context is fine: a long prompt and the few tokens left.
    std::string long_prompt;
    while (tokenize(*engine_, long_prompt + "And God said. ").size() < 250) long_prompt += "And God said. ";
    const int64_t left = 256 - int64_t(tokenize(*engine_, long_prompt).size());
    auto fits = complete({{"prompt", long_prompt}, {"max_tokens", left}, {"ignore_eos", true}});
    ASSERT_EQ(fits->status(), 200) << fits->body();
    EXPECT_EQ(fits->body_json()["usage"]["total_tokens"], 256);
    expect_openai_error(*complete({{"prompt", long_prompt}, {"max_tokens", left + 1}}), 400, "prompt");
}

TEST_F(ApiErrors, PromptOverTheContextGetsVllmsMessage) {
    std::string long_prompt;
    for (int i = 0; i < 80; ++i) long_prompt += "And God said, Let there be light. ";
    const int64_t prompt = int64_t(tokenize(*engine_, long_prompt).size());
    ASSERT_GT(prompt, 256);
    auto r = complete({{"prompt", long_prompt}, {"max_tokens", 4}});
    expect_openai_error(*r, 400, "prompt");
    EXPECT_NE(message(*r).find("maximum context length is 256 tokens. However, you requested " +
                               std::to_string(prompt + 4) + " tokens (" + std::to_string(prompt) + " in the messages"),
              std::string::npos)
        << message(*r);
    // Chat without max_tokens: the prompt alone is too long.
    r = chat({{"messages", {{{"role", "user"}, {"content", long_prompt}}}}});
    expect_openai_error(*r, 400, "messages");
    EXPECT_NE(message(*r).find("However, your request has"), std::string::npos) << message(*r);
    EXPECT_EQ(service_->requests_in_flight(), 0);
}

TEST_F(ApiErrors, UnknownModelIsNotFound) {
    auto r = complete({{"model", "gpt-4"}, {"prompt", "a"}});
    expect_openai_error(*r, 404, "model");
    EXPECT_EQ(message(*r), "The model `gpt-4` does not exist.");
    expect_openai_error(*chat({{"model", "gpt-4"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}), 404, "model");
}

TEST_F(ApiErrors, ApiKeyGuardsV1AndV2ButNotProbesOrMetrics) {
    server::ServiceOptions options;
    options.api_key = "sekret";
    options.static_files["/"] = {"text/html", "<html></html>"};
    auto service = demo_service(options);
    const std::string body = R"({"prompt": "a", "max_tokens": 1})";
    auto none = send(*service, {"POST", "/v1/completions", body, {}});
    expect_openai_error(*none, 401);
    EXPECT_EQ(none->body_json()["error"]["type"], "authentication_error");
    EXPECT_EQ(none->header("WWW-Authenticate"), "Bearer");
    expect_openai_error(*send(*service, {"POST", "/v1/completions", body, {{"authorization", "Bearer wrong"}}}), 401);
    expect_openai_error(*send(*service, {"POST", "/v1/completions", body, {{"authorization", "Bearer sekre"}}}), 401);
    expect_openai_error(*send(*service, {"POST", "/v1/completions", body, {{"authorization", "sekret"}}}), 401);
    EXPECT_EQ(send(*service, {"POST", "/v1/completions", body, {{"authorization", "Bearer sekret"}}})->status(), 200);
    EXPECT_EQ(send(*service, {"POST", "/v1/completions", body, {{"authorization", "bearer sekret"}}})->status(), 200);
    expect_openai_error(*get(*service, "/v1/models"), 401);
    expect_openai_error(*get(*service, "/v1/nothing"), 401);  // the key is checked before the path
    auto v2 = get(*service, "/v2/models/demo");
    EXPECT_EQ(v2->status(), 401);
    EXPECT_TRUE(v2->body_json()["error"].is_string());
    EXPECT_EQ(send(*service, {"GET", "/v2/models/demo", "", {{"authorization", "Bearer sekret"}}})->status(), 200);
    EXPECT_EQ(get(*service, "/v2/health/live")->status(), 200);
    EXPECT_EQ(get(*service, "/v2/health/ready")->status(), 200);
    EXPECT_EQ(get(*service, "/metrics")->status(), 200);
    EXPECT_EQ(get(*service, "/")->status(), 200);
}

TEST_F(ApiErrors, LoadingAndFailedModelsAnswer503) {
    server::ServiceOptions options;
    options.served_model_name = kModelName;
    server::ApiService service(options);
    auto r = post(service, "/v1/completions", {{"prompt", "a"}});
    expect_openai_error(*r, 503);
    EXPECT_EQ(r->body_json()["error"]["type"], "service_unavailable");
    EXPECT_NE(message(*r).find("loading"), std::string::npos);
    expect_openai_error(*post(service, "/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "hi"}}}}}),
                        503);
    expect_openai_error(*get(service, "/v1/models"), 503);
    EXPECT_EQ(get(service, "/v2/health/live")->status(), 200);
    EXPECT_EQ(get(service, "/v2/health/ready")->status(), 503);
    EXPECT_EQ(get(service, "/v2/models/demo/ready")->status(), 503);
    EXPECT_EQ(get(service, "/health")->status(), 503);
    EXPECT_EQ(get(service, "/metrics")->status(), 200);
    auto generate = post(service, "/v2/models/demo/generate", {{"text_input", "a"}});
    EXPECT_EQ(generate->status(), 503);
    EXPECT_TRUE(generate->body_json()["error"].is_string());

    service.set_load_error(Status(StatusCode::kResourceExhausted, "out of GPU memory for the weights"));
    r = post(service, "/v1/completions", {{"prompt", "a"}});
    expect_openai_error(*r, 503);
    EXPECT_NE(message(*r).find("out of GPU memory for the weights"), std::string::npos) << message(*r);
    EXPECT_EQ(get(service, "/v2/health/ready")->status(), 503);

    service.set_engine(demo_engine());
    EXPECT_EQ(get(service, "/v2/health/ready")->status(), 200);
    EXPECT_EQ(get(service, "/health")->status(), 200);
    EXPECT_EQ(post(service, "/v1/completions", {{"prompt", "a"}, {"max_tokens", 1}})->status(), 200);
}

TEST_F(ApiErrors, UnknownPathsAndMethods) {
    auto r = get(*service_, "/v1/nothing");
    expect_openai_error(*r, 404);
    r = get(*service_, "/v1/completions");
    expect_openai_error(*r, 405);
    EXPECT_EQ(r->header("Allow"), "POST");
    r = post(*service_, "/v1/models", json::object());
    EXPECT_EQ(r->status(), 405);
    EXPECT_EQ(r->header("Allow"), "GET");
    EXPECT_EQ(get(*service_, "/nothing")->status(), 404);
    EXPECT_EQ(post(*service_, "/metrics", json::object())->status(), 405);
    auto v2 = get(*service_, "/v2/nothing");
    EXPECT_EQ(v2->status(), 404);
    EXPECT_TRUE(v2->body_json()["error"].is_string());
}

TEST_F(ApiErrors, StaticFilesAnswerGetOnly) {
    server::ServiceOptions options;
    options.static_files["/"] = {"text/html; charset=utf-8", "<html>turbolm</html>"};
    auto service = demo_service(options);
    auto r = get(*service, "/");
    EXPECT_EQ(r->status(), 200);
    EXPECT_EQ(r->content_type(), "text/html; charset=utf-8");
    EXPECT_EQ(r->body(), "<html>turbolm</html>");
    EXPECT_EQ(post(*service, "/", json::object())->status(), 405);
}

TEST_F(ApiErrors, FullQueueIsRefused) {
    server::ServiceOptions options;
    options.max_waiting = 0;
    auto service = demo_service(options);
    auto r = post(*service, "/v1/completions", {{"prompt", "a"}, {"max_tokens", 1}});
    expect_openai_error(*r, 503);
    EXPECT_NE(message(*r).find("overloaded"), std::string::npos);
}

TEST_F(ApiErrors, ResponsesAreValidJsonEvenForPartialCharacters) {
    // Token texts of single bytes (parts of a character) in log-probabilities must not break the JSON.
    auto r = complete({{"prompt", "And God said"}, {"max_tokens", 8}, {"logprobs", 20}, {"temperature", 0}});
    ASSERT_EQ(r->status(), 200);
    EXPECT_FALSE(json::parse(r->body(), nullptr, false).is_discarded());
}

}  // namespace
}  // namespace turbolm::test
