// The streaming INT4 decode product. The one-tile-per-block kernel of gemv_int4.cu issues one round
// of loads per warp and exits, so large products pay a launch, a full memory latency and a block
// reduction for every 16 rows. Here a block of kWarps warps stays resident and walks the tiles
// blockIdx.x, blockIdx.x + gridDim.x, ...; within a tile warp w takes the 128-column chunks w,
// w + kWarps, ... and each warp keeps kDepth chunks' loads in flight in a register ring across tile
// boundaries (chunk i + kDepth is loaded into the slot chunk i just freed). Two measured best on
// the H200: four and six ran 3% and 10% slower.
//
// An item is 16 rows x 128 columns: lane (g, t) holds 16 bytes of rows g and g + 8 (columns 32t ..
// 32t + 31 of the chunk) and one scale and zero point per row. The block's activations sit in shared
// memory as B fragments [chunk][word][row][t], so an MMA pair takes one 16-byte shared load, beside
// the sum of each chunk's activations per row: the zero point comes out as
// s sum x (n - z) = s (sum x (P + n) - (P + z) sum x), P the bias of the nibble trick.
//
// No block-wide barrier per tile: a warp parks its sums of a tile in one of kParts buffers and
// arrives on that buffer's mbarrier; warp (tile % kWarps) waits for all of them, adds them up in warp
// order and stores, then frees the buffer. Same inputs, same bits; warps drift up to kParts tiles
// apart instead of meeting at every tile.
#include <algorithm>
#include <array>
#include <cstdint>
#include <mutex>
#include <type_traits>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/gemv_int4_stream.h"
#include "ops/cuda/mbarrier.cuh"

