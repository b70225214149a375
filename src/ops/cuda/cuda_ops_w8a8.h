// The CUDA side of the W8A8 ops of src/ops/ops.h (FP8 and SmoothQuant INT8), validated here and sent
// to the kernels on the backend's stream. Only ops_w8a8.cpp calls these.
#pragma once

#include "ops/ops.h"

namespace turbolm::ops::cuda_ops {

void linear_fp8(const Tensor& x, const Tensor& q, const Tensor& scale, const Tensor& b, Tensor& y, bool accumulate);
void linear_fp8_block(const Tensor& x, const Tensor& q, const Tensor& scale, const Tensor& b, Tensor& y,
                      bool accumulate);
void quantize_blocks_fp8(const Tensor& w, Tensor& q, Tensor& scale);
void linear_fp8_codes(const Tensor& codes, const Tensor& scales, const Tensor& q, const Tensor& scale, const Tensor& b,
                      Tensor& y, bool accumulate);
void rms_norm_fp8(const Tensor& x, const Tensor& w, float eps, DType dtype, Tensor& codes, Tensor& scales);
void act_mul_fp8(Activation act, const Tensor& gate, const Tensor& up, Tensor& codes, Tensor& scales);
void quantize_rows_fp8(const Tensor& w, Tensor& q, Tensor& scale);
void linear_w8a8_int8(const Tensor& x, const Tensor& inv_smooth, const Tensor& q, const Tensor& scale, const Tensor& b,
                      Tensor& y, bool accumulate);

}  // namespace turbolm::ops::cuda_ops
