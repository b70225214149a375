#include <algorithm>
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "core/error.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/gemv_int4.h"
#include "ops/cuda/gemv_int4_common.cuh"
#include "ops/cuda/gemv_int4_stream.h"

namespace turbolm::cuda {
namespace {

using namespace int4_detail;

// The decode product runs on the tensor cores so that dequantizing costs about one instruction per
// weight and the activations' rows come for free: one mma.m16n8k16 multiplies 16 weight rows (A,
// the dequantized codes, exact small integers in 16 bits) by up to 8 activation rows (B) into f32.
// A block owns 16 output rows; its warps split the columns into chunks and sum through shared
// memory at the end, so every byte of the packed weights is read once, 16 bytes per load. Products
// with many more tiles than the GPU holds blocks take the streaming kernel of gemv_int4_stream.cu.
// Either kernel can also make its activation rows itself (Int4Rows: the norm before it, or silu * up),
// this one into shared memory while its first weights load.

// Lane l of a warp is (g, t) = (l / 4, l % 4) in the MMA fragments: it dequantizes rows g and g + 8
// of the tile and brings activation row g. A chunk is the columns the 4 lanes of one g cover with a
// load each: kWords 32-bit words (8 columns each) per lane, 32 * kWords columns. Chunks never cross
// a group (kWords is picked so that 32 * kWords divides it), so one scale and zero serve a chunk.
template <int kWords>
struct ChunkShape {
    static constexpr int kSpan = 32 * kWords;
    // Chunks a warp loads before it computes: 128 bytes of weights per lane in flight (64 for
    // kWords 1, whose narrow loads would otherwise need many registers). A multiple of 4, so that
    // each lane of a quad fetches the scales and zero points of every 4th chunk (see below).
    static constexpr int kBatch = kWords == 1 ? 8 : 16 / kWords;
    static_assert(kBatch % 4 == 0);
};

template <int kWords>
__device__ __forceinline__ void load_stream(const uint8_t* p, uint32_t (&out)[kWords]) {
    if constexpr (kWords == 4) {
        const uint4 v = __ldcs(reinterpret_cast<const uint4*>(p));
        out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
    } else if constexpr (kWords == 2) {
        const uint2 v = __ldcs(reinterpret_cast<const uint2*>(p));
        out[0] = v.x, out[1] = v.y;
    } else {
        out[0] = __ldcs(reinterpret_cast<const unsigned int*>(p));
    }
}

// The k-order inside one MMA is free as long as A and B agree, so lane t feeds its own columns:
// for word v (columns 8v..8v+7 of its part of the chunk) the first MMA takes columns (0, 4) as
// k = (2t, 2t+1) and (1, 5) as (2t+8, 2t+9), the second (2, 6) and (3, 7); the activations are
// paired the same way with one byte permute per register.
// kMinBlocks blocks per SM (see launch_typed) keep 16 or 24 warps' loads in flight on each SM.
// kKind: where the activation rows come from (Int4Rows).
template <typename T, int kWords, int kWarps, int kMinBlocks, Int4RowKind kKind = Int4RowKind::kStored>
__global__ void __launch_bounds__(kWarps * 32, kMinBlocks) gemv_int4_kernel(const GemvArgs<T> a) {
    static_assert(kKind != Int4RowKind::kRmsNormed || kWarps * 32 == Int4Rows<T, kKind>::kNormThreads,
                  "the norm's sums need the blocks of norms.cu");
    using Chunk = ChunkShape<kWords>;
    __shared__ float partial[kWarps][4][32];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int g = lane / 4, t = lane % 4;
    const int row0 = blockIdx.x * kTileRows;
    // Rows past n read the last row; their sums are never written.
    const int64_t r_lo = min(row0 + g, a.n - 1), r_hi = min(row0 + g + 8, a.n - 1);
    const uint8_t* q_lo = a.w.q + r_lo * a.w.ldq + 4 * kWords * t;
    const uint8_t* q_hi = a.w.q + r_hi * a.w.ldq + 4 * kWords * t;
    const uint16_t* s_lo = a.w.scale + r_lo * a.w.lds;
    const uint16_t* s_hi = a.w.scale + r_hi * a.w.lds;
    const uint8_t* z_lo = a.w.zero + r_lo * a.w.ldz;
    const uint8_t* z_hi = a.w.zero + r_hi * a.w.ldz;
    const bool has_x = g < a.m;
    const int64_t x_col = 8 * kWords * t;  // lane's first column of a chunk
    const int n_chunks = a.k / Chunk::kSpan, chunks_per_group = int(a.w.group) / Chunk::kSpan;
    // Rows the kernel makes itself go to shared memory once per block (Int4Rows::make), while the
    // first batch of weights is on its way.
    constexpr bool kMade = kKind != Int4RowKind::kStored;
    __shared__ uint4 made_rows[kMade ? kGemvInt4MadeElems / 8 : 1];
    const T* xs = reinterpret_cast<const T*>(made_rows);
    wait_for_previous_grid();  // launched with programmatic serialization: nothing was read before

    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    uint32_t w_lo[Chunk::kBatch][kWords], w_hi[Chunk::kBatch][kWords];
    uint32_t meta_lo[Chunk::kBatch / 4], meta_hi[Chunk::kBatch / 4];
    auto issue = [&](int c0) {
#pragma unroll
        for (int j = 0; j < Chunk::kBatch / 4; ++j) meta_lo[j] = meta_hi[j] = 0;
#pragma unroll
        for (int u = 0; u < Chunk::kBatch; ++u) {
            const int c = c0 + u * kWarps;
            if (c < n_chunks) {
                load_stream<kWords>(q_lo + int64_t(c) * (Chunk::kSpan / 2), w_lo[u]);
                load_stream<kWords>(q_hi + int64_t(c) * (Chunk::kSpan / 2), w_hi[u]);
            }
        }
#pragma unroll
        for (int j = 0; j < Chunk::kBatch / 4; ++j) {
            const int c = c0 + (4 * j + t) * kWarps;
            if (c < n_chunks) {
                const int gi = chunks_per_group == 1 ? c : c / chunks_per_group;
                meta_lo[j] = uint32_t(__ldg(s_lo + gi)) | (uint32_t(__ldg(z_lo + gi)) << 16);
                meta_hi[j] = uint32_t(__ldg(s_hi + gi)) | (uint32_t(__ldg(z_hi + gi)) << 16);
            }
        }
    };
    if constexpr (kMade) {
        issue(warp);
        Int4Rows<T, kKind>{}.make(a, reinterpret_cast<T*>(made_rows));
    }
    for (int c0 = warp; c0 < n_chunks; c0 += kWarps * Chunk::kBatch) {
        // Every load of the batch is issued before any is used, so a lane has them all in flight.
        // The 4 lanes of a quad need the same scale and zero point of a chunk; instead of each
        // loading all of them (4 scattered loads per value), lane t loads those of chunks t, t + 4, ...
        // packed as f16 bits | zero << 16, and hands them around the quad with a shuffle.
        if (!kMade || c0 != warp) issue(c0);
#pragma unroll
        for (int u = 0; u < Chunk::kBatch; ++u) {
            const int c = c0 + u * kWarps;
            if (c >= n_chunks) break;  // the same for the whole warp, as mma.sync and the shuffles need
            const int from = (lane & ~3) | (u % 4);
            const uint32_t m_lo = __shfl_sync(0xffffffffu, meta_lo[u / 4], from);
            const uint32_t m_hi = __shfl_sync(0xffffffffu, meta_hi[u / 4], from);
            float part[4] = {0.0f, 0.0f, 0.0f, 0.0f}, sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
            for (int v = 0; v < kWords; ++v) {
                const int64_t col = int64_t(c) * Chunk::kSpan + x_col + 8 * v;
                uint4 xv = make_uint4(0u, 0u, 0u, 0u);
                if (has_x)
                    xv = kMade ? *reinterpret_cast<const uint4*>(xs + int64_t(g) * a.k + col)
                               : __ldg(reinterpret_cast<const uint4*>(a.x + int64_t(g) * a.ldx + col));
                uint32_t lo[4], hi[4];
                Dequant<T>::pairs(w_lo[u][v], lo);
                Dequant<T>::pairs(w_hi[u][v], hi);
                const uint32_t b00 = __byte_perm(xv.x, xv.z, 0x5410), b01 = __byte_perm(xv.x, xv.z, 0x7632);
                const uint32_t b10 = __byte_perm(xv.y, xv.w, 0x5410), b11 = __byte_perm(xv.y, xv.w, 0x7632);
                mma_16816<T>(part, lo[0], hi[0], lo[1], hi[1], b00, b01);
                mma_16816<T>(part, lo[2], hi[2], lo[3], hi[3], b10, b11);
                // sum x over the chunk, per activation row, on the tensor cores too (A = ones)
                constexpr uint32_t one = Dequant<T>::kOnes;
                mma_16816<T>(sum, one, one, one, one, b00, b01);
                mma_16816<T>(sum, one, one, one, one, b10, b11);
            }
            constexpr float inv_scale = 1.0f / Dequant<T>::kScale;
            const float s_lo_f = f16_bits_to_float(uint16_t(m_lo & 0xffffu)) * inv_scale;
            const float s_hi_f = f16_bits_to_float(uint16_t(m_hi & 0xffffu)) * inv_scale;
            const float zb_lo = -Dequant<T>::kScale * (Dequant<T>::kBias + float(m_lo >> 16));
            const float zb_hi = -Dequant<T>::kScale * (Dequant<T>::kBias + float(m_hi >> 16));
            part[0] = fmaf(zb_lo, sum[0], part[0]);
            part[1] = fmaf(zb_lo, sum[1], part[1]);
            part[2] = fmaf(zb_hi, sum[2], part[2]);
            part[3] = fmaf(zb_hi, sum[3], part[3]);
            acc[0] = fmaf(s_lo_f, part[0], acc[0]);
            acc[1] = fmaf(s_lo_f, part[1], acc[1]);
            acc[2] = fmaf(s_hi_f, part[2], acc[2]);
            acc[3] = fmaf(s_hi_f, part[3], acc[3]);
        }
    }

    grid_dependents_launch();  // the weights are read: the next kernel may be scheduled (it still waits)
#pragma unroll
    for (int i = 0; i < 4; ++i) partial[warp][i][lane] = acc[i];
    __syncthreads();
    if (threadIdx.x >= 4 * 32) return;
    // Thread (i, l) sums accumulator i of lane l over the warps: activation row 2t + (i & 1), output
    // row g + 8 (i >> 1) of lane l's fragment.
    const int i = threadIdx.x / 32, l = threadIdx.x % 32;
    float v = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) v += partial[w][i][l];
    const int act = 2 * (l % 4) + (i & 1), row = row0 + l / 4 + 8 * (i >> 1);
    if (act >= a.m || row >= a.n) return;
    if (a.bias) v += a.bias[row];
    store_out(a, int64_t(act) * a.ldy + row, v);
}

template <typename T, int kWords, int kWarps, int kMinBlocks, Int4RowKind kKind>
void launch_kernel(const GemvArgs<T>& a, cudaStream_t stream) {
    launch_after_previous(gemv_int4_kernel<T, kWords, kWarps, kMinBlocks, kKind>,
                          dim3(unsigned((a.n + kTileRows - 1) / kTileRows)), dim3(kWarps * 32), 0, stream, a);
}

// Rows made by the kernel (gemv_int4_fusable) come only with groups of a multiple of 128.
template <typename T, int kWarps, int kMinBlocks, Int4RowKind kKind>
void launch_shape(const GemvArgs<T>& a, cudaStream_t stream) {
    if constexpr (kKind == Int4RowKind::kStored) {
        if (a.w.group % 128 == 0)
            launch_kernel<T, 4, kWarps, kMinBlocks, kKind>(a, stream);
        else if (a.w.group % 64 == 0)
            launch_kernel<T, 2, kWarps, kMinBlocks, kKind>(a, stream);
        else
            launch_kernel<T, 1, kWarps, kMinBlocks, kKind>(a, stream);
    } else {
        launch_kernel<T, 4, kWarps, kMinBlocks, kKind>(a, stream);
    }
    TURBOLM_CUDA_CHECK_LAUNCH();
}

// Blocks run in waves of (blocks per SM) x SMs and each wave shares the memory bandwidth, so the time
// goes as waves x blocks per SM: 2 blocks per SM (more registers, no spills) unless 3 need fewer
// waves between them. Groups under 128 columns take narrower chunks and use 4-warp blocks.
template <typename T, Int4RowKind kKind>
void launch_typed(const GemvArgs<T>& a, cudaStream_t stream) {
    if (launch_gemv_int4_stream(a, stream)) return;
    if constexpr (kKind == Int4RowKind::kStored)
        if (a.w.group % 128 != 0) return launch_shape<T, 4, 5, kKind>(a, stream);
    int device = 0, sms = 0;
    TURBOLM_CUDA_CHECK(cudaGetDevice(&device));
    TURBOLM_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    const int64_t tiles = (a.n + kTileRows - 1) / kTileRows, slots = std::max(sms, 1);
    const int64_t cost2 = 2 * ((tiles + 2 * slots - 1) / (2 * slots)),
                  cost3 = 3 * ((tiles + 3 * slots - 1) / (3 * slots));
    if (cost3 < cost2) return launch_shape<T, 8, 3, kKind>(a, stream);
    launch_shape<T, 8, 2, kKind>(a, stream);
}

template <typename T>
void launch_kind(const GemvArgs<T>& a, cudaStream_t stream) {
    dispatch_row_kind(a.src.kind, [&](auto kind) { launch_typed<T, decltype(kind)::value>(a, stream); });
}

template <typename T>
GemvArgs<T> gemv_args(const void* x, int64_t ldx, const cpu::Int4Weights& w, const float* bias, void* y, int64_t ldy,
                      bool y_f32, int64_t m, int64_t n, int64_t k, bool accumulate) {
    return GemvArgs<T>{static_cast<const T*>(x), ldx, w, bias, y, ldy, y_f32, accumulate, int(m), int(n), int(k)};
}

// Each thread widens 8 codes (one 32-bit word, inside one group) into one 16-byte store, so that a
// warp's loads and stores are each one contiguous run. (32 codes a thread, one 16-byte load and four
// 16-byte stores 64 bytes apart across the warp, without integer conversions, was slower: H200,
// Llama-3-8B shape, INT4 at batch 64 4,310 tokens/s against 5,583, 2048-token prefill 56.7 ms
// against 53.8.)
template <typename T>
__global__ void dequantize_kernel(const cpu::Int4Weights w, T* __restrict__ out, int64_t ldo, int64_t n, int64_t k) {
    const int64_t words = k / 8, total = n * words;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = i / words, c = (i % words) * 8, gi = c / w.group;
        const uint8_t* q = w.q + r * w.ldq + c / 2;
        const float s = f16_bits_to_float(w.scale[r * w.lds + gi]);
        const int z = w.zero[r * w.ldz + gi];
        alignas(16) T v[8];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const unsigned byte = q[j];
            v[2 * j] = T(float(int(byte & 0x0fu) - z) * s);
            v[2 * j + 1] = T(float(int(byte >> 4) - z) * s);
        }
        *reinterpret_cast<uint4*>(out + r * ldo + c) = *reinterpret_cast<const uint4*>(v);
    }
}

