#include "ops/cuda/cuda_gemm.h"

#include <cstdlib>
#include <map>
#include <string>
#include <mutex>
#include <tuple>

#include <cublasLt.h>

#include "core/error.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/gemv.h"

namespace turbolm::cuda {
namespace {

#define TURBOLM_CUBLAS_CHECK(call)                                                                  \
    do {                                                                                            \
        cublasStatus_t st_ = (call);                                                                \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                                           \
            ::turbolm::fail(::turbolm::StatusCode::kInternal, #call " failed: ", cublasLtGetStatusString(st_)); \
    } while (0)

constexpr size_t kWorkspaceBytes = 32u << 20;

cudaDataType_t cuda_type(DType dt) {
    switch (dt) {
        case DType::kBF16: return CUDA_R_16BF;
        case DType::kF16: return CUDA_R_16F;
        case DType::kF32: return CUDA_R_32F;
        default: fail(StatusCode::kInvalidArgument, "gemm: unsupported dtype ", dtype_name(dt));
    }
}

using PlanKey = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int, bool>;

struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
};

struct Context {
    std::mutex mu;
    cublasLtHandle_t handle = nullptr;
    void* workspace = nullptr;
    std::map<PlanKey, Plan> plans;
};

Context& context() {
    static Context* c = [] {
        auto* ctx = new Context();
        TURBOLM_CUBLAS_CHECK(cublasLtCreate(&ctx->handle));
        TURBOLM_CUDA_CHECK(cudaMalloc(&ctx->workspace, kWorkspaceBytes));
        return ctx;
    }();
    return *c;
}

// Row-major y = x w^T is column-major y^T = w x^T: A = w (stored k x n column-major, transposed),
// B = x (k x m column-major), C = y^T (n x m).
Plan make_plan(const PlanKey& key, DType in, DType out, int64_t m, int64_t n, int64_t k, int64_t ldx, int64_t ldw,
               int64_t ldy, bool accumulate) {
    Context& ctx = context();
    Plan p;
    TURBOLM_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
    TURBOLM_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof(trans_a)));
    TURBOLM_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof(trans_b)));
    TURBOLM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, cuda_type(in), uint64_t(k), uint64_t(n), ldw));
    TURBOLM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, cuda_type(in), uint64_t(k), uint64_t(m), ldx));
    TURBOLM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.c, cuda_type(out), uint64_t(n), uint64_t(m), ldy));
    cublasLtMatmulPreference_t pref;
    TURBOLM_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const uint64_t ws = kWorkspaceBytes;
    TURBOLM_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    TURBOLM_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(ctx.handle, p.desc, p.a, p.b, p.c, p.c, pref, 1, &result,
                                                        &found));
    cublasLtMatmulPreferenceDestroy(pref);
    if (found == 0)
        fail(StatusCode::kUnimplemented, "cuBLASLt has no algorithm for a ", m, "x", n, "x", k, " ",
             dtype_name(in), " -> ", dtype_name(out), " product");
    p.algo = result.algo;
    (void)key;
    (void)accumulate;
    return p;
}

}  // namespace

LtResources lt_resources() {
    Context& ctx = context();
    return {ctx.handle, ctx.workspace, kWorkspaceBytes};
}

void gemm(const void* x, int64_t ldx, const void* w, int64_t ldw, DType in_dtype, void* y, int64_t ldy,
          DType out_dtype, int64_t m, int64_t n, int64_t k, float beta, cudaStream_t stream) {
    if (m == 0 || n == 0) return;
    TURBOLM_REQUIRE(in_dtype == DType::kBF16 || in_dtype == DType::kF16, "gemm inputs must be bf16 or f16, not ",
                    dtype_name(in_dtype));
    TURBOLM_REQUIRE(out_dtype == DType::kF32 || out_dtype == in_dtype, "gemm output ", dtype_name(out_dtype),
                    " for ", dtype_name(in_dtype), " inputs");
    TURBOLM_REQUIRE(beta == 0.0f || beta == 1.0f, "gemm beta must be 0 or 1");
    // A decode step's few rows: the weight-streaming kernel unless TURBOLM_GEMV=0 asks for cuBLASLt.
    static const bool gemv_enabled = [] {
        const char* v = std::getenv("TURBOLM_GEMV");
        return !(v && std::string(v) == "0");
    }();
    if (gemv_enabled && gemv_supported(x, ldx, w, ldw, m, k)) {
        launch_gemv(x, ldx, w, ldw, in_dtype, y, ldy, out_dtype, m, n, k, beta, stream);
        return;
    }
    Context& ctx = context();
    const PlanKey key{m, n, k, ldx, ldw, ldy, int(in_dtype), int(out_dtype), beta != 0.0f};
    const Plan* plan;
    {
        std::lock_guard<std::mutex> lock(ctx.mu);
        auto it = ctx.plans.find(key);
        if (it == ctx.plans.end())
            it = ctx.plans.emplace(key, make_plan(key, in_dtype, out_dtype, m, n, k, ldx, ldw, ldy, beta != 0.0f))
                     .first;
        plan = &it->second;
    }
    const float alpha = 1.0f;
    TURBOLM_CUBLAS_CHECK(cublasLtMatmul(ctx.handle, plan->desc, &alpha, w, plan->a, x, plan->b, &beta, y, plan->c, y,
                                        plan->c, &plan->algo, ctx.workspace, kWorkspaceBytes, stream));
}

}  // namespace turbolm::cuda
