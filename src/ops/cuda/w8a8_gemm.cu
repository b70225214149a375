// cuBLASLt's 8-bit products and the epilogue that applies W8A8 scales to an unscaled product. The
// handle and workspace are gemm()'s (cuda_gemm.h). A plan records whether cuBLASLt could make one,
// so a declined shape costs one lookup on later calls too. Scaled FP8 products of few output tiles
// go through w8a8_gemm_split.cu, which uses gemm_fp8_parts here.
#include "ops/cuda/w8a8_gemm.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include <cublasLt.h>

#include "core/logging.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_gemm.h"
#include "ops/cuda/elementwise/elementwise_common.cuh"
#include "ops/cuda/elementwise/elementwise_kernels.h"

namespace turbolm::cuda {
namespace {

enum class Kind : int { kFp8Scaled, kFp8, kInt8, kFp8Block };

// Fast accumulation, on by default as in the FP8 GEMMs of the serving engines (vLLM's CUTLASS
// scaled_mm, TensorRT-LLM): Hopper's FP8 tensor cores then keep their running sums over all of k in the
// MMA accumulator, which adds with about 14 bits of significand, instead of having them promoted to
// f32 every few k-blocks. It is worth ~10-20% on large products. Its error: each of the k/32
// accumulation steps truncates the running sum S_j to ~14 bits, losing up to 2^-14 |S_j| (half that on
// average, always towards zero, so the losses add up rather than cancel). For k random-signed
// products of typical size p, E|S_j| ~ 0.8 p sqrt(32 j), and the sum over j gives a loss of about
// 2^-15 * 0.8 * sqrt(32) * (2/3) * (k/32)^1.5 p ~ 0.9 p at k = 14336, against a typical output of
// p sqrt(k) ~ 120 p: 0.7% of a typical output, ~0.2% of the largest of a few thousand (at most twice
// that if every step lost the full 2^-14). That is below what the e4m3 activations already cost (3-bit
// significands: each code off by up to 6%, ~1% of an output). The tests allow 1% of the largest output.
// TURBOLM_FP8_FAST_ACCUM=0 turns it off.
bool fp8_fast_accumulation() {
    static const bool on = [] {
        const char* v = std::getenv("TURBOLM_FP8_FAST_ACCUM");
        return !(v && std::string(v) == "0");
    }();
    return on;
}

// Heuristic results kept per plan: when cuBLASLt refuses one at launch, the next one is tried.
constexpr int kAlgorithms = 8;

// The largest power of two (up to 256) that divides the address: cuBLASLt picks algorithms for the
// alignment it is promised and assumes 256 bytes unless told otherwise.
uint32_t alignment(const void* p) {
    uint32_t a = 256;
    while (a > 1 && reinterpret_cast<uintptr_t>(p) % a != 0) a /= 2;
    return a;
}

using PlanKey = std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, bool, bool, uint32_t,
                           uint32_t, uint32_t, int, int64_t, size_t>;

struct Plan {
    bool ok = false;
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algos[kAlgorithms]{};  // the heuristic's order, fastest first
    int count = 0, next = 0;                    // algorithms found; the one in use
};

struct PlanCache {
    std::mutex mu;
    std::map<PlanKey, Plan> plans;
};

PlanCache& plan_cache() {
    static PlanCache* cache = new PlanCache();
    return *cache;
}

// Collects the first failing cuBLASLt call while a plan is built: failing to build one is an answer
// ("no algorithm"), not an error.
struct Steps {
    cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
    const char* failed = "";
    void operator()(cublasStatus_t st, const char* what) {
        if (status == CUBLAS_STATUS_SUCCESS && st != CUBLAS_STATUS_SUCCESS) {
            status = st;
            failed = what;
        }
    }
    bool ok() const { return status == CUBLAS_STATUS_SUCCESS; }
};

template <typename T>
cublasStatus_t set_attr(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, const T& value) {
    return cublasLtMatmulDescSetAttribute(desc, attr, &value, sizeof(value));
}

void destroy(Plan& p) {
    if (p.c) cublasLtMatrixLayoutDestroy(p.c);
    if (p.b) cublasLtMatrixLayoutDestroy(p.b);
    if (p.a) cublasLtMatrixLayoutDestroy(p.a);
    if (p.desc) cublasLtMatmulDescDestroy(p.desc);
    p = Plan{};
}

cudaDataType_t float_type(DType dt) {
    switch (dt) {
        case DType::kF32:
            return CUDA_R_32F;
        case DType::kBF16:
            return CUDA_R_16BF;
        case DType::kF16:
            return CUDA_R_16F;
        default:
            fail(StatusCode::kInvalidArgument, "W8A8 product: output dtype ", dtype_name(dt));
    }
}

// Row-major y[m, n] = x[m, k] q[n, k]^T is column-major y^T = q^T x: A = q (k x n, transposed), B = x
// (k x m), C = D = y^T (n x m). The FP8 scales are vectors along A's rows (scale) and B's columns (xscale).
struct Operands {
    const void* xq;
    int64_t ldx;
    const void* q;
    int64_t ldq;
    void* y;
    int64_t ldy;
    DType out;  // of y: the output dtype, f32 for the unscaled FP8 product, i32 for the INT8 one
    int64_t m, n, k;
    bool accumulate;
    const float* xscale;  // kFp8Scaled only
    const float* scale;
    const float* bias;    // kFp8Scaled only: f32 [n] added by cuBLASLt's epilogue, or null
    int parts = 1;        // kFp8 only: k in this many slices, a strided batch whose products lie...
    int64_t slice = 0;    // ...this many elements of y apart
    size_t reserved = 0;  // the workspace's first bytes, which cuBLASLt leaves alone
};

Plan make_plan(Kind kind, const Operands& o) {
    const LtResources lt = lt_resources();
    const bool int8 = kind == Kind::kInt8;
    const cudaDataType_t in_type = int8 ? CUDA_R_8I : CUDA_R_8F_E4M3;
    const cudaDataType_t out_type = int8 ? CUDA_R_32I : float_type(o.out);
    Plan p;
    Steps step;
    step(cublasLtMatmulDescCreate(&p.desc, int8 ? CUBLAS_COMPUTE_32I : CUBLAS_COMPUTE_32F,
                                  int8 ? CUDA_R_32I : CUDA_R_32F),
         "cublasLtMatmulDescCreate");
    if (step.ok()) {
        step(set_attr(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, CUBLAS_OP_T), "TRANSA");
        step(set_attr(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N), "TRANSB");
        // The block-scaled kernels promote their sums to f32 at every block of k themselves (cuBLASLt
        // takes no fast accumulation with those scales).
        if (!int8)
            step(set_attr(p.desc, CUBLASLT_MATMUL_DESC_FAST_ACCUM,
                          int8_t(kind != Kind::kFp8Block && fp8_fast_accumulation())),
                 "FAST_ACCUM");
        if (kind == Kind::kFp8Scaled || kind == Kind::kFp8Block) {
            // Block scales: one per 128 x 128 tile of the weights (A), one per 128 columns of each
            // token (B), laid out [n / 128][k / 128 padded to 4] and [k / 128][m] (found against a
            // CPU product, dev/kernels/fp8_gemm/fp8_block_lab.cu, and the GPU tests).
            const bool block = kind == Kind::kFp8Block;
            const int32_t a_mode = block ? CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F
                                         : CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
            const int32_t b_mode = block ? CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F
                                         : CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
            step(set_attr(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, a_mode), "A_SCALE_MODE");
            step(set_attr(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, b_mode), "B_SCALE_MODE");
            // The heuristic wants the pointers set; each call sets its own before the product.
            step(set_attr(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, static_cast<const void*>(o.scale)), "A_SCALE");
            step(set_attr(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, static_cast<const void*>(o.xscale)), "B_SCALE");
            if (o.bias) {
                // D = scale_a * scale_b * (A B) + beta C + bias: the bias after the scales, as the
                // other paths add it, and before the output's rounding.
                step(set_attr(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, CUBLASLT_EPILOGUE_BIAS), "EPILOGUE_BIAS");
                step(set_attr(p.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, int32_t(CUDA_R_32F)), "BIAS_DATA_TYPE");
                step(set_attr(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, static_cast<const void*>(o.bias)), "BIAS");
            }
        }
    }
    const int64_t k_part = o.k / o.parts;
    step(cublasLtMatrixLayoutCreate(&p.a, in_type, uint64_t(k_part), uint64_t(o.n), o.ldq), "layout A");
    step(cublasLtMatrixLayoutCreate(&p.b, in_type, uint64_t(k_part), uint64_t(o.m), o.ldx), "layout B");
    step(cublasLtMatrixLayoutCreate(&p.c, out_type, uint64_t(o.n), uint64_t(o.m), o.ldy), "layout C");
    if (o.parts > 1) {
        // Slice s of k starts s * k_part codes into each row of x and q; its product is slice s of y.
        const int32_t count = o.parts;
        const int64_t strides[3] = {k_part, k_part, o.slice};
        cublasLtMatrixLayout_t layouts[3] = {p.a, p.b, p.c};
        for (int i = 0; i < 3 && step.ok(); ++i) {
            step(
                cublasLtMatrixLayoutSetAttribute(layouts[i], CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)),
                "batch count");
            step(cublasLtMatrixLayoutSetAttribute(layouts[i], CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &strides[i],
                                                  sizeof(strides[i])),
                 "batch stride");
        }
    }
    const size_t workspace_bytes = lt.workspace_bytes - o.reserved;
    int found = 0;
    cublasLtMatmulHeuristicResult_t results[kAlgorithms]{};
    if (step.ok()) {
        cublasLtMatmulPreference_t pref = nullptr;
        step(cublasLtMatmulPreferenceCreate(&pref), "preference");
        if (step.ok()) {
            const uint64_t ws = workspace_bytes;
            const uint32_t align_a = alignment(o.q), align_b = alignment(o.xq), align_c = alignment(o.y);
            step(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)),
                 "workspace");
            step(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a,
                                                      sizeof(align_a)),
                 "alignment A");
            step(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b,
                                                      sizeof(align_b)),
                 "alignment B");
            step(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c,
                                                      sizeof(align_c)),
                 "alignment C");
            step(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c,
                                                      sizeof(align_c)),
                 "alignment D");
            step(cublasLtMatmulAlgoGetHeuristic(static_cast<cublasLtHandle_t>(lt.handle), p.desc, p.a, p.b, p.c, p.c,
                                                pref, kAlgorithms, results, &found),
                 "heuristic");
            cublasLtMatmulPreferenceDestroy(pref);
        }
    }
    static const char* const kNames[] = {"FP8 outer-vector-scaled", "FP8", "INT8", "FP8 block-scaled"};
    for (int i = 0; step.ok() && i < found; ++i)
        if (results[i].state == CUBLAS_STATUS_SUCCESS && results[i].workspaceSize <= workspace_bytes)
            p.algos[p.count++] = results[i].algo;
    if (!step.ok() || p.count == 0) {
        log::debug("cuBLASLt declines the ", kNames[int(kind)], o.bias ? " (bias epilogue)" : "", " product ", o.m, "x",
                   o.n, "x", o.k, " -> ", int8 ? "i32" : dtype_name(o.out), " (",
                   step.ok() ? "no algorithm" : step.failed, step.ok() ? "" : ": ",
                   step.ok() ? "" : cublasLtGetStatusString(step.status), "); another path computes it");
        destroy(p);
        return p;
    }
    p.ok = true;
    return p;
}

