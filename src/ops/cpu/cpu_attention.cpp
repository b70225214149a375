// Causal (optionally sliding-window) attention over a contiguous KV cache, one (token, head) pair
// per work item. Scores and the softmax are f32 with the max subtracted first, as in HF's eager path.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/parallel.h"
#include "ops/cpu/cpu_kernels.h"

namespace turbolm::cpu {
namespace {

// Vector width is chosen per machine at load time (ifunc); the loops are plain C++.
__attribute__((target_clones("avx512f", "avx2", "default"))) float dot(const float* a, const float* b, int64_t n) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void axpy(float a, const float* x, float* y,
                                                                        int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

}  // namespace

void attention(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
               const int32_t* q_pos, int64_t tokens, int64_t n_kv, int64_t n_head, int64_t n_head_kv,
               int64_t head_dim, float scale, int64_t window, float* out, int64_t ldo) {
    const int64_t group = n_head / n_head_kv;
    parallel_for(tokens * n_head, 1, [&](int64_t i0, int64_t i1) {
        std::vector<float> scores;
        for (int64_t item = i0; item < i1; ++item) {
            const int64_t t = item / n_head, h = item % n_head, kvh = h / group;
            const int64_t last = std::min<int64_t>(q_pos[t], n_kv - 1);
            const int64_t first = window > 0 ? std::max<int64_t>(0, q_pos[t] - window + 1) : 0;
            float* o = out + t * ldo + h * head_dim;
            std::fill(o, o + head_dim, 0.0f);
            if (last < first) continue;
            const float* qv = q + t * ldq + h * head_dim;
            scores.resize(size_t(last - first + 1));
            float mx = -std::numeric_limits<float>::infinity();
            for (int64_t p = first; p <= last; ++p) {
                float s = dot(qv, k + p * ldk + kvh * head_dim, head_dim) * scale;
                scores[size_t(p - first)] = s;
                mx = std::max(mx, s);
            }
            float sum = 0.0f;
            for (auto& s : scores) {
                s = std::exp(s - mx);
                sum += s;
            }
            const float inv = 1.0f / sum;
            for (int64_t p = first; p <= last; ++p)
                axpy(scores[size_t(p - first)] * inv, v + p * ldv + kvh * head_dim, o, head_dim);
        }
    });
}

}  // namespace turbolm::cpu
