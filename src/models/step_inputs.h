// What one forward step reads besides the weights: the tokens of some sequences, their positions,
// the cache slots their keys go to, how the batch splits into sequences, and which rows need logits.
// Built on the host, then copied to the model's device in two transfers. A captured decode graph
// keeps one StepInputs and refreshes its contents (same shapes, same addresses) before each replay.
#pragma once

#include <span>
#include <vector>

#include "kv/kv_cache.h"
#include "ops/ops.h"

namespace turbolm {

// A run of tokens of one sequence, placed after the positions its cache already holds.
struct SequenceChunk {
    std::span<const int32_t> tokens;
    int64_t seq = 0;
    bool all_logits = false;  // logits for every token (else only the last)
};

// A run of tokens of one sequence of a paged cache: positions [start, start + tokens.size()) whose
// keys and values go to the sequence's blocks (its block table, block_size positions each).
struct PagedChunk {
    std::span<const int32_t> tokens;
    int64_t start = 0;
    std::span<const int32_t> blocks;
    bool all_logits = false;
};

class StepInputs {
public:
    // The general form: chunks over a paged cache of `block_size`-position blocks. kv_len_bound > 0
    // fixes the attention bound and the block-table width (decode graphs); 0 uses the actual lengths.
    void build_paged(std::span<const PagedChunk> chunks, int64_t block_size, int64_t kv_len_bound);
    // Describes `chunks` against `kv` (which must have room for them). With capacity_bounds the
    // attention bounds are the cache capacity, so the launch shapes stay fixed while the sequences
    // grow (decode graphs); otherwise they are the actual lengths.
    void build(std::span<const SequenceChunk> chunks, const KvCache& kv, bool capacity_bounds);
    // Copies the host description to `device`, reusing the device buffers when the shapes match.
    void upload(Device device);

    // The host description as one array and back (what rank 0 of a split model sends the other
    // ranks, models/split_steps.h); load() then upload() gives the same device inputs as build().
    std::vector<int64_t> save() const;
    void load(std::span<const int64_t> saved);

    int64_t n_tokens() const { return n_tokens_; }
    int64_t n_logit_rows() const { return n_logit_rows_; }
    bool all_rows_need_logits() const { return n_logit_rows_ == n_tokens_; }
    int64_t max_kv_len() const { return max_kv_len_actual_; }

    // Device views (valid after upload).
    Tensor ids, pos;   // i32 [T]
    Tensor slots;      // i64 [T]
    Tensor logit_rows; // i32 [R]
    ops::AttentionBatch attention;

private:
    std::vector<int32_t> meta_;  // ids | pos | q_start | kv_len | block_table | logit_rows
    std::vector<int64_t> slots_;
    Tensor meta_dev_, slots_dev_;
    int64_t n_tokens_ = 0, n_seqs_ = 0, n_logit_rows_ = 0, max_blocks_ = 1;
    int64_t block_size_ = 0, max_q_len_ = 0, max_kv_len_ = 0, max_kv_len_actual_ = 0;
    int64_t n_decode_seqs_ = 0;  // leading chunks of one token
};

}  // namespace turbolm
