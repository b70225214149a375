// W8A8 on the GPU: the activations are quantized per token into scratch memory (from the caching
// pool, or the graph's private pool while capturing), then multiplied with the 8-bit weights by the
// fastest path that takes the shape:
//   - up to 8 tokens: the weight-streaming tensor-core kernel (w8a8_gemv.cu), which reads the weights once;
//   - FP8: one cuBLASLt call with outer-vector scales (Hopper) and the bias in its epilogue;
//   - otherwise cuBLASLt's unscaled product into scratch and an epilogue for the scales and the bias;
//   - failing that (shapes cuBLASLt declines), the streaming kernel again, 8 tokens per pass.
// Every path multiplies the same quantized values, so the function does not depend on the batch size.
#include "ops/cuda/cuda_ops_w8a8.h"

#include <cstdint>

#include "ops/cuda/cuda_backend.h"
#include "ops/cuda/cuda_op_checks.h"
#include "ops/cuda/elementwise/elementwise_kernels.h"
#include "ops/cuda/w8a8_gemm.h"
#include "ops/cuda/w8a8_gemv.h"
#include "ops/cuda/w8a8_quant.h"

namespace turbolm::ops::cuda_ops {
namespace {
// An f32 vector of n values (scales, bias, inv_smooth); null when undefined.
const float* f32_vector(const Tensor& t, int64_t n, const char* what) {
    if (!t.defined()) return nullptr;
    require_cuda(t, what);
    TURBOLM_CHECK(t.dtype() == DType::kF32 && t.numel() == n && t.is_contiguous(), what, " ", t.describe());
    return t.data<float>();
}

struct Dims {
    int64_t m, n, k;
};

// The checks both products share: 2-D operands with contiguous rows, x 16-bit, y f32 or x's type,
// and 8-bit weights whose rows the tensor cores can load (in % 16 == 0, 16-byte aligned).
Dims check_product(const char* op, const Tensor& x, const Tensor& q, DType qtype, const Tensor& scale,
                   const Tensor& y) {
    require_cuda(q, op);
    require_cuda(y, op);
    TURBOLM_CHECK(
        x.ndim() == 2 && y.ndim() == 2 && q.ndim() == 2 && x.stride(1) == 1 && y.stride(1) == 1 && q.stride(1) == 1, op,
        " expects 2-D tensors with contiguous rows: x ", x.describe(), " q ", q.describe(), " y ", y.describe());
    TURBOLM_CHECK(is_16bit(x.dtype()) && (y.dtype() == DType::kF32 || y.dtype() == x.dtype()), op,
                  " on the GPU takes 16-bit x and y f32 or x's type, got ", x.describe(), " ", y.describe());
    TURBOLM_CHECK(q.dtype() == qtype, op, " weight must be ", dtype_name(qtype), ", got ", q.describe());
    const Dims d{x.size(0), q.size(0), x.size(1)};
    TURBOLM_CHECK(q.size(1) == d.k && y.size(0) == d.m && y.size(1) == d.n, op, " shapes: x ", x.describe(), " q ",
                  q.describe(), " y ", y.describe());
    TURBOLM_CHECK(d.k % 16 == 0 && q.stride(0) % 16 == 0 && reinterpret_cast<uintptr_t>(q.raw_data()) % 16 == 0, op,
                  " on the GPU needs the input width and the weight's row stride to be multiples of 16, got ",
                  q.describe(), " with row stride ", q.stride(0));
    TURBOLM_CHECK(f32_vector(scale, d.n, "W8A8 scale") != nullptr, op, " needs its scales");
    return d;
}

// y (+)= (xq . q^T) * xscale * scale + bias with xq, xs the quantized activations.
void product(DType qtype, const Tensor& xq, const Tensor& xs, const Tensor& q, const Tensor& scale, const float* bias,
             Tensor& y, bool accumulate) {
    const int64_t m = xq.size(0), n = q.size(0), k = q.size(1), ldq = q.stride(0), ldy = y.stride(0);
    const cudaStream_t s = cuda::stream();
    const float* w_scale = scale.data<float>();
    const float* x_scale = xs.data<float>();
    auto stream_weights = [&] {
        // Scratch for the parts of a split k (small n), from the pool like the activations' codes.
        const int64_t ws_bytes = cuda::gemv_w8a8_workspace_bytes(m, n, k);
        Tensor ws = ws_bytes > 0 ? Tensor::empty({ws_bytes}, DType::kU8, Device::kCuda) : Tensor();
        cuda::launch_gemv_w8a8(qtype, xq.raw_data(), k, x_scale, q.raw_data(), ldq, w_scale, bias, y.raw_data(), ldy,
                               y.dtype(), m, n, k, accumulate, s, ws.defined() ? ws.raw_data() : nullptr);
    };
    if (m <= cuda::kGemvW8A8Tokens || k == 0) return stream_weights();
    if (qtype == DType::kF8E4M3 && cuda::gemm_fp8_scaled(xq.raw_data(), k, x_scale, q.raw_data(), ldq, w_scale, bias,
                                                         y.raw_data(), ldy, y.dtype(), m, n, k, accumulate, s))
        return;
    // Rows of the scratch product padded to 16 elements, so that they start 64-byte aligned.
    const int64_t ldp = (n + 15) / 16 * 16;
    Tensor p = Tensor::empty({m, ldp}, qtype == DType::kI8 ? DType::kI32 : DType::kF32, Device::kCuda);
    if (cuda::gemm_8bit(qtype, xq.raw_data(), k, q.raw_data(), ldq, p.raw_data(), ldp, m, n, k, s)) {
        cuda::launch_w8a8_epilogue(qtype, p.raw_data(), ldp, x_scale, w_scale, bias, y.raw_data(), ldy, y.dtype(), m, n,
                                   accumulate, s);
        return;
    }
    stream_weights();
}

}  // namespace

void linear_fp8(const Tensor& x, const Tensor& q, const Tensor& scale, const Tensor& b, Tensor& y, bool accumulate) {
    const Dims d = check_product("linear_fp8", x, q, DType::kF8E4M3, scale, y);
    const float* bias = f32_vector(b, d.n, "linear_fp8 bias");
    if (d.m == 0 || d.n == 0) return;
    Tensor xq = Tensor::empty({d.m, d.k}, DType::kF8E4M3, Device::kCuda);
    Tensor xs = Tensor::empty({d.m}, DType::kF32, Device::kCuda);
    cuda::launch_quantize_rows_fp8(x.raw_data(), x.dtype(), x.stride(0), xq.data<uint8_t>(), xs.data<float>(), d.m, d.k,
                                   /*zero_scale=*/0.0f, cuda::stream());
    product(DType::kF8E4M3, xq, xs, q, scale, bias, y, accumulate);
}

void quantize_rows_fp8(const Tensor& w, Tensor& q, Tensor& scale) {
    require_cuda(q, "quantized weight");
    require_cuda(scale, "quantization scales");
    TURBOLM_CHECK(w.ndim() == 2 && w.stride(1) == 1 && (w.dtype() == DType::kF32 || is_16bit(w.dtype())) &&
                      q.dtype() == DType::kF8E4M3 && q.shape() == w.shape() && q.is_contiguous() &&
                      scale.dtype() == DType::kF32 && scale.numel() == w.size(0) && scale.is_contiguous(),
                  "quantize_rows_fp8: w ", w.describe(), " q ", q.describe(), " scale ", scale.describe());
    cuda::launch_quantize_rows_fp8(w.raw_data(), w.dtype(), w.stride(0), q.data<uint8_t>(), scale.data<float>(),
                                   w.size(0), w.size(1), /*zero_scale=*/1.0f, cuda::stream());
}

void linear_w8a8_int8(const Tensor& x, const Tensor& inv_smooth, const Tensor& q, const Tensor& scale, const Tensor& b,
                      Tensor& y, bool accumulate) {
    const Dims d = check_product("linear_w8a8_int8", x, q, DType::kI8, scale, y);
    const float* inv = f32_vector(inv_smooth, d.k, "linear_w8a8_int8 inv_smooth");
    const float* bias = f32_vector(b, d.n, "linear_w8a8_int8 bias");
    if (d.m == 0 || d.n == 0) return;
    Tensor xq = Tensor::empty({d.m, d.k}, DType::kI8, Device::kCuda);
    Tensor xs = Tensor::empty({d.m}, DType::kF32, Device::kCuda);
    cuda::launch_quantize_rows_int8_smooth(x.raw_data(), x.dtype(), x.stride(0), inv, xq.data<int8_t>(),
                                           xs.data<float>(), d.m, d.k, cuda::stream());
    product(DType::kI8, xq, xs, q, scale, bias, y, accumulate);
}

}  // namespace turbolm::ops::cuda_ops
