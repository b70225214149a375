// The step between the fused QKV projection and attention: for each token and head, add the bias,
// RMSNorm the q and k heads (Qwen3's q_norm / k_norm), rotate them (rotate-half RoPE), and write q
// to its buffer and k, v to the token's slot of the KV cache.
//
// Shape: grid (T, ceil(n_heads_total / heads_per_block)); a block takes a run of consecutive heads of
// one token. Steps of many tokens take long runs (heads_per_block * head_dim ~ 6144 elements: all 48
// heads of a Llama-3-8B token, 256 threads), so that a token's cos/sin table is computed once, not
// once per few heads (H200, 8192 tokens of that shape: 107 us, against 143 with runs of 1024); steps
// of few tokens short ones (~1024 elements, 128 threads: one 16-byte chunk a thread), so that the
// heads of one token spread over several SMs. The block stages its heads in shared memory as f32:
//   1. all threads read the run (and the norm weights) at once, so that the loads overlap, and fill
//      the token's cos/sin table, computed in double like cpu::rope_neox (at positions of 100k+ an f32
//      angle is already off by ~0.004 rad);
//   2-4. then one warp per head normalizes, rotates and stores it.
// An 8-bit cache gets each k and v head as codes of its f32 values with one scale per head (the
// scheme of ops::qkv_to_cache and cpu::quantize_kv_rows, with the same f32 division).
#include <type_traits>

#include <cuda_fp8.h>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/elementwise/elementwise_common.cuh"
#include "ops/cuda/elementwise/elementwise_kernels.h"
#include "ops/cuda/programmatic_launch.cuh"