// Runs the product if cuBLASLt has a plan for it; false (nothing queued) otherwise. Once warm, the
// host work is one map lookup and setting the pointers a scaled plan's descriptor carries.
bool run(Kind kind, const Operands& o, cudaStream_t stream) {
    PlanCache& cache = plan_cache();
    const PlanKey key{int(kind),
                      o.m,
                      o.n,
                      o.k,
                      o.ldx,
                      o.ldq,
                      o.ldy,
                      int(o.out),
                      o.accumulate,
                      o.bias != nullptr,
                      alignment(o.q),
                      alignment(o.xq),
                      alignment(o.y),
                      o.parts,
                      o.slice,
                      o.reserved};
    // Held through the call: a scaled plan's descriptor carries this call's pointers.
    std::lock_guard<std::mutex> lock(cache.mu);
    auto it = cache.plans.find(key);
    if (it == cache.plans.end()) it = cache.plans.emplace(key, make_plan(kind, o)).first;
    Plan& p = it->second;
    if (!p.ok) return false;
    const LtResources lt = lt_resources();
    if (kind == Kind::kFp8Scaled || kind == Kind::kFp8Block) {
        const void* a_scale = o.scale;
        const void* b_scale = o.xscale;
        const void* bias = o.bias;
        cublasStatus_t st = set_attr(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, a_scale);
        if (st == CUBLAS_STATUS_SUCCESS) st = set_attr(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, b_scale);
        if (st == CUBLAS_STATUS_SUCCESS && bias) st = set_attr(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias);
        if (st != CUBLAS_STATUS_SUCCESS)
            fail(StatusCode::kInternal, "cuBLASLt FP8 operand pointers: ", cublasLtGetStatusString(st));
    }
    const int32_t alpha_i = 1, beta_i = 0;
    const float alpha_f = 1.0f, beta_f = o.accumulate ? 1.0f : 0.0f;
    const bool int8 = kind == Kind::kInt8;
    const void* alpha = int8 ? static_cast<const void*>(&alpha_i) : static_cast<const void*>(&alpha_f);
    const void* beta = int8 ? static_cast<const void*>(&beta_i) : static_cast<const void*>(&beta_f);
    // The heuristic's first choice nearly always runs; one refused at launch queues nothing, so the
    // next is tried, and the plan keeps the one that ran.
    void* workspace = static_cast<char*>(lt.workspace) + o.reserved;
    for (; p.next < p.count; ++p.next) {
        const cublasStatus_t st =
            cublasLtMatmul(static_cast<cublasLtHandle_t>(lt.handle), p.desc, alpha, o.q, p.a, o.xq, p.b, beta, o.y, p.c,
                           o.y, p.c, &p.algos[p.next], workspace, lt.workspace_bytes - o.reserved, stream);
        if (st == CUBLAS_STATUS_SUCCESS) return true;
        if (st != CUBLAS_STATUS_NOT_SUPPORTED && st != CUBLAS_STATUS_INVALID_VALUE)
            fail(StatusCode::kInternal, "cublasLtMatmul (8-bit) failed: ", cublasLtGetStatusString(st));
        log::debug("cuBLASLt refused algorithm ", p.next, " of a planned 8-bit product: ", cublasLtGetStatusString(st));
    }
    destroy(p);  // every algorithm refused: the caller takes another path, now and later
    return false;
}

