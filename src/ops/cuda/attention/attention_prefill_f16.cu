// The prefill kernel for f16 (one element type per file so the two compile in parallel).
#include "ops/cuda/attention/attention_prefill.cuh"

namespace turbolm::cuda {

void launch_attention_prefill_f16(const AttentionArgs& args, cudaStream_t stream) {
    attn::launch_prefill_typed<__half, __half>(args, stream);
}

}  // namespace turbolm::cuda
