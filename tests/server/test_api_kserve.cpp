// KServe v2 / Triton routes: server and model metadata, health and readiness, configuration, and
// the generate extension, whose text equals OpenAI completions' for the same request.
#include <gtest/gtest.h>

#include "server/test_api_support.h"

namespace turbolm::test {
namespace {

class KserveApi : public ::testing::Test {
protected:
    void SetUp() override {
        engine_ = demo_engine();
        ASSERT_TRUE(engine_);
        service_ = demo_service();
    }
    std::string openai_text(const std::string& prompt, int max_tokens) {
        const json j = post(*service_, "/v1/completions",
                            {{"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}, {"ignore_eos", true}})
                           ->body_json();
        return j["choices"][0]["text"];
    }
    std::shared_ptr<Engine> engine_;
    std::unique_ptr<server::ApiService> service_;
};

TEST_F(KserveApi, ServerMetadataAndHealth) {
    auto r = get(*service_, "/v2");
    ASSERT_EQ(r->status(), 200);
    const json j = r->body_json();
    EXPECT_EQ(j["name"], "turbolm");
    EXPECT_TRUE(j["version"].is_string());
    EXPECT_TRUE(j["extensions"].is_array());
    EXPECT_EQ(get(*service_, "/v2/health/live")->status(), 200);
    EXPECT_EQ(get(*service_, "/v2/health/ready")->status(), 200);
}

TEST_F(KserveApi, ModelMetadataReadinessAndConfig) {
    auto r = get(*service_, "/v2/models/demo");
    ASSERT_EQ(r->status(), 200);
    const json meta = r->body_json();
    EXPECT_EQ(meta["name"], kModelName);
    EXPECT_EQ(meta["versions"], json({"1"}));
    EXPECT_EQ(meta["platform"], "turbolm");
    EXPECT_EQ(meta["inputs"][0], json({{"name", "text_input"}, {"datatype", "BYTES"}, {"shape", {1}}}));
    EXPECT_EQ(meta["outputs"][0]["name"], "text_output");
    EXPECT_EQ(meta["outputs"][0]["datatype"], "BYTES");

    EXPECT_EQ(get(*service_, "/v2/models/demo/ready")->status(), 200);
    EXPECT_EQ(get(*service_, "/v2/models/demo/versions/1/ready")->status(), 200);
    EXPECT_EQ(get(*service_, "/v2/models/demo/versions/2/ready")->status(), 404);
    auto unknown = get(*service_, "/v2/models/llama/ready");
    EXPECT_EQ(unknown->status(), 404);
    EXPECT_NE(unknown->body_json()["error"].get<std::string>().find("llama"), std::string::npos);

    const json config = get(*service_, "/v2/models/demo/config")->body_json();
    EXPECT_EQ(config["name"], kModelName);
    EXPECT_EQ(config["backend"], "turbolm");
    EXPECT_TRUE(config["max_batch_size"].is_number_integer());
    EXPECT_EQ(config["input"][0]["name"], "text_input");
    EXPECT_EQ(config["output"][0]["name"], "text_output");
    EXPECT_EQ(config["parameters"]["max_model_len"]["string_value"], "256");
}

TEST_F(KserveApi, GenerateReturnsThePromptAndTheCompletion) {
    const std::string completion = openai_text("And God said", 10);
    auto r = post(*service_, "/v2/models/demo/generate",
                  {{"text_input", "And God said"}, {"max_tokens", 10}, {"temperature", 0}, {"ignore_eos", true}});
    ASSERT_EQ(r->status(), 200) << r->body();
    const json j = r->body_json();
    EXPECT_EQ(j["model_name"], kModelName);
    EXPECT_EQ(j["model_version"], "1");
    EXPECT_EQ(j["text_output"], "And God said" + completion);
    // The same fields under "parameters", and the prompt left out.
    r = post(*service_, "/v2/models/demo/generate",
             {{"text_input", "And God said"},
              {"parameters",
               {{"max_tokens", 10}, {"temperature", 0}, {"ignore_eos", true}, {"exclude_input_in_output", true}}}});
    EXPECT_EQ(r->body_json()["text_output"], completion);
}

TEST_F(KserveApi, GenerateStreamSendsEachNewPiece) {
    const std::string completion = openai_text("In the beginning", 10);
    auto r = post(*service_, "/v2/models/demo/generate_stream",
                  {{"text_input", "In the beginning"}, {"max_tokens", 10}, {"temperature", 0}, {"ignore_eos", true}});
    ASSERT_EQ(r->status(), 200);
    EXPECT_EQ(r->content_type(), "text/event-stream");
    bool done = true;
    const std::vector<json> events = r->events(&done);
    EXPECT_FALSE(done) << "Triton's streams end without [DONE]";
    ASSERT_FALSE(events.empty());
    std::string text;
    for (const json& e : events) {
        EXPECT_EQ(e["model_name"], kModelName);
        EXPECT_EQ(e["model_version"], "1");
        EXPECT_NE(e["text_output"], "");
        text += e["text_output"].get<std::string>();
    }
    EXPECT_EQ(text, completion);
}

TEST_F(KserveApi, BadGenerateRequests) {
    auto expect_error = [](const FakeResponder& r, int status) {
        EXPECT_EQ(r.status(), status) << r.body();
        EXPECT_TRUE(r.body_json()["error"].is_string()) << r.body();
    };
    expect_error(*post(*service_, "/v2/models/demo/generate", {{"max_tokens", 3}}), 400);
    expect_error(*post(*service_, "/v2/models/demo/generate", {{"text_input", 5}}), 400);
    expect_error(*post(*service_, "/v2/models/demo/generate", {{"text_input", "a"}, {"max_tokens", "many"}}), 400);
    expect_error(*post(*service_, "/v2/models/demo/generate", {{"text_input", "a"}, {"bad_words", "x"}}), 400);
    expect_error(*post(*service_, "/v2/models/demo/generate", {{"text_input", "a"}, {"parameters", {{"colour", 1}}}}), 400);
    expect_error(*post(*service_, "/v2/models/demo/generate", {{"text_input", "a"}, {"stream", true}}), 400);
    expect_error(*post(*service_, "/v2/models/demo/generate", {{"text_input", "a"}, {"max_tokens", 100000}}), 400);
    expect_error(*send(*service_, {"POST", "/v2/models/demo/generate", "not json", {}}), 400);
    expect_error(*post(*service_, "/v2/models/other/generate", {{"text_input", "a"}}), 404);
    auto r = get(*service_, "/v2/models/demo/generate");
    expect_error(*r, 405);
    EXPECT_EQ(r->header("Allow"), "POST");
    EXPECT_EQ(service_->requests_in_flight(), 0);
}

}  // namespace
}  // namespace turbolm::test
