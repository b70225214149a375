// The tensor-core decode kernels over an int8 cache (one code type per file so that they compile in parallel).
#include "ops/cuda/attention/attention_decode_mma.cuh"

namespace turbolm::cuda {

void launch_attention_decode_mma_int8(const AttentionArgs& args, const DecodePlan& plan, cudaStream_t stream) {
    if (args.dtype == DType::kBF16)
        launch_decode_mma_typed<__nv_bfloat16, int8_t>(args, plan, stream);
    else
        launch_decode_mma_typed<__half, int8_t>(args, plan, stream);
}

}  // namespace turbolm::cuda
