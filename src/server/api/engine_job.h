// One HTTP request's generations on the engine: submits them (a completions batch has several
// prompts, each with n completions), follows every completion to its end, cancels them all when
// the client goes away or one fails, counts them in flight and records their metrics. Subclasses
// turn outputs into the reply.
//
// The hooks run under the job's lock, one at a time and in order: on an OutputDelivery thread when
// the job has one (the engine's thread only queues the outputs), else on the engine's thread; on
// the handler's for a submit that fails. They must not block: they format and queue writes.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "server/api/output_delivery.h"
#include "server/api/server_metrics.h"
#include "server/http/http_server.h"
#include "turbolm/engine.h"

namespace turbolm::server {

class EngineJob : public std::enable_shared_from_this<EngineJob> {
public:
    using Clock = std::chrono::steady_clock;

    EngineJob(std::shared_ptr<ServerMetrics> metrics, std::shared_ptr<http::Responder> responder,
              Clock::time_point arrival);
    virtual ~EngineJob() = default;
    EngineJob(const EngineJob&) = delete;
    EngineJob& operator=(const EngineJob&) = delete;

    // Submits the requests, in order; call once, from the handler. The job keeps itself alive
    // (through the engine's callbacks) until every completion has ended.
    void start(const std::shared_ptr<Engine>& engine, std::vector<GenerationRequest> requests,
               std::shared_ptr<OutputDelivery> delivery = nullptr);

protected:
    // A piece of completion `out.index` of request `request_index`; never an error.
    virtual void on_output(size_t request_index, const GenerationOutput& out) = 0;
    // Every completion of every request has finished (stop, length or abort).
    virtual void on_success() = 0;
    // The first error; no hook runs after it.
    virtual void on_failure(const Status& status) = 0;

    http::Responder& responder() { return *responder_; }
    // For token texts. Valid while hooks run: the engine is held while queued outputs are delivered,
    // and otherwise they run on the engine's thread or with the handler's reference held.
    const Engine& engine() const { return *engine_; }

private:
    struct Completion {
        bool first_token_seen = false;
        Clock::time_point last_token;
    };
    struct Submitted {
        uint64_t id = 0;  // 0 until submit returns
        int completions = 1;
        int finished = 0;
        bool ended = false;  // every completion finished, or one failed
        bool prompt_counted = false;
        std::vector<Completion> clocks;
    };

    // On the engine's thread: the output with the time it came, to deliver now or on `delivery_`.
    void arrive(size_t request_index, const GenerationOutput& out);
    void drain();  // on a delivery thread: everything queued, in order
    void deliver(size_t request_index, const GenerationOutput& out, Clock::time_point now);
    void record(Submitted& s, const GenerationOutput& out, Clock::time_point now);
    void fail_locked(const Status& status);  // ends the reply with the error, cancels the rest
    void client_left();

    std::mutex mu_;
    const std::shared_ptr<ServerMetrics> metrics_;
    const std::shared_ptr<http::Responder> responder_;
    const Clock::time_point arrival_;
    // The engine thread outlives every callback it runs, so a plain pointer serves cancelling from
    // there; a weak one serves the disconnect hook, which runs on server threads and must not keep
    // the engine alive (its last owner must never be its own thread).
    Engine* engine_ = nullptr;
    std::weak_ptr<Engine> weak_engine_;
    std::vector<Submitted> submitted_;
    size_t ended_requests_ = 0;
    bool reply_over_ = false;  // success, failure or the client left: no more hooks

    struct Arrived {
        size_t request_index = 0;
        GenerationOutput out;
        Clock::time_point at;
    };
    std::shared_ptr<OutputDelivery> delivery_;
    std::mutex arrived_mu_;           // taken alone, never with mu_ held
    std::deque<Arrived> arrived_;
    bool draining_ = false;           // a drain() is queued or running
};

}  // namespace turbolm::server
