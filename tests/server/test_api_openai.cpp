// OpenAI's completions and chat routes over the demo model on the CPU, checked against the engine
// itself: greedy text and log-probabilities equal what Engine gives for the same prompt ids, usage
// counts equal the tokenizer's, and a streamed reply's deltas join into the unstreamed text.
#include <gtest/gtest.h>

#include "server/test_api_support.h"

namespace turbolm::test {
namespace {

class OpenAiApi : public ::testing::Test {
protected:
    void SetUp() override {
        engine_ = demo_engine();
        ASSERT_TRUE(engine_);
        service_ = demo_service();
    }
    // The engine's greedy completion of `ids`.
    DirectResult greedy(const std::vector<int32_t>& ids, int64_t max_tokens, std::optional<int> logprobs = {}) {
        GenerationRequest r;
        r.prompt_ids = ids;
        r.params.max_tokens = max_tokens;
        r.params.temperature = 0.0f;
        r.params.ignore_eos = true;
        r.params.logprobs = logprobs;
        return run_direct(*engine_, r);
    }
    std::shared_ptr<Engine> engine_;
    std::unique_ptr<server::ApiService> service_;
};

const json kGreedy = {{"model", kModelName}, {"prompt", "And God said"}, {"max_tokens", 12}, {"temperature", 0},
                      {"ignore_eos", true}};

TEST_F(OpenAiApi, GreedyCompletionIsWhatTheEngineGenerates) {
    auto r = post(*service_, "/v1/completions", kGreedy);
    ASSERT_EQ(r->status(), 200) << r->body();
    EXPECT_EQ(r->content_type(), "application/json");
    const json j = r->body_json();
    EXPECT_EQ(j["object"], "text_completion");
    EXPECT_EQ(j["id"].get<std::string>().rfind("cmpl-", 0), 0u);
    EXPECT_EQ(j["model"], kModelName);
    EXPECT_TRUE(j["created"].is_number_integer());
    ASSERT_EQ(j["choices"].size(), 1u);
    const std::vector<int32_t> ids = tokenize(*engine_, "And God said");
    const DirectResult direct = greedy(ids, 12);
    EXPECT_EQ(j["choices"][0]["index"], 0);
    EXPECT_EQ(j["choices"][0]["text"], direct.text.at(0));
    EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
    EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
    EXPECT_EQ(j["usage"]["prompt_tokens"], ids.size());
    EXPECT_EQ(j["usage"]["completion_tokens"], 12);
    EXPECT_EQ(j["usage"]["total_tokens"], ids.size() + 12);
    EXPECT_EQ(service_->requests_in_flight(), 0);
}

TEST_F(OpenAiApi, TokenIdsComeWithEachChunkWhenAskedFor) {
    // vLLM's return_token_ids: every token is streamed as it comes, with or without text.
    json body = kGreedy;
    body["return_token_ids"] = true;
    const std::vector<int32_t> direct = greedy(tokenize(*engine_, "And God said"), 12).tokens.at(0);
    const json whole = post(*service_, "/v1/completions", body)->body_json();
    EXPECT_EQ(whole["choices"][0]["token_ids"].get<std::vector<int32_t>>(), direct);
    body["stream"] = true;
    auto r = post(*service_, "/v1/completions", body);
    ASSERT_EQ(r->status(), 200);
    bool done = false;
    std::vector<int32_t> streamed;
    size_t chunks = 0;
    for (const json& e : r->events(&done)) {
        const auto ids = e["choices"][0]["token_ids"].get<std::vector<int32_t>>();
        EXPECT_EQ(ids.size(), 1u) << e.dump();
        streamed.insert(streamed.end(), ids.begin(), ids.end());
        ++chunks;
    }
    EXPECT_TRUE(done);
    EXPECT_EQ(chunks, direct.size());
    EXPECT_EQ(streamed, direct);
}

TEST_F(OpenAiApi, StreamedDeltasJoinIntoTheUnstreamedText) {
    const json whole = post(*service_, "/v1/completions", kGreedy)->body_json();
    json body = kGreedy;
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
    auto r = post(*service_, "/v1/completions", body);
    ASSERT_EQ(r->status(), 200);
    EXPECT_TRUE(r->streamed());
    EXPECT_EQ(r->content_type(), "text/event-stream");
    EXPECT_EQ(r->header("Cache-Control"), "no-cache");
    bool done = false;
    const std::vector<json> events = r->events(&done);
    EXPECT_TRUE(done);
    ASSERT_GE(events.size(), 3u);
    std::string text;
    for (size_t i = 0; i + 1 < events.size(); ++i) {
        const json& e = events[i];
        EXPECT_EQ(e["object"], "text_completion");
        EXPECT_EQ(e["id"], events[0]["id"]);
        EXPECT_TRUE(e["usage"].is_null());
        ASSERT_EQ(e["choices"].size(), 1u);
        const json& c = e["choices"][0];
        const bool last = i + 2 == events.size();
        EXPECT_EQ(c["finish_reason"], last ? json("length") : json(nullptr)) << e.dump();
        if (!last) {
            EXPECT_NE(c["text"], "") << "an empty chunk";
        }
        text += c["text"].get<std::string>();
    }
    EXPECT_EQ(text, whole["choices"][0]["text"]);
    const json& usage_chunk = events.back();
    EXPECT_TRUE(usage_chunk["choices"].empty());
    EXPECT_EQ(usage_chunk["usage"], whole["usage"]);
}

TEST_F(OpenAiApi, SeededSamplingRepeatsAndNumbersItsChoices) {
    json body = {{"prompt", "In the beginning"}, {"max_tokens", 8}, {"temperature", 0.9}, {"seed", 1234},
                 {"n", 3},          {"ignore_eos", true}};
    const json a = post(*service_, "/v1/completions", body)->body_json();
    body["stream"] = true;
    auto s = post(*service_, "/v1/completions", body);
    std::map<int, std::string> streamed;
    std::map<int, int> finishes;
    for (const json& e : s->events()) {
        for (const json& c : e["choices"]) {
            streamed[c["index"].get<int>()] += c["text"].get<std::string>();
            if (!c["finish_reason"].is_null()) ++finishes[c["index"].get<int>()];
        }
    }
    ASSERT_EQ(a["choices"].size(), 3u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(a["choices"][i]["index"], i);
        EXPECT_EQ(streamed[i], a["choices"][i]["text"]) << i;
        EXPECT_EQ(finishes[i], 1) << i;
    }
    EXPECT_EQ(a["usage"]["completion_tokens"], 24);
    // The engine's own sampling with the same seed.
    GenerationRequest g;
    g.prompt_ids = tokenize(*engine_, "In the beginning");
    g.params.max_tokens = 8;
    g.params.temperature = 0.9f;
    g.params.seed = 1234;
    g.params.n = 3;
    g.params.ignore_eos = true;
    const DirectResult direct = run_direct(*engine_, g);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(a["choices"][i]["text"], direct.text.at(i)) << i;
}

TEST_F(OpenAiApi, CompletionLogprobsAreTheEngines) {
    json body = kGreedy;
    body["logprobs"] = 2;
    const json j = post(*service_, "/v1/completions", body)->body_json();
    const DirectResult direct = greedy(tokenize(*engine_, "And God said"), 12, 2);
    const json& lp = j["choices"][0]["logprobs"];
    const std::vector<TokenLogprobs>& expected = direct.logprobs.at(0);
    ASSERT_EQ(lp["tokens"].size(), expected.size());
    int64_t offset = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
        const std::string text = engine_->token_text(expected[i].token);
        EXPECT_EQ(lp["tokens"][i], text);
        EXPECT_DOUBLE_EQ(lp["token_logprobs"][i].get<double>(), double(expected[i].logprob));
        EXPECT_EQ(lp["text_offset"][i], offset);
        offset += int64_t(text.size());
        const json& top = lp["top_logprobs"][i];
        EXPECT_GE(top.size(), 2u);
        EXPECT_LE(top.size(), 3u);  // the two most likely, and the chosen one when it is not among them
        for (const auto& [id, value] : expected[i].top)
            EXPECT_DOUBLE_EQ(top[engine_->token_text(id)].get<double>(), double(value));
    }
}

TEST_F(OpenAiApi, StreamedLogprobsJoinIntoTheUnstreamedOnes) {
    json body = kGreedy;
    body["logprobs"] = 1;
    const json whole = post(*service_, "/v1/completions", body)->body_json()["choices"][0]["logprobs"];
    body["stream"] = true;
    json joined = {{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
                   {"text_offset", json::array()}};
    for (const json& e : post(*service_, "/v1/completions", body)->events())
        for (const auto& [key, values] : e["choices"][0]["logprobs"].items())
            for (const json& v : values) joined[key].push_back(v);
    EXPECT_EQ(joined, whole);
}

TEST_F(OpenAiApi, BeamSearchGivesTheEnginesBestBeam) {
    const json body = {{"prompt", "And God said"}, {"max_tokens", 6}, {"use_beam_search", true}, {"best_of", 3},
                       {"ignore_eos", true}};
    auto r = post(*service_, "/v1/completions", body);
    ASSERT_EQ(r->status(), 200) << r->body();
    const json j = r->body_json();
    ASSERT_EQ(j["choices"].size(), 1u);
    GenerationRequest g;
    g.prompt_ids = tokenize(*engine_, "And God said");
    g.params.max_tokens = 6;
    g.params.beam_width = 3;
    g.params.ignore_eos = true;
    EXPECT_EQ(j["choices"][0]["text"], run_direct(*engine_, g).text.at(0));
    EXPECT_EQ(j["usage"]["completion_tokens"], 6);
}

TEST_F(OpenAiApi, BatchOfPromptsAnswersPromptByPrompt) {
    const json body = {{"prompt", {"And God said", "In the beginning"}}, {"max_tokens", 6}, {"temperature", 0},
                       {"ignore_eos", true}};
    const json j = post(*service_, "/v1/completions", body)->body_json();
    ASSERT_EQ(j["choices"].size(), 2u);
    const auto a = tokenize(*engine_, "And God said"), b = tokenize(*engine_, "In the beginning");
    EXPECT_EQ(j["choices"][0]["text"], greedy(a, 6).text.at(0));
    EXPECT_EQ(j["choices"][1]["text"], greedy(b, 6).text.at(0));
    EXPECT_EQ(j["usage"]["prompt_tokens"], a.size() + b.size());
    EXPECT_EQ(j["usage"]["completion_tokens"], 12);
}

TEST_F(OpenAiApi, TokenIdPromptsAndEcho) {
    const json by_text = post(*service_, "/v1/completions", kGreedy)->body_json();
    json body = kGreedy;
    body["prompt"] = tokenize(*engine_, "And God said");
    const json by_ids = post(*service_, "/v1/completions", body)->body_json();
    EXPECT_EQ(by_ids["choices"][0]["text"], by_text["choices"][0]["text"]);
    EXPECT_EQ(by_ids["usage"], by_text["usage"]);
    body = kGreedy;
    body["echo"] = true;
    const json echoed = post(*service_, "/v1/completions", body)->body_json();
    EXPECT_EQ(echoed["choices"][0]["text"], "And God said" + by_text["choices"][0]["text"].get<std::string>());
}

TEST_F(OpenAiApi, StopStringEndsTheText) {
    const std::string full = post(*service_, "/v1/completions", kGreedy)->body_json()["choices"][0]["text"];
    ASSERT_GE(full.size(), 8u);
    const std::string stop = full.substr(full.size() / 2, 3);
    json body = kGreedy;
    body["stop"] = stop;
    const json j = post(*service_, "/v1/completions", body)->body_json();
    EXPECT_EQ(j["choices"][0]["text"], full.substr(0, full.find(stop)));
    EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
}

const std::string kMessages = R"([{"role":"user","content":"Who made the heaven and the earth?"}])";

TEST_F(OpenAiApi, ChatPromptIsTheChatTemplatesAndTextTheEngines) {
    const json body = {{"model", kModelName}, {"messages", json::parse(kMessages)}, {"max_tokens", 8},
                       {"temperature", 0},    {"ignore_eos", true}};
    auto r = post(*service_, "/v1/chat/completions", body);
    ASSERT_EQ(r->status(), 200) << r->body();
    const json j = r->body_json();
    EXPECT_EQ(j["object"], "chat.completion");
    EXPECT_EQ(j["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
    auto ids = engine_->encode_chat(kMessages);
    ASSERT_TRUE(ids.has_value());
    EXPECT_EQ(j["usage"]["prompt_tokens"], ids->size());
    EXPECT_EQ(j["usage"]["completion_tokens"], 8);
    const json& c = j["choices"][0];
    EXPECT_EQ(c["message"]["role"], "assistant");
    EXPECT_EQ(c["message"]["content"], greedy(*ids, 8).text.at(0));
    EXPECT_EQ(c["finish_reason"], "length");
}

TEST_F(OpenAiApi, ChatStreamOpensWithTheRoleAndEndsWithTheReason) {
    json body = {{"messages", json::parse(kMessages)}, {"max_tokens", 8}, {"temperature", 0}, {"ignore_eos", true}};
    const json whole = post(*service_, "/v1/chat/completions", body)->body_json();
    body["stream"] = true;
    auto r = post(*service_, "/v1/chat/completions", body);
    bool done = false;
    const std::vector<json> events = r->events(&done);
    EXPECT_TRUE(done);
    ASSERT_GE(events.size(), 2u);
    EXPECT_EQ(events[0]["object"], "chat.completion.chunk");
    EXPECT_EQ(events[0]["choices"][0]["delta"], json({{"role", "assistant"}, {"content", ""}}));
    std::string text;
    for (size_t i = 1; i < events.size(); ++i) {
        const json& c = events[i]["choices"][0];
        EXPECT_FALSE(c["delta"].contains("role"));
        const bool last = i + 1 == events.size();
        EXPECT_EQ(c["finish_reason"], last ? json("length") : json(nullptr));
        if (c["delta"].contains("content")) {
            text += c["delta"]["content"].get<std::string>();
        } else {
            EXPECT_TRUE(last) << "a chunk with nothing in it";
        }
    }
    EXPECT_EQ(text, whole["choices"][0]["message"]["content"]);
}

TEST_F(OpenAiApi, ChatLogprobsAreTheEnginesInChatsShape) {
    const json body = {{"messages", json::parse(kMessages)}, {"max_tokens", 5}, {"temperature", 0},
                       {"ignore_eos", true}, {"logprobs", true}, {"top_logprobs", 2}};
    const json j = post(*service_, "/v1/chat/completions", body)->body_json();
    const DirectResult direct = greedy(engine_->encode_chat(kMessages).value(), 5, 2);
    const json& content = j["choices"][0]["logprobs"]["content"];
    const std::vector<TokenLogprobs>& expected = direct.logprobs.at(0);
    ASSERT_EQ(content.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
        const std::string text = engine_->token_text(expected[i].token);
        EXPECT_EQ(content[i]["token"], text);
        EXPECT_DOUBLE_EQ(content[i]["logprob"].get<double>(), double(expected[i].logprob));
        EXPECT_EQ(content[i]["bytes"].size(), text.size());
        ASSERT_EQ(content[i]["top_logprobs"].size(), 2u);
        for (size_t k = 0; k < 2; ++k) {
            EXPECT_EQ(content[i]["top_logprobs"][k]["token"], engine_->token_text(expected[i].top[k].first));
            EXPECT_DOUBLE_EQ(content[i]["top_logprobs"][k]["logprob"].get<double>(), double(expected[i].top[k].second));
        }
    }
}

TEST_F(OpenAiApi, ChatContentPartsReadAsTheirJoinedText) {
    const json parts = {{{"role", "user"},
                         {"content", {{{"type", "text"}, {"text", "Who made"}}, {{"type", "text"}, {"text", "the earth?"}}}}}};
    const json body = {{"messages", parts}, {"max_tokens", 1}};
    const json j = post(*service_, "/v1/chat/completions", body)->body_json();
    const std::string joined = R"([{"role":"user","content":"Who made\nthe earth?"}])";
    EXPECT_EQ(j["usage"]["prompt_tokens"], engine_->encode_chat(joined).value().size());
}

TEST_F(OpenAiApi, ChatWithoutMaxTokensMayFillTheContext) {
    const json body = {{"messages", json::parse(kMessages)}, {"temperature", 0}, {"ignore_eos", true}};
    const json j = post(*service_, "/v1/chat/completions", body)->body_json();
    EXPECT_EQ(j["usage"]["total_tokens"], engine_->max_model_len());
    EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
}

TEST_F(OpenAiApi, ModelsListTheServedModel) {
    auto r = get(*service_, "/v1/models");
    ASSERT_EQ(r->status(), 200);
    const json j = r->body_json();
    EXPECT_EQ(j["object"], "list");
    ASSERT_EQ(j["data"].size(), 1u);
    EXPECT_EQ(j["data"][0]["id"], kModelName);
    EXPECT_EQ(j["data"][0]["object"], "model");
    EXPECT_EQ(j["data"][0]["owned_by"], "turbolm");
    EXPECT_EQ(j["data"][0]["max_model_len"], 256);
    EXPECT_EQ(get(*service_, "/v1/models/demo")->body_json(), j["data"][0]);
    expect_openai_error(*get(*service_, "/v1/models/gpt-4"), 404, "model");
}

}  // namespace
}  // namespace turbolm::test
