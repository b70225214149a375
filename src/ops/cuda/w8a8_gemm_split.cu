// FP8 W8A8 products of few output tiles (Llama-3-8B's 4096-wide projections at tens to a few hundred
// tokens): cuBLASLt's outer-vector-scaled FP8 kernels run them slower than bf16 there (a 64 x 4096 x 14336
// product 36 us against bf16's 35), and it takes no split-k with those scales, while its unscaled FP8
// kernels into f32 run the same product in 23 us. So these shapes take the unscaled product, k split
// in two slices (one strided-batched call) where k is long, and one epilogue that
// sums the slices in a fixed order and applies the scales, the bias and the accumulation: the same
// bits on every run. The f32 parts live at the start of cuBLASLt's workspace (all products are
// queued on one stream), which the product itself then leaves alone. dev/kernels/fp8_gemm/ has the
// measurements (H200).
#include <cstdlib>
#include <string>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_gemm.h"
#include "ops/cuda/elementwise/elementwise_common.cuh"
#include "ops/cuda/w8a8_gemm.h"

namespace turbolm::cuda {
namespace {

bool split_enabled() {
    static const bool on = [] {
        const char* v = std::getenv("TURBOLM_FP8_SPLIT");
        return !(v && std::string(v) == "0");
    }();
    return on;
}

// y[t, c] (+)= (sum_s p[s, t, c]) * xscale[t] * scale[c] + bias[c]; four columns a thread, the parts
// added in order 0, 1, ... (what makes the result deterministic).
// p: f32 [parts, m, ldp], ldp % 4 == 0, slice % 4 == 0, 16-byte aligned; y: [m, ldy]
template <typename OutT>
__global__ void split_epilogue_kernel(const float* __restrict__ p, int64_t ldp, int64_t slice, int parts,
                                      const float* __restrict__ xscale, const float* __restrict__ scale,
                                      const float* __restrict__ bias, OutT* __restrict__ y, int64_t ldy, int64_t m,
                                      int64_t n, bool accumulate) {
    const int64_t c0 = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) * 4;
    if (c0 >= n) return;
    float s[4], b[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        s[j] = c0 + j < n ? scale[c0 + j] : 0.0f;
        b[j] = bias && c0 + j < n ? bias[c0 + j] : 0.0f;
    }
    for (int64_t t = blockIdx.y; t < m; t += gridDim.y) {
        // Columns c0..c0+3 < ldp: a row's padding past n is read (never written) and dropped.
        const float* row = p + t * ldp + c0;
        float4 a = *reinterpret_cast<const float4*>(row);
        for (int q = 1; q < parts; ++q) {
            const float4 e = *reinterpret_cast<const float4*>(row + q * slice);
            a.x += e.x, a.y += e.y, a.z += e.z, a.w += e.w;
        }
        const float sum[4] = {a.x, a.y, a.z, a.w}, xs = xscale[t];
        OutT* out = y + t * ldy + c0;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            if (c0 + j >= n) break;
            const float v = sum[j] * xs * s[j] + b[j];  // the order of launch_w8a8_epilogue
            out[j] = elt::from_f32<OutT>(accumulate ? elt::to_f32(out[j]) + v : v);
        }
    }
}

}  // namespace

// Measured on an H200 (dev/kernels/fp8_gemm, us; scaled / split in 1 / in 2; bf16 for comparison):
//   m x 4096 x 14336: m = 64 36.4 / 23.0 / 20.6 (bf16 34.9); 256 41.2 / 30.1 / 29.2 (46.6);
//                     384 48.4 / 40.3 / 38.7 (61.9); 512 41.0 / 46.9 / 48.7 (76.9)
//   m x 4096 x 4096:  m = 64 13.4 / 9.2 / 9.8 (11.6); 256 13.6 / 12.7 / 14.0 (16.4); 512 15.3 / 20.6 / 22.9
//   m x 28672 x 4096: m = 16 35.4 / 32.6; 64 37.2 / 38.0
// Past ~2^20 outputs the f32 parts' traffic outweighs the better kernel; four slices never won.
// Hence: two slices when k is long (up to 1.5 * 2^20 outputs), one otherwise (up to 2^20).
int fp8_split_parts(int64_t m, int64_t n, int64_t k) {
    if (!split_enabled() || k % 16 != 0) return 0;
    const bool two = k >= 8192 && k % 512 == 0;
    if (m * n > (two ? int64_t(3) << 19 : int64_t(1) << 20)) return 0;
    return two ? 2 : 1;
}

bool gemm_fp8_split(const void* xq, int64_t ldx, const float* xscale, const void* q, int64_t ldq, const float* scale,
                    const float* bias, void* y, int64_t ldy, DType out_dtype, int64_t m, int64_t n, int64_t k,
                    bool accumulate, cudaStream_t stream) {
    const int parts = fp8_split_parts(m, n, k);
    if (parts == 0) return false;
    // Rows padded to 16 floats and slices to 64 (256 bytes), so every part and row is aligned.
    const int64_t ldp = (n + 15) / 16 * 16, slice = (m * ldp + 63) / 64 * 64;
    const size_t reserved = size_t(parts) * size_t(slice) * sizeof(float);
    const LtResources lt = lt_resources();
    if (reserved > lt.workspace_bytes / 2) return false;  // the rest stays cuBLASLt's
    float* p = static_cast<float*>(lt.workspace);
    if (!gemm_fp8_parts(xq, ldx, q, ldq, p, ldp, slice, parts, m, n, k, reserved, stream)) return false;
    constexpr int kThreads = 128;
    const dim3 grid(unsigned((n + 4 * kThreads - 1) / (4 * kThreads)), elt::grid_y_rows(m));
    elt::dispatch_float(out_dtype, "fp8 split epilogue output", [&](auto tag) {
        using OutT = typename decltype(tag)::type;
        split_epilogue_kernel<<<grid, kThreads, 0, stream>>>(p, ldp, slice, parts, xscale, scale, bias,
                                                             static_cast<OutT*>(y), ldy, m, n, accumulate);
    });
    check_launch("fp8_split_epilogue");
    return true;
}

}  // namespace turbolm::cuda
