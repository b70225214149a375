// FP8 (e4m3) W8A8 products on shapes with few output tiles: y[m, n] = (xq[m, k] . wq[n, k]^T) *
// a_scale[m] * w_scale[n] in bf16, timed against bf16 cuBLASLt. Variants:
//   cur   cuBLASLt with outer-vector scales, the heuristic's first algorithm (src/ops/cuda/w8a8_gemm.cu)
//   lt-sk the same scaled product with split-k forced on the heuristic's algorithms
//         (CUBLASLT_ALGO_CONFIG_SPLITK_NUM / REDUCTION_SCHEME), best of those cuBLASLt accepts; only with
//         `search`: cuBLASLt 13.1 accepted none (1 of 16 configurations each time, the unsplit one)
//   bS    the unscaled product as a strided-batched GEMM over S slices of k into f32 [S, m, n], then one
//         epilogue that sums the slices in order and applies the scales (S = 1: unscaled + epilogue)
//   rule  what src/ops/cuda/w8a8_gemm_split.cu picks: cur, or bS with its S
// Findings (H200, 2026-12-01): the scaled kernels are slow on few output tiles (m x 4096 x 14336: ~36 us
// for m = 16..128, bf16 31-36), the unscaled ones are not (b1 20-25 us, b2 18.5-21.5); at more than
// ~2^20 outputs the f32 slices' traffic makes bS lose to cur; S = 4, 8 lose everywhere (S = 3, 6 do
// not divide k into 16-multiples here). The other unscaled heuristic algorithms (a1-a3, timed without
// the epilogue) are within ~10% of the first.
// results_h200.txt: its "rule" column came from an earlier rule (two slices only up to 2^19 outputs);
// the present one takes b2 for m x 4096 x 14336 up to m = 384 as well, per that table.
// Weights rotate through copies totalling > 256 MB so they come from memory, as a layer's would. Each
// timing is a CUDA graph of many calls, replayed; the median replay over the calls. Every variant is
// checked against a naive f32 product of the same codes and the split ones for identical bits twice.
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#define CK(x)                                                                                      \
    do {                                                                                           \
        cudaError_t e_ = (x);                                                                      \
        if (e_ != cudaSuccess) {                                                                   \
            std::printf("CUDA %s at %s:%d: %s\n", cudaGetErrorString(e_), __FILE__, __LINE__, #x); \
            std::exit(1);                                                                          \
        }                                                                                          \
    } while (0)
#define LK(x)                                                                                               \
    do {                                                                                                    \
        cublasStatus_t s_ = (x);                                                                            \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                  \
            std::printf("cuBLASLt %s at %s:%d: %s\n", cublasLtGetStatusString(s_), __FILE__, __LINE__, #x); \
            std::exit(1);                                                                                   \
        }                                                                                                   \
    } while (0)

static cublasLtHandle_t g_lt;
static void* g_ws;
constexpr size_t kWs = 32u << 20;
static int g_sms;

__device__ float hash_unit(uint64_t i, uint32_t seed) {  // uniform in [-1, 1)
    uint64_t x = i * 0x9E3779B97F4A7C15ull + seed * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 31;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 29;
    return float(uint32_t(x >> 40)) * (2.0f / 16777216.0f) - 1.0f;
}
__global__ void fill_fp8(__nv_fp8_e4m3* p, int64_t count, uint32_t seed, float amp) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x) {
        float v = hash_unit(i, seed) * amp;
        if (fabsf(v) < 0.05f) v = 0.5f;  // no zeros
        p[i] = __nv_fp8_e4m3(v);
    }
}
__global__ void fill_bf16(__nv_bfloat16* p, int64_t count, uint32_t seed, float amp) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x)
        p[i] = __float2bfloat16(hash_unit(i, seed) * amp + amp * 0.01f);
}
__global__ void fill_scale(float* p, int64_t count, uint32_t seed) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x)
        p[i] = 1e-3f * (1.25f + hash_unit(i, seed));
}
// ref[t, r] = sum_c x[t, c] w[r, c] * xs[t] * ws[r], f32 sums (4 partial sums to keep the error small)
__global__ void reference(const __nv_fp8_e4m3* x, const __nv_fp8_e4m3* w, const float* xs, const float* ws, float* ref,
                          int m, int n, int k) {
    const int r = blockIdx.x * blockDim.x + threadIdx.x, t = blockIdx.y;
    if (r >= n) return;
    float acc[4] = {};
    for (int c = 0; c < k; c += 4)
        for (int j = 0; j < 4; ++j) acc[j] += float(x[int64_t(t) * k + c + j]) * float(w[int64_t(r) * k + c + j]);
    ref[int64_t(t) * n + r] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) * xs[t] * ws[r];
}

