// Dispatch and validation of the INT4 weight-only ops. The checks that do not depend on the device
// are made here; the GPU side checks its dtypes and devices in cuda_ops_int4.cpp.
#include <initializer_list>

#include "core/error.h"
#include "ops/cpu/cpu_int4.h"
#include "ops/ops.h"
#include "ops/ops_checks.h"

#ifdef TURBOLM_WITH_CUDA
#include "ops/cuda/cuda_ops_int4.h"
#endif

namespace turbolm::ops {
namespace {

// The shapes every backend shares: q [n, k/2], scale and zero [n, k/group], group | k, 32 | group.
void check_int4_weight(const Tensor& q, const Tensor& scale, const Tensor& zero, int64_t group, int64_t k,
                       const char* op) {
    TURBOLM_CHECK(group > 0 && group % 32 == 0 && k % group == 0, op, ": group ", group, " must be a multiple of 32 ",
                  "that divides the ", k, " input columns");
    TURBOLM_CHECK(q.dtype() == DType::kU8 && rows_contiguous(q) && q.size(1) == k / 2, op, ": packed weight ",
                  q.describe(), " for ", k, " input columns");
    const int64_t n = q.size(0), groups = k / group;
    TURBOLM_CHECK(
        scale.dtype() == DType::kF16 && rows_contiguous(scale) && scale.size(0) == n && scale.size(1) == groups, op,
        ": scales ", scale.describe(), " for ", q.describe(), " in groups of ", group);
    TURBOLM_CHECK(zero.dtype() == DType::kU8 && rows_contiguous(zero) && zero.size(0) == n && zero.size(1) == groups,
                  op, ": zero points ", zero.describe(), " for ", q.describe(), " in groups of ", group);
}

}  // namespace

void linear_int4(const Tensor& x, const Tensor& q, const Tensor& scale, const Tensor& zero, int64_t group,
                 const Tensor& b, Tensor& y, bool accumulate) {
    TURBOLM_CHECK(rows_contiguous(x) && rows_contiguous(y),
                  "linear_int4 expects 2-D x and y with contiguous rows, got ", x.describe(), " ", y.describe());
    const int64_t m = x.size(0), k = x.size(1);
    check_int4_weight(q, scale, zero, group, k, "linear_int4");
    const int64_t n = q.size(0);
    TURBOLM_CHECK(y.size(0) == m && y.size(1) == n, "linear_int4 shapes: x ", x.describe(), " q ", q.describe(), " y ",
                  y.describe());
    TURBOLM_CHECK(!b.defined() || (b.dtype() == DType::kF32 && b.numel() == n && b.is_contiguous()),
                  "linear_int4 bias ", b.describe());
    if (on_cuda(x)) {
#ifdef TURBOLM_WITH_CUDA
        cuda_ops::linear_int4(x, q, scale, zero, group, b, y, accumulate);
#endif
        return;
    }
    for (const Tensor* t : std::initializer_list<const Tensor*>{&q, &scale, &zero, &b, &y})
        require_cpu(*t, "linear_int4");
    TURBOLM_CHECK(x.dtype() == DType::kF32 && y.dtype() == DType::kF32,
                  "linear_int4 on the CPU takes and gives f32: x ", x.describe(), " y ", y.describe());
    cpu::linear_int4(x.data<float>(), x.stride(0), int4_weights(q, scale, zero, group),
                     b.defined() ? b.data<float>() : nullptr, y.data<float>(), y.stride(0), m, n, k, accumulate);
}

void linear_int4_rms_normed(const Tensor& x, const Tensor& norm_w, float eps, DType act, const Tensor& q,
                            const Tensor& scale, const Tensor& zero, int64_t group, const Tensor& b, Tensor& y,
                            bool accumulate) {
    TURBOLM_CHECK(rows_contiguous(x), "linear_int4_rms_normed expects 2-D x with contiguous rows, got ", x.describe());
    check_int4_weight(q, scale, zero, group, x.size(1), "linear_int4_rms_normed");
#ifdef TURBOLM_WITH_CUDA
    if (on_cuda(x) && rows_contiguous(y) && y.size(0) == x.size(0) && y.size(1) == q.size(0) &&
        (!b.defined() || (b.dtype() == DType::kF32 && b.numel() == q.size(0) && b.is_contiguous() && on_cuda(b))) &&
        cuda_ops::try_linear_int4_rms_normed(x, norm_w, eps, act, q, scale, zero, group, b, y, accumulate))
        return;
#endif
    Tensor rows = Tensor::empty(x.shape(), act, x.device());
    rms_norm(x, norm_w, eps, rows);
    linear_int4(rows, q, scale, zero, group, b, y, accumulate);
}

void linear_int4_act_mul(Activation act, const Tensor& gate, const Tensor& up, const Tensor& q, const Tensor& scale,
                         const Tensor& zero, int64_t group, const Tensor& b, Tensor& y, bool accumulate) {
    TURBOLM_CHECK(rows_contiguous(gate) && rows_contiguous(up) && gate.shape() == up.shape(),
                  "linear_int4_act_mul expects gate and up of one 2-D shape with contiguous rows, got ",
                  gate.describe(), " ", up.describe());
    check_int4_weight(q, scale, zero, group, gate.size(1), "linear_int4_act_mul");
#ifdef TURBOLM_WITH_CUDA
    if (on_cuda(gate) && rows_contiguous(y) && y.size(0) == gate.size(0) && y.size(1) == q.size(0) &&
        (!b.defined() || (b.dtype() == DType::kF32 && b.numel() == q.size(0) && b.is_contiguous() && on_cuda(b))) &&
        cuda_ops::try_linear_int4_act_mul(act, gate, up, q, scale, zero, group, b, y, accumulate))
        return;
#endif
    Tensor rows = Tensor::empty(gate.shape(), gate.dtype(), gate.device());
    act_mul(act, gate, up, rows);
    linear_int4(rows, q, scale, zero, group, b, y, accumulate);
}

void quantize_groups_int4(const Tensor& w, int64_t group, Tensor& q, Tensor& scale, Tensor& zero) {
    TURBOLM_CHECK(
        rows_contiguous(w) && (w.dtype() == DType::kF32 || w.dtype() == DType::kBF16 || w.dtype() == DType::kF16),
        "quantize_groups_int4: weight ", w.describe(), " must be 2-D f32/bf16/f16 with contiguous rows");
    check_int4_weight(q, scale, zero, group, w.size(1), "quantize_groups_int4");
    TURBOLM_CHECK(q.size(0) == w.size(0), "quantize_groups_int4: weight ", w.describe(), " packed into ", q.describe());
    if (on_cuda(w)) {
#ifdef TURBOLM_WITH_CUDA
        cuda_ops::quantize_groups_int4(w, group, q, scale, zero);
#endif
        return;
    }
    for (const Tensor* t : std::initializer_list<const Tensor*>{&q, &scale, &zero})
        require_cpu(*t, "quantize_groups_int4");
    cpu::quantize_groups_int4(w.raw_data(), w.dtype(), w.stride(0), w.size(0), w.size(1), group, q.data<uint8_t>(),
                              q.stride(0), scale.data<uint16_t>(), scale.stride(0), zero.data<uint8_t>(),
                              zero.stride(0));
}

void gather_columns(const Tensor& src, const Tensor& perm, Tensor& dst) {
    TURBOLM_CHECK(rows_contiguous(src) && rows_contiguous(dst) && src.dtype() == dst.dtype() &&
                      src.size(0) == dst.size(0) && src.size(1) == dst.size(1),
                  "gather_columns: ", src.describe(), " -> ", dst.describe());
    TURBOLM_CHECK(perm.dtype() == DType::kI32 && perm.is_contiguous() && perm.numel() == src.size(1),
                  "gather_columns: permutation ", perm.describe(), " for ", src.describe());
    if (on_cuda(src)) {
#ifdef TURBOLM_WITH_CUDA
        cuda_ops::gather_columns(src, perm, dst);
#endif
        return;
    }
    require_cpu(perm, "gather_columns");
    require_cpu(dst, "gather_columns");
    cpu::gather_columns(src.raw_data(), src.stride(0), perm.data<int32_t>(), dst.raw_data(), dst.stride(0), src.size(0),
                        src.size(1), dtype_size(src.dtype()));
}

}  // namespace turbolm::ops