template <typename T>
__device__ __forceinline__ float to_float(T v) {
    return float(v);
}

__device__ __forceinline__ float clamp_code(float v) {
    return fminf(fmaxf(v, 0.0f), 15.0f);
}

// One warp per (row, group). Every step is an IEEE-rounded f32 operation (no contraction, no fast
// division) so that the bits match cpu::quantize_groups_int4.
template <typename T>
__global__ void quantize_groups_kernel(const T* __restrict__ w, int64_t ldw, int64_t rows, int64_t groups, int group,
                                       uint8_t* __restrict__ q, int64_t ldq, uint16_t* __restrict__ scale, int64_t lds,
                                       uint8_t* __restrict__ zero, int64_t ldz) {
    const int64_t id = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
    if (id >= rows * groups) return;
    const int lane = threadIdx.x % 32;
    const int64_t r = id / groups, gi = id % groups;
    const T* wg = w + r * ldw + gi * group;
    float lo = INFINITY, hi = -INFINITY;
    for (int i = lane; i < group; i += 32) {
        const float v = to_float(wg[i]);
        lo = fminf(lo, v);
        hi = fmaxf(hi, v);
    }
    for (int off = 16; off > 0; off >>= 1) {
        lo = fminf(lo, __shfl_xor_sync(0xffffffffu, lo, off));
        hi = fmaxf(hi, __shfl_xor_sync(0xffffffffu, hi, off));
    }
    uint16_t bits = __half_as_ushort(__float2half_rn(__fdiv_rn(__fsub_rn(hi, lo), 15.0f)));
    float s = f16_bits_to_float(bits);
    if (s == 0.0f) {  // a constant group: no range to divide
        bits = 0x3c00;
        s = 1.0f;
    }
    const float z = clamp_code(rintf(__fdiv_rn(-lo, s)));
    if (lane == 0) {
        scale[r * lds + gi] = bits;
        zero[r * ldz + gi] = uint8_t(z);
    }
    uint8_t* qg = q + r * ldq + gi * (group / 2);
    for (int j = lane; j < group / 2; j += 32) {
        const float c0 = clamp_code(__fadd_rn(rintf(__fdiv_rn(to_float(wg[2 * j]), s)), z));
        const float c1 = clamp_code(__fadd_rn(rintf(__fdiv_rn(to_float(wg[2 * j + 1]), s)), z));
        qg[j] = uint8_t(unsigned(c0) | (unsigned(c1) << 4));
    }
}

