#include "engine/engine_core.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace turbolm {

namespace {

// A model whose every layer attends to the same sliding window lets the scheduler hand back the
// blocks behind it.
SchedulerConfig with_window(SchedulerConfig c, const ModelConfig& m) {
    const auto& w = m.layer_window;
    if (!w.empty() && w[0] > 0 && std::all_of(w.begin(), w.end(), [&](int64_t x) { return x == w[0]; }))
        c.sliding_window = w[0];
    return c;
}

}  // namespace

EngineCore::EngineCore(const Model& model, const EngineCoreOptions& options)
    : model_(model),
      scheduler_(with_window(options.scheduler, model.config()), options.kv),
      kv_(model.new_kv_cache(options.kv.block_size, options.kv.n_blocks)) {}

void EngineCore::add(CoreRequest r) {
    if (r.prompt.empty()) fail(StatusCode::kInvalidArgument, "request ", r.id, ": the prompt is empty");
    const int64_t vocab = model_.config().n_vocab;
    for (int32_t t : r.prompt)
        if (t < 0 || t >= vocab)
            fail(StatusCode::kOutOfRange, "request ", r.id, ": token ", t, " is outside the vocabulary [0, ", vocab, ")");
    if (r.max_tokens < 1) fail(StatusCode::kInvalidArgument, "request ", r.id, ": max_tokens must be >= 1");
    const int64_t max_len = scheduler_.config().max_model_len;
    if (int64_t(r.prompt.size()) >= max_len)
        fail(StatusCode::kOutOfRange, "request ", r.id, ": a prompt of ", r.prompt.size(),
             " tokens leaves no room in the context of ", max_len);
    TURBOLM_REQUIRE(!states_.contains(r.id) && !scheduler_.contains(r.id), "request id ", r.id, " is in use");
    Sampler sampler(r.sampling);
    const uint64_t seed = sampler.seed();
    RequestState st{std::move(sampler), int64_t(r.prompt.size()), std::move(r.stop_token_ids), r.ignore_eos,
                    r.sampling, seed, r.logprobs};
    states_.emplace(r.id, std::move(st));
    scheduler_.add_request({r.id, r.priority, std::move(r.prompt), r.max_tokens});
}

bool EngineCore::abort(uint64_t id) {
    const bool was_running = scheduler_.abort(id);
    if (scheduler_.contains(id)) scheduler_.forget(id);
    states_.erase(id);
    return was_running;
}

std::vector<TokenEvent> EngineCore::step() {
    std::vector<TokenEvent> events;
    Schedule schedule = scheduler_.schedule();
    if (schedule.empty()) return events;
    std::vector<PagedChunk> chunks;
    chunks.reserve(schedule.chunks.size());
    for (const auto& c : schedule.chunks) chunks.push_back({c.tokens, c.start, c.block_table, false});
    // One logits row per chunk: its last token.
    Tensor logits = model_.forward_paged(chunks, kv_);
    std::vector<SampledToken> sampled = sample(schedule, logits);
    scheduler_.update(schedule, sampled);
    for (const SampledToken& s : sampled) {
        TokenEvent e{s.request_id, s.token, false, FinishReason::kNone};
        if (auto it = step_logprobs_.find(s.request_id); it != step_logprobs_.end()) {
            e.logprob = it->second.chosen;
            e.top_logprobs = std::move(it->second.top);
        }
        if (scheduler_.status(s.request_id) == RequestStatus::kFinished) {
            e.finished = true;
            e.reason = scheduler_.finish_reason(s.request_id);
        }
        events.push_back(e);
    }
    // Aborted requests are reported here too, but abort() has already dropped them.
    for (uint64_t id : scheduler_.take_finished()) {
        if (scheduler_.contains(id)) scheduler_.forget(id);
        states_.erase(id);
    }
    return events;
}

