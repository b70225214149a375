// The prefill kernel over an FP8 (E4M3) cache, for bf16 and f16 queries (one code type per file so
// that the kinds of pools compile in parallel).
#include "ops/cuda/attention/attention_prefill.cuh"

namespace turbolm::cuda {

void launch_attention_prefill_fp8(const AttentionArgs& args, cudaStream_t stream) {
    if (args.dtype == DType::kBF16)
        attn::launch_prefill_typed<__nv_bfloat16, __nv_fp8_e4m3>(args, stream);
    else
        attn::launch_prefill_typed<__half, __nv_fp8_e4m3>(args, stream);
}

}  // namespace turbolm::cuda
