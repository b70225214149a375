// W8A8 on the GPU: the activations are quantized per token into scratch memory (from the caching
// pool, or the graph's private pool while capturing), or arrive quantized by the kernel that computed
// them (rms_norm_fp8, act_mul_fp8: w8a8_quant.cu), then multiplied with the 8-bit weights by the
// fastest path that takes the shape:
//   - up to 8 tokens: the weight-streaming tensor-core kernel (w8a8_gemv.cu), which reads the weights once;
//   - FP8: one cuBLASLt call with outer-vector scales (Hopper) and the bias in its epilogue;
//   - otherwise cuBLASLt's unscaled product into scratch and an epilogue for the scales and the bias;
//   - failing that (shapes cuBLASLt declines), the streaming kernel again, 8 tokens per pass.
// Every path multiplies the same quantized values, so the function does not depend on the batch size.
#include "ops/cuda/cuda_ops_w8a8.h"

#include <cstdint>

#include "ops/cuda/cuda_backend.h"
#include "ops/cuda/cuda_check.h"
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

// The checks the products share: 2-D operands with contiguous rows, x 16-bit and y f32 or x's type
// (or x already FP8 codes and y f32 or 16-bit), and 8-bit weights whose rows the tensor cores can
// load (in % 16 == 0, 16-byte aligned).
Dims check_product(const char* op, const Tensor& x, const Tensor& q, DType qtype, const Tensor& scale,
                   const Tensor& y) {
    require_cuda(q, op);
    require_cuda(y, op);
    TURBOLM_CHECK(
        x.ndim() == 2 && y.ndim() == 2 && q.ndim() == 2 && x.stride(1) == 1 && y.stride(1) == 1 && q.stride(1) == 1, op,
        " expects 2-D tensors with contiguous rows: x ", x.describe(), " q ", q.describe(), " y ", y.describe());
    const bool codes = x.dtype() == DType::kF8E4M3;
    TURBOLM_CHECK(codes ? y.dtype() == DType::kF32 || is_16bit(y.dtype())
                        : is_16bit(x.dtype()) && (y.dtype() == DType::kF32 || y.dtype() == x.dtype()),
                  op, " on the GPU takes 16-bit x (or its FP8 codes) and y f32 or 16-bit, got ", x.describe(), " ",
                  y.describe());
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

// Block scales: the activations quantized per token and 128 columns into scratch padded to a multiple
// of 4 tokens (cuBLASLt's block-scaled kernels take no other count), then one cuBLASLt product. With
// padding, the product goes to scratch rows (holding y's rows first when it accumulates) and its
// first m rows are copied back. cuBLASLt reads the weights' scales in rows of a multiple of 4 (16
// bytes), so scales of other widths (k / 128 not a multiple of 4) are copied into such rows first.
void linear_fp8_block(const Tensor& x, const Tensor& q, const Tensor& scale, const Tensor& b, Tensor& y,
                      bool accumulate) {
    require_cuda(x, "linear_fp8_block");
    require_cuda(scale, "linear_fp8_block scales");
    TURBOLM_CHECK(is_16bit(x.dtype()) && (y.dtype() == x.dtype() || y.dtype() == DType::kF32),
                  "linear_fp8_block on the GPU takes 16-bit x and y of its type or f32, got ", x.describe(), " ",
                  y.describe());
    // The product's checks with a per-row scale standing in for the blocks' (same rows; never read).
    const Tensor rows_scale = Tensor::wrap(const_cast<void*>(scale.raw_data()), {q.ndim() == 2 ? q.size(0) : 0},
                                           DType::kF32, nullptr, Device::kCuda);
    const Dims d = check_product("linear_fp8_block", x, q, DType::kF8E4M3, rows_scale, y);
    const int64_t b8 = kFp8Block;
    TURBOLM_CHECK(d.n % b8 == 0 && d.k % b8 == 0 && scale.dtype() == DType::kF32 &&
                      scale.shape() == (Shape{d.n / b8, d.k / b8}) && scale.is_contiguous(),
                  "linear_fp8_block: a weight [", d.n, ", ", d.k, "] of ", b8, "-blocks and scales ", scale.describe());
    const float* bias = f32_vector(b, d.n, "linear_fp8_block bias");
    if (d.m == 0 || d.n == 0) return;
    const cudaStream_t s = cuda::stream();
    // Up to 4 tokens: the weight-streaming kernel. H200, Llama-3-8B shape, decode steps: at 1 token
    // 4.08 ms against cuBLASLt's 4.68 (padded to 4); at 8 tokens 4.40 against cuBLASLt's 4.10. Its
    // activation operand is the scratch below, 16-byte aligned rows of k (a multiple of 128) codes,
    // so only the weights decide whether it takes the product.
    constexpr int64_t kStreamedTokens = 4;
    const bool streamed =
        d.m <= kStreamedTokens && cuda::gemv_w8a8_supported(q.raw_data(), q.stride(0), q.raw_data(), q.stride(0), d.k);
    const int64_t m4 = streamed ? d.m : (d.m + 3) / 4 * 4;
    Tensor xq = Tensor::empty({m4, d.k}, DType::kF8E4M3, Device::kCuda);
    Tensor xs = Tensor::empty({d.k / b8, m4}, DType::kF32, Device::kCuda);
    cuda::launch_quantize_groups_fp8(x.raw_data(), x.dtype(), x.stride(0), xq.data<uint8_t>(), xs.data<float>(), d.m,
                                     m4, d.k, s);
    if (streamed) {
        const int64_t ws_bytes = cuda::gemv_w8a8_workspace_bytes(d.m, d.n, d.k);
        Tensor ws = ws_bytes > 0 ? Tensor::empty({ws_bytes}, DType::kU8, Device::kCuda) : Tensor();
        cuda::launch_gemv_fp8_block(xq.raw_data(), d.k, xs.data<float>(), d.m, q.raw_data(), q.stride(0),
                                    scale.data<float>(), d.k / b8, bias, y.raw_data(), y.stride(0), y.dtype(), d.m, d.n,
                                    d.k, accumulate, s, ws.defined() ? ws.raw_data() : nullptr);
        return;
    }
    const size_t es = dtype_size(y.dtype()), row_bytes = size_t(d.n) * es;
    Tensor padded = m4 != d.m ? Tensor::empty({m4, d.n}, y.dtype(), Device::kCuda) : Tensor();
    if (padded.defined() && accumulate)
        TURBOLM_CUDA_CHECK(cudaMemcpy2DAsync(padded.raw_data(), row_bytes, y.raw_data(), size_t(y.stride(0)) * es,
                                             row_bytes, size_t(d.m), cudaMemcpyDeviceToDevice, s));
    Tensor& out = padded.defined() ? padded : y;
    const int64_t groups = d.k / b8, ld_scale = (groups + 3) / 4 * 4;
    Tensor wide = ld_scale != groups ? Tensor::empty({d.n / b8, ld_scale}, DType::kF32, Device::kCuda) : Tensor();
    if (wide.defined())
        TURBOLM_CUDA_CHECK(cudaMemcpy2DAsync(wide.raw_data(), size_t(ld_scale) * 4, scale.raw_data(),
                                             size_t(groups) * 4, size_t(groups) * 4, size_t(d.n / b8),
                                             cudaMemcpyDeviceToDevice, s));
    const float* w_scale = wide.defined() ? wide.data<float>() : scale.data<float>();
    if (!cuda::gemm_fp8_block(xq.raw_data(), xs.data<float>(), q.raw_data(), q.stride(0), w_scale, out.raw_data(),
                              out.stride(0), y.dtype(), m4, d.n, d.k, accumulate, s))
        fail(StatusCode::kUnimplemented, "linear_fp8_block: cuBLASLt has no block-scaled FP8 product for ", m4, " x ",
             d.n, " x ", d.k, " on this GPU (Hopper with cuBLAS 12.9 or later has it)");
    if (padded.defined())
        TURBOLM_CUDA_CHECK(cudaMemcpy2DAsync(y.raw_data(), size_t(y.stride(0)) * es, padded.raw_data(), row_bytes,
                                             row_bytes, size_t(d.m), cudaMemcpyDeviceToDevice, s));
    if (bias) cuda::launch_add_bias(y.raw_data(), y.dtype(), y.stride(0), bias, d.m, d.n, s);
}

namespace {

// Codes f8e4m3 [rows, cols] contiguous and scales f32 [rows] on the GPU.
void check_codes(const char* op, const Tensor& codes, const Tensor& scales, int64_t rows, int64_t cols) {
    require_cuda(codes, op);
    require_cuda(scales, op);
    TURBOLM_CHECK(codes.dtype() == DType::kF8E4M3 && codes.ndim() == 2 && codes.is_contiguous() &&
                      codes.size(0) == rows && codes.size(1) == cols && scales.dtype() == DType::kF32 &&
                      scales.numel() == rows && scales.is_contiguous(),
                  op, ": codes ", codes.describe(), " and scales ", scales.describe(), " for ", rows, " rows of ",
                  cols);
}

}  // namespace

void linear_fp8_codes(const Tensor& codes, const Tensor& scales, const Tensor& q, const Tensor& scale, const Tensor& b,
                      Tensor& y, bool accumulate) {
    require_cuda(codes, "linear_fp8_codes");
    TURBOLM_CHECK(codes.dtype() == DType::kF8E4M3, "linear_fp8_codes takes f8e4m3 codes, got ", codes.describe());
    const Dims d = check_product("linear_fp8_codes", codes, q, DType::kF8E4M3, scale, y);
    check_codes("linear_fp8_codes", codes, scales, d.m, d.k);
    const float* bias = f32_vector(b, d.n, "linear_fp8 bias");
    if (d.m == 0 || d.n == 0) return;
    product(DType::kF8E4M3, codes, scales, q, scale, bias, y, accumulate);
}

void rms_norm_fp8(const Tensor& x, const Tensor& w, float eps, DType dtype, Tensor& codes, Tensor& scales) {
    require_cuda(x, "rms_norm_fp8 input");
    TURBOLM_CHECK(x.dtype() == DType::kF32 && x.ndim() == 2 && x.stride(1) == 1 && is_16bit(dtype),
                  "rms_norm_fp8 takes f32 rows into bf16 or f16, got ", x.describe(), " into ", dtype_name(dtype));
    const int64_t rows = x.size(0), cols = x.size(1);
    check_codes("rms_norm_fp8", codes, scales, rows, cols);
    const float* wp = f32_vector(w, cols, "rms_norm_fp8 weight");
    if (cuda::launch_rms_norm_fp8(x.data<float>(), x.stride(0), wp, eps, dtype, codes.data<uint8_t>(),
                                  scales.data<float>(), rows, cols, cuda::stream()))
        return;
    Tensor y = Tensor::empty({rows, cols}, dtype, Device::kCuda);
    ops::rms_norm(x, w, eps, y);
    cuda::launch_quantize_rows_fp8(y.raw_data(), dtype, cols, codes.data<uint8_t>(), scales.data<float>(), rows, cols,
                                   /*zero_scale=*/0.0f, cuda::stream());
}

void act_mul_fp8(Activation act, const Tensor& gate, const Tensor& up, Tensor& codes, Tensor& scales) {
    require_cuda(gate, "act_mul_fp8 gate");
    require_cuda(up, "act_mul_fp8 up");
    TURBOLM_CHECK(gate.ndim() == 2 && gate.shape() == up.shape() && is_16bit(gate.dtype()) &&
                      up.dtype() == gate.dtype() && gate.stride(1) == 1 && up.stride(1) == 1,
                  "act_mul_fp8 tensors ", gate.describe(), " ", up.describe());
    const int64_t rows = gate.size(0), cols = gate.size(1);
    check_codes("act_mul_fp8", codes, scales, rows, cols);
    if (cuda::launch_act_mul_fp8(act, gate.raw_data(), gate.stride(0), up.raw_data(), up.stride(0), gate.dtype(),
                                 codes.data<uint8_t>(), scales.data<float>(), rows, cols, cuda::stream()))
        return;
    Tensor h = Tensor::empty({rows, cols}, gate.dtype(), Device::kCuda);
    ops::act_mul(act, gate, up, h);
    cuda::launch_quantize_rows_fp8(h.raw_data(), h.dtype(), cols, codes.data<uint8_t>(), scales.data<float>(), rows,
                                   cols, /*zero_scale=*/0.0f, cuda::stream());
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

void quantize_blocks_fp8(const Tensor& w, Tensor& q, Tensor& scale) {
    require_cuda(w, "quantize_blocks_fp8 weight");
    require_cuda(scale, "quantize_blocks_fp8 scales");
    const int64_t b = kFp8Block;
    TURBOLM_CHECK(w.ndim() == 2 && w.stride(1) == 1 && (w.dtype() == DType::kF32 || is_16bit(w.dtype())) &&
                      w.size(0) % b == 0 && w.size(1) % b == 0 && q.dtype() == DType::kF8E4M3 &&
                      q.shape() == w.shape() && q.is_contiguous() && scale.dtype() == DType::kF32 &&
                      scale.shape() == (Shape{w.size(0) / b, w.size(1) / b}) && scale.is_contiguous(),
                  "quantize_blocks_fp8: w ", w.describe(), " q ", q.describe(), " scale ", scale.describe());
    cuda::launch_quantize_blocks_fp8(w.raw_data(), w.dtype(), w.stride(0), q.data<uint8_t>(), scale.data<float>(),
                                     w.size(0), w.size(1), cuda::stream());
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