namespace turbolm::cuda::int4_detail {
namespace {

constexpr int kChunk = 128, kWarps = 8, kThreads = kWarps * 32, kDepth = 2, kParts = 4;
constexpr size_t kSmemBudget = 113 * 1024;  // two blocks per SM

struct Layout {  // byte offsets into dynamic shared memory
    size_t part, bars, xsum, xs, total;
};
__host__ __device__ inline Layout layout(int m, int n_chunks) {
    Layout l;
    l.part = 0;                                              // [kParts][kWarps][4][32] f32
    l.bars = l.part + size_t(kParts) * kWarps * 4 * 32 * 4;  // full[kParts], empty[kParts]: u64
    l.xsum = l.bars + size_t(2) * kParts * 8;                // [n_chunks][8] f32
    l.xs = l.xsum + size_t(n_chunks) * 8 * 4;                // [n_chunks][4][m][4] uint4
    l.total = l.xs + size_t(n_chunks) * m * 256;
    return l;
}

// kKind: where the activation rows come from (Int4Rows); they are made once per block, when staged.
template <typename T, Int4RowKind kKind>
__global__ void __launch_bounds__(kThreads, 2) gemv_int4_stream_kernel(const GemvArgs<T> a) {
    static_assert(kThreads == Int4Rows<T, kKind>::kNormThreads, "the norm's sums need the blocks of norms.cu");
    extern __shared__ __align__(16) unsigned char smem[];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int g = lane / 4, t = lane % 4;
    const int m = a.m;
    const int n_tiles = (a.n + kTileRows - 1) / kTileRows;
    const int n_chunks = a.k / kChunk;
    const Layout L = layout(m, n_chunks);
    float* part_s = reinterpret_cast<float*>(smem + L.part);
    uint64_t* full = reinterpret_cast<uint64_t*>(smem + L.bars);  // the warps' sums are in: 256 arrivals
    uint64_t* empty = full + kParts;                              // the reducer has read them: 32
    float* xsum = reinterpret_cast<float*>(smem + L.xsum);
    uint4* xs = reinterpret_cast<uint4*>(smem + L.xs);
    const int gshift = __ffs(int(a.w.group / kChunk)) - 1;  // groups of 128 << gshift columns
    const int tile0 = blockIdx.x, tile_step = gridDim.x;

    // Weights do not change between kernels, but the previous one may still be writing them (at
    // load time): before the dependency wait only L2 is asked for the first tile, which reads no
    // stale data.
    if (threadIdx.x < kTileRows) {
        const int64_t r = min(tile0 * kTileRows + int(threadIdx.x), a.n - 1);
        prefetch_l2(a.w.q + r * a.w.ldq, uint32_t(n_chunks) * (kChunk / 2));
    }
    if (threadIdx.x == 0) {
        for (int b = 0; b < kParts; ++b) {
            mbar_init(&full[b], kThreads);
            mbar_init(&empty[b], 32);
        }
        mbar_init_fence();
    }
    wait_for_previous_grid();

    // Producer: the next item's weights, scales and zero points, rows g and g + 8 of tile p_tile.
    int p_tile = tile0, p_c = warp;
    const uint8_t* pq = nullptr;
    const uint16_t* ps = nullptr;
    const uint8_t* pz = nullptr;
    int64_t q_hi = 0, s_hi = 0, z_hi = 0;
    auto producer_rows = [&]() {
        const int64_t r_lo = min(p_tile * kTileRows + g, a.n - 1), r_hi = min(p_tile * kTileRows + g + 8, a.n - 1);
        pq = a.w.q + r_lo * a.w.ldq + int64_t(p_c) * (kChunk / 2) + 16 * t;
        ps = a.w.scale + r_lo * a.w.lds;
        pz = a.w.zero + r_lo * a.w.ldz;
        q_hi = (r_hi - r_lo) * a.w.ldq;
        s_hi = (r_hi - r_lo) * a.w.lds;
        z_hi = (r_hi - r_lo) * a.w.ldz;
    };
    producer_rows();
    uint4 w_lo[kDepth], w_hi[kDepth];
    uint32_t sl_r[kDepth], sh_r[kDepth], zl_r[kDepth], zh_r[kDepth];
    auto load = [&](int u) {  // u is a constant once the callers' loops are unrolled
        if (p_tile < n_tiles) {
            w_lo[u] = __ldcs(reinterpret_cast<const uint4*>(pq));
            w_hi[u] = __ldcs(reinterpret_cast<const uint4*>(pq + q_hi));
            const int gi = p_c >> gshift;
            sl_r[u] = __ldg(ps + gi);
            sh_r[u] = __ldg(ps + s_hi + gi);
            zl_r[u] = __ldg(pz + gi);
            zh_r[u] = __ldg(pz + z_hi + gi);
            p_c += kWarps;
            pq += kWarps * (kChunk / 2);
            if (p_c >= n_chunks) {
                p_c = warp;
                p_tile += tile_step;
                producer_rows();
            }
        }
    };
#pragma unroll
    for (int u = 0; u < kDepth; ++u) load(u);
    Int4Rows<T, kKind> rows;  // the norm's sums while the ring's first loads are on their way
    rows.prepare(a);

    // The activations as B fragments; 16 lanes hold one (chunk, row) and sum it with shuffles.
    const int n_frag = n_chunks * m * 16;
#pragma unroll 4
    for (int base = warp * 32; base < n_frag; base += kThreads) {  // the same bounds for a whole warp
        const int idx = base + lane;
        const bool valid = idx < n_frag;
        const int f = idx & 15, rest = idx >> 4;
        const int fg = rest % m, cl = rest / m;
        const int fv = f >> 2, ft = f & 3;
        float sum = 0.0f;
        if (valid) {
            const uint4 xv = rows.load8(a, fg, int64_t(cl) * kChunk + 32 * ft + 8 * fv);
            uint4 b;
            b.x = __byte_perm(xv.x, xv.z, 0x5410);
            b.y = __byte_perm(xv.x, xv.z, 0x7632);
            b.z = __byte_perm(xv.y, xv.w, 0x5410);
            b.w = __byte_perm(xv.y, xv.w, 0x7632);
            xs[((cl * 4 + fv) * m + fg) * 4 + ft] = b;
            const uint32_t wv[4] = {xv.x, xv.y, xv.z, xv.w};
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                float2 p;
                if constexpr (std::is_same_v<T, __half>)
                    p = __half22float2(*reinterpret_cast<const __half2*>(&wv[j]));
                else
                    p = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&wv[j]));
                sum += p.x;
                sum += p.y;
            }
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        sum += __shfl_xor_sync(0xffffffffu, sum, 2);
        sum += __shfl_xor_sync(0xffffffffu, sum, 4);
        sum += __shfl_xor_sync(0xffffffffu, sum, 8);
        if (valid && f == 0) xsum[cl * 8 + fg] = sum;
    }
    for (int idx = threadIdx.x; idx < n_chunks * 8; idx += kThreads)
        if (idx % 8 >= m) xsum[idx] = 0.0f;
    __syncthreads();

