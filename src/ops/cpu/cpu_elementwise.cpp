// Activations, embedding lookup, residual add and row softmax.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/half.h"
#include "core/parallel.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/fast_math.h"

namespace turbolm::cpu {
namespace {

inline float silu(float x) { return x / (1.0f + exp_f32(-x)); }
inline float gelu_erf(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }
inline float gelu_tanh(float x) {
    const float kBeta = 0.7978845608028654f;  // sqrt(2 / pi)
    return 0.5f * x * (1.0f + std::tanh(kBeta * (x + 0.044715f * x * x * x)));
}
inline float relu(float x) { return x > 0.0f ? x : 0.0f; }

template <typename Fn>
void for_rows(int64_t rows, int64_t cols, Fn&& fn) {
    parallel_for(rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(cols, 1)), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) fn(r);
    });
}

template <float (*Act)(float)>
__attribute__((target_clones("avx512f", "avx2", "default"))) void act_mul_rows(const float* g, const float* u,
                                                                                float* o, int64_t cols) {
#pragma omp simd
    for (int64_t i = 0; i < cols; ++i) o[i] = Act(g[i]) * u[i];
}

template <float (*Act)(float)>
void act_mul_impl(const float* gate, int64_t ldg, const float* up, int64_t ldu, float* out, int64_t ldo,
                  int64_t rows, int64_t cols) {
    for_rows(rows, cols, [&](int64_t r) {
        act_mul_rows<Act>(gate + r * ldg, up + r * ldu, out + r * ldo, cols);
    });
}

template <float (*Act)(float)>
void act_inplace_impl(float* x, int64_t ldx, int64_t rows, int64_t cols) {
    for_rows(rows, cols, [&](int64_t r) {
        float* v = x + r * ldx;
        for (int64_t i = 0; i < cols; ++i) v[i] = Act(v[i]);
    });
}

}  // namespace

void act_mul(Activation act, const float* gate, int64_t ldg, const float* up, int64_t ldu, float* out, int64_t ldo,
             int64_t rows, int64_t cols) {
    switch (act) {
        case Activation::kSilu: return act_mul_impl<silu>(gate, ldg, up, ldu, out, ldo, rows, cols);
        case Activation::kGeluErf: return act_mul_impl<gelu_erf>(gate, ldg, up, ldu, out, ldo, rows, cols);
        case Activation::kGeluTanh: return act_mul_impl<gelu_tanh>(gate, ldg, up, ldu, out, ldo, rows, cols);
        case Activation::kRelu: return act_mul_impl<relu>(gate, ldg, up, ldu, out, ldo, rows, cols);
    }
}

void act_inplace(Activation act, float* x, int64_t ldx, int64_t rows, int64_t cols) {
    switch (act) {
        case Activation::kSilu: return act_inplace_impl<silu>(x, ldx, rows, cols);
        case Activation::kGeluErf: return act_inplace_impl<gelu_erf>(x, ldx, rows, cols);
        case Activation::kGeluTanh: return act_inplace_impl<gelu_tanh>(x, ldx, rows, cols);
        case Activation::kRelu: return act_inplace_impl<relu>(x, ldx, rows, cols);
    }
}

void embedding(const int32_t* ids, int64_t tokens, const void* table, DType dtype, int64_t cols, float* out,
               int64_t ldo) {
    for (int64_t t = 0; t < tokens; ++t) {
        float* o = out + t * ldo;
        const int64_t row = int64_t(ids[t]) * cols;
        switch (dtype) {
            case DType::kF32:
                std::memcpy(o, static_cast<const float*>(table) + row, size_t(cols) * sizeof(float));
                break;
            case DType::kBF16: {
                const uint16_t* src = static_cast<const uint16_t*>(table) + row;
                for (int64_t i = 0; i < cols; ++i) o[i] = bf16_to_f32(src[i]);
                break;
            }
            case DType::kF16: {
                const uint16_t* src = static_cast<const uint16_t*>(table) + row;
                for (int64_t i = 0; i < cols; ++i) o[i] = f16_to_f32(src[i]);
                break;
            }
            default: break;  // the dispatch layer only passes float tables
        }
    }
}

void add(const float* a, const float* b, float* y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void softmax_rows(float* x, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; ++r) {
        float* v = x + r * cols;
        float mx = *std::max_element(v, v + cols);
        float sum = 0.0f;
        for (int64_t i = 0; i < cols; ++i) {
            v[i] = std::exp(v[i] - mx);
            sum += v[i];
        }
        const float inv = 1.0f / sum;
        for (int64_t i = 0; i < cols; ++i) v[i] *= inv;
    }
}

void top_k_rows(const float* x, int64_t rows, int64_t cols, int64_t k, bool renormalize, int32_t* ids, float* values) {
    std::vector<int32_t> order(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
        const float* v = x + r * cols;
        for (int64_t i = 0; i < cols; ++i) order[size_t(i)] = int32_t(i);
        std::partial_sort(order.begin(), order.begin() + k, order.end(),
                          [&](int32_t a, int32_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
        float sum = 0.0f;
        for (int64_t i = 0; i < k; ++i) sum += v[order[size_t(i)]];
        for (int64_t i = 0; i < k; ++i) {
            ids[r * k + i] = order[size_t(i)];
            values[r * k + i] = renormalize ? v[order[size_t(i)]] / sum : v[order[size_t(i)]];
        }
    }
}

}  // namespace turbolm::cpu
