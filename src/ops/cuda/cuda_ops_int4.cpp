#include "ops/cuda/cuda_ops_int4.h"

#include "ops/cuda/cuda_backend.h"
#include "ops/cuda/cuda_gemm.h"
#include "ops/cuda/cuda_op_checks.h"
#include "ops/cuda/elementwise/elementwise_kernels.h"
#include "ops/cuda/gemv_int4.h"
#include "ops/ops_checks.h"

namespace turbolm::ops::cuda_ops {

void linear_int4(const Tensor& x, const Tensor& q, const Tensor& scale, const Tensor& zero, int64_t group,
                 const Tensor& b, Tensor& y, bool accumulate) {
    for (const Tensor* t : {&q, &scale, &zero, &b}) require_cuda(*t, "linear_int4");
    require_cuda(y, "linear_int4 output");
    TURBOLM_CHECK(is_16bit(x.dtype()) && (y.dtype() == DType::kF32 || y.dtype() == x.dtype()),
                  "linear_int4 on the GPU takes 16-bit activations and gives f32 or their type: x ", x.describe(),
                  " y ", y.describe());
    const int64_t m = x.size(0), k = x.size(1), n = q.size(0);
    if (m == 0 || n == 0) return;
    const cpu::Int4Weights w = int4_weights(q, scale, zero, group);
    const float* bias = b.defined() ? b.data<float>() : nullptr;
    cudaStream_t s = cuda::stream();
    if (cuda::gemv_int4_supported(x.raw_data(), x.stride(0), w, m, k)) {
        cuda::launch_gemv_int4(x.raw_data(), x.stride(0), x.dtype(), w, bias, y.raw_data(), y.stride(0), y.dtype(), m,
                               n, k, accumulate, s);
        return;
    }
    // A prefill's product is compute-bound: dequantizing once into scratch (the pool's, or the
    // graph's private one while capturing) costs little beside the GEMM.
    Tensor dense = Tensor::empty({n, k}, x.dtype(), Device::kCuda);
    cuda::launch_dequantize_int4(w, dense.raw_data(), k, x.dtype(), n, k, s);
    cuda::gemm(x.raw_data(), x.stride(0), dense.raw_data(), k, x.dtype(), y.raw_data(), y.stride(0), y.dtype(), m, n, k,
               accumulate ? 1.0f : 0.0f, s);
    if (bias) cuda::launch_add_bias(y.raw_data(), y.dtype(), y.stride(0), bias, m, n, s);
}

bool try_linear_int4_rms_normed(const Tensor& x, const Tensor& norm_w, float eps, DType act, const Tensor& q,
                                const Tensor& scale, const Tensor& zero, int64_t group, const Tensor& b, Tensor& y,
                                bool accumulate) {
    if (!is_16bit(act) || x.dtype() != DType::kF32 || norm_w.dtype() != DType::kF32 || !norm_w.is_contiguous() ||
        (y.dtype() != DType::kF32 && y.dtype() != act) || norm_w.device() != Device::kCuda ||
        y.device() != Device::kCuda)
        return false;
    for (const Tensor* t : {&q, &scale, &zero, &b}) require_cuda(*t, "linear_int4_rms_normed");
    const int64_t m = x.size(0), k = x.size(1), n = q.size(0);
    const cpu::Int4Weights w = int4_weights(q, scale, zero, group);
    cuda::Int4RowSource src;
    src.kind = cuda::Int4RowKind::kRmsNormed;
    src.res = x.data<float>();
    src.ldr = x.stride(0);
    src.norm_w = norm_w.data<float>();
    src.eps = eps;
    if (!cuda::gemv_int4_fusable(src, w, m, k)) return false;
    cuda::launch_gemv_int4_fused(src, nullptr, 0, act, w, b.defined() ? b.data<float>() : nullptr, y.raw_data(),
                                 y.stride(0), y.dtype(), m, n, k, accumulate, cuda::stream());
    return true;
}

bool try_linear_int4_act_mul(Activation act, const Tensor& gate, const Tensor& up, const Tensor& q, const Tensor& scale,
                             const Tensor& zero, int64_t group, const Tensor& b, Tensor& y, bool accumulate) {
    if (act != Activation::kSilu || !is_16bit(gate.dtype()) || up.dtype() != gate.dtype() ||
        (y.dtype() != DType::kF32 && y.dtype() != gate.dtype()) || up.device() != Device::kCuda ||
        y.device() != Device::kCuda)
        return false;
    for (const Tensor* t : {&q, &scale, &zero, &b}) require_cuda(*t, "linear_int4_act_mul");
    const int64_t m = gate.size(0), k = gate.size(1), n = q.size(0);
    const cpu::Int4Weights w = int4_weights(q, scale, zero, group);
    cuda::Int4RowSource src;
    src.kind = cuda::Int4RowKind::kSiluMul;
    src.up = up.raw_data();
    src.ldu = up.stride(0);
    if (!cuda::gemv_int4_supported(gate.raw_data(), gate.stride(0), w, m, k) || !cuda::gemv_int4_fusable(src, w, m, k))
        return false;
    cuda::launch_gemv_int4_fused(src, gate.raw_data(), gate.stride(0), gate.dtype(), w,
                                 b.defined() ? b.data<float>() : nullptr, y.raw_data(), y.stride(0), y.dtype(), m, n, k,
                                 accumulate, cuda::stream());
    return true;
}

void quantize_groups_int4(const Tensor& w, int64_t group, Tensor& q, Tensor& scale, Tensor& zero) {
    require_cuda(q, "quantized weight");
    require_cuda(scale, "quantization scales");
    require_cuda(zero, "quantization zero points");
    cuda::launch_quantize_groups_int4(w.raw_data(), w.dtype(), w.stride(0), w.size(0), w.size(1), group,
                                      q.data<uint8_t>(), q.stride(0), scale.data<uint16_t>(), scale.stride(0),
                                      zero.data<uint8_t>(), zero.stride(0), cuda::stream());
}

void gather_columns(const Tensor& src, const Tensor& perm, Tensor& dst) {
    require_cuda(perm, "gather_columns permutation");
    require_cuda(dst, "gather_columns destination");
    cuda::launch_gather_columns(src.raw_data(), src.stride(0), perm.data<int32_t>(), dst.raw_data(), dst.stride(0),
                                src.size(0), src.size(1), dtype_size(src.dtype()), cuda::stream());
}

}  // namespace turbolm::ops::cuda_ops
