#include "engine/engine_core.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "models/split_steps.h"

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
      decode_graphs_enabled_(options.decode_graphs && model.device() != Device::kCpu),
      scheduler_(with_window(options.scheduler, model.config()), options.kv),
      kv_(model.new_kv_cache(options.kv.block_size, options.kv.n_blocks)) {
    const int64_t bs = options.kv.block_size;
    graph_kv_bound_ = (scheduler_.config().max_model_len + bs - 1) / bs * bs;
}

int64_t EngineCore::graph_batch(int64_t n) {
    if (n <= 0 || n > kMaxGraphBatch) return 0;
    if (n <= 8) return n <= 1 ? 1 : n <= 2 ? 2 : n <= 4 ? 4 : 8;
    const int64_t step = n <= 64 ? 8 : n <= 128 ? 16 : n <= 512 ? 32 : 64;
    return (n + step - 1) / step * step;
}

Tensor EngineCore::forward(const Schedule& schedule, std::span<const PagedChunk> chunks) {
    const bool decodes_only = std::all_of(schedule.chunks.begin(), schedule.chunks.end(),
                                          [](const ScheduledChunk& c) { return c.n_tokens == 1 && c.samples; });
    const int64_t batch = graph_batch(int64_t(chunks.size()));
    if (decode_graphs_enabled_ && decodes_only && batch > 0 && model_.graph_capturable(batch))
        return replay_decode_graph(chunks, batch);
    return model_.forward_paged(chunks, kv_);
}

Tensor EngineCore::replay_decode_graph(std::span<const PagedChunk> chunks, int64_t batch) {
    const Device dev = model_.device();
    std::vector<PagedChunk> padded(chunks.begin(), chunks.end());
    padded.resize(size_t(batch), PagedChunk{std::span<const int32_t>(&pad_token_, 1), 0, pad_blocks_, false});
    if (!graph_logits_.defined()) {
        // Rows for the largest graph the scheduler's batches can need.
        const int64_t rows = graph_batch(std::min(scheduler_.config().max_running, kMaxGraphBatch));
        graph_logits_ = Tensor::empty({std::max(rows, batch), model_.config().n_vocab}, DType::kF32, dev);
    }
    Tensor logits = graph_logits_.slice(0, 0, batch);
    const ops::DeviceGraph* shared = nullptr;
    for (const auto& [size, other] : decode_graphs_)
        if (other.graph) shared = other.graph.get();
    DecodeGraph& g = decode_graphs_[batch];
    g.inputs.build_paged(padded, kv_.capacity(), graph_kv_bound_);
    g.inputs.upload(dev);
    if (!g.graph) {
        // The first step of a size runs eagerly (settling lazily made plans and buffers), then the
        // same work is recorded for the steps after it.
        announce_step(model_, SplitStep::kRun, kv_, g.inputs);
        model_.run(g.inputs, kv_, &logits);
        announce_step(model_, SplitStep::kCapture, kv_, g.inputs, batch);
        g.graph = shared ? std::make_unique<ops::DeviceGraph>(dev, *shared) : std::make_unique<ops::DeviceGraph>(dev);
        g.graph->capture([&] { model_.run(g.inputs, kv_, &logits); });
    } else {
        announce_step(model_, SplitStep::kReplay, kv_, g.inputs, batch);
        g.graph->replay();
    }
    return logits.slice(0, 0, int64_t(chunks.size()));
}

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
    if (!in_flight_ && !launch()) return {};
    return complete();
}

bool EngineCore::launch() {
    TURBOLM_REQUIRE(!in_flight_, "launch() while a step is in flight");
    Schedule schedule = scheduler_.schedule();
    if (schedule.empty()) return false;
    std::vector<PagedChunk> chunks;
    chunks.reserve(schedule.chunks.size());
    for (const auto& c : schedule.chunks) chunks.push_back({c.tokens, c.start, c.block_table, false});
    InFlight f;
    f.logits = forward(schedule, chunks);  // one row per chunk: its last token
    if (samples_on_device(schedule, f.logits)) f.device_ids = launch_device_sampling(schedule, f.logits);
    f.schedule = std::move(schedule);
    in_flight_ = std::move(f);
    return true;
}

std::vector<TokenEvent> EngineCore::complete() {
    TURBOLM_REQUIRE(in_flight_.has_value(), "complete() without a step in flight");
    InFlight f = std::move(*in_flight_);
    in_flight_.reset();
    step_logprobs_.clear();
    std::vector<SampledToken> sampled = f.device_ids.defined() ? collect_device_samples(f.schedule, f.device_ids)
                                                               : sample_on_host(f.schedule, f.logits);
    scheduler_.update(f.schedule, sampled);
    std::vector<TokenEvent> events;
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

bool EngineCore::samples_on_device(const Schedule& schedule, const Tensor& logits) const {
    // The device samples unless a request needs what only the host path does yet (penalties'
    // token history, log-probabilities).
    if (logits.device() == Device::kCpu) return false;
    for (const auto& c : schedule.chunks) {
        if (!c.samples) continue;
        const RequestState& st = states_.at(c.request_id);
        const SamplingParams& p = st.params;
        if (p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f ||
            st.logprobs >= 0)
            return false;
    }
    return true;
}

std::vector<SampledToken> EngineCore::sample_on_host(const Schedule& schedule, const Tensor& logits) {
    Tensor host = logits.to_device(Device::kCpu);
    std::vector<SampledToken> sampled;
    for (size_t i = 0; i < schedule.chunks.size(); ++i) {
        const ScheduledChunk& c = schedule.chunks[i];
        auto it = states_.find(c.request_id);
        if (!c.samples || it == states_.end()) continue;  // aborted while in flight
        RequestState& st = it->second;
        const std::span<const int32_t> all = scheduler_.tokens(c.request_id);
        std::span<float> row(host.row<float>(int64_t(i)), size_t(host.size(1)));
        const int32_t token = st.sampler.sample(row, all.first(size_t(st.n_prompt)), all.subspan(size_t(st.n_prompt)));
        // The sampler left the penalized logits in the row: the distribution before temperature.
        if (st.logprobs >= 0) step_logprobs_[c.request_id] = logprobs_of(row, token, st.logprobs);
        sampled.push_back({c.request_id, token, is_stop(st, token)});
    }
    return sampled;
}

Tensor EngineCore::launch_device_sampling(const Schedule& schedule, const Tensor& logits) {
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
    Tensor logits_view = logits;
    ops::sample(logits_view, params_dev, none, none, ids, none);
    return ids;
}

std::vector<SampledToken> EngineCore::collect_device_samples(const Schedule& schedule, const Tensor& ids) {
    Tensor host = ids.to_device(Device::kCpu);
    std::vector<SampledToken> sampled;
    for (size_t i = 0; i < schedule.chunks.size(); ++i) {
        const ScheduledChunk& c = schedule.chunks[i];
        auto it = states_.find(c.request_id);
        if (!c.samples || it == states_.end()) continue;  // aborted while in flight
        const int32_t token = host.data<int32_t>()[i];
        sampled.push_back({c.request_id, token, is_stop(it->second, token)});
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
