// The prefill kernel for bf16 (one element type per file so the two compile in parallel).
#include "ops/cuda/attention/attention_prefill.cuh"

namespace turbolm::cuda {

void launch_attention_prefill_bf16(const AttentionArgs& args, cudaStream_t stream) {
    attn::launch_prefill_typed<__nv_bfloat16, __nv_bfloat16>(args, stream);
}

}  // namespace turbolm::cuda