// The split epilogue: y[t, c] = (sum_s p[s, t, c]) * xs[t] * ws[c] (+ bias, + y), 4 columns a thread.
// p: f32 [parts, m, ldp], ldp % 4 == 0 and 16-byte aligned rows
__global__ void split_epilogue(const float* __restrict__ p, int64_t slice, int parts, int64_t ldp,
                               const float* __restrict__ xs, const float* __restrict__ ws,
                               __nv_bfloat16* __restrict__ y, int64_t ldy, int64_t m, int64_t n) {
    const int64_t c0 = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) * 4;
    if (c0 >= n) return;
    float s[4];
    for (int j = 0; j < 4; ++j) s[j] = c0 + j < n ? ws[c0 + j] : 0.0f;
    for (int64_t t = blockIdx.y; t < m; t += gridDim.y) {
        const float* row = p + t * ldp + c0;
        float4 a = *reinterpret_cast<const float4*>(row);
        for (int q = 1; q < parts; ++q) {
            const float4 b = *reinterpret_cast<const float4*>(row + q * slice);
            a.x += b.x, a.y += b.y, a.z += b.z, a.w += b.w;
        }
        const float v[4] = {a.x, a.y, a.z, a.w}, x = xs[t];
        for (int j = 0; j < 4; ++j)
            if (c0 + j < n) y[t * ldy + c0 + j] = __float2bfloat16(v[j] * x * s[j]);
    }
}

struct Lt {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr, d = nullptr;
    std::vector<cublasLtMatmulHeuristicResult_t> res;
};

template <typename T>
static void dattr(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t a, T v) {
    LK(cublasLtMatmulDescSetAttribute(d, a, &v, sizeof(v)));
}
static void heuristics(Lt& p, int want) {
    cublasLtMatmulPreference_t pref;
    LK(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t ws = kWs;
    LK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
    p.res.resize(want);
    int found = 0;
    cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(g_lt, p.desc, p.a, p.b, p.c, p.d, pref, want, p.res.data(), &found);
    if (st != CUBLAS_STATUS_SUCCESS) found = 0;
    p.res.resize(found);
    cublasLtMatmulPreferenceDestroy(pref);
}
static void set_batch(cublasLtMatrixLayout_t l, int count, int64_t stride) {
    LK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
    LK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
}
// Column-major y^T (n x m) = w^T x: A = w (k x n, T), B = x (k x m).
static Lt make_fp8(bool scaled, int64_t m, int64_t n, int64_t k, int parts, int64_t ldc, const float* as,
                   const float* bs) {
    Lt p;
    LK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    dattr(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, CUBLAS_OP_T);
    dattr(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N);
    dattr(p.desc, CUBLASLT_MATMUL_DESC_FAST_ACCUM, int8_t(1));
    if (scaled) {
        const int32_t mode = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
        dattr(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, mode);
        dattr(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, mode);
        dattr(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, static_cast<const void*>(as));
        dattr(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, static_cast<const void*>(bs));
    }
    const int64_t ks = k / parts;
    LK(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_8F_E4M3, ks, n, k));
    LK(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_8F_E4M3, ks, m, k));
    LK(cublasLtMatrixLayoutCreate(&p.c, scaled ? CUDA_R_16BF : CUDA_R_32F, n, m, ldc));
    LK(cublasLtMatrixLayoutCreate(&p.d, scaled ? CUDA_R_16BF : CUDA_R_32F, n, m, ldc));
    if (parts > 1) {
        set_batch(p.a, parts, ks);
        set_batch(p.b, parts, ks);
        set_batch(p.c, parts, m * ldc);
        set_batch(p.d, parts, m * ldc);
    }
    heuristics(p, 8);
    return p;
}
static Lt make_bf16(int64_t m, int64_t n, int64_t k) {
    Lt p;
    LK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    dattr(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, CUBLAS_OP_T);
    dattr(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N);
    LK(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, k, n, k));
    LK(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, k, m, k));
    LK(cublasLtMatrixLayoutCreate(&p.c, CUDA_R_16BF, n, m, n));
    LK(cublasLtMatrixLayoutCreate(&p.d, CUDA_R_16BF, n, m, n));
    heuristics(p, 1);
    return p;
}
static void destroy(Lt& p) {
    cublasLtMatrixLayoutDestroy(p.a), cublasLtMatrixLayoutDestroy(p.b), cublasLtMatrixLayoutDestroy(p.c),
        cublasLtMatrixLayoutDestroy(p.d), cublasLtMatmulDescDestroy(p.desc);
}
static cublasStatus_t matmul(const Lt& p, const cublasLtMatmulAlgo_t& algo, const void* A, const void* B, void* D,
                             cudaStream_t s) {
    const float one = 1.0f, zero = 0.0f;
    return cublasLtMatmul(g_lt, p.desc, &one, A, p.a, B, p.b, &zero, D, p.c, D, p.d, &algo, g_ws, kWs, s);
}

