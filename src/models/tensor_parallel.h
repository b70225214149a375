// Megatron-style tensor parallelism: how each rank's part of a model is cut from the full weights.
// Column-parallel projections (q, k, v, gate, up, the LM head) keep a range of output rows, so each
// rank computes its own heads and FFN columns; row-parallel ones (o, down) keep the matching range
// of input columns, and their outputs are partial sums that one all-reduce completes. Attention
// heads split evenly; KV heads split too, or, with fewer KV heads than ranks, each rank keeps the
// one its query heads read. The vocabulary splits into ceil(n_vocab / world) rows per rank (the
// last may be shorter) for both the embedding and the LM head. Norms, routers and position tables
// are replicated.
#pragma once

#include <optional>

#include "models/layers.h"
#include "models/model_config.h"

namespace turbolm {

// [begin, end) of one axis.
struct AxisRange {
    int64_t begin = 0, end = 0;
    int64_t size() const { return end - begin; }
};

// What a rank keeps of a projection [out, in]: a range of its rows (column-parallel), of its
// columns (row-parallel: the bias, if any, goes to rank 0 only, which adds it once), or all of it.
struct LinearPart {
    std::optional<AxisRange> rows, cols;
    bool bias = true;
    bool whole() const { return !rows && !cols && bias; }
};

// Throws kInvalidArgument naming the dimension that does not split over cfg.tp.world ranks.
void check_tensor_parallel(const ModelConfig& full);
// The sizes a rank computes with: its heads, KV heads and FFN width (the vocabulary stays full).
ModelConfig local_config(const ModelConfig& full);

AxisRange q_head_rows(const ModelConfig& full);    // of q's H * head_dim rows
AxisRange kv_head_rows(const ModelConfig& full);   // of k's and v's Hkv * head_dim rows
AxisRange ffn_rows(const ModelConfig& full);       // of the n_ff hidden units
AxisRange vocab_rows(const ModelConfig& full);     // of the n_vocab embedding and LM head rows
int64_t vocab_part_rows(const ModelConfig& full);  // ceil(n_vocab / world): the widest rank's rows

LinearPart column_parallel(const AxisRange& rows);
LinearPart row_parallel(const AxisRange& cols, const TensorParallel& tp);

// The parts the loaders ask for, by role; each is the whole projection when the model is not split.
LinearPart q_part(const ModelConfig& full);         // q rows (and a fused qkv's q rows)
LinearPart kv_part(const ModelConfig& full);        // k and v rows
LinearPart o_part(const ModelConfig& full);         // o: the columns of the rank's q heads
LinearPart ffn_up_part(const ModelConfig& full);    // gate and up rows (experts' too)
LinearPart ffn_down_part(const ModelConfig& full);  // down: the columns of the rank's FFN units
LinearPart vocab_part(const ModelConfig& full);     // embedding and LM head rows

// The part of a tensor: on the CPU a view where it is contiguous (a row range of a memory-mapped
// checkpoint stays mapped), otherwise a fresh copy, so that a device never keeps the full tensor.
Tensor take_rows(const Tensor& t, const AxisRange& rows);
Tensor take_cols(const Tensor& t, const AxisRange& cols);
// A projection's part in any WeightFormat (INT4 column ranges must be whole groups; GPTQ's
// act-order permutation cannot be split by columns).
Linear take_part(Linear l, const LinearPart& part);
// This rank's [q; k; v] rows of a fused projection whose rows are [q (H*hd); k (Hkv*hd); v (Hkv*hd)].
Linear take_qkv_part(const Linear& fused, const ModelConfig& full);

}  // namespace turbolm