template <typename E>
__global__ void gather_columns_kernel(const E* __restrict__ src, int64_t lds, const int32_t* __restrict__ perm,
                                      E* __restrict__ dst, int64_t ldd, int64_t rows, int64_t cols) {
    const int64_t total = rows * cols;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t t = i / cols, c = i % cols;
        dst[t * ldd + c] = src[t * lds + perm[c]];
    }
}

unsigned grid_for(int64_t total, int threads) {
    return unsigned(std::max<int64_t>(1, std::min<int64_t>((total + threads - 1) / threads, 65535 * 8)));
}

bool aligned16(const void* p) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

}  // namespace

bool gemv_int4_supported(const void* x, int64_t ldx, const cpu::Int4Weights& w, int64_t m, int64_t k) {
    return m >= 1 && m <= kGemvInt4MaxRows && k > 0 && k < (int64_t(1) << 30) && w.group % 32 == 0 &&
           k % w.group == 0 && ldx % 8 == 0 && w.ldq % 16 == 0 && aligned16(x) && aligned16(w.q);
}

void launch_gemv_int4(const void* x, int64_t ldx, DType x_dtype, const cpu::Int4Weights& w, const float* bias, void* y,
                      int64_t ldy, DType y_dtype, int64_t m, int64_t n, int64_t k, bool accumulate,
                      cudaStream_t stream) {
    launch_gemv_int4_fused(Int4RowSource{}, x, ldx, x_dtype, w, bias, y, ldy, y_dtype, m, n, k, accumulate, stream);
}

