// The tensor-core decode kernels over 16-bit pools (register-fed and bulk-fed), and the choice between them and the 8-bit ones.
#include "ops/cuda/attention/attention_decode_bulk.cuh"
#include "ops/cuda/attention/attention_decode_mma.cuh"

namespace turbolm::cuda {

void launch_attention_decode_mma(const AttentionArgs& a, const DecodePlan& plan, cudaStream_t stream) {
    if (a.kv.k_scale) {
        if (a.kv.code_dtype == DType::kI8)
            launch_attention_decode_mma_int8(a, plan, stream);
        else
            launch_attention_decode_mma_fp8(a, plan, stream);
        return;
    }
    if (a.dtype == DType::kBF16)
        launch_decode_mma_typed<__nv_bfloat16, __nv_bfloat16>(a, plan, stream);
    else
        launch_decode_mma_typed<__half, __half>(a, plan, stream);
}

void launch_attention_decode_bulk(const AttentionArgs& a, const DecodePlan& plan, cudaStream_t stream) {
    if (a.dtype == DType::kBF16)
        launch_decode_bulk_typed<__nv_bfloat16>(a, plan, stream);
    else
        launch_decode_bulk_typed<__half>(a, plan, stream);
}

}  // namespace turbolm::cuda
