// The streaming INT4 decode product (gemv_int4_stream.cu), for launch_gemv_int4: persistent blocks
// that walk many 16-row tiles each, for products with far more tiles than the GPU holds blocks.
#pragma once

#include <cuda_runtime.h>

#include "ops/cuda/gemv_int4_common.cuh"

namespace turbolm::cuda::int4_detail {

// Launches the streaming kernel when it suits the product (groups of 128 * 2^j columns, k of at least
// 1024, the activations within its shared memory, at least 3 or 3.5 tiles per resident block) and says
// whether it did; otherwise the caller runs the one-tile-per-block kernel.
bool launch_gemv_int4_stream(const GemvArgs<__nv_bfloat16>& a, cudaStream_t stream);
bool launch_gemv_int4_stream(const GemvArgs<__half>& a, cudaStream_t stream);

}  // namespace turbolm::cuda::int4_detail