template <typename Acc, typename OutT>
__global__ void epilogue_kernel(const Acc* __restrict__ p, int64_t ldp, const float* __restrict__ xscale,
                                const float* __restrict__ scale, const float* __restrict__ bias, OutT* __restrict__ y,
                                int64_t ldy, int64_t m, int64_t n, bool accumulate) {
    const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (c >= n) return;
    const float s = scale[c], b = bias ? bias[c] : 0.0f;
    for (int64_t t = blockIdx.y; t < m; t += gridDim.y) {
        const float v = float(p[t * ldp + c]) * xscale[t] * s + b;  // the order of cpu_w8a8.cpp and w8a8_gemv.cu
        OutT* out = y + t * ldy + c;
        *out = elt::from_f32<OutT>(accumulate ? elt::to_f32(*out) + v : v);
    }
}

}  // namespace

bool gemm_fp8_scaled(const void* xq, int64_t ldx, const float* xscale, const void* q, int64_t ldq, const float* scale,
                     const float* bias, void* y, int64_t ldy, DType out_dtype, int64_t m, int64_t n, int64_t k,
                     bool accumulate, cudaStream_t stream) {
    if (m == 0 || n == 0) return true;
    if (gemm_fp8_split(xq, ldx, xscale, q, ldq, scale, bias, y, ldy, out_dtype, m, n, k, accumulate, stream))
        return true;
    const Operands o{xq, ldx, q, ldq, y, ldy, out_dtype, m, n, k, accumulate, xscale, scale, bias};
    if (bias && run(Kind::kFp8Scaled, o, stream)) return true;
    // No bias, or cuBLASLt declines the bias epilogue with these scales: the bias in a pass of its own.
    Operands plain = o;
    plain.bias = nullptr;
    if (!run(Kind::kFp8Scaled, plain, stream)) return false;
    if (bias) launch_add_bias(y, out_dtype, ldy, bias, m, n, stream);
    return true;
}

