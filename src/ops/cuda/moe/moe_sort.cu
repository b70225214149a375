// Groups the routed (token, expert) pairs by expert, stably, so that each expert's pairs can share one read of
// its weights.
#include <climits>

#include "core/error.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/moe/moe_kernels.h"

namespace turbolm::cuda {
namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;

// A counting sort in one block, one warp per expert (warp w takes experts w, w + 32, ...). A warp walks the ids
// 32 at a time in increasing pair order: the ballot of the lanes whose pair is its expert gives their count, and
// each such lane's place among them is the number of matching lanes below it, so the placement is stable.
// Pass 1 counts, one thread turns the counts into offsets, pass 2 places.
__global__ void __launch_bounds__(kThreads)
    moe_sort_kernel(const int32_t* __restrict__ ids, int P, int E, int32_t* __restrict__ order,
                    int32_t* __restrict__ offsets) {
    __shared__ int start[kMoeMaxExperts + 1];  // start[e] = first place of expert e in order; start[E] = total
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const unsigned lanes_below = (1u << lane) - 1u;

    // Pass 1: start[e + 1] = number of pairs of expert e.
    for (int e = warp; e < E; e += kWarps) {
        int count = 0;
        for (int base = 0; base < P; base += 32) {  // P is the same for every lane: the ballot sees the full warp
            const int p = base + lane;
            const bool mine = p < P && ids[p] == e;
            count += __popc(__ballot_sync(0xffffffffu, mine));
        }
        if (lane == 0) start[e + 1] = count;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        start[0] = 0;
        for (int e = 0; e < E; ++e) start[e + 1] += start[e];
    }
    __syncthreads();
    for (int e = threadIdx.x; e <= E; e += kThreads) offsets[e] = start[e];

    // Pass 2: the pairs of expert e go to order[start[e] ..) in increasing p.
    for (int e = warp; e < E; e += kWarps) {
        int next = start[e];
        for (int base = 0; base < P; base += 32) {
            const int p = base + lane;
            const bool mine = p < P && ids[p] == e;
            const unsigned mask = __ballot_sync(0xffffffffu, mine);
            if (mine) order[next + __popc(mask & lanes_below)] = p;
            next += __popc(mask);
        }
    }
}

}  // namespace

void launch_moe_sort(const int32_t* ids, int64_t P, int64_t E, int32_t* order, int32_t* offsets, cudaStream_t s) {
    TURBOLM_REQUIRE(E >= 1 && E <= kMoeMaxExperts, "moe_sort: ", E, " experts (1 to ", kMoeMaxExperts, ")");
    // Pair indices are i32; the bound also keeps base + 32 from overflowing in the kernel.
    TURBOLM_REQUIRE(P >= 0 && P <= INT_MAX - 64, "moe_sort: ", P, " pairs");
    moe_sort_kernel<<<1, kThreads, 0, s>>>(ids, int(P), int(E), order, offsets);
    TURBOLM_CUDA_CHECK_LAUNCH();
}

}  // namespace turbolm::cuda
