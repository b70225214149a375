// Dispatch and validation of the W8A8 ops (FP8 and SmoothQuant INT8): GPU tensors go to
// cuda_ops_w8a8.cpp, CPU tensors to the reference in cpu/cpu_w8a8.cpp.
#include "core/error.h"
#include "ops/cpu/cpu_w8a8.h"
#include "ops/ops.h"
#include "ops/ops_checks.h"

#ifdef TURBOLM_WITH_CUDA
#include "ops/cuda/cuda_ops_w8a8.h"
#endif

namespace turbolm::ops {
namespace {

// Optional f32 vector of n values (bias, inv_smooth); null when undefined.
const float* f32_vector_or_null(const Tensor& t, int64_t n, const char* what) {
    if (!t.defined()) return nullptr;
    require_cpu(t, what);
    TURBOLM_CHECK(t.dtype() == DType::kF32 && t.numel() == n && t.is_contiguous(), what, " ", t.describe());
    return t.data<float>();
}

// The checks both products share on the CPU; returns {m, n, k}.
struct Dims {
    int64_t m, n, k;
};
Dims check_w8a8(const char* op, const Tensor& x, const Tensor& q, DType q_dtype, const Tensor& scale, Tensor& y) {
    require_cpu(q, op);
    require_cpu(scale, op);
    require_cpu(y, op);
    TURBOLM_CHECK(x.dtype() == DType::kF32 && y.dtype() == DType::kF32, op, " on the CPU takes f32 x and y, got ",
                  x.describe(), " ", y.describe());
    TURBOLM_CHECK(x.ndim() == 2 && y.ndim() == 2 && x.stride(1) == 1 && y.stride(1) == 1, op,
                  " expects 2-D x and y with contiguous rows, got ", x.describe(), " ", y.describe());
    TURBOLM_CHECK(q.dtype() == q_dtype && q.ndim() == 2 && q.stride(1) == 1, op, " weight must be ",
                  dtype_name(q_dtype), " [out, in] with contiguous rows, got ", q.describe());
    const Dims d{x.size(0), q.size(0), x.size(1)};
    TURBOLM_CHECK(q.size(1) == d.k && y.size(0) == d.m && y.size(1) == d.n, op, " shapes: x ", x.describe(), " q ",
                  q.describe(), " y ", y.describe());
    TURBOLM_CHECK(scale.dtype() == DType::kF32 && scale.numel() == d.n && scale.is_contiguous(), op, " scale ",
                  scale.describe());
    return d;
}

}  // namespace

void linear_fp8(const Tensor& x, const Tensor& q, const Tensor& scale, const Tensor& b, Tensor& y, bool accumulate) {
    TURBOLM_DISPATCH_CUDA(x, linear_fp8(x, q, scale, b, y, accumulate))
    const Dims d = check_w8a8("linear_fp8", x, q, DType::kF8E4M3, scale, y);
    cpu::linear_fp8(x.data<float>(), x.stride(0), q.data<uint8_t>(), q.stride(0), scale.data<float>(),
                    f32_vector_or_null(b, d.n, "linear_fp8 bias"), y.data<float>(), y.stride(0), d.m, d.n, d.k,
                    accumulate);
}

void linear_fp8_block(const Tensor& x, const Tensor& q, const Tensor& scale, const Tensor& b, Tensor& y,
                      bool accumulate) {
    TURBOLM_DISPATCH_CUDA(x, linear_fp8_block(x, q, scale, b, y, accumulate))
    require_cpu(scale, "linear_fp8_block");
    // The product's checks with a per-row scale standing in for the blocks' (same rows).
    const Tensor rows_scale = Tensor::wrap(nullptr, {q.ndim() == 2 ? q.size(0) : 0}, DType::kF32, nullptr);
    const Dims d = check_w8a8("linear_fp8_block", x, q, DType::kF8E4M3, rows_scale, y);
    TURBOLM_CHECK(d.n % kFp8Block == 0 && d.k % kFp8Block == 0 && scale.dtype() == DType::kF32 &&
                      scale.shape() == (Shape{d.n / kFp8Block, d.k / kFp8Block}) && scale.is_contiguous(),
                  "linear_fp8_block: a weight [", d.n, ", ", d.k, "] of ", kFp8Block, "-blocks and scales ",
                  scale.describe());
    cpu::linear_fp8_block(x.data<float>(), x.stride(0), q.data<uint8_t>(), q.stride(0), scale.data<float>(),
                          f32_vector_or_null(b, d.n, "linear_fp8_block bias"), y.data<float>(), y.stride(0), d.m, d.n,
                          d.k, kFp8Block, accumulate);
}

void quantize_blocks_fp8(const Tensor& w, Tensor& q, Tensor& scale) {
    TURBOLM_DISPATCH_CUDA(q, quantize_blocks_fp8(w, q, scale))
    require_cpu(w, "quantize_blocks_fp8");
    require_cpu(scale, "quantize_blocks_fp8");
    const int64_t b = kFp8Block;
    TURBOLM_CHECK(w.ndim() == 2 && w.stride(1) == 1 && dtype_is_float(w.dtype()) && w.dtype() != DType::kF8E4M3 &&
                      w.size(0) % b == 0 && w.size(1) % b == 0 && q.dtype() == DType::kF8E4M3 &&
                      q.shape() == w.shape() && q.is_contiguous() && scale.dtype() == DType::kF32 &&
                      scale.shape() == (Shape{w.size(0) / b, w.size(1) / b}) && scale.is_contiguous(),
                  "quantize_blocks_fp8: w ", w.describe(), " q ", q.describe(), " scale ", scale.describe());
    cpu::quantize_blocks_fp8(w.raw_data(), w.dtype(), w.stride(0), q.data<uint8_t>(), scale.data<float>(), w.size(0),
                             w.size(1), b);
}

void linear_fp8_codes(const Tensor& codes, const Tensor& scales, const Tensor& q, const Tensor& scale, const Tensor& b,
                      Tensor& y, bool accumulate) {
    TURBOLM_DISPATCH_CUDA(codes, linear_fp8_codes(codes, scales, q, scale, b, y, accumulate))
    require_cpu(codes, "linear_fp8_codes");
    require_cpu(scales, "linear_fp8_codes scales");
    TURBOLM_CHECK(codes.dtype() == DType::kF8E4M3 && codes.ndim() == 2 && codes.is_contiguous(),
                  "linear_fp8_codes takes contiguous f8e4m3 codes [m, in], got ", codes.describe());
    // The product's checks with x standing in for the codes (same shape).
    const Tensor shape_of_x = Tensor::wrap(nullptr, codes.shape(), DType::kF32, nullptr);
    const Dims d = check_w8a8("linear_fp8_codes", shape_of_x, q, DType::kF8E4M3, scale, y);
    TURBOLM_CHECK(scales.dtype() == DType::kF32 && scales.numel() == d.m && scales.is_contiguous(),
                  "linear_fp8_codes scales ", scales.describe(), " for ", d.m, " rows");
    cpu::linear_fp8_codes(codes.data<uint8_t>(), scales.data<float>(), q.data<uint8_t>(), q.stride(0),
                          scale.data<float>(), f32_vector_or_null(b, d.n, "linear_fp8 bias"), y.data<float>(),
                          y.stride(0), d.m, d.n, d.k, accumulate);
}

namespace {

// Quantizes the f32 rows an op wrote, as linear_fp8 quantizes its input.
void quantize_activations(const Tensor& rows, Tensor& codes, Tensor& scales) {
    require_cpu(codes, "FP8 activation codes");
    require_cpu(scales, "FP8 activation scales");
    TURBOLM_CHECK(codes.dtype() == DType::kF8E4M3 && codes.shape() == rows.shape() && codes.is_contiguous() &&
                      scales.dtype() == DType::kF32 && scales.numel() == rows.size(0) && scales.is_contiguous(),
                  "FP8 activations: codes ", codes.describe(), " scales ", scales.describe(), " for ",
                  rows.describe());
    cpu::quantize_rows_fp8(rows.raw_data(), DType::kF32, rows.stride(0), codes.data<uint8_t>(), scales.data<float>(),
                           rows.size(0), rows.size(1), /*zero_scale=*/0.0f);
}

}  // namespace

void rms_norm_fp8(const Tensor& x, const Tensor& w, float eps, DType dtype, Tensor& codes, Tensor& scales) {
    TURBOLM_DISPATCH_CUDA(x, rms_norm_fp8(x, w, eps, dtype, codes, scales))
    TURBOLM_CHECK(dtype == DType::kF32 && x.ndim() == 2, "rms_norm_fp8 on the CPU takes 2-D f32 rows into f32, got ",
                  x.describe(), " into ", dtype_name(dtype));
    Tensor y = Tensor::empty(x.shape(), DType::kF32);
    rms_norm(x, w, eps, y);
    quantize_activations(y, codes, scales);
}

void act_mul_fp8(Activation act, const Tensor& gate, const Tensor& up, Tensor& codes, Tensor& scales) {
    TURBOLM_DISPATCH_CUDA(gate, act_mul_fp8(act, gate, up, codes, scales))
    Tensor h = Tensor::empty(gate.shape(), gate.dtype());
    act_mul(act, gate, up, h);
    quantize_activations(h, codes, scales);
}

void quantize_rows_fp8(const Tensor& w, Tensor& q, Tensor& scale) {
    TURBOLM_DISPATCH_CUDA(w, quantize_rows_fp8(w, q, scale))
    require_cpu(q, "quantized weight");
    require_cpu(scale, "quantization scales");
    TURBOLM_CHECK(w.ndim() == 2 && w.stride(1) == 1 &&
                      (w.dtype() == DType::kF32 || w.dtype() == DType::kBF16 || w.dtype() == DType::kF16) &&
                      q.dtype() == DType::kF8E4M3 && q.shape() == w.shape() && q.is_contiguous() &&
                      scale.dtype() == DType::kF32 && scale.numel() == w.size(0) && scale.is_contiguous(),
                  "quantize_rows_fp8: w ", w.describe(), " q ", q.describe(), " scale ", scale.describe());
    cpu::quantize_rows_fp8(w.raw_data(), w.dtype(), w.stride(0), q.data<uint8_t>(), scale.data<float>(), w.size(0),
                           w.size(1), /*zero_scale=*/1.0f);
}

void linear_w8a8_int8(const Tensor& x, const Tensor& inv_smooth, const Tensor& q, const Tensor& scale, const Tensor& b,
                      Tensor& y, bool accumulate) {
    TURBOLM_DISPATCH_CUDA(x, linear_w8a8_int8(x, inv_smooth, q, scale, b, y, accumulate))
    const Dims d = check_w8a8("linear_w8a8_int8", x, q, DType::kI8, scale, y);
    cpu::linear_w8a8_int8(x.data<float>(), x.stride(0),
                          f32_vector_or_null(inv_smooth, d.k, "linear_w8a8_int8 inv_smooth"), q.data<int8_t>(),
                          q.stride(0), scale.data<float>(), f32_vector_or_null(b, d.n, "linear_w8a8_int8 bias"),
                          y.data<float>(), y.stride(0), d.m, d.n, d.k, accumulate);
}

}  // namespace turbolm::ops