bool gemm_fp8_block(const void* xq, const float* xscale, const void* q, int64_t ldq, const float* scale, void* y,
                    int64_t ldy, DType out_dtype, int64_t m, int64_t n, int64_t k, bool accumulate,
                    cudaStream_t stream) {
    if (m == 0 || n == 0) return true;
    TURBOLM_REQUIRE(m % 4 == 0 && n % 128 == 0 && k % 128 == 0, "gemm_fp8_block: ", m, " x ", n, " x ", k,
                    " (tokens a multiple of 4, widths of 128)");
    return run(Kind::kFp8Block, {xq, k, q, ldq, y, ldy, out_dtype, m, n, k, accumulate, xscale, scale, nullptr},
               stream);
}

bool gemm_8bit(DType qtype, const void* xq, int64_t ldx, const void* q, int64_t ldq, void* p, int64_t ldp, int64_t m,
               int64_t n, int64_t k, cudaStream_t stream) {
    if (m == 0 || n == 0) return true;
    if (qtype == DType::kF8E4M3)
        return run(Kind::kFp8, {xq, ldx, q, ldq, p, ldp, DType::kF32, m, n, k, false, nullptr, nullptr, nullptr},
                   stream);
    TURBOLM_REQUIRE(qtype == DType::kI8, "gemm_8bit: codes are f8e4m3 or i8, not ", dtype_name(qtype));
    return run(Kind::kInt8, {xq, ldx, q, ldq, p, ldp, DType::kI32, m, n, k, false, nullptr, nullptr, nullptr}, stream);
}

