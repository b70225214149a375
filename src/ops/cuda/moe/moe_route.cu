// Routing of the mixture-of-experts layers: softmax over each token's router logits and its top k experts,
// computed as cpu::softmax_rows followed by cpu::top_k_rows do it.
#include <climits>
#include <cmath>

#include "core/error.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/moe/moe_kernels.h"

namespace turbolm::cuda {
namespace {

constexpr int kWarps = 4;                         // tokens per block (one warp each)
constexpr int kSlots = int(kMoeMaxExperts) / 32;  // experts per lane: lane l holds experts l, l + 32, l + 64, ...

// One warp per token. Every lane keeps the probabilities of its experts in registers (slot i is expert
// lane + 32 * i; unrolled loops keep the index a constant). The top k are then found one at a time: each lane
// offers its best remaining expert, the warp picks the largest probability (lower expert on ties, as torch.topk),
// and the owner marks it taken. The steps follow the CPU: max, exp(x - max), sum, times 1 / sum; then the chosen
// probabilities are summed in the order chosen and each divided by that sum.
__global__ void __launch_bounds__(kWarps * 32)
    moe_route_kernel(const float* __restrict__ logits, int64_t T, int E, int k, bool renormalize,
                     int32_t* __restrict__ ids, float* __restrict__ weights) {
    const int lane = threadIdx.x % 32;
    const int64_t t = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32;
    if (t >= T) return;                 // the whole warp leaves together: t is the same for its lanes
    const float* row = logits + t * E;  // [E]

    float prob[kSlots];
    float mx = -INFINITY;
#pragma unroll
    for (int i = 0; i < kSlots; ++i) {
        const int e = lane + 32 * i;
        prob[i] = e < E ? row[e] : -INFINITY;
        mx = fmaxf(mx, prob[i]);
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));

    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < kSlots; ++i) {
        if (lane + 32 * i < E) {
            prob[i] = expf(prob[i] - mx);
            sum += prob[i];
        }
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    const float inv = 1.0f / sum;
    // Probabilities are >= 0, so -1 marks a slot that is past E or already chosen: it never beats a real one,
    // and since k <= E a real one is always left.
#pragma unroll
    for (int i = 0; i < kSlots; ++i) prob[i] = lane + 32 * i < E ? prob[i] * inv : -1.0f;

    float chosen_sum = 0.0f;  // the same on every lane
    for (int j = 0; j < k; ++j) {
        // This lane's best: strict > keeps the earlier slot, which is the lower expert.
        float best = -INFINITY;
        int best_e = INT_MAX;
#pragma unroll
        for (int i = 0; i < kSlots; ++i) {
            if (prob[i] > best) {
                best = prob[i];
                best_e = lane + 32 * i;
            }
        }
        // The warp's best under (probability descending, expert ascending), a total order, so every lane ends
        // with the same winner.
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) {
            const float other = __shfl_xor_sync(0xffffffffu, best, off);
            const int other_e = __shfl_xor_sync(0xffffffffu, best_e, off);
            if (other > best || (other == best && other_e < best_e)) {
                best = other;
                best_e = other_e;
            }
        }
#pragma unroll
        for (int i = 0; i < kSlots; ++i)
            if (lane + 32 * i == best_e) prob[i] = -1.0f;
        chosen_sum += best;
        if (lane == 0) {
            ids[t * k + j] = best_e;
            weights[t * k + j] = best;
        }
    }
    // Lane 0 rereads only what it wrote itself, so no synchronization is needed.
    if (renormalize && lane == 0)
        for (int j = 0; j < k; ++j) weights[t * k + j] = weights[t * k + j] / chosen_sum;
}

}  // namespace

void launch_moe_route(const float* logits, int64_t T, int64_t E, int64_t k, bool renormalize, int32_t* ids,
                      float* weights, cudaStream_t s) {
    TURBOLM_REQUIRE(E >= 1 && E <= kMoeMaxExperts, "moe_route: ", E, " experts (1 to ", kMoeMaxExperts, ")");
    TURBOLM_REQUIRE(k >= 1 && k <= E, "moe_route: k = ", k, " with ", E, " experts");
    TURBOLM_REQUIRE(T >= 0 && T <= int64_t(INT_MAX) * kWarps, "moe_route: ", T, " tokens");
    if (T == 0) return;
    const unsigned blocks = unsigned((T + kWarps - 1) / kWarps);
    moe_route_kernel<<<blocks, kWarps * 32, 0, s>>>(logits, T, int(E), int(k), renormalize, ids, weights);
    TURBOLM_CUDA_CHECK_LAUNCH();
}

}  // namespace turbolm::cuda