    const int m4 = m * 4;
    const uint4* xs_lane = xs + min(g, m - 1) * 4 + t;  // B columns g >= m repeat row m - 1, never stored
    const float* xsum_lane = xsum + 2 * t;
    constexpr float inv_scale = 1.0f / Dequant<T>::kScale;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    int c_tile = tile0, c_c = warp, tcount = 0;

    auto consume = [&](int u) {
        const uint4* xp = xs_lane + c_c * 4 * m4;
        float pa[4] = {0.0f, 0.0f, 0.0f, 0.0f}, pb[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        const uint32_t wl[4] = {w_lo[u].x, w_lo[u].y, w_lo[u].z, w_lo[u].w};
        const uint32_t wh[4] = {w_hi[u].x, w_hi[u].y, w_hi[u].z, w_hi[u].w};
#pragma unroll
        for (int v = 0; v < 4; ++v) {
            const uint4 b = xp[v * m4];
            uint32_t lo[4], hi[4];
            Dequant<T>::pairs(wl[v], lo);
            Dequant<T>::pairs(wh[v], hi);
            float(&p)[4] = (v & 1) ? pb : pa;
            mma_16816<T>(p, lo[0], hi[0], lo[1], hi[1], b.x, b.y);
            mma_16816<T>(p, lo[2], hi[2], lo[3], hi[3], b.z, b.w);
        }
        const float2 xsm = *reinterpret_cast<const float2*>(xsum_lane + c_c * 8);
        const float sl = f16_bits_to_float(uint16_t(sl_r[u])) * inv_scale;
        const float sh = f16_bits_to_float(uint16_t(sh_r[u])) * inv_scale;
        const float zl = -Dequant<T>::kScale * (Dequant<T>::kBias + float(zl_r[u]));
        const float zh = -Dequant<T>::kScale * (Dequant<T>::kBias + float(zh_r[u]));
        acc[0] = fmaf(sl, fmaf(zl, xsm.x, pa[0] + pb[0]), acc[0]);
        acc[1] = fmaf(sl, fmaf(zl, xsm.y, pa[1] + pb[1]), acc[1]);
        acc[2] = fmaf(sh, fmaf(zh, xsm.x, pa[2] + pb[2]), acc[2]);
        acc[3] = fmaf(sh, fmaf(zh, xsm.y, pa[3] + pb[3]), acc[3]);
    };

    // End of a tile: park the sums, and if this warp reduces the tile, add up all warps' and store.
    // Accumulator i of lane (g, t) is activation row 2t + (i & 1), output row g + 8 (i >> 1).
    auto finish_tile = [&]() {
        const int b = tcount % kParts;
        const uint32_t use = uint32_t(tcount / kParts);
        if (tcount >= kParts) mbar_wait(&empty[b], (use - 1) & 1);
        float* mine = part_s + ((b * kWarps + warp) * 4) * 32;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            mine[i * 32 + lane] = acc[i];
            acc[i] = 0.0f;
        }
        mbar_arrive(&full[b]);
        if (warp == tcount % kWarps) {
            mbar_wait(&full[b], use & 1);
            float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
            for (int w = 0; w < kWarps; ++w) {
#pragma unroll
                for (int i = 0; i < 4; ++i) v[i] += part_s[((b * kWarps + w) * 4 + i) * 32 + lane];
            }
            mbar_arrive(&empty[b]);
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int act = 2 * t + (i & 1), row = c_tile * kTileRows + g + 8 * (i >> 1);
                if (act < m && row < a.n) {
                    float o = v[i];
                    if (a.bias) o += a.bias[row];
                    store_out(a, int64_t(act) * a.ldy + row, o);
                }
            }
        }
        ++tcount;
    };

    while (c_tile < n_tiles) {
#pragma unroll
        for (int u = 0; u < kDepth; ++u) {
            if (c_tile < n_tiles) {  // the same for the whole block
                consume(u);
                load(u);
                c_c += kWarps;
                if (c_c >= n_chunks) {
                    finish_tile();
                    c_c = warp;
                    c_tile += tile_step;
                }
            }
        }
    }
    grid_dependents_launch();
}

