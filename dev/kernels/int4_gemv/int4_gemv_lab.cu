// INT4 weight-only decode product (cpu::Int4Weights layout), 1..8 activation rows: the project's
// launch_gemv_int4 (src/ops/cuda/gemv_int4.cu: the per-tile kernel for small products, the streaming
// kernel of gemv_int4_stream.cu for products of many tiles), linked from a CUDA build, against a
// plain coalesced read of the same bytes as the ceiling. Checks it against a float64 CPU reference
// and for bitwise repeatability, then times each shape in CUDA graphs while rotating over enough
// copies of the weights (>= 256 MB) that L2 cannot hold them. A variant under study goes beside the
// ceiling kernel below and into `launch`.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <type_traits>

#include "ops/cuda/gemv_int4.h"

namespace {

#define CK(call)                                                                                       \
    do {                                                                                               \
        cudaError_t e_ = (call);                                                                       \
        if (e_ != cudaSuccess) {                                                                       \
            std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            std::exit(1);                                                                              \
        }                                                                                              \
    } while (0)

using turbolm::cpu::Int4Weights;

// One product's operands, as the project's launch takes them.
template <typename T>
struct GemvArgs {
    const T* x;
    int64_t ldx;
    Int4Weights w;
    const float* bias;
    void* y;
    int64_t ldy;
    bool y_f32, accumulate;
    int m, n, k;
};

// History of the streaming kernel (src/ops/cuda/gemv_int4_stream.cu): persistent blocks walking
// many tiles, a two-chunk register ring per warp, activations staged once per block as B fragments,
// and per-tile sums reduced by a rotating warp through mbarriers instead of block barriers. Tried on
// the way (H200, 28672 x 4096, m = 1; the per-tile kernel 27.5 us): block barriers per tile with a
// four-deep ring, 26.3 us; the same with a cp.async ring of coalesced 128-byte lines through swizzled
// shared memory, 32.9; scales and zero points staged per tile in shared memory, 31.3; the mbarrier
// reduction, 23.2 with a four-deep ring, 22.6 with two, 24.8 with six. Splitting k over a
// thread-block cluster for shapes with few tiles never beat the per-tile kernel there. Without the
// scale / zero loads it ran 21.8, without the MMAs 23.2: the loads and their latency, not the
// arithmetic, set the pace (ncu: 0.47 issued instructions per cycle per scheduler, 176 instructions
// per 16 x 128 item, DRAM at 50%).
// Tried later in the model (Llama-3-8B shape, INT4 batch-1 decode, 381.0 tokens/s without them):
// asking L2 for each block's whole weight tile (cp.async.bulk.prefetch) before the dependency wait,
// so that it streams in during the previous kernel, 372.4; only the first 2 KB of each row, 381.5;
// the streaming kernel's second tile too, 373.7; eight chunks a batch instead of four for the down
// product's long rows, 372.0. Kept instead: the decode products that make their own rows (the norm
// before qkv and gate/up, silu * up before down; Int4Rows in gemv_int4_common.cuh), 389.2.
// Tried after that and not kept: the copy engine instead of registers carrying the bytes in flight.
// Blocks dividing the tiles evenly, each walking slices of 16 rows x 1 KB through a three-stage
// shared-memory ring filled by one cp.async.bulk per row, scales and zero points by 16-byte cp.async
// on the same mbarrier: 28672 x 4096 28.2 us against 22.3 for the streaming kernel in the same run;
// 2 KB a row in two stages 24.9; four stages 30.5; scales and zero points by bulk copies as well
// 42.0. The times fit ~15 ns of copy-engine time per bulk copy per SM on top of ~21.5 us that does
// not depend on the copies, so even free copies would not beat the streaming kernel. In the model,
// batch 1 351.7 tokens/s against 390.4.

// The read ceiling: the same bytes, coalesced 16-byte loads, nothing else.
__global__ void __launch_bounds__(256) read_coalesced(const uint4* __restrict__ p, size_t n16, unsigned* out) {
    const size_t stride = size_t(gridDim.x) * blockDim.x;
    size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
    uint32_t acc = 0;
    for (; i + 3 * stride < n16; i += 4 * stride) {
        const uint4 a = __ldcs(p + i), b = __ldcs(p + i + stride), c = __ldcs(p + i + 2 * stride),
                    d = __ldcs(p + i + 3 * stride);
        acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w ^ c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^ d.w;
    }
    for (; i < n16; i += stride) {
        const uint4 a = __ldcs(p + i);
        acc ^= a.x ^ a.y ^ a.z ^ a.w;
    }
    if (acc == 0x9e3779b9u) out[0] = acc;
}

// ---------------------------------------------------------------------------------------------
// Host side
enum class Variant { kRead, kDispatch };
const char* variant_name(Variant v) { return v == Variant::kRead ? "read coalesced" : "launch_gemv_int4"; }

unsigned* g_sink = nullptr;

template <typename T>
void launch(Variant v, const GemvArgs<T>& a, int sms, cudaStream_t s, size_t total_bytes = 0) {
    if (v == Variant::kRead) {
        read_coalesced<<<4 * sms, 256, 0, s>>>(reinterpret_cast<const uint4*>(a.w.q), total_bytes / 16, g_sink);
    } else {
        const turbolm::DType xt = std::is_same_v<T, __half> ? turbolm::DType::kF16 : turbolm::DType::kBF16;
        turbolm::cuda::launch_gemv_int4(a.x, a.ldx, xt, a.w, a.bias, a.y, a.ldy, a.y_f32 ? turbolm::DType::kF32 : xt,
                                        a.m, a.n, a.k, a.accumulate, s);
    }
    CK(cudaGetLastError());
}

uint16_t f32_to_f16_bits(float f) {
    __half h = __float2half_rn(f);
    return *reinterpret_cast<uint16_t*>(&h);
}
float f16_bits_to_f32(uint16_t b) {
    __half h;
    std::memcpy(&h, &b, 2);
    return __half2float(h);
}

struct HostWeights {
    std::vector<uint8_t> q, zero;
    std::vector<uint16_t> scale;
};

HostWeights random_weights(int n, int k, int group, std::mt19937_64& rng) {
    HostWeights h;
    h.q.resize(size_t(n) * k / 2);
    h.scale.resize(size_t(n) * (k / group));
    h.zero.resize(size_t(n) * (k / group));
    std::uniform_int_distribution<int> byte(0, 255), nib(0, 15);
    std::uniform_real_distribution<float> sc(0.002f, 0.02f);
    for (auto& b : h.q) b = uint8_t(byte(rng));
    for (auto& s : h.scale) s = f32_to_f16_bits(sc(rng));
    for (auto& z : h.zero) z = uint8_t(nib(rng));
    return h;
}

template <typename T>
T to_t(float f) {
    return T(f);
}

template <typename T>
bool check_case(Variant v, int m, int n, int k, int group, int sms, std::mt19937_64& rng) {
    const HostWeights h = random_weights(n, k, group, rng);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<T> x(size_t(m) * k);
    std::vector<float> xf(x.size()), bias(n), start(size_t(m) * n);
    for (size_t i = 0; i < x.size(); ++i) {
        x[i] = to_t<T>(nd(rng));
        xf[i] = float(x[i]);
    }
    for (auto& b : bias) b = nd(rng);
    for (auto& s : start) s = nd(rng);
    // reference
    std::vector<double> ref(size_t(m) * n);
    double max_ref = 0.0;
    for (int r = 0; r < n; ++r) {
        std::vector<double> wr(k);
        for (int c = 0; c < k; ++c) {
            const uint8_t byte = h.q[size_t(r) * (k / 2) + c / 2];
            const int code = (c & 1) ? byte >> 4 : byte & 15;
            const int gi = c / group;
            wr[c] = double(code - h.zero[size_t(r) * (k / group) + gi]) *
                    double(f16_bits_to_f32(h.scale[size_t(r) * (k / group) + gi]));
        }
        for (int t = 0; t < m; ++t) {
            double s = 0.0;
            for (int c = 0; c < k; ++c) s += double(xf[size_t(t) * k + c]) * wr[c];
            s += bias[r] + start[size_t(t) * n + r];
            ref[size_t(t) * n + r] = s;
            max_ref = std::max(max_ref, std::fabs(s));
        }
    }
    uint8_t *dq, *dz;
    uint16_t* ds;
    T* dx;
    float *dy, *db;
    CK(cudaMalloc(&dq, h.q.size()));
    CK(cudaMalloc(&dz, h.zero.size()));
    CK(cudaMalloc(&ds, h.scale.size() * 2));
    CK(cudaMalloc(&dx, x.size() * sizeof(T)));
    CK(cudaMalloc(&dy, start.size() * 4));
    CK(cudaMalloc(&db, bias.size() * 4));
    CK(cudaMemcpy(dq, h.q.data(), h.q.size(), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dz, h.zero.data(), h.zero.size(), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(ds, h.scale.data(), h.scale.size() * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dx, x.data(), x.size() * sizeof(T), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(db, bias.data(), bias.size() * 4, cudaMemcpyHostToDevice));
    GemvArgs<T> a{dx, k, Int4Weights{dq, k / 2, ds, k / group, dz, k / group, group}, db, dy, n, true, true, m, n, k};
    std::vector<float> got(start.size()), got2(start.size());
    for (int rep = 0; rep < 2; ++rep) {
        CK(cudaMemcpy(dy, start.data(), start.size() * 4, cudaMemcpyHostToDevice));
        launch(v, a, sms, 0);
        CK(cudaDeviceSynchronize());
        CK(cudaMemcpy(rep ? got2.data() : got.data(), dy, start.size() * 4, cudaMemcpyDeviceToHost));
    }
    double worst = 0.0;
    for (size_t i = 0; i < got.size(); ++i) {
        const double d = std::fabs(double(got[i]) - ref[i]);
        worst = std::isnan(d) ? INFINITY : std::max(worst, d);
    }
    const bool same = std::memcmp(got.data(), got2.data(), got.size() * 4) == 0;
    const double tol = 1e-4 * std::max(1.0, max_ref);
    const bool ok = worst <= tol && same;
    if (!ok)
        std::printf("FAIL %s %s m=%d n=%d k=%d group=%d: max diff %.3g (tol %.3g) repeat %s\n", variant_name(v),
                    std::is_same_v<T, __half> ? "f16" : "bf16", m, n, k, group, worst, tol, same ? "same" : "DIFFERS");
    cudaFree(dq), cudaFree(dz), cudaFree(ds), cudaFree(dx), cudaFree(dy), cudaFree(db);
    return ok;
}

struct Timing {
    double us, gbs;
};

Timing time_case(Variant v, int m, int n, int k, int group, int sms) {
    using T = __nv_bfloat16;
    const size_t qb = size_t(n) * k / 2, sb = size_t(n) * (k / group) * 2, zb = size_t(n) * (k / group);
    const size_t per = qb + sb + zb;
    const int copies = int(std::max<size_t>(2, (size_t(256) << 20) / per + 1));
    std::vector<uint8_t*> bufs(copies);
    for (auto& b : bufs) {
        CK(cudaMalloc(&b, per + 256));
        CK(cudaMemset(b, 0x5a, per + 256));  // nonzero codes; values do not affect the time
    }
    T* dx;
    T* dy;
    CK(cudaMalloc(&dx, size_t(m) * k * 2));
    CK(cudaMalloc(&dy, size_t(m) * n * 2));
    CK(cudaMemset(dx, 0x3c, size_t(m) * k * 2));
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    auto args = [&](int i) {
        uint8_t* b = bufs[i];
        const uint8_t* q = b;
        const uint16_t* sc = reinterpret_cast<const uint16_t*>(b + ((qb + 15) & ~size_t(15)));
        const uint8_t* z = b + ((qb + 15) & ~size_t(15)) + sb;
        return GemvArgs<T>{
            dx, k, Int4Weights{q, k / 2, sc, k / group, z, k / group, group}, nullptr, dy, n, false, false, m, n, k};
    };
    // warm up (also sets attributes outside capture)
    for (int i = 0; i < copies; ++i) launch(v, args(i), sms, s, per);
    CK(cudaStreamSynchronize(s));
    const int calls = std::max(copies, 40);
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    for (int i = 0; i < calls; ++i) launch(v, args(i % copies), sms, s, per);
    CK(cudaStreamEndCapture(s, &graph));
    CK(cudaGraphInstantiate(&exec, graph, 0));
    CK(cudaGraphLaunch(exec, s));
    CK(cudaStreamSynchronize(s));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    std::vector<double> samples;
    for (int rep = 0; rep < 7; ++rep) {
        CK(cudaEventRecord(e0, s));
        CK(cudaGraphLaunch(exec, s));
        CK(cudaEventRecord(e1, s));
        CK(cudaEventSynchronize(e1));
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        samples.push_back(ms * 1000.0 / calls);
    }
    std::sort(samples.begin(), samples.end());
    const double us = samples[samples.size() / 2];
    const double bytes = double(per) + double(m) * k * 2 + double(m) * n * 2;
    CK(cudaGraphExecDestroy(exec));
    CK(cudaGraphDestroy(graph));
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    CK(cudaStreamDestroy(s));
    for (auto b : bufs) cudaFree(b);
    cudaFree(dx), cudaFree(dy);
    return {us, bytes / us * 1e-3};
}

}  // namespace

int main(int argc, char** argv) {
    int dev = 0, sms = 0;
    CK(cudaGetDevice(&dev));
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, dev));
    std::printf("%s, %d SMs, L2 %d MB\n", prop.name, sms, prop.l2CacheSize >> 20);
    const bool quick = argc > 1 && std::string(argv[1]) == "quick";
    CK(cudaMalloc(&g_sink, 16));

