// The safety-net attention kernel: one warp per (query token, query head), keys visited one at a
// time with an online softmax in f32. Slow but short enough to check by reading; it serves shapes
// the fast kernels are not compiled for and runs everything when TURBOLM_ATTENTION=simple. 8-bit
// codes are dequantized element by element (code * the row's scale).
#include <cmath>

#include "ops/cuda/attention/attention_device.cuh"
#include "ops/cuda/attention/attention_paths.h"
#include "ops/cuda/cuda_check.h"

namespace turbolm::cuda {
namespace {

constexpr int kWarps = 4;  // query heads per CTA, one warp each

struct SimpleParams {
    const void* q;  // [T, n_head, head_dim], token stride ldq
    int64_t ldq;
    const void* k;               // [n_slots, n_head_kv, head_dim]
    const void* v;               // [n_slots, n_head_kv, head_dim]
    const float* k_scale;        // [n_slots, n_head_kv] for 8-bit codes, else null
    const float* v_scale;        // [n_slots, n_head_kv] for 8-bit codes, else null
    const int32_t* block_table;  // [n_seqs, max_blocks]
    int64_t max_blocks;
    int32_t block_size;
    const int32_t* q_start;  // [n_seqs + 1]
    const int32_t* kv_len;   // [n_seqs]
    const int32_t* q_pos;    // [T]
    int32_t n_seqs;
    int32_t n_head, n_head_kv, head_dim;
    float scale_log2;  // scale * log2(e)
    int32_t window;
    void* out;  // [T, n_head, head_dim], token stride ldo
    int64_t ldo;
};

// The sequence that owns query row t, or -1: the last s with q_start[s] <= t, if t < q_start[s + 1].
// Taking the last such s skips empty sequences, whose start equals the next one's.
__device__ int find_seq(const int32_t* __restrict__ q_start, int n_seqs, int t) {
    int lo = 0, hi = n_seqs;  // answer in [lo, hi); q_start[lo] <= t is checked below
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (q_start[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return (q_start[lo] <= t && t < q_start[lo + 1]) ? lo : -1;
}

// Grid: x = query token t, y = group of kWarps query heads. Block: kWarps warps, warp w takes head
// blockIdx.y * kWarps + w. Dynamic shared memory: per warp, q (scaled) and the output accumulator,
// head_dim floats each. Lane l owns dimensions l, l + 32, ... of both, so no barrier is needed.
// T: the type of q and out; KV: the pools' element type (T, int8_t or __nv_fp8_e4m3).
template <typename T, typename KV>
__global__ void __launch_bounds__(kWarps * 32) simple_attention_kernel(const SimpleParams p) {
    using C = attn::KvCode<KV>;
    extern __shared__ float smem[];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int t = blockIdx.x;
    const int h = blockIdx.y * kWarps + warp;
    if (h >= p.n_head) return;  // whole warp leaves; nothing below synchronizes the block
    const int seq = find_seq(p.q_start, p.n_seqs, t);
    if (seq < 0) return;

    const int D = p.head_dim;
    const int kvh = h / (p.n_head / p.n_head_kv);
    const T* q = static_cast<const T*>(p.q) + t * p.ldq + int64_t(h) * D;
    T* out = static_cast<T*>(p.out) + t * p.ldo + int64_t(h) * D;
    float* qs = smem + warp * 2 * D;
    float* acc = qs + D;
    for (int d = lane; d < D; d += 32) {
        qs[d] = attn::Elem<T>::to_float(q[d]) * p.scale_log2;
        acc[d] = 0.0f;
    }

    // Visible keys: [lo, hi] = positions <= q_pos, < kv_len, and inside the window.
    const int pos = p.q_pos[t];
    const int hi = min(pos, p.kv_len[seq] - 1);
    const int lo = p.window > 0 ? max(0, pos - p.window + 1) : 0;
    float m = -INFINITY, l = 0.0f;  // running max (base-2 scores) and sum of exponentials
    for (int key = lo; key <= hi; ++key) {
        const int64_t head = attn::kv_slot(p.block_table, p.max_blocks, p.block_size, seq, key) * p.n_head_kv + kvh;
        const KV* kr = static_cast<const KV*>(p.k) + head * D;
        const KV* vr = static_cast<const KV*>(p.v) + head * D;
        const float ks = C::kQuantized ? p.k_scale[head] : 1.0f, vs = C::kQuantized ? p.v_scale[head] : 1.0f;
        float s = 0.0f;
        for (int d = lane; d < D; d += 32) s += qs[d] * C::to_float(kr[d]);
        for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
        if constexpr (C::kQuantized) s *= ks;
        const float m_new = fmaxf(m, s);
        const float alpha = exp2f(m - m_new);  // 0 on the first key (m = -inf)
        const float w = exp2f(s - m_new);
        l = l * alpha + w;
        const float wv = C::kQuantized ? w * vs : w;
        for (int d = lane; d < D; d += 32) acc[d] = acc[d] * alpha + wv * C::to_float(vr[d]);
        m = m_new;
    }
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;  // no visible key: zeros
    for (int d = lane; d < D; d += 32) out[d] = attn::Elem<T>::from_float(acc[d] * inv);
}

}  // namespace

template <typename T, typename KV>
static void launch_simple_typed(const AttentionArgs& a, cudaStream_t stream) {
    SimpleParams p;
    p.q = a.q;
    p.ldq = a.ldq;
    p.k = a.kv.k;
    p.v = a.kv.v;
    p.k_scale = a.kv.k_scale;
    p.v_scale = a.kv.v_scale;
    p.block_table = a.kv.block_table;
    p.max_blocks = a.kv.max_blocks;
    p.block_size = int32_t(a.kv.block_size);
    p.q_start = a.batch.q_start;
    p.kv_len = a.batch.kv_len;
    p.q_pos = a.batch.q_pos;
    p.n_seqs = int32_t(a.batch.n_seqs);
    p.n_head = int32_t(a.shape.n_head);
    p.n_head_kv = int32_t(a.shape.n_head_kv);
    p.head_dim = int32_t(a.shape.head_dim);
    p.scale_log2 = a.shape.scale * attn::kLog2e;
    p.window = int32_t(a.shape.window);
    p.out = a.out;
    p.ldo = a.ldo;
    const size_t smem = size_t(kWarps) * 2 * a.shape.head_dim * sizeof(float);
    if (smem > 48 * 1024)
        TURBOLM_CUDA_CHECK(
            cudaFuncSetAttribute(simple_attention_kernel<T, KV>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 int(smem)));
    const dim3 grid(unsigned(a.batch.n_tokens), unsigned((a.shape.n_head + kWarps - 1) / kWarps));
    simple_attention_kernel<T, KV><<<grid, kWarps * 32, smem, stream>>>(p);
    TURBOLM_CUDA_CHECK_LAUNCH();
}

// The element type of the pools, then the 16-bit type of q and out.
template <typename T>
static void launch_simple_pool(const AttentionArgs& args, cudaStream_t stream) {
    if (!args.kv.k_scale)
        launch_simple_typed<T, T>(args, stream);
    else if (args.kv.code_dtype == DType::kI8)
        launch_simple_typed<T, int8_t>(args, stream);
    else
        launch_simple_typed<T, __nv_fp8_e4m3>(args, stream);
}

void launch_attention_simple(const AttentionArgs& args, cudaStream_t stream) {
    if (args.dtype == DType::kBF16)
        launch_simple_pool<__nv_bfloat16>(args, stream);
    else
        launch_simple_pool<__half>(args, stream);
}

}  // namespace turbolm::cuda