// Median microseconds per call of f(i) (i: the call's index, for rotating weights), graph-replayed.
static float time_us(const std::function<void(int, cudaStream_t)>& f, int calls, int replays, cudaStream_t s) {
    f(0, s);
    CK(cudaStreamSynchronize(s));
    CK(cudaGetLastError());
    cudaGraph_t g;
    cudaGraphExec_t ge;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    for (int i = 0; i < calls; ++i) f(i, s);
    CK(cudaStreamEndCapture(s, &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    CK(cudaGraphLaunch(ge, s));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    std::vector<float> t;
    for (int r = 0; r < replays; ++r) {
        CK(cudaEventRecord(e0, s));
        CK(cudaGraphLaunch(ge, s));
        CK(cudaEventRecord(e1, s));
        CK(cudaEventSynchronize(e1));
        float ms;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        t.push_back(ms * 1e3f / calls);
    }
    CK(cudaGetLastError());
    cudaEventDestroy(e0), cudaEventDestroy(e1), cudaGraphExecDestroy(ge), cudaGraphDestroy(g);
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

struct Err {
    double rel, max_rel;  // ||y - ref|| / ||ref||; max |y - ref| / max |ref|
};
static Err compare(const __nv_bfloat16* y_dev, const std::vector<float>& ref, int64_t count) {
    std::vector<__nv_bfloat16> y(count);
    CK(cudaMemcpy(y.data(), y_dev, count * 2, cudaMemcpyDeviceToHost));
    double num = 0, den = 0, mx = 0, mref = 0;
    for (int64_t i = 0; i < count; ++i) {
        const double d = double(__bfloat162float(y[i])) - ref[i];
        num += d * d, den += double(ref[i]) * ref[i];
        mx = std::max(mx, std::isnan(d) ? 1e30 : std::fabs(d)), mref = std::max(mref, std::fabs(double(ref[i])));
    }
    return {std::sqrt(num / den), mx / mref};
}
static std::vector<unsigned char> bytes(const void* p, size_t n) {
    std::vector<unsigned char> h(n);
    CK(cudaMemcpy(h.data(), p, n, cudaMemcpyDeviceToHost));
    return h;
}

// The rule of w8a8_gemm_split.cu (fp8_split_parts): 0 = the scaled product ("cur"), else S.
static int rule_parts(int64_t m, int64_t n, int64_t k, int) {
    if (k % 16 != 0) return 0;
    const bool two = k >= 8192 && k % 512 == 0;
    if (m * n > (two ? int64_t(3) << 19 : int64_t(1) << 20)) return 0;
    return two ? 2 : 1;
}

// `algos`: the large products of an offline run (decode steps of 1024 tokens, prefill chunks of
// 8192) through every algorithm cuBLASLt's heuristic offers for the outer-vector-scaled FP8 product
// (up to 16) and for bf16 (up to 8): does the first choice leave speed behind?
static void sweep_algorithms(cudaStream_t s) {
    struct Shape {
        int64_t n, k;
    };
    const Shape shapes[] = {{6144, 4096}, {4096, 4096}, {28672, 4096}, {4096, 14336}};
    for (const int64_t m : {int64_t(1024), int64_t(8192)}) {
        for (const Shape sh : shapes) {
            const int64_t n = sh.n, k = sh.k, w8 = n * k;
            __nv_fp8_e4m3 *wq, *xq;
            __nv_bfloat16 *wb, *xb, *y;
            float *ws, *xs;
            CK(cudaMalloc(&wq, w8));
            CK(cudaMalloc(&wb, 2 * w8));
            CK(cudaMalloc(&xq, m * k));
            CK(cudaMalloc(&xb, 2 * m * k));
            CK(cudaMalloc(&y, 2 * m * n));
            CK(cudaMalloc(&ws, 4 * n));
            CK(cudaMalloc(&xs, 4 * m));
            fill_fp8<<<1024, 256>>>(wq, w8, 1, 240.0f);
            fill_bf16<<<1024, 256>>>(wb, w8, 2, 0.05f);
            fill_fp8<<<1024, 256>>>(xq, m * k, 3, 240.0f);
            fill_bf16<<<1024, 256>>>(xb, m * k, 4, 1.0f);
            fill_scale<<<64, 256>>>(ws, n, 5);
            fill_scale<<<64, 256>>>(xs, m, 6);
            CK(cudaDeviceSynchronize());
            const double flop = 2.0 * double(m) * double(n) * double(k);
            const int calls = int(std::clamp(2000.0 / (flop / 1e9 / 1.0 + 5.0), 10.0, 100.0));
            auto sweep = [&](Lt& p, const void* a, const void* b, float& first, float& best, int& best_i) {
                first = best = 0.0f;
                best_i = -1;
                for (int i = 0; i < int(p.res.size()); ++i) {
                    if (matmul(p, p.res[i].algo, a, b, y, s) != CUBLAS_STATUS_SUCCESS) continue;
                    CK(cudaStreamSynchronize(s));
                    const float t =
                        time_us([&](int, cudaStream_t st) { LK(matmul(p, p.res[i].algo, a, b, y, st)); }, calls, 5, s);
                    if (i == 0) first = t;
                    if (best_i < 0 || t < best) best = t, best_i = i;
                }
            };
            Lt pb = make_bf16(m, n, k);
            heuristics(pb, 8);
            Lt pf = make_fp8(true, m, n, k, 1, n, ws, xs);
            heuristics(pf, 16);
            float b0, bb, f0, fb;
            int bi, fi;
            sweep(pb, wb, xb, b0, bb, bi);
            sweep(pf, wq, xq, f0, fb, fi);
            std::printf("m=%5lld n=%5lld k=%5lld | bf16 first %7.1f us (%4.0f TFLOP/s) best a%d of %zu %7.1f | fp8 first "
                        "%7.1f us (%4.0f TFLOP/s) best a%d of %zu %7.1f (%4.0f TFLOP/s) | bf16/fp8 %.2f -> %.2f\n",
                        (long long)m, (long long)n, (long long)k, b0, flop / b0 / 1e6, bi, pb.res.size(), bb, f0,
                        flop / f0 / 1e6, fi, pf.res.size(), fb, flop / fb / 1e6, b0 / f0, bb / fb);
            std::fflush(stdout);
            destroy(pb), destroy(pf);
            cudaFree(wq), cudaFree(wb), cudaFree(xq), cudaFree(xb), cudaFree(y), cudaFree(ws), cudaFree(xs);
        }
    }
}

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::strcmp(argv[1], "quick") == 0;
    const bool search = argc > 1 && std::strcmp(argv[1], "search") == 0;  // also lt-sk
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    g_sms = prop.multiProcessorCount;
    std::printf("device %s, %d SMs, cuBLASLt %zu\n", prop.name, g_sms, cublasLtGetVersion());
    LK(cublasLtCreate(&g_lt));
    CK(cudaMalloc(&g_ws, kWs));
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    if (argc > 1 && std::strcmp(argv[1], "algos") == 0) {
        sweep_algorithms(s);
        return 0;
    }
    struct Shape {
        int64_t n, k;
    };
    const std::vector<Shape> shapes = {{4096, 14336}, {4096, 4096}, {6144, 4096}, {28672, 4096}};
    const std::vector<int64_t> ms =
        quick ? std::vector<int64_t>{64, 256} : std::vector<int64_t>{16, 32, 64, 128, 192, 256, 384, 512};
    const int kParts[] = {1, 2, 4};
    std::vector<std::string> table;
    for (const Shape sh : shapes) {
        const int64_t n = sh.n, k = sh.k, mmax = ms.back();
        const int64_t w8 = n * k, copies = std::max<int64_t>(2, (256ll << 20) / w8 + 1);
        const int64_t copies16 = std::max<int64_t>(2, (256ll << 20) / (2 * w8) + 1);
        __nv_fp8_e4m3 *wq, *xq;
        __nv_bfloat16 *wb, *xb, *y, *y2;
        float *ws, *xs, *ref_d, *scratch;
        CK(cudaMalloc(&wq, w8 * copies));
        CK(cudaMalloc(&wb, 2 * w8 * copies16));
        CK(cudaMalloc(&xq, mmax * k));
        CK(cudaMalloc(&xb, 2 * mmax * k));
        CK(cudaMalloc(&y, 2 * mmax * n));
        CK(cudaMalloc(&y2, 2 * mmax * n));
        CK(cudaMalloc(&ws, 4 * n));
        CK(cudaMalloc(&xs, 4 * mmax));
        CK(cudaMalloc(&ref_d, 4 * mmax * n));
        const int64_t ldp = (n + 15) / 16 * 16;
        CK(cudaMalloc(&scratch, 4 * 8 * mmax * ldp));
        fill_fp8<<<1024, 256>>>(wq, w8, 1, 240.0f);
        for (int64_t c = 1; c < copies; ++c) CK(cudaMemcpy(wq + c * w8, wq, w8, cudaMemcpyDeviceToDevice));
        fill_bf16<<<1024, 256>>>(wb, w8 * copies16, 2, 0.05f);
        fill_fp8<<<1024, 256>>>(xq, mmax * k, 3, 240.0f);
        fill_bf16<<<1024, 256>>>(xb, mmax * k, 4, 1.0f);
        fill_scale<<<64, 256>>>(ws, n, 5);
        fill_scale<<<64, 256>>>(xs, mmax, 6);
        CK(cudaDeviceSynchronize());
        for (const int64_t m : ms) {
            reference<<<dim3(unsigned((n + 127) / 128), unsigned(m)), 128>>>(xq, wq, xs, ws, ref_d, int(m), int(n),
                                                                             int(k));
            CK(cudaDeviceSynchronize());
            std::vector<float> ref(m * n);
            CK(cudaMemcpy(ref.data(), ref_d, 4 * m * n, cudaMemcpyDeviceToHost));
            const int calls = int(std::clamp(3000.0 / (double(m * n) * k * 2 / 1e9 / 1.0 + 5.0), 20.0, 200.0));
            auto wrot = [&](int i) { return wq + (i % copies) * w8; };
            char line[1024];
            int len =
                std::snprintf(line, sizeof line, "n=%5lld k=%5lld m=%4lld", (long long)n, (long long)k, (long long)m);
            // bf16
            Lt pb = make_bf16(m, n, k);
            const float t_bf16 = time_us(
                [&](int i, cudaStream_t st) { LK(matmul(pb, pb.res[0].algo, wb + (i % copies16) * w8, xb, y, st)); },
                calls, 7, s);
            destroy(pb);
            // cur
            Lt pc = make_fp8(true, m, n, k, 1, n, ws, xs);
            if (pc.res.empty()) {
                std::printf("%s: no scaled algorithm\n", line);
                continue;
            }
            const float t_cur = time_us(
                [&](int i, cudaStream_t st) { LK(matmul(pc, pc.res[0].algo, wrot(i), xq, y, st)); }, calls, 7, s);
            const Err e_cur = compare(y, ref, m * n);
            // lt-sk: split-k on each heuristic algorithm cuBLASLt accepts
            float t_sk = 1e30f;
            int sk_best = 0, sk_scheme = 0, sk_algo = -1, sk_tried = 0, sk_ok = 0;
            for (int ai = 0; search && ai < int(pc.res.size()) && ai < 4; ++ai) {
                for (const int parts : kParts) {
                    for (const uint32_t scheme : {0u, 1u, 2u, 4u}) {
                        if ((parts == 1) != (scheme == 0)) continue;
                        cublasLtMatmulAlgo_t algo = pc.res[ai].algo;
                        const uint32_t sp = parts;
                        if (cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &sp,
                                                                 sizeof sp) != CUBLAS_STATUS_SUCCESS ||
                            cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &scheme,
                                                                 sizeof scheme) != CUBLAS_STATUS_SUCCESS)
                            continue;
                        ++sk_tried;
                        cublasLtMatmulHeuristicResult_t chk{};
                        if (cublasLtMatmulAlgoCheck(g_lt, pc.desc, pc.a, pc.b, pc.c, pc.d, &algo, &chk) !=
                                CUBLAS_STATUS_SUCCESS ||
                            chk.workspaceSize > kWs)
                            continue;
                        if (matmul(pc, algo, wrot(0), xq, y, s) != CUBLAS_STATUS_SUCCESS) continue;
                        CK(cudaStreamSynchronize(s));
                        ++sk_ok;
                        const float t = time_us(
                            [&](int i, cudaStream_t st) { LK(matmul(pc, algo, wrot(i), xq, y, st)); }, 20, 3, s);
                        if (t < t_sk) t_sk = t, sk_best = parts, sk_scheme = int(scheme), sk_algo = ai;
                    }
                }
            }
            Err e_sk{-1, -1};
            if (sk_algo >= 0) {  // re-time the winner like the others and check it
                cublasLtMatmulAlgo_t algo = pc.res[sk_algo].algo;
                const uint32_t sp = sk_best, sc = sk_scheme;
                cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &sp, sizeof sp);
                cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &sc, sizeof sc);
                t_sk = time_us([&](int i, cudaStream_t st) { LK(matmul(pc, algo, wrot(i), xq, y, st)); }, calls, 7, s);
                e_sk = compare(y, ref, m * n);
            }
            destroy(pc);
            len += std::snprintf(line + len, sizeof line - len,
                                 " | bf16 %6.1f cur %6.1f (err %.1e) | lt-sk %6.1f [a%d S%d r%d ok %d/%d err %.1e] |",
                                 t_bf16, t_cur, e_cur.rel, sk_algo >= 0 ? t_sk : -1.0f, sk_algo, sk_best, sk_scheme,
                                 sk_ok, sk_tried, e_sk.rel);
            // bS
            float t_b[9] = {}, t_alt = 1e30f;
            int alt = -1;
            double worst_err = 0;
            bool det = true;
            for (const int parts : kParts) {
                if (k % (16 * parts) != 0) continue;
                Lt pu = make_fp8(false, m, n, k, parts, ldp, nullptr, nullptr);
                if (pu.res.empty()) continue;
                const int64_t slice = m * ldp;
                auto run = [&](int i, cudaStream_t st, __nv_bfloat16* out) {
                    LK(matmul(pu, pu.res[0].algo, wrot(i), xq, scratch, st));
                    const dim3 grid(unsigned((n / 4 + 127) / 128), unsigned(std::min<int64_t>(m, 65535)));
                    split_epilogue<<<grid, 128, 0, st>>>(scratch, slice, parts, ldp, xs, ws, out, n, m, n);
                };
                t_b[parts] = time_us([&](int i, cudaStream_t st) { run(i, st, y); }, calls, 7, s);
                if (parts == 1)
                    for (int ai = 1; ai < int(pu.res.size()) && ai < 4; ++ai) {
                        if (matmul(pu, pu.res[ai].algo, wrot(0), xq, scratch, s) != CUBLAS_STATUS_SUCCESS) continue;
                        CK(cudaStreamSynchronize(s));
                        const float t = time_us(
                            [&](int i, cudaStream_t st) { LK(matmul(pu, pu.res[ai].algo, wrot(i), xq, scratch, st)); },
                            calls, 5, s);
                        if (t < t_alt) t_alt = t, alt = ai;
                    }
                worst_err = std::max(worst_err, compare(y, ref, m * n).rel);
                run(0, s, y2);
                CK(cudaStreamSynchronize(s));
                run(0, s, y);
                CK(cudaStreamSynchronize(s));
                det = det && bytes(y, 2 * m * n) == bytes(y2, 2 * m * n);
                destroy(pu);
            }
            const int rp = rule_parts(m, n, k, g_sms);
            const float t_rule = rp == 0 ? t_cur : t_b[rp];
            for (const int parts : kParts)
                len += std::snprintf(line + len, sizeof line - len, " b%d %5.1f", parts, t_b[parts]);
            len += std::snprintf(line + len, sizeof line - len,
                                 " (a0; other unscaled a%d %5.1f w/o epi) | rule %s%d %5.1f | bf16/cur %.2f bf16/rule "
                                 "%.2f | err %.1e det %d",
                                 alt, alt >= 0 ? t_alt : 0.0f, rp ? "b" : "cur", rp, t_rule, t_bf16 / t_cur,
                                 t_bf16 / t_rule, worst_err, int(det));
            std::printf("%s\n", line);
            std::fflush(stdout);
            table.push_back(line);
        }
        cudaFree(wq), cudaFree(wb), cudaFree(xq), cudaFree(xb), cudaFree(y), cudaFree(y2), cudaFree(ws), cudaFree(xs),
            cudaFree(ref_d), cudaFree(scratch);
    }
    std::printf("\n==== summary (us per product; bS = batched split of k in S parts + epilogue) ====\n");
    for (const auto& l : table) std::printf("%s\n", l.c_str());
    return 0;
}
