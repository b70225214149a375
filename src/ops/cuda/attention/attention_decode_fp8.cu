// The decode kernels over an FP8 (E4M3) cache (one code type per file so that they compile in parallel).
#include "ops/cuda/attention/attention_decode.cuh"

namespace turbolm::cuda {

void launch_attention_decode_fp8(const AttentionArgs& args, const DecodePlan& plan, cudaStream_t stream) {
    launch_decode_codes<__nv_fp8_e4m3>(args, plan, stream);
}

}  // namespace turbolm::cuda