// Resident blocks of the kernel on the current device for a shared-memory size (rounded up to 4 KB),
// with the kernel's dynamic shared-memory limit raised on first use on each device.
template <typename T, Int4RowKind kKind>
int resident_blocks(size_t smem) {
    constexpr int kMaxDevices = 64, kBuckets = 32;
    static std::mutex mu;
    static std::array<int, kMaxDevices * kBuckets> cache{};
    static std::array<bool, kMaxDevices> attr_set{};
    int device = 0;
    TURBOLM_CUDA_CHECK(cudaGetDevice(&device));
    const int bucket = int((smem + 4095) / 4096);
    if (device >= kMaxDevices || bucket >= kBuckets) return 0;
    std::lock_guard<std::mutex> lock(mu);
    int& c = cache[device * kBuckets + bucket];
    if (c) return c;
    if (!attr_set[device]) {
        TURBOLM_CUDA_CHECK(cudaFuncSetAttribute(gemv_int4_stream_kernel<T, kKind>,
                                                cudaFuncAttributeMaxDynamicSharedMemorySize, int(kSmemBudget)));
        attr_set[device] = true;
    }
    int sms = 0, per_sm = 0;
    TURBOLM_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    TURBOLM_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, gemv_int4_stream_kernel<T, kKind>,
                                                                     kThreads, bucket * 4096));
    c = std::max(per_sm * sms, 1);
    return c;
}

template <typename T, Int4RowKind kKind>
bool launch_stream(const GemvArgs<T>& a, cudaStream_t stream) {
    const int64_t cpg = a.w.group / kChunk;
    if (a.w.group % kChunk != 0 || (cpg & (cpg - 1)) != 0) return false;
    const int n_chunks = a.k / kChunk;
    if (n_chunks < kWarps) return false;  // every warp takes a chunk of every tile
    const size_t smem = layout(a.m, n_chunks).total;
    if (smem > kSmemBudget) return false;
    const int blocks = resident_blocks<T, kKind>(smem);
    const int64_t tiles = (int64_t(a.n) + kTileRows - 1) / kTileRows;
    // A block pays its activations' staging once, so the streaming kernel wins from a few tiles per
    // block (H200, m = 1: 28672 x 4096 22.6 against 27.2 us, 14336 x 4096 14.0 against 16.2; 6144 x
    // 4096, 1.5 tiles per block, loses), later with more activation rows (m = 8, 14336 x 4096 loses).
    const int64_t min_tiles_x2 = a.m == 1 ? 6 : 7;  // tiles per block, doubled
    if (blocks == 0 || 2 * tiles < min_tiles_x2 * int64_t(blocks)) return false;
    launch_after_previous(gemv_int4_stream_kernel<T, kKind>, dim3(unsigned(blocks)), dim3(kThreads), smem, stream, a);
    TURBOLM_CUDA_CHECK_LAUNCH();
    return true;
}

template <typename T>
bool launch_kind(const GemvArgs<T>& a, cudaStream_t stream) {
    return dispatch_row_kind(a.src.kind, [&](auto kind) { return launch_stream<T, decltype(kind)::value>(a, stream); });
}

}  // namespace

bool launch_gemv_int4_stream(const GemvArgs<__nv_bfloat16>& a, cudaStream_t stream) {
    return launch_kind(a, stream);
}
bool launch_gemv_int4_stream(const GemvArgs<__half>& a, cudaStream_t stream) {
    return launch_kind(a, stream);
}

}  // namespace turbolm::cuda::int4_detail
