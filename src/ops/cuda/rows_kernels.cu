#include "ops/cuda/cuda_check.h"
#include "ops/cuda/rows_kernels.h"

namespace turbolm::cuda {
namespace {

// One block per output row; 4-byte words when the row allows it, else bytes.
__global__ void gather_rows_kernel(const char* __restrict__ src, int64_t lds, const int32_t* __restrict__ rows,
                                   int64_t row_bytes, char* __restrict__ dst, int64_t ldd) {
    const char* s = src + int64_t(rows[blockIdx.x]) * lds;
    char* d = dst + int64_t(blockIdx.x) * ldd;
    if (row_bytes % 4 == 0 && lds % 4 == 0 && ldd % 4 == 0) {
        for (int64_t i = threadIdx.x; i < row_bytes / 4; i += blockDim.x)
            reinterpret_cast<uint32_t*>(d)[i] = reinterpret_cast<const uint32_t*>(s)[i];
    } else {
        for (int64_t i = threadIdx.x; i < row_bytes; i += blockDim.x) d[i] = s[i];
    }
}

// Each thread owns one column of every destination row, and walks the n source rows in order.
__global__ void scatter_add_rows_kernel(const float* __restrict__ src, int64_t lds, const int32_t* __restrict__ rows,
                                        const float* __restrict__ weights, int64_t n, int64_t cols,
                                        float* __restrict__ dst, int64_t ldd) {
    const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    for (int64_t i = 0; i < n; ++i) dst[int64_t(rows[i]) * ldd + c] += weights[i] * src[i * lds + c];
}

}  // namespace

void launch_gather_rows(const void* src, int64_t lds_bytes, const int32_t* rows, int64_t n, int64_t row_bytes,
                        void* dst, int64_t ldd_bytes, cudaStream_t stream) {
    if (n == 0) return;
    gather_rows_kernel<<<unsigned(n), 256, 0, stream>>>(static_cast<const char*>(src), lds_bytes, rows, row_bytes,
                                                        static_cast<char*>(dst), ldd_bytes);
    TURBOLM_CUDA_CHECK_LAUNCH();
}

void launch_scatter_add_rows(const float* src, int64_t lds, const int32_t* rows, const float* weights, int64_t n,
                             int64_t cols, float* dst, int64_t ldd, cudaStream_t stream) {
    if (n == 0 || cols == 0) return;
    scatter_add_rows_kernel<<<unsigned((cols + 255) / 256), 256, 0, stream>>>(src, lds, rows, weights, n, cols, dst,
                                                                            ldd);
    TURBOLM_CUDA_CHECK_LAUNCH();
}

}  // namespace turbolm::cuda