bool gemm_fp8_parts(const void* xq, int64_t ldx, const void* q, int64_t ldq, float* p, int64_t ldp, int64_t slice,
                    int parts, int64_t m, int64_t n, int64_t k, size_t reserved, cudaStream_t stream) {
    if (m == 0 || n == 0) return true;
    TURBOLM_REQUIRE(parts >= 1 && k % (16 * parts) == 0 && (parts == 1 || (k / parts) % 256 == 0) &&
                        reserved % 256 == 0 && reserved < lt_resources().workspace_bytes,
                    "gemm_fp8_parts: k ", k, " in ", parts, " parts, ", reserved, " bytes reserved");
    Operands o{xq, ldx, q, ldq, p, ldp, DType::kF32, m, n, k, false, nullptr, nullptr, nullptr};
    o.parts = parts;
    o.slice = slice;
    o.reserved = reserved;
    return run(Kind::kFp8, o, stream);
}

void launch_w8a8_epilogue(DType qtype, const void* p, int64_t ldp, const float* xscale, const float* scale,
                          const float* bias, void* y, int64_t ldy, DType out_dtype, int64_t m, int64_t n,
                          bool accumulate, cudaStream_t stream) {
    if (m == 0 || n == 0) return;
    constexpr int kThreads = 256;
    const dim3 grid(unsigned((n + kThreads - 1) / kThreads), elt::grid_y_rows(m));
    elt::dispatch_float(out_dtype, "w8a8 epilogue output", [&](auto tag) {
        using OutT = typename decltype(tag)::type;
        auto* ys = static_cast<OutT*>(y);
        if (qtype == DType::kF8E4M3)
            epilogue_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const float*>(p), ldp, xscale, scale, bias, ys,
                                                           ldy, m, n, accumulate);
        else if (qtype == DType::kI8)
            epilogue_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const int32_t*>(p), ldp, xscale, scale, bias, ys,
                                                           ldy, m, n, accumulate);
        else
            fail(StatusCode::kInvalidArgument, "w8a8 epilogue: codes are f8e4m3 or i8, not ", dtype_name(qtype));
    });
    check_launch("w8a8_epilogue");
}

}  // namespace turbolm::cuda
