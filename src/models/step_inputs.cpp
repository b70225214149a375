#include "models/step_inputs.h"

#include <algorithm>

#include "core/error.h"

namespace turbolm {

void StepInputs::build(std::span<const SequenceChunk> chunks, const KvCache& kv, bool capacity_bounds) {
    TURBOLM_REQUIRE(!chunks.empty(), "a forward step needs at least one sequence");
    // A static batch is the paged layout with one block of `capacity` positions per sequence.
    std::vector<int32_t> block_ids(chunks.size());
    std::vector<PagedChunk> paged(chunks.size());
    for (size_t i = 0; i < chunks.size(); ++i) {
        const auto& c = chunks[i];
        TURBOLM_CHECK(c.seq >= 0 && c.seq < kv.n_seqs(), "sequence ", c.seq, " is not in the KV cache");
        const int64_t end = kv.size(c.seq) + int64_t(c.tokens.size());
        if (end > kv.capacity())
            fail(StatusCode::kOutOfRange, "sequence of ", end, " tokens exceeds the KV cache capacity of ",
                 kv.capacity());
        block_ids[i] = int32_t(c.seq);
        paged[i] = {c.tokens, kv.size(c.seq), std::span<const int32_t>(&block_ids[i], 1), c.all_logits};
    }
    build_paged(paged, kv.capacity(), capacity_bounds ? kv.capacity() : 0);
}

void StepInputs::build_paged(std::span<const PagedChunk> chunks, int64_t block_size, int64_t kv_len_bound) {
    TURBOLM_REQUIRE(!chunks.empty(), "a forward step needs at least one sequence");
    TURBOLM_REQUIRE(block_size > 0, "block size must be positive");
    n_seqs_ = int64_t(chunks.size());
    n_tokens_ = 0;
    max_blocks_ = kv_len_bound > 0 ? (kv_len_bound + block_size - 1) / block_size : 1;
    for (const auto& c : chunks) {
        TURBOLM_REQUIRE(!c.tokens.empty(), "forward needs at least one token per sequence");
        const int64_t end = c.start + int64_t(c.tokens.size());
        const int64_t needed = (end + block_size - 1) / block_size;
        if (int64_t(c.blocks.size()) < needed)
            fail(StatusCode::kInternal, "block table of ", c.blocks.size(), " blocks for ", end, " positions");
        TURBOLM_CHECK(kv_len_bound <= 0 || end <= kv_len_bound, "sequence of ", end, " positions past the bound ",
                      kv_len_bound);
        if (kv_len_bound <= 0) max_blocks_ = std::max(max_blocks_, needed);
        n_tokens_ += int64_t(c.tokens.size());
    }
    const int64_t T = n_tokens_;
    block_size_ = block_size;
    std::vector<int32_t> ids, pos, q_start{0}, kv_len, table, rows;
    ids.reserve(size_t(T));
    pos.reserve(size_t(T));
    table.reserve(size_t(n_seqs_ * max_blocks_));
    slots_.clear();
    max_q_len_ = max_kv_len_actual_ = 0;
    n_decode_seqs_ = 0;
    bool leading = true;
    for (const auto& c : chunks) {
        const int64_t n = int64_t(c.tokens.size());
        const int64_t first_row = int64_t(ids.size());
        for (int64_t i = 0; i < n; ++i) {
            const int64_t p = c.start + i;
            ids.push_back(c.tokens[size_t(i)]);
            pos.push_back(int32_t(p));
            slots_.push_back(int64_t(c.blocks[size_t(p / block_size)]) * block_size + p % block_size);
        }
        q_start.push_back(int32_t(ids.size()));
        kv_len.push_back(int32_t(c.start + n));
        // Rows are padded with block 0 (the null block): positions past kv_len are never read.
        for (int64_t b = 0; b < max_blocks_; ++b)
            table.push_back(b < int64_t(c.blocks.size()) ? c.blocks[size_t(b)] : 0);
        if (c.all_logits) {
            for (int64_t i = 0; i < n; ++i) rows.push_back(int32_t(first_row + i));
        } else {
            rows.push_back(int32_t(first_row + n - 1));
        }
        max_q_len_ = std::max(max_q_len_, n);
        leading = leading && n == 1;
        if (leading) ++n_decode_seqs_;
        max_kv_len_actual_ = std::max(max_kv_len_actual_, c.start + n);
    }
    max_kv_len_ = kv_len_bound > 0 ? kv_len_bound : max_kv_len_actual_;
    n_logit_rows_ = int64_t(rows.size());
    meta_.clear();
    for (auto* part : {&ids, &pos, &q_start, &kv_len, &table, &rows})
        meta_.insert(meta_.end(), part->begin(), part->end());
}

std::vector<int64_t> StepInputs::save() const {
    std::vector<int64_t> out = {
        n_tokens_,  n_seqs_,     n_logit_rows_,      max_blocks_,           block_size_,           max_q_len_,
        max_kv_len_, max_kv_len_actual_, n_decode_seqs_, int64_t(meta_.size()), int64_t(slots_.size())};
    out.insert(out.end(), meta_.begin(), meta_.end());
    out.insert(out.end(), slots_.begin(), slots_.end());
    return out;
}

void StepInputs::load(std::span<const int64_t> saved) {
    constexpr size_t kHeader = 11;
    TURBOLM_CHECK(saved.size() >= kHeader, "step inputs of ", saved.size(), " values");
    n_tokens_ = saved[0];
    n_seqs_ = saved[1];
    n_logit_rows_ = saved[2];
    max_blocks_ = saved[3];
    block_size_ = saved[4];
    max_q_len_ = saved[5];
    max_kv_len_ = saved[6];
    max_kv_len_actual_ = saved[7];
    n_decode_seqs_ = saved[8];
    const size_t n_meta = size_t(saved[9]), n_slots = size_t(saved[10]);
    TURBOLM_CHECK(saved.size() == kHeader + n_meta + n_slots, "step inputs of ", saved.size(), " values");
    meta_.assign(saved.begin() + kHeader, saved.begin() + long(kHeader + n_meta));
    slots_.assign(saved.begin() + long(kHeader + n_meta), saved.end());
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
    attention.n_decode_seqs = n_decode_seqs_;
}

}  // namespace turbolm