bool gemv_int4_fusable(const Int4RowSource& src, const cpu::Int4Weights& w, int64_t m, int64_t k) {
    if (m < 1 || m > kGemvInt4FusedRows || m * k > kGemvInt4MadeElems || w.group % 128 != 0 || k % w.group != 0 ||
        w.ldq % 16 != 0 || !aligned16(w.q))
        return false;
    switch (src.kind) {
        case Int4RowKind::kStored: return false;
        case Int4RowKind::kRmsNormed:
            return src.res && src.norm_w && src.ldr % 4 == 0 && aligned16(src.res) && aligned16(src.norm_w);
        case Int4RowKind::kSiluMul: return src.up && src.ldu % 8 == 0 && aligned16(src.up);
    }
    return false;
}

void launch_gemv_int4_fused(const Int4RowSource& src, const void* x, int64_t ldx, DType x_dtype,
                            const cpu::Int4Weights& w, const float* bias, void* y, int64_t ldy, DType y_dtype,
                            int64_t m, int64_t n, int64_t k, bool accumulate, cudaStream_t stream) {
    if (n == 0) return;
    if (src.kind == Int4RowKind::kRmsNormed) {
        TURBOLM_REQUIRE(gemv_int4_fusable(src, w, m, k) && n < (int64_t(1) << 30),
                        "gemv_int4: unsupported normed rows");
    } else {
        TURBOLM_REQUIRE(gemv_int4_supported(x, ldx, w, m, k) && n < (int64_t(1) << 30),
                        "gemv_int4: unsupported shape or alignment");
        TURBOLM_REQUIRE(src.kind == Int4RowKind::kStored || gemv_int4_fusable(src, w, m, k),
                        "gemv_int4: unsupported gated rows");
    }
    TURBOLM_REQUIRE(y_dtype == DType::kF32 || y_dtype == x_dtype, "gemv_int4: ", dtype_name(x_dtype), " -> ",
                    dtype_name(y_dtype));
    const bool y_f32 = y_dtype == DType::kF32;
    auto run = [&](auto tag) {
        using T = decltype(tag);
        GemvArgs<T> a = gemv_args<T>(x, ldx, w, bias, y, ldy, y_f32, m, n, k, accumulate);
        a.src = src;
        launch_kind(a, stream);
    };
    if (x_dtype == DType::kBF16) return run(__nv_bfloat16{});
    if (x_dtype == DType::kF16) return run(__half{});
    fail(StatusCode::kInvalidArgument, "gemv_int4: activations of ", dtype_name(x_dtype));
}

