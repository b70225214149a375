// Checks the GPU side of every op makes before launching: no CPU tensor in a GPU call, and the
// 16-bit activation types the kernels are built for.
#pragma once

#include "core/error.h"
#include "core/tensor.h"

namespace turbolm::ops::cuda_ops {

inline void require_cuda(const Tensor& t, const char* what) {
    if (t.defined() && t.device() != Device::kCuda)
        fail(StatusCode::kInvalidArgument, what, ": CPU tensor ", t.describe(), " mixed with GPU tensors");
}

inline bool is_16bit(DType dt) { return dt == DType::kBF16 || dt == DType::kF16; }

}  // namespace turbolm::ops::cuda_ops
