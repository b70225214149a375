// Block-scaled FP8 (e4m3) products through cuBLASLt, DeepSeek's recipe: weights with one scale per
// 128 x 128 block, activations with one per token and 128 columns,
//   y[t, n] = sum_g sx[t, g] * sw[n / 128, g] * sum_{c in g} xq[t, c] * wq[n, c].
// Part 1 finds which scale layouts cuBLASLt reads, for the weights as A (BLK128x128_32F, A = wq
// stored k x n, transposed) and the activations as B (VEC128_32F, B = xq stored k x m), against a
// double-precision CPU product, on shapes where every candidate layout differs (m, n / 128 not
// multiples of 4). Part 2 times the layout found over the Llama-3-8B shapes against the per-channel
// product (OUTER_VEC_32F scales, fast accumulation, what w8a8_gemm.cu runs) and bf16, with the weights
// rotating through copies past L2.
//
//     nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o fp8_block_lab fp8_block_lab.cu -lcublasLt
//     ./fp8_block_lab            (LAB_LAYOUTS_ONLY=1: part 1 only)
//
// Found (H200, cuBLASLt 13.1, results_h200.txt): the weights' scales [n / 128][k / 128] (the
// checkpoints' own layout), the activations' [k / 128][m] (the token fastest); an algorithm only for m
// a multiple of 4 (1, 5, 15, 17-19, 33 declined; 8, 12, 16, 20, 24, 40 taken); the other assignment
// (activations as A) declines m = 5 too.
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
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

namespace {

cublasLtHandle_t g_lt;
void* g_ws;
constexpr size_t kWs = 32u << 20;

enum class Scales { kBlock, kOuter, kNone };  // kNone: bf16 operands

// y^T (n x m, col-major) = op(A) B with A = w (k x n, ld k, transposed) and B = x (k x m, ld k).
struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool ok = false;
    std::string why;
};

Plan make_plan(Scales mode, int64_t m, int64_t n, int64_t k, const void* a_scale, const void* b_scale) {
    Plan p;
    const bool fp8 = mode != Scales::kNone;
    cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    const cublasOperation_t t = CUBLAS_OP_T, nn = CUBLAS_OP_N;
    cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t));
    cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &nn, sizeof(nn));
    if (fp8) {
        const int32_t am = mode == Scales::kBlock ? CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F
                                                  : CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
        const int32_t bm = mode == Scales::kBlock ? CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F
                                                  : CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &am, sizeof(am));
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &bm, sizeof(bm));
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &a_scale, sizeof(a_scale));
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &b_scale, sizeof(b_scale));
        const int8_t fast = mode == Scales::kOuter ? 1 : 0;
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast, sizeof(fast));
    }
    const cudaDataType_t in = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
    cublasLtMatrixLayoutCreate(&p.a, in, uint64_t(k), uint64_t(n), k);
    cublasLtMatrixLayoutCreate(&p.b, in, uint64_t(k), uint64_t(m), k);
    cublasLtMatrixLayoutCreate(&p.c, CUDA_R_16BF, uint64_t(n), uint64_t(m), n);
    cublasLtMatmulPreference_t pref;
    cublasLtMatmulPreferenceCreate(&pref);
    const uint64_t ws = kWs;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
    cublasLtMatmulHeuristicResult_t r{};
    int found = 0;
    const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(g_lt, p.desc, p.a, p.b, p.c, p.c, pref, 1, &r, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    p.ok = st == CUBLAS_STATUS_SUCCESS && found > 0;
    if (!p.ok) p.why = std::string(cublasLtGetStatusString(st)) + ", " + std::to_string(found) + " algorithms";
    p.algo = r.algo;
    return p;
}