namespace turbolm::cuda {
namespace {

using namespace elt;

// Runs: elements a block aims to cover, and its threads.
struct Run {
    int64_t span;
    int threads;
};
constexpr Run kShortRun{1024, 128};
constexpr Run kLongRun{6144, 256};
constexpr int64_t kLongRunTokens = 256;  // steps of at least this many tokens take long runs
constexpr int64_t kMaxHeadDim = 2048;  // keeps shared memory under the 48 KB that needs no opt-in

// Heads per block: about `span` elements, at least one head.
int64_t heads_per_block(int64_t span, int64_t head_dim) {
    return head_dim >= span ? 1 : span / head_dim;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

// One f32 value divided by its head's scale, as a code.
__device__ __forceinline__ void encode(float v, int8_t* code) {
    *code = int8_t(min(max(__float2int_rn(v), -127), 127));  // half to even, as rint on the CPU
}
__device__ __forceinline__ void encode(float v, __nv_fp8_e4m3* code) {
    code->__x = __nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3);  // nearest even, saturating at 448
}
template <typename KV>
constexpr float code_max() {
    return std::is_same_v<KV, int8_t> ? 127.0f : 448.0f;  // int8, or the largest finite E4M3
}

// A warp stores one head x [hd] (shared memory, f32) as codes [hd] and its scale.
template <typename KV>
__device__ __forceinline__ void store_codes(const float* x, int hd, int lane, KV* codes, float* scale_out) {
    float amax = 0.0f;
    for (int i = lane; i < hd; i += 32) amax = fmaxf(amax, fabsf(x[i]));
    amax = warp_max(amax);
    float scale = amax / code_max<KV>();
    scale = scale > 0.0f ? scale : 1.0f;  // an all-zero head: zeros with scale 1
    for (int i = lane; i < hd; i += 32) encode(x[i] / scale, codes + i);
    if (lane == 0) *scale_out = scale;
}

// Shared memory of one block, in floats: the heads, the cos/sin table, q_norm and k_norm.
int64_t smem_floats(int64_t hpb, int64_t head_dim, int64_t rot_dim) {
    return hpb * head_dim + rot_dim + 2 * head_dim;
}

// qkv: T [n_tokens, ldqkv]; q_out: T [n_tokens, n_head, head_dim]; k_cache, v_cache: KV [n_slots, n_head_kv, head_dim]
// (KV = T, or 8-bit codes with p.k_scale, p.v_scale [n_slots, n_head_kv])
// grid (n_tokens, ceil(n_total / hpb)), block kThreads, dynamic shared memory smem_floats(hpb, head_dim, rot_dim)
// floats.
template <typename T, typename KV, int kThreads>
__global__ void __launch_bounds__(kThreads)
    qkv_rope_kernel(const T* __restrict__ qkv, int64_t ldqkv, QkvRopeParams p, int hpb, T* __restrict__ q_out,
                    KV* __restrict__ k_cache, KV* __restrict__ v_cache) {
    wait_for_previous_grid_and_release_next();  // launched after the previous kernel (programmatic_launch.cuh)
    constexpr bool kCodes = !std::is_same_v<KV, T>;
    constexpr int kWarps = kThreads / 32;
    extern __shared__ __align__(16) float smem[];
    const int64_t t = blockIdx.x;  // token
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int hd = int(p.head_dim), half = int(p.rot_dim / 2);
    const int64_t n_total = p.n_head + 2 * p.n_head_kv;
    const int64_t h0 = int64_t(blockIdx.y) * hpb;         // first head of the run, in the fused order
    const int nh = int(min(int64_t(hpb), n_total - h0));  // heads in the run
    const int span = nh * hd;                             // elements in the run
    float* buf = smem;                                    // [hpb * hd]: the run, f32; local head j at buf + j * hd
    float* cos_tab = buf + hpb * hd;                      // [half]
    float* sin_tab = cos_tab + half;                      // [half]
    float* q_w = sin_tab + half;                          // [hd]: q_norm
    float* k_w = q_w + hd;                                // [hd]: k_norm

    // 1. Global reads, all independent of each other.
    const T* src = qkv + t * ldqkv + h0 * hd;                 // [span]: qkv[t, h0 * hd : (h0 + nh) * hd]
    const float* bias = p.bias ? p.bias + h0 * hd : nullptr;  // [span] or null
    const int32_t position = half > 0 ? p.pos[t] : 0;
    const int64_t slot = p.n_head_kv > 0 ? p.slots[t] : -1;  // < 0: k and v are not stored
    // 16-byte chunks when no chunk straddles two heads and every base pointer is aligned (head offsets
    // are then multiples of 8 elements too). The same for the whole block.
    const bool vec = hd % kVec == 0 && aligned16(src) && aligned16(q_out) && aligned16(k_cache) && aligned16(v_cache);
    if (vec) {
        for (int c = threadIdx.x; c < span / kVec; c += kThreads) {  // chunk c = elements [8c, 8c + 8)
            float v[kVec];
            load8(src + c * kVec, v);
            if (bias) {
#pragma unroll
                for (int k = 0; k < kVec; ++k) v[k] += bias[c * kVec + k];
            }
            store8(buf + c * kVec, v);
        }
    } else {
        for (int e = threadIdx.x; e < span; e += kThreads) buf[e] = bias ? to_f32(src[e]) + bias[e] : to_f32(src[e]);
    }
    for (int i = threadIdx.x; i < hd; i += kThreads) {
        if (p.q_norm) q_w[i] = p.q_norm[i];
        if (p.k_norm) k_w[i] = p.k_norm[i];
    }
    // cos/sin exactly as cpu::rope_neox: angle in double, rounded to f32, then scaled.
    for (int i = threadIdx.x; i < half; i += kThreads) {
        double sn, cs;
        sincos(double(position) * double(p.inv_freq[i]), &sn, &cs);
        cos_tab[i] = float(cs) * p.rope_scale;
        sin_tab[i] = float(sn) * p.rope_scale;
    }
    __syncthreads();

    // 2-4. One warp per head of the run: RMSNorm (q and k heads), rotation (q and k heads), store. The
    //      head's elements move between lanes through buf, hence the __syncwarp after each step; all
    //      branches below are uniform across the warp.
    for (int j = warp; j < nh; j += kWarps) {
        const int64_t h = h0 + j;  // head in the fused order
        T* dst = nullptr;          // [hd]: where the head goes (q, or a 16-bit cache)
        KV* codes = nullptr;       // [hd]: where an 8-bit cache's codes go ...
        float* scale = nullptr;    // ... and their scale
        const float* w = nullptr;  // [hd]: its norm weight, or null
        if (h < p.n_head) {
            dst = q_out + (t * p.n_head + h) * hd;  // q_out[t, h, :]
            w = p.q_norm ? q_w : nullptr;
        } else if (slot < 0) {
            continue;  // this token's key and value are not stored
        } else {
            const bool is_k = h < p.n_head + p.n_head_kv;
            const int64_t head = slot * p.n_head_kv + (h - p.n_head - (is_k ? 0 : p.n_head_kv));  // [slot, kv head]
            if constexpr (kCodes) {
                codes = (is_k ? k_cache : v_cache) + head * hd;
                scale = (is_k ? p.k_scale : p.v_scale) + head;
            } else {
                dst = (is_k ? k_cache : v_cache) + head * hd;
            }
            if (is_k) w = p.k_norm ? k_w : nullptr;
        }
        const bool rotate = h < p.n_head + p.n_head_kv && half > 0;
        float* x = buf + j * hd;  // [hd]

        // 2. RMSNorm, as cpu::rms_norm.
        if (w) {
            float ss = 0.0f;
#pragma unroll 4
            for (int i = lane; i < hd; i += 32) ss += x[i] * x[i];
            const float inv = 1.0f / sqrtf(warp_sum(ss) / float(hd) + p.norm_eps);
#pragma unroll 4
            for (int i = lane; i < hd; i += 32) x[i] = w[i] * (x[i] * inv);
        }
        __syncwarp();

        // 3. Rotate pairs (i, i + half) of the first rot_dim dims, as cpu::rope_neox. One lane per pair.
        if (rotate) {
#pragma unroll 2
            for (int i = lane; i < half; i += 32) {
                const float a = x[i], b = x[i + half];
                x[i] = a * cos_tab[i] - b * sin_tab[i];
                x[i + half] = b * cos_tab[i] + a * sin_tab[i];
            }
        }
        __syncwarp();

        // 4. Store, rounded once to T (or quantized).
        if constexpr (kCodes) {
            if (codes) {
                store_codes(x, hd, lane, codes, scale);
                continue;
            }
        }
        if (vec) {
            for (int c = lane; c < hd / kVec; c += 32) {  // chunk c = elements [8c, 8c + 8)
                float v[kVec];
                load8(x + c * kVec, v);
                store8(dst + c * kVec, v);
            }
        } else {
            for (int i = lane; i < hd; i += 32) dst[i] = from_f32<T>(x[i]);
        }
    }
}

}  // namespace

void launch_qkv_rope(const void* qkv, int64_t ldqkv, const QkvRopeParams& p, DType dtype, void* q_out, void* k_cache,
                     void* v_cache, cudaStream_t s) {
    const char* op = "launch_qkv_rope";
    dispatch_16bit(dtype, op, [](auto) {});
    check_arg(p.n_tokens >= 0 && p.n_head >= 0 && p.n_head_kv >= 0, op, "negative token or head count");
    check_arg(p.head_dim > 0 && p.head_dim <= kMaxHeadDim, op, "head_dim must be in [1, 2048]");
    check_arg(p.rot_dim >= 0 && p.rot_dim % 2 == 0 && p.rot_dim <= p.head_dim, op,
              "rot_dim must be even and in [0, head_dim]");
    const int64_t n_total = p.n_head + 2 * p.n_head_kv;
    check_arg(ldqkv >= n_total * p.head_dim, op, "ldqkv is shorter than (n_head + 2 * n_head_kv) * head_dim");
    check_arg(p.rot_dim == 0 || (p.pos && p.inv_freq), op, "rotation needs pos and inv_freq");
    check_arg(p.n_head_kv == 0 || p.slots, op, "slots is null");
    check_arg((p.k_scale == nullptr) == (p.v_scale == nullptr), op, "k_scale and v_scale must be set together");
    check_arg(!p.k_scale || p.code_dtype == DType::kI8 || p.code_dtype == DType::kF8E4M3, op,
              "8-bit KV codes must be i8 or f8e4m3");
    const unsigned grid_x = grid_rows(p.n_tokens, op);
    const Run run = p.n_tokens >= kLongRunTokens ? kLongRun : kShortRun;
    const int64_t hpb = heads_per_block(run.span, p.head_dim);
    const int64_t grid_y = (n_total + hpb - 1) / hpb;
    check_arg(grid_y <= 65535, op, "too many heads");
    if (p.n_tokens == 0 || n_total == 0) return;

    const size_t smem = size_t(smem_floats(hpb, p.head_dim, p.rot_dim)) * sizeof(float);
    const dim3 grid(grid_x, unsigned(grid_y));
    dispatch_16bit(dtype, op, [&](auto tag) {
        using T = typename decltype(tag)::type;
        auto launch = [&](auto kv_tag) {
            using KV = typename decltype(kv_tag)::type;
            auto args = [&](auto kernel, int threads) {
                launch_after_previous(kernel, dim3(grid), dim3(threads), smem, s, static_cast<const T*>(qkv), ldqkv,
                                      p, int(hpb), static_cast<T*>(q_out), static_cast<KV*>(k_cache),
                                      static_cast<KV*>(v_cache));
            };
            if (run.threads == kLongRun.threads)
                args(qkv_rope_kernel<T, KV, kLongRun.threads>, kLongRun.threads);
            else
                args(qkv_rope_kernel<T, KV, kShortRun.threads>, kShortRun.threads);
            TURBOLM_CUDA_CHECK_LAUNCH();
        };
        if (!p.k_scale)
            launch(TypeTag<T>{});
        else if (p.code_dtype == DType::kI8)
            launch(TypeTag<int8_t>{});
        else
            launch(TypeTag<__nv_fp8_e4m3>{});
    });
}

}  // namespace turbolm::cuda
