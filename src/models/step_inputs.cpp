#include "models/step_inputs.h"

#include <algorithm>

#include "core/error.h"

namespace turbolm {

void StepInputs::build(std::span<const SequenceChunk> chunks, const KvCache& kv, bool capacity_bounds) {
    TURBOLM_REQUIRE(!chunks.empty(), "a forward step needs at least one sequence");
    n_seqs_ = int64_t(chunks.size());
    n_tokens_ = 0;
    for (const auto& c : chunks) {
        TURBOLM_REQUIRE(!c.tokens.empty(), "forward needs at least one token per sequence");
        TURBOLM_CHECK(c.seq >= 0 && c.seq < kv.n_seqs(), "sequence ", c.seq, " is not in the KV cache");
        const int64_t end = kv.size(c.seq) + int64_t(c.tokens.size());
        if (end > kv.capacity())
            fail(StatusCode::kOutOfRange, "sequence of ", end, " tokens exceeds the KV cache capacity of ",
                 kv.capacity());
        n_tokens_ += int64_t(c.tokens.size());
    }
    const int64_t T = n_tokens_, S = n_seqs_;
    block_size_ = kv.capacity();
    max_blocks_ = 1;
    std::vector<int32_t> ids, pos, q_start{0}, kv_len, table, rows;
    ids.reserve(size_t(T));
    pos.reserve(size_t(T));
    slots_.clear();
    max_q_len_ = max_kv_len_actual_ = 0;
    for (const auto& c : chunks) {
        const int64_t start = kv.size(c.seq), n = int64_t(c.tokens.size());
        const int64_t first_row = int64_t(ids.size());
        for (int64_t i = 0; i < n; ++i) {
            ids.push_back(c.tokens[size_t(i)]);
            pos.push_back(int32_t(start + i));
            slots_.push_back(c.seq * kv.capacity() + start + i);
        }
        q_start.push_back(int32_t(ids.size()));
        kv_len.push_back(int32_t(start + n));
        table.push_back(int32_t(c.seq));  // one block per sequence: its own range of the pool
        if (c.all_logits) {
            for (int64_t i = 0; i < n; ++i) rows.push_back(int32_t(first_row + i));
        } else {
            rows.push_back(int32_t(first_row + n - 1));
        }
        max_q_len_ = std::max(max_q_len_, n);
        max_kv_len_actual_ = std::max(max_kv_len_actual_, start + n);
    }
    max_kv_len_ = capacity_bounds ? kv.capacity() : max_kv_len_actual_;
    n_logit_rows_ = int64_t(rows.size());
    meta_.clear();
    for (auto* part : {&ids, &pos, &q_start, &kv_len, &table, &rows}) meta_.insert(meta_.end(), part->begin(), part->end());
    (void)S;
}

void StepInputs::upload(Device device) {
    const int64_t T = n_tokens_, S = n_seqs_, R = n_logit_rows_;
    const int64_t n_meta = int64_t(meta_.size());
    Tensor meta_host = Tensor::wrap(meta_.data(), {n_meta}, DType::kI32, nullptr);
    Tensor slots_host = Tensor::wrap(slots_.data(), {T}, DType::kI64, nullptr);
    if (device == Device::kCpu) {
        meta_dev_ = meta_host;
        slots_dev_ = slots_host;
    } else {
        if (!meta_dev_.defined() || meta_dev_.numel() != n_meta || meta_dev_.device() != device)
            meta_dev_ = Tensor::empty({n_meta}, DType::kI32, device);
        if (!slots_dev_.defined() || slots_dev_.numel() != T || slots_dev_.device() != device)
            slots_dev_ = Tensor::empty({T}, DType::kI64, device);
        meta_dev_.copy_from(meta_host);
        slots_dev_.copy_from(slots_host);
    }
    int64_t at = 0;
    auto take = [&](int64_t n) {
        Tensor t = meta_dev_.slice(0, at, at + n);
        at += n;
        return t;
    };
    ids = take(T);
    pos = take(T);
    attention.q_start = take(S + 1);
    attention.kv_len = take(S);
    attention.block_table = take(S * max_blocks_).view({S, max_blocks_});
    logit_rows = take(R);
    slots = slots_dev_;
    attention.q_pos = pos;
    attention.block_size = block_size_;
    attention.max_q_len = max_q_len_;
    attention.max_kv_len = max_kv_len_;
}

}  // namespace turbolm
