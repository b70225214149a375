// How a reply ends when the engine reports an error: before anything was sent it is an HTTP error
// whose status follows the Status code; mid-stream it is an error event, then [DONE]. (The engine
// rarely fails a request that passed the API's checks, so the hooks are driven directly.)
#include <gtest/gtest.h>

#include "server/api/openai_job.h"
#include "server/test_api_support.h"

namespace turbolm::test {
namespace {

// The job's hooks, callable from the test.
class DrivenJob : public server::OpenAiJob {
public:
    using OpenAiJob::OpenAiJob;
    using OpenAiJob::on_failure;
    using OpenAiJob::on_output;
    using OpenAiJob::on_success;
};

std::shared_ptr<DrivenJob> job(bool chat, bool stream, std::shared_ptr<FakeResponder> responder) {
    server::OpenAiReplySpec spec;
    spec.chat = chat;
    spec.id = "cmpl-test";
    spec.created = 1;
    spec.model = kModelName;
    spec.stream = stream;
    spec.prompt_tokens = {4};
    return std::make_shared<DrivenJob>(spec, std::make_shared<server::ServerMetrics>(kModelName), responder,
                                       std::chrono::steady_clock::now());
}

GenerationOutput piece(std::string text, bool finished = false) {
    GenerationOutput o;
    o.text = std::move(text);
    o.token_ids = {7};
    o.finished = finished;
    if (finished) o.finish_reason = "length";
    o.prompt_tokens = 4;
    o.completion_tokens = 1;
    return o;
}

TEST(ApiJob, ErrorBeforeAnythingWasSentIsAnHttpError) {
    const std::vector<std::pair<StatusCode, int>> cases = {{StatusCode::kInvalidArgument, 400},
                                                           {StatusCode::kOutOfRange, 400},
                                                           {StatusCode::kResourceExhausted, 503},
                                                           {StatusCode::kInternal, 500}};
    for (const auto& [code, status] : cases) {
        for (bool stream : {false, true}) {
            auto responder = std::make_shared<FakeResponder>();
            job(false, stream, responder)->on_failure(Status(code, "it went wrong"));
            ASSERT_TRUE(responder->wait_done());
            expect_openai_error(*responder, status);
            EXPECT_FALSE(responder->streamed());
            EXPECT_EQ(responder->body_json()["error"]["message"], "it went wrong");
        }
    }
}

TEST(ApiJob, ErrorMidStreamIsAnErrorEvent) {
    for (bool chat : {false, true}) {
        auto responder = std::make_shared<FakeResponder>();
        auto j = job(chat, true, responder);
        j->on_output(0, piece("And"));
        j->on_failure(Status(StatusCode::kInternal, "device lost"));
        ASSERT_TRUE(responder->wait_done());
        EXPECT_EQ(responder->status(), 200);
        bool done = false;
        const std::vector<json> events = responder->events(&done);
        EXPECT_TRUE(done);
        ASSERT_GE(events.size(), 2u);
        EXPECT_EQ(events.back()["error"]["message"], "device lost");
        EXPECT_EQ(events.back()["error"]["code"], 500);
    }
}

TEST(ApiJob, HeldBackTextWaitsForTheNextPiece) {
    auto responder = std::make_shared<FakeResponder>();
    auto j = job(false, true, responder);
    j->on_output(0, piece("In"));
    j->on_output(0, piece(""));  // a stop string may be forming: nothing to send yet
    j->on_output(0, piece(" the", true));
    j->on_success();
    ASSERT_TRUE(responder->wait_done());
    const std::vector<json> events = responder->events();
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0]["choices"][0]["text"], "In");
    EXPECT_EQ(events[1]["choices"][0]["text"], " the");
    EXPECT_EQ(events[1]["choices"][0]["finish_reason"], "length");
}

}  // namespace
}  // namespace turbolm::test
