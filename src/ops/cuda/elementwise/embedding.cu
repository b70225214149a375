// Embedding lookup: one block per token copies (or adds) its table row into the f32 activations,
// widening 16-bit tables on the way.
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/elementwise/elementwise_common.cuh"
#include "ops/cuda/elementwise/elementwise_kernels.h"

namespace turbolm::cuda {
namespace {

using namespace elt;

constexpr int kThreads = 256;

// ids: i32 [T]; table: Tab [vocab, cols]; out: f32 [T, ldo]; grid.x = T, block = kThreads
template <typename Tab, bool kAccumulate>
__global__ void __launch_bounds__(kThreads)
    embedding_kernel(const int32_t* __restrict__ ids, const Tab* __restrict__ table, int64_t cols,
                     float* __restrict__ out, int64_t ldo) {
    const int64_t t = blockIdx.x;
    const Tab* row = table + int64_t(ids[t]) * cols;  // the caller guarantees 0 <= ids[t] < vocab
    float* o = out + t * ldo;
    // Same condition for every thread of the block: no divergence.
    const bool vec = cols % kVec == 0 && aligned16(row) && aligned16(o);
    if (vec) {
        for (int64_t c = threadIdx.x; c < cols / kVec; c += kThreads) {  // chunk c = elements [8c, 8c + 8)
            float v[kVec];
            load8(row + c * kVec, v);
            if (kAccumulate) {
                float prev[kVec];
                load8(o + c * kVec, prev);
#pragma unroll
                for (int k = 0; k < kVec; ++k) v[k] = prev[k] + v[k];
            }
            store8(o + c * kVec, v);
        }
    } else {
        for (int64_t i = threadIdx.x; i < cols; i += kThreads) {
            const float v = to_f32(row[i]);
            o[i] = kAccumulate ? o[i] + v : v;
        }
    }
}

}  // namespace

void launch_embedding(const int32_t* ids, int64_t T, const void* table, DType table_dtype, int64_t cols, float* out,
                      int64_t ldo, bool accumulate, cudaStream_t s) {
    const char* op = "launch_embedding";
    dispatch_float(table_dtype, op, [](auto) {});
    const unsigned grid = grid_rows(T, op);
    if (T == 0 || cols == 0) return;
    dispatch_float(table_dtype, op, [&](auto tag) {
        using Tab = typename decltype(tag)::type;
        const Tab* tab = static_cast<const Tab*>(table);
        if (accumulate)
            embedding_kernel<Tab, true><<<grid, kThreads, 0, s>>>(ids, tab, cols, out, ldo);
        else
            embedding_kernel<Tab, false><<<grid, kThreads, 0, s>>>(ids, tab, cols, out, ldo);
        TURBOLM_CUDA_CHECK_LAUNCH();
    });
}

}  // namespace turbolm::cuda
