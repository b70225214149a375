// The CUDA side of the INT4 ops of src/ops/ops.h (linear_int4, quantize_groups_int4,
// gather_columns): device and dtype checks, then the kernels of gemv_int4.h on the backend's stream.
// Only ops_int4.cpp calls these, after the checks every backend shares.
#pragma once

#include "ops/ops.h"

namespace turbolm::ops::cuda_ops {

void linear_int4(const Tensor& x, const Tensor& q, const Tensor& scale, const Tensor& zero, int64_t group,
                 const Tensor& b, Tensor& y, bool accumulate);
// The fused forms of linear_int4_rms_normed / linear_int4_act_mul where the decode product can make
// its rows (gemv_int4_fusable); false, having done nothing, where it cannot.
bool try_linear_int4_rms_normed(const Tensor& x, const Tensor& norm_w, float eps, DType act, const Tensor& q,
                                const Tensor& scale, const Tensor& zero, int64_t group, const Tensor& b, Tensor& y,
                                bool accumulate);
bool try_linear_int4_act_mul(Activation act, const Tensor& gate, const Tensor& up, const Tensor& q, const Tensor& scale,
                             const Tensor& zero, int64_t group, const Tensor& b, Tensor& y, bool accumulate);
void quantize_groups_int4(const Tensor& w, int64_t group, Tensor& q, Tensor& scale, Tensor& zero);
void gather_columns(const Tensor& src, const Tensor& perm, Tensor& dst);

}  // namespace turbolm::ops::cuda_ops