// The other assignment: A = x (VEC128, k x m transposed), B = w (BLK128x128, k x n), D = y^T's
// transpose (m x n col-major, y stored [n][m]): only asked whether cuBLASLt has an algorithm.
bool swapped_supported(int64_t m, int64_t n, int64_t k, const void* xs, const void* ws, std::string& why) {
    cublasLtMatmulDesc_t d;
    cublasLtMatmulDescCreate(&d, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    const cublasOperation_t t = CUBLAS_OP_T, nn = CUBLAS_OP_N;
    cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t));
    cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSB, &nn, sizeof(nn));
    const int32_t am = CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F, bm = CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F;
    cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &am, sizeof(am));
    cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &bm, sizeof(bm));
    cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &xs, sizeof(xs));
    cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &ws, sizeof(ws));
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatrixLayoutCreate(&a, CUDA_R_8F_E4M3, uint64_t(k), uint64_t(m), k);
    cublasLtMatrixLayoutCreate(&b, CUDA_R_8F_E4M3, uint64_t(k), uint64_t(n), k);
    cublasLtMatrixLayoutCreate(&c, CUDA_R_16BF, uint64_t(m), uint64_t(n), m);
    cublasLtMatmulPreference_t pref;
    cublasLtMatmulPreferenceCreate(&pref);
    const uint64_t wsb = kWs;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof(wsb));
    cublasLtMatmulHeuristicResult_t r{};
    int found = 0;
    const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(g_lt, d, a, b, c, c, pref, 1, &r, &found);
    why = std::string(cublasLtGetStatusString(st)) + ", " + std::to_string(found) + " algorithms";
    return st == CUBLAS_STATUS_SUCCESS && found > 0;
}

bool run(const Plan& p, const void* w, const void* x, void* y, cudaStream_t s) {
    const float one = 1.0f, zero = 0.0f;
    return cublasLtMatmul(g_lt, p.desc, &one, w, p.a, x, p.b, &zero, y, p.c, y, p.c, &p.algo, g_ws, kWs, s) ==
           CUBLAS_STATUS_SUCCESS;
}

float bf16_to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

// Scale layouts to try. Activations (m tokens, g groups): token-major [m][g], or group-major [g][m]
// with the token stride padded to pad. Weights (nb row blocks, g groups): [nb][g], or [g][nb] with
// the block stride padded.
struct Layout {
    const char* name;
    bool outer_fastest;  // the m (or nb) index varies fastest
    int pad;             // its stride rounded up to a multiple of this
};
const Layout kLayouts[] = {{"[outer][g]", false, 1}, {"[g][outer]", true, 1}, {"[g][outer pad 4]", true, 4}};

int64_t padded(int64_t v, int p) { return (v + p - 1) / p * p; }

std::vector<float> lay_out(const std::vector<float>& s, int64_t outer, int64_t g, const Layout& l) {
    if (!l.outer_fastest) return s;
    const int64_t stride = padded(outer, l.pad);
    std::vector<float> out(size_t(stride * g), 0.0f);
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < g; ++j) out[size_t(j * stride + o)] = s[size_t(o * g + j)];
    return out;
}

