// Mixture-of-experts layers on the GPU without the host: routing, grouping the routed (token, expert) pairs by
// expert, the expert products for the few tokens of a decode step, and the weighted sum back into the residual.
// A layer runs as
//   launch_moe_route   router logits -> ids, weights                       [T, k] each
//   launch_moe_sort    ids -> order, offsets                               pairs grouped by expert
//   launch_moe_gemv    x -> gate/up of every pair (x_rows_per_pair_div = k) [P, 2F]
//   (activation)       act(gate) * up                                      [P, F]
//   launch_moe_gemv    -> down of every pair (x_rows_per_pair_div = 1)     [P, D] f32
//   launch_moe_combine residual += sum of each token's k rows, weighted
// where pair p = t * k + j is token t's j-th expert and P = T * k.
//
// Conventions of every launcher here:
//  - All pointers are device memory. Row strides (ld*) and expert_stride are in elements.
//  - Launchers only enqueue work on `s`: no allocation, no synchronization, the grid depends on the host
//    arguments only, so a whole layer can be captured in a CUDA graph. T == 0 (or P == 0, N == 0, D == 0) does
//    nothing, except launch_moe_sort, which still writes offsets.
//  - "16-bit" means __nv_bfloat16 or __half, chosen by a DType (kBF16 or kF16); math is in f32 and a 16-bit
//    result is rounded once, to nearest even. Bad arguments fail with kInvalidArgument naming the launcher.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "core/dtype.h"

namespace turbolm::cuda {

// The most experts a layer may have (8 per lane of the routing warp; one shared-memory slot each in the sort).
constexpr int64_t kMoeMaxExperts = 256;
// Pairs of one expert that launch_moe_gemv multiplies with one read of the expert's weights.
constexpr int64_t kMoeGemvGroup = 4;

// Routing: softmax over each row of logits, then the k most probable experts (ties to the lower index, as
// torch.topk) in descending probability into ids and their probabilities into weights, rescaled to sum to 1 when
// renormalize. Same results as cpu::softmax_rows + cpu::top_k_rows up to f32 rounding of the softmax (the exp and
// the order of the sum differ), so ids agree except where two probabilities are within about 1e-7.
// Logits must be finite or -inf.   1 <= E <= kMoeMaxExperts, 1 <= k <= E.
// logits: f32 [T, E]; ids: i32 [T, k]; weights: f32 [T, k]
void launch_moe_route(const float* logits, int64_t T, int64_t E, int64_t k, bool renormalize, int32_t* ids,
                      float* weights, cudaStream_t s);

// Groups the P routed pairs by expert, stably: order[offsets[e] .. offsets[e+1]) are the pairs p with ids[p] == e,
// in increasing p. Ids outside [0, E) belong to no expert and are left out, so offsets[E] counts only the others
// and order[offsets[E] .. P) is not written (a caller holding only some experts can mark the rest -1).
// One block does it all: meant for the P of decode steps (up to a few thousand).   1 <= E <= kMoeMaxExperts.
// ids: i32 [P]; order: i32 [P]; offsets: i32 [E + 1]
void launch_moe_sort(const int32_t* ids, int64_t P, int64_t E, int32_t* order, int32_t* offsets, cudaStream_t s);

// Expert products for few tokens: for every pair p grouped under expert e by launch_moe_sort,
//   y[p, :] = x[p / x_rows_per_pair_div, :] @ w[e]^T
// x_rows_per_pair_div is k for the up projection (the input is the token's row) and 1 for the down projection
// (the input is the pair's own row). Pairs that order/offsets leave out are not written.
// The pairs of one expert are taken kMoeGemvGroup at a time, so each expert's weights are read ceil(count / 4)
// times per launch, not once per pair. max_pairs (>= P) is the host bound on P that sizes the grid; the grid does
// not depend on the routing, so one captured graph serves every routing of a step.
// ids is not read: the grouping in order/offsets carries the experts (it stays so that a caller passes the
// routing it sorted, and may be null).
// Requires K % 8 == 0, ldx, ldw and expert_stride multiples of 8 and x, w 16-byte aligned.
// x: [*, ldx] in dtype (16-bit); w: [E, N, K] in dtype, expert e's row n at w + e * expert_stride + n * ldw;
// order: i32 [P]; offsets: i32 [E + 1]; y: [P, ldy] in out_dtype (f32 or dtype)
void launch_moe_gemv(const void* x, int64_t ldx, int64_t x_rows_per_pair_div, const void* w, int64_t expert_stride,
                     int64_t ldw, DType dtype, const int32_t* order, const int32_t* offsets, const int32_t* ids,
                     int64_t P, int64_t E, int64_t max_pairs, void* y, int64_t ldy, DType out_dtype, int64_t N,
                     int64_t K, cudaStream_t s);

// residual[t, :] += sum_j weights[t, j] * y[t * k + j, :], the sum taken in f32 in the order j = 0 .. k-1 (one fma
// per term), so the result does not depend on the launch shape.
// y: f32 [T * k, ldy]; weights: f32 [T, k]; residual: f32 [T, ldr]
void launch_moe_combine(const float* y, int64_t ldy, const float* weights, int64_t T, int64_t k, int64_t D,
                        float* residual, int64_t ldr, cudaStream_t s);

}  // namespace turbolm::cuda
