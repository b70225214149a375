// The decode kernels over an int8 cache (one code type per file so that they compile in parallel).
#include "ops/cuda/attention/attention_decode.cuh"

namespace turbolm::cuda {

void launch_attention_decode_int8(const AttentionArgs& args, const DecodePlan& plan, cudaStream_t stream) {
    launch_decode_codes<int8_t>(args, plan, stream);
}

}  // namespace turbolm::cuda
