#include "server/api/engine_job.h"

#include <algorithm>

namespace turbolm::server {

namespace {

double seconds_between(EngineJob::Clock::time_point a, EngineJob::Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

}  // namespace

EngineJob::EngineJob(std::shared_ptr<ServerMetrics> metrics, std::shared_ptr<http::Responder> responder,
                     Clock::time_point arrival)
    : metrics_(std::move(metrics)), responder_(std::move(responder)), arrival_(arrival) {}

void EngineJob::start(const std::shared_ptr<Engine>& engine, std::vector<GenerationRequest> requests,
                      std::shared_ptr<OutputDelivery> delivery) {
    delivery_ = std::move(delivery);
    {
        std::lock_guard<std::mutex> lock(mu_);
        engine_ = engine.get();
        weak_engine_ = engine;
        submitted_.resize(requests.size());
        for (size_t i = 0; i < requests.size(); ++i) {
            const GenerationParams& p = requests[i].params;
            submitted_[i].completions = p.beam_width > 1 ? 1 : std::max(p.n, 1);
            submitted_[i].clocks.resize(size_t(submitted_[i].completions));
        }
    }
    const std::shared_ptr<EngineJob> self = shared_from_this();
    for (size_t i = 0; i < requests.size(); ++i) {
        metrics_->request_started();
        Expected<uint64_t> id =
            engine->submit(std::move(requests[i]), [self, i](const GenerationOutput& out) { self->arrive(i, out); });
        std::lock_guard<std::mutex> lock(mu_);
        if (!id) {
            metrics_->request_ended();
            for (size_t j = i; j < submitted_.size(); ++j) {  // this one and the rest never run
                submitted_[j].ended = true;
                ++ended_requests_;
            }
            fail_locked(id.status());
            break;
        }
        submitted_[i].id = *id;
        // It failed or the client left while this one was being submitted.
        if (reply_over_ && !submitted_[i].ended) engine->cancel(*id);
    }
    // Registered last: a client already gone runs it at once, and every id is known by then.
    std::weak_ptr<EngineJob> weak = self;
    responder_->on_disconnect([weak] {
        if (auto job = weak.lock()) job->client_left();
    });
}

void EngineJob::arrive(size_t request_index, const GenerationOutput& out) {
    const Clock::time_point now = Clock::now();
    if (!delivery_) return deliver(request_index, out, now);
    {
        std::lock_guard<std::mutex> lock(arrived_mu_);
        arrived_.push_back({request_index, out, now});
        if (draining_) return;
        draining_ = true;
    }
    delivery_->post([self = shared_from_this()] { self->drain(); });
}

void EngineJob::drain() {
    // The engine stays alive while its outputs are turned into text (token_text for logprobs).
    const std::shared_ptr<Engine> engine = weak_engine_.lock();
    for (;;) {
        std::deque<Arrived> batch;
        {
            std::lock_guard<std::mutex> lock(arrived_mu_);
            if (arrived_.empty()) {
                draining_ = false;
                return;
            }
            batch.swap(arrived_);
        }
        for (const Arrived& a : batch) deliver(a.request_index, a.out, a.at);
    }
}

void EngineJob::deliver(size_t request_index, const GenerationOutput& out, Clock::time_point now) {
    std::lock_guard<std::mutex> lock(mu_);
    Submitted& s = submitted_[request_index];
    if (s.ended) return;  // the other completions of a request that failed
    if (out.finish_reason == "error") {
        s.ended = true;
        ++ended_requests_;
        metrics_->failed(seconds_between(arrival_, now));
        metrics_->request_ended();
        fail_locked(out.status.is_ok() ? Status(StatusCode::kInternal, "generation failed") : out.status);
        return;
    }
    record(s, out, now);
    if (!reply_over_) on_output(request_index, out);
    if (out.finished && ++s.finished == s.completions) {
        s.ended = true;
        ++ended_requests_;
        metrics_->request_ended();
        if (ended_requests_ == submitted_.size() && !reply_over_) {
            reply_over_ = true;
            on_success();
        }
    }
}

void EngineJob::record(Submitted& s, const GenerationOutput& out, Clock::time_point now) {
    if (!s.prompt_counted && out.prompt_tokens > 0) {
        s.prompt_counted = true;
        metrics_->prompt_tokens(out.prompt_tokens);
    }
    if (!out.token_ids.empty()) {
        metrics_->generation_tokens(int64_t(out.token_ids.size()));
        if (out.index >= 0 && size_t(out.index) < s.clocks.size()) {
            Completion& c = s.clocks[size_t(out.index)];
            if (!c.first_token_seen) {
                metrics_->time_to_first_token(seconds_between(arrival_, now));
                c.first_token_seen = true;
            } else if (out.token_ids.size() == 1) {
                metrics_->inter_token_latency(seconds_between(c.last_token, now));
            }
            c.last_token = now;
        }
    }
    if (out.finished) metrics_->finished(out.finish_reason, seconds_between(arrival_, now));
}

void EngineJob::fail_locked(const Status& status) {
    if (reply_over_) return;
    reply_over_ = true;
    for (const Submitted& s : submitted_)
        if (!s.ended && s.id != 0) engine_->cancel(s.id);
    on_failure(status);
}

void EngineJob::client_left() {
    std::vector<uint64_t> ids;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (reply_over_) return;
        reply_over_ = true;
        for (const Submitted& s : submitted_)
            if (!s.ended && s.id != 0) ids.push_back(s.id);
    }
    // Cancelled so that their KV cache blocks go back at once rather than after max_tokens.
    if (auto engine = weak_engine_.lock())
        for (uint64_t id : ids) engine->cancel(id);
}

}  // namespace turbolm::server
