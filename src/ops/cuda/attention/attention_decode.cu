// The decode kernels over 16-bit pools, and the choice between them and the 8-bit ones.
#include "ops/cuda/attention/attention_decode.cuh"

namespace turbolm::cuda {

void launch_attention_decode(const AttentionArgs& a, const DecodePlan& plan, cudaStream_t stream) {
    if (a.kv.k_scale) {
        if (a.kv.code_dtype == DType::kI8)
            launch_attention_decode_int8(a, plan, stream);
        else
            launch_attention_decode_fp8(a, plan, stream);
        return;
    }
    const DecodeParams p = decode_params(a, plan);
    const int head_dim = int(a.shape.head_dim), n_seqs = int(a.batch.n_seqs);
    if (a.dtype == DType::kBF16)
        launch_decode_typed<__nv_bfloat16, __nv_bfloat16>(p, head_dim, plan.head_chunk, n_seqs, stream);
    else
        launch_decode_typed<__half, __half>(p, head_dim, plan.head_chunk, n_seqs, stream);
}

}  // namespace turbolm::cuda