    // Correctness: both activation types, m 1..8, odd n, groups 128, 256 and 512, several tiles per block.
    std::mt19937_64 rng(12345);
    struct C {
        int m, n, k, group;
    };
    const C checks[] = {{1, 4096, 4096, 128},  {2, 129, 1024, 128},   {3, 1000, 2048, 256},  {5, 333, 4096, 128},
                        {8, 4096, 1024, 128},  {7, 2048, 3072, 128},  {4, 300, 14336, 128},  {2, 100, 384, 128},
                        {1, 28672, 4096, 128}, {8, 16400, 1024, 256}, {3, 16384, 2048, 512}, {1, 14336, 4096, 128}};
    int fails = 0, total = 0;
    for (Variant v : {Variant::kDispatch}) {
        for (const C& c : checks) {
            ++total;
            fails += !check_case<__nv_bfloat16>(v, c.m, c.n, c.k, c.group, sms, rng);
            ++total;
            fails += !check_case<__half>(v, c.m, c.n, c.k, c.group, sms, rng);
        }
    }
    std::printf("checks: %d of %d passed\n", total - fails, total);

    // Llama-3-8B (qkv, o, gate_up, down, and a 14336-row gate) and Llama-3.2-1B projections.
    struct S {
        int n, k;
    };
    const S shapes[] = {{6144, 4096}, {4096, 4096}, {28672, 4096}, {4096, 14336}, {14336, 4096},
                        {1024, 4096}, {3072, 2048}, {2048, 2048},  {16384, 2048}, {2048, 8192}};
    const Variant timed[] = {Variant::kRead, Variant::kDispatch};
    std::printf("\n%-12s %2s", "n x k", "m");
    for (Variant v : timed) std::printf(" | %-17s", variant_name(v));
    std::printf("\n");
    for (const S& sh : shapes) {
        for (int m : {1, 8}) {
            if (quick && m == 8) continue;
            std::printf("%5dx%-6d %2d", sh.n, sh.k, m);
            for (Variant v : timed) {
                const Timing tm = time_case(v, m, sh.n, sh.k, 128, sms);
                std::printf(" | %6.2f us %4.0f GB/s", tm.us, tm.gbs);
                std::fflush(stdout);
            }
            std::printf("\n");
        }
    }
    return fails ? 1 : 0;
}
