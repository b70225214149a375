// The last step of a mixture-of-experts layer: each token's k expert outputs, weighted by the router, added to
// the residual stream.
#include <algorithm>
#include <climits>

#include "core/error.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/moe/moe_kernels.h"

namespace turbolm::cuda {
namespace {

constexpr int kThreads = 256;

// One thread per column (blockIdx.x picks the column block); tokens in y, with a stride loop so that any T fits in
// the 65535 blocks y allows. Each thread sums its token's k terms in a fixed order, so the result is the same
// whatever the grid.
__global__ void __launch_bounds__(kThreads)
    moe_combine_kernel(const float* __restrict__ y, int64_t ldy, const float* __restrict__ weights, int64_t T, int k,
                       int64_t D, float* __restrict__ residual, int64_t ldr) {
    const int64_t col = int64_t(blockIdx.x) * kThreads + threadIdx.x;
    if (col >= D) return;
    for (int64_t t = blockIdx.y; t < T; t += gridDim.y) {
        float sum = 0.0f;
        for (int j = 0; j < k; ++j) {
            const int64_t p = t * k + j;  // pair of token t and its j-th expert
            sum = fmaf(__ldg(weights + p), __ldg(y + p * ldy + col), sum);
        }
        residual[t * ldr + col] += sum;
    }
}

}  // namespace

void launch_moe_combine(const float* y, int64_t ldy, const float* weights, int64_t T, int64_t k, int64_t D,
                        float* residual, int64_t ldr, cudaStream_t s) {
    TURBOLM_REQUIRE(T >= 0 && D >= 0, "moe_combine: ", T, " tokens of ", D, " columns");
    TURBOLM_REQUIRE(k >= 1 && k <= kMoeMaxExperts, "moe_combine: k = ", k);
    TURBOLM_REQUIRE(ldy >= D && ldr >= D, "moe_combine: row strides ", ldy, ", ", ldr, " shorter than ", D);
    TURBOLM_REQUIRE(D <= int64_t(INT_MAX) * kThreads, "moe_combine: ", D, " columns");
    if (T == 0 || D == 0) return;
    const dim3 grid(unsigned((D + kThreads - 1) / kThreads), unsigned(std::min<int64_t>(T, 65535)));
    moe_combine_kernel<<<grid, kThreads, 0, s>>>(y, ldy, weights, T, int(k), D, residual, ldr);
    TURBOLM_CUDA_CHECK_LAUNCH();
}

}  // namespace turbolm::cuda