void find_layouts(cudaStream_t st, int64_t m) {
    const int64_t n = 384, k = 512, g = k / 128, nb = n / 128;
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f), sc(0.5f, 2.0f);
    std::vector<__nv_fp8_e4m3> xq(size_t(m * k)), wq(size_t(n * k));
    std::vector<float> xf(xq.size()), wf(wq.size()), sx(size_t(m * g)), sw(size_t(nb * g));
    for (size_t i = 0; i < xq.size(); ++i) xq[i] = __nv_fp8_e4m3(u(rng) * 8.0f), xf[i] = float(xq[i]);
    for (size_t i = 0; i < wq.size(); ++i) wq[i] = __nv_fp8_e4m3(u(rng) * 8.0f), wf[i] = float(wq[i]);
    for (float& v : sx) v = sc(rng);
    for (float& v : sw) v = sc(rng);
    std::vector<double> ref(size_t(m * n), 0.0);
    for (int64_t t = 0; t < m; ++t)
        for (int64_t r = 0; r < n; ++r)
            for (int64_t j = 0; j < g; ++j) {
                double dot = 0.0;
                for (int64_t c = j * 128; c < (j + 1) * 128; ++c) dot += double(xf[size_t(t * k + c)]) * wf[size_t(r * k + c)];
                ref[size_t(t * n + r)] += dot * sx[size_t(t * g + j)] * sw[size_t((r / 128) * g + j)];
            }
    void *dx, *dw, *dy, *dsx, *dsw;
    CK(cudaMalloc(&dx, xq.size()));
    CK(cudaMalloc(&dw, wq.size()));
    CK(cudaMalloc(&dy, size_t(m * n) * 2));
    CK(cudaMalloc(&dsx, 4096 * 4));
    CK(cudaMalloc(&dsw, 4096 * 4));
    CK(cudaMemcpy(dx, xq.data(), xq.size(), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dw, wq.data(), wq.size(), cudaMemcpyHostToDevice));
    for (const int64_t mm : {int64_t(5), int64_t(64)}) {
        std::string why;
        const bool ok = swapped_supported(mm, n, k, dsx, dsw, why);
        std::printf("# swapped (activations VEC128 on A, weights BLK128x128 on B), m %lld: %s (%s)\n", (long long)mm,
                    ok ? "supported" : "not supported", why.c_str());
    }
    std::printf("# scale layouts, m %lld n %lld k %lld: activations (VEC128 on B) x weights (BLK128x128 on A)\n",
                (long long)m, (long long)n, (long long)k);
    for (const Layout& la : kLayouts)
        for (const Layout& lw : kLayouts) {
            const std::vector<float> hx = lay_out(sx, m, g, la), hw = lay_out(sw, nb, g, lw);
            CK(cudaMemcpy(dsx, hx.data(), hx.size() * 4, cudaMemcpyHostToDevice));
            CK(cudaMemcpy(dsw, hw.data(), hw.size() * 4, cudaMemcpyHostToDevice));
            CK(cudaMemset(dy, 0xFF, size_t(m * n) * 2));  // poison: NaN bf16
            Plan p = make_plan(Scales::kBlock, m, n, k, dsw, dsx);
            if (!p.ok) {
                std::printf("activations %-18s weights %-18s | no plan: %s\n", la.name, lw.name, p.why.c_str());
                continue;
            }
            const bool ran = run(p, dw, dx, dy, st);
            CK(cudaStreamSynchronize(st));
            std::vector<__nv_bfloat16> y(size_t(m * n));
            CK(cudaMemcpy(y.data(), dy, y.size() * 2, cudaMemcpyDeviceToHost));
            double err = 0.0, big = 0.0;
            for (int64_t t = 0; t < m; ++t)
                for (int64_t r = 0; r < n; ++r) {
                    const double a = bf16_to_float(y[size_t(t * n + r)]), b = ref[size_t(t * n + r)];
                    err = std::max(err, std::isnan(a) ? 1e30 : std::fabs(a - b));
                    big = std::max(big, std::fabs(b));
                }
            std::printf("activations %-18s weights %-18s | ran %d | max err %.3g of %.3g%s\n", la.name, lw.name, ran,
                        err, big, err < 1e-2 * big ? "  <== matches" : "");
        }
}

// Part 2: times in us, median of repeats, weights rotating through copies of > 256 MB in total.
template <typename Launch>
float time_us(cudaStream_t s, int iters, Launch&& launch) {
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    for (int i = 0; i < 3; ++i) launch(i);
    std::vector<float> ts;
    for (int rep = 0; rep < 5; ++rep) {
        CK(cudaEventRecord(a, s));
        for (int i = 0; i < iters; ++i) launch(i);
        CK(cudaEventRecord(b, s));
        CK(cudaEventSynchronize(b));
        float ms = 0.0f;
        CK(cudaEventElapsedTime(&ms, a, b));
        ts.push_back(ms * 1000.0f / float(iters));
    }
    std::sort(ts.begin(), ts.end());
    return ts[ts.size() / 2];
}