void launch_dequantize_int4(const cpu::Int4Weights& w, void* out, int64_t ldo, DType out_dtype, int64_t n, int64_t k,
                            cudaStream_t stream) {
    if (n == 0 || k == 0) return;
    TURBOLM_REQUIRE(k % 8 == 0 && ldo % 8 == 0 && aligned16(out), "dequantize_int4: output layout");
    const unsigned blocks = grid_for(n * (k / 8), 256);
    if (out_dtype == DType::kBF16)
        dequantize_kernel<<<blocks, 256, 0, stream>>>(w, static_cast<__nv_bfloat16*>(out), ldo, n, k);
    else if (out_dtype == DType::kF16)
        dequantize_kernel<<<blocks, 256, 0, stream>>>(w, static_cast<__half*>(out), ldo, n, k);
    else
        fail(StatusCode::kInvalidArgument, "dequantize_int4 to ", dtype_name(out_dtype));
    TURBOLM_CUDA_CHECK_LAUNCH();
}

void launch_quantize_groups_int4(const void* w, DType dtype, int64_t ldw, int64_t rows, int64_t cols, int64_t group,
                                 uint8_t* q, int64_t ldq, uint16_t* scale, int64_t lds, uint8_t* zero, int64_t ldz,
                                 cudaStream_t stream) {
    if (rows == 0 || cols == 0) return;
    TURBOLM_REQUIRE(group > 0 && group % 2 == 0 && cols % group == 0 && group < (int64_t(1) << 30),
                    "quantize_groups_int4: group ", group, " for ", cols, " columns");
    const int64_t groups = cols / group;
    constexpr int kThreads = 256;
    const unsigned blocks = unsigned((rows * groups + kThreads / 32 - 1) / (kThreads / 32));
    const int gs = int(group);
    switch (dtype) {
        case DType::kF32:
            quantize_groups_kernel<<<blocks, kThreads, 0, stream>>>(static_cast<const float*>(w), ldw, rows, groups, gs,
                                                                    q, ldq, scale, lds, zero, ldz);
            break;
        case DType::kBF16:
            quantize_groups_kernel<<<blocks, kThreads, 0, stream>>>(static_cast<const __nv_bfloat16*>(w), ldw, rows,
                                                                    groups, gs, q, ldq, scale, lds, zero, ldz);
            break;
        case DType::kF16:
            quantize_groups_kernel<<<blocks, kThreads, 0, stream>>>(static_cast<const __half*>(w), ldw, rows, groups,
                                                                    gs, q, ldq, scale, lds, zero, ldz);
            break;
        default:
            fail(StatusCode::kInvalidArgument, "quantize_groups_int4 of ", dtype_name(dtype));
    }
    TURBOLM_CUDA_CHECK_LAUNCH();
}

