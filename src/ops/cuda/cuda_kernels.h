// Framework-free CUDA kernels: raw device pointers with their shapes in comments; validation
// happens in the dispatch layer. Each has a CPU counterpart in src/ops/cpu that tests compare with.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace turbolm::cuda {

// y[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * w        x, y: [rows, cols] f32 (row strides ldx, ldy); w: [cols]
void launch_rms_norm(const float* x, int64_t ldx, const float* w, float eps, float* y, int64_t ldy, int64_t rows,
                     int64_t cols, cudaStream_t stream);

}  // namespace turbolm::cuda