void time_shapes(cudaStream_t s) {
    struct Shape {
        int64_t n, k;
    };
    const Shape shapes[] = {{6144, 4096}, {4096, 4096}, {28672, 4096}, {4096, 14336}};
    const int64_t ms[] = {1, 16, 64, 256, 1024, 8192};
    std::printf("# us per product (weights rotating past L2): block-scaled FP8 | per-channel FP8 (fast accum) | bf16\n");
    for (const Shape sh : shapes) {
        const int64_t n = sh.n, k = sh.k, copies = std::max<int64_t>(2, (256ll << 20) / (n * k) + 1);
        void *w8, *w16, *x8, *x16, *y, *sx, *sw;
        CK(cudaMalloc(&w8, size_t(n * k * copies)));
        CK(cudaMalloc(&w16, size_t(n * k * 2 * std::max<int64_t>(2, copies / 2))));
        CK(cudaMalloc(&x8, size_t(8192 * k)));
        CK(cudaMalloc(&x16, size_t(8192 * k * 2)));
        CK(cudaMalloc(&y, size_t(8192 * n * 2)));
        CK(cudaMalloc(&sx, size_t(8192 * (k / 128) * 4 + 8192 * 4)));
        CK(cudaMalloc(&sw, size_t(n * 4 + (n / 128 + 4) * (k / 128) * 4)));
        CK(cudaMemset(w8, 0x30, size_t(n * k * copies)));
        CK(cudaMemset(x8, 0x30, size_t(8192 * k)));
        CK(cudaMemset(w16, 0, size_t(n * k * 2 * std::max<int64_t>(2, copies / 2))));
        CK(cudaMemset(x16, 0, size_t(8192 * k * 2)));
        CK(cudaMemset(sx, 0, size_t(8192 * (k / 128) * 4 + 8192 * 4)));
        CK(cudaMemset(sw, 0, size_t(n * 4 + (n / 128 + 4) * (k / 128) * 4)));
        for (const int64_t m : ms) {
            Plan pb = make_plan(Scales::kBlock, m, n, k, sw, sx), po = make_plan(Scales::kOuter, m, n, k, sw, sx),
                 p16 = make_plan(Scales::kNone, m, n, k, nullptr, nullptr);
            const int iters = m >= 1024 ? 20 : 100;
            const int64_t c16 = std::max<int64_t>(2, copies / 2);
            auto t = [&](const Plan& p, bool fp8) -> float {
                if (!p.ok) return -1.0f;
                return time_us(s, iters, [&](int i) {
                    const char* w = static_cast<const char*>(fp8 ? w8 : w16) + (i % (fp8 ? copies : c16)) * n * k * (fp8 ? 1 : 2);
                    run(p, w, fp8 ? x8 : x16, y, s);
                });
            };
            const float tb = t(pb, true), to = t(po, true), t16 = t(p16, false);
            const double tf = 2.0 * double(m) * double(n) * double(k) * 1e-6;
            std::printf("m %5lld n %5lld k %5lld | block %8.1f (%6.0f TFLOP/s) | channel %8.1f | bf16 %8.1f | block/channel %.2f%s\n",
                        (long long)m, (long long)n, (long long)k, tb, tb > 0 ? tf / tb : 0.0, to, t16,
                        tb > 0 && to > 0 ? tb / to : 0.0, pb.ok ? "" : ("  (block: " + pb.why + ")").c_str());
        }
        CK(cudaFree(w8));
        CK(cudaFree(w16));
        CK(cudaFree(x8));
        CK(cudaFree(x16));
        CK(cudaFree(y));
        CK(cudaFree(sx));
        CK(cudaFree(sw));
    }
}

}  // namespace

int main() {
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    std::printf("device %s, cuBLASLt %zu\n", prop.name, cublasLtGetVersion());
    if (cublasLtCreate(&g_lt) != CUBLAS_STATUS_SUCCESS) return 1;
    CK(cudaMalloc(&g_ws, kWs));
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    for (const int64_t m : {1, 8, 12, 15, 16, 17, 18, 19, 33}) find_layouts(s, m);
    if (getenv("LAB_LAYOUTS_ONLY")) return 0;
    time_shapes(s);
    return 0;
}
