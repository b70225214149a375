#include "engine/engine_core.h"

#include <algorithm>

#include "core/error.h"

namespace turbolm {

EngineCore::EngineCore(const Model& model, const EngineCoreOptions& options)
    : model_(model),
      scheduler_(options.scheduler, options.kv),
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
    RequestState st{Sampler(r.sampling), int64_t(r.prompt.size()), std::move(r.stop_token_ids), r.ignore_eos};
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
    Tensor logits = model_.forward_paged(chunks, kv_).to_device(Device::kCpu);
    std::vector<SampledToken> sampled;
    for (size_t i = 0; i < schedule.chunks.size(); ++i) {
        const ScheduledChunk& c = schedule.chunks[i];
        if (!c.samples) continue;
        RequestState& st = states_.at(c.request_id);
        const std::span<const int32_t> all = scheduler_.tokens(c.request_id);
        std::span<float> row(logits.row<float>(int64_t(i)), size_t(logits.size(1)));
        const int32_t token = st.sampler.sample(row, all.first(size_t(st.n_prompt)), all.subspan(size_t(st.n_prompt)));
        const bool stop = !st.ignore_eos &&
                          std::find(st.stop_token_ids.begin(), st.stop_token_ids.end(), token) != st.stop_token_ids.end();
        sampled.push_back({c.request_id, token, stop});
    }
    scheduler_.update(schedule, sampled);
    for (const SampledToken& s : sampled) {
        TokenEvent e{s.request_id, s.token, false, FinishReason::kNone};
        if (scheduler_.status(s.request_id) == RequestStatus::kFinished) {
            e.finished = true;
            e.reason = scheduler_.finish_reason(s.request_id);
        }
        events.push_back(e);
    }
    for (uint64_t id : scheduler_.take_finished()) {
        scheduler_.forget(id);
        states_.erase(id);
    }
    return events;
}

}  // namespace turbolm