void launch_gather_columns(const void* src, int64_t lds, const int32_t* perm, void* dst, int64_t ldd, int64_t rows,
                           int64_t cols, size_t elem_size, cudaStream_t stream) {
    if (rows == 0 || cols == 0) return;
    const unsigned blocks = grid_for(rows * cols, 256);
    switch (elem_size) {
        case 1:
            gather_columns_kernel<<<blocks, 256, 0, stream>>>(static_cast<const uint8_t*>(src), lds, perm,
                                                              static_cast<uint8_t*>(dst), ldd, rows, cols);
            break;
        case 2:
            gather_columns_kernel<<<blocks, 256, 0, stream>>>(static_cast<const uint16_t*>(src), lds, perm,
                                                              static_cast<uint16_t*>(dst), ldd, rows, cols);
            break;
        case 4:
            gather_columns_kernel<<<blocks, 256, 0, stream>>>(static_cast<const uint32_t*>(src), lds, perm,
                                                              static_cast<uint32_t*>(dst), ldd, rows, cols);
            break;
        case 8:
            gather_columns_kernel<<<blocks, 256, 0, stream>>>(static_cast<const uint64_t*>(src), lds, perm,
                                                              static_cast<uint64_t*>(dst), ldd, rows, cols);
            break;
        default:
            fail(StatusCode::kInvalidArgument, "gather_columns of ", elem_size, "-byte elements");
    }
    TURBOLM_CUDA_CHECK_LAUNCH();
}

}  // namespace turbolm::cuda
