// Embedding lookup: one block per token copies (or adds) its table row into the f32 activations,
// widening 16-bit tables on the way.
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/elementwise/elementwise_common.cuh"
#include "ops/cuda/elementwise/elementwise_kernels.h"

namespace turbolm::cuda {
namespace {

using namespace elt;

constexpr int kThreads = 256;

// ids: i32 [T]; table: Tab [rows, cols] (vocabulary rows first_row..); out: f32 [T, ldo];
// grid.x = T, block = kThreads
template <typename Tab, bool kAccumulate>
__global__ void __launch_bounds__(kThreads)
    embedding_kernel(const int32_t* __restrict__ ids, const Tab* __restrict__ table, int64_t first_row, int64_t rows,
                     int64_t cols, float* __restrict__ out, int64_t ldo) {
    const int64_t t = blockIdx.x;
    const int64_t r = int64_t(ids[t]) - first_row;
    float* o = out + t * ldo;
    if (r < 0 || r >= rows) {  // another rank's row (vocabulary-parallel): contributes zeros
        if (!kAccumulate)
            for (int64_t i = threadIdx.x; i < cols; i += kThreads) o[i] = 0.0f;
        return;
    }
    const Tab* row = table + r * cols;
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

// parts: f32 [world, rows, part]; out: f32 [rows, ldo]; one thread per output element.
__global__ void __launch_bounds__(kThreads)
    assemble_vocab_parts_kernel(const float* __restrict__ parts, int64_t rows, int64_t part, float* __restrict__ out,
                                int64_t ldo, int64_t vocab) {
    const int64_t total = rows * vocab;
    for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < total; i += int64_t(gridDim.x) * kThreads) {
        const int64_t r = i / vocab, v = i % vocab, w = v / part;
        out[r * ldo + v] = parts[(w * rows + r) * part + v % part];
    }
}

}  // namespace

void launch_assemble_vocab_parts(const float* parts, int64_t world, int64_t rows, int64_t part, float* out, int64_t ldo,
                                 int64_t vocab, cudaStream_t s) {
    if (rows == 0 || vocab == 0) return;
    const int64_t blocks = std::min<int64_t>((rows * vocab + kThreads - 1) / kThreads, 65535 * 8);
    assemble_vocab_parts_kernel<<<unsigned(blocks), kThreads, 0, s>>>(parts, rows, part, out, ldo, vocab);
    TURBOLM_CUDA_CHECK_LAUNCH();
}

void launch_embedding(const int32_t* ids, int64_t T, const void* table, DType table_dtype, int64_t first_row,
                      int64_t rows, int64_t cols, float* out, int64_t ldo, bool accumulate, cudaStream_t s) {
    const char* op = "launch_embedding";
    dispatch_float(table_dtype, op, [](auto) {});
    const unsigned grid = grid_rows(T, op);
    if (T == 0 || cols == 0) return;
    dispatch_float(table_dtype, op, [&](auto tag) {
        using Tab = typename decltype(tag)::type;
        const Tab* tab = static_cast<const Tab*>(table);
        if (accumulate)
            embedding_kernel<Tab, true><<<grid, kThreads, 0, s>>>(ids, tab, first_row, rows, cols, out, ldo);
        else
            embedding_kernel<Tab, false><<<grid, kThreads, 0, s>>>(ids, tab, first_row, rows, cols, out, ldo);
        TURBOLM_CUDA_CHECK_LAUNCH();
    });
}

}  // namespace turbolm::cuda