std::vector<SampledToken> EngineCore::sample(const Schedule& schedule, Tensor& logits) {
    step_logprobs_.clear();
    // The device samples unless a request needs what only the host path does yet (penalties'
    // token history, log-probabilities).
    bool host_only = false;
    for (const auto& c : schedule.chunks) {
        if (!c.samples) continue;
        const RequestState& st = states_.at(c.request_id);
        const SamplingParams& p = st.params;
        host_only = host_only || p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f ||
                    p.frequency_penalty != 0.0f || st.logprobs >= 0;
    }
    if (logits.device() != Device::kCpu && !host_only) return sample_on_device(schedule, logits);
    Tensor host = logits.to_device(Device::kCpu);
    std::vector<SampledToken> sampled;
    for (size_t i = 0; i < schedule.chunks.size(); ++i) {
        const ScheduledChunk& c = schedule.chunks[i];
        if (!c.samples) continue;
        RequestState& st = states_.at(c.request_id);
        const std::span<const int32_t> all = scheduler_.tokens(c.request_id);
        std::span<float> row(host.row<float>(int64_t(i)), size_t(host.size(1)));
        const int32_t token = st.sampler.sample(row, all.first(size_t(st.n_prompt)), all.subspan(size_t(st.n_prompt)));
        // The sampler left the penalized logits in the row: the distribution before temperature.
        if (st.logprobs >= 0) step_logprobs_[c.request_id] = logprobs_of(row, token, st.logprobs);
        sampled.push_back({c.request_id, token, is_stop(st, token)});
    }
    return sampled;
}

std::vector<SampledToken> EngineCore::sample_on_device(const Schedule& schedule, Tensor& logits) {
    // Every row is drawn (rows of chunks that do not sample are cheap and ignored); each draw is
    // seeded by the request's seed and its position, so preemption and batching change nothing.
    const int64_t rows = logits.size(0);
    std::vector<ops::SamplingRowParams> params(static_cast<size_t>(rows));
    for (int64_t i = 0; i < rows; ++i) {
        const ScheduledChunk& c = schedule.chunks[size_t(i)];
        const RequestState& st = states_.at(c.request_id);
        ops::SamplingRowParams& p = params[size_t(i)];
        p.temperature = st.params.temperature;
        p.top_k = st.params.top_k;
        p.top_p = st.params.top_p;
        p.min_p = st.params.min_p;
        p.seed = st.seed;
        p.step = uint64_t(c.start + c.n_tokens);
    }
    const Device dev = logits.device();
    Tensor params_dev = Tensor::wrap(params.data(), {rows * int64_t(sizeof(ops::SamplingRowParams))}, DType::kU8, nullptr)
                            .to_device(dev);
    Tensor ids = Tensor::empty({rows}, DType::kI32, dev), none;
    ops::sample(logits, params_dev, none, none, ids, none);
    Tensor host = ids.to_device(Device::kCpu);
    std::vector<SampledToken> sampled;
    for (int64_t i = 0; i < rows; ++i) {
        const ScheduledChunk& c = schedule.chunks[size_t(i)];
        if (!c.samples) continue;
        const int32_t token = host.data<int32_t>()[i];
        sampled.push_back({c.request_id, token, is_stop(states_.at(c.request_id), token)});
    }
    return sampled;
}

EngineCore::Logprobs EngineCore::logprobs_of(std::span<const float> row, int32_t token, int k) {
    float mx = -std::numeric_limits<float>::infinity();
    for (float v : row) mx = std::max(mx, v);
    double sum = 0.0;
    for (float v : row) sum += std::exp(double(v) - double(mx));
    const float lse = mx + float(std::log(sum));
    Logprobs out;
    out.chosen = row[size_t(token)] - lse;
    const size_t n = std::min(size_t(std::max(k, 0)), row.size());
    std::vector<int32_t> idx(row.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + n, idx.end(), [&](int32_t a, int32_t b) {
        return row[size_t(a)] > row[size_t(b)] || (row[size_t(a)] == row[size_t(b)] && a < b);
    });
    for (size_t i = 0; i < n; ++i) out.top.push_back({idx[i], row[size_t(idx[i])] - lse});
    return out;
}

bool EngineCore::is_stop(const RequestState& st, int32_t token) {
    return !st.ignore_eos && std::find(st.stop_token_ids.begin(), st.stop_token_ids.end(), token) != st.stop_token_ids.end();
}

}  // namespace turbolm
