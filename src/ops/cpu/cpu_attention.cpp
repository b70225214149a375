// Causal (optionally sliding-window) attention over a contiguous KV cache. One work item is a
// query token and one key/value head together with all the query heads that share it (GQA), so
// each key and value row is read once per group rather than once per query head. Scores and the
// softmax are f32 with the maximum subtracted first, as in HF's eager path.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/parallel.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/fast_math.h"
#include "ops/cpu/gemm.h"

namespace turbolm::cpu {
namespace {

// q, out: [group, head_dim] (the query heads of one kv head, adjacent in memory); k, v rows at
// position p: k + p * ldk; scores: scratch of group * (last - first + 1) floats.
// Compiled once per instruction set (chosen at load time); the plain loops vectorize in each clone.
__attribute__((target_clones("avx512f", "avx2", "default"))) void attend_group(
    const float* q, const float* k, int64_t ldk, const float* v, int64_t ldv, int64_t first, int64_t last,
    int64_t group, int64_t head_dim, float scale, float* scores, float* out) {
    const int64_t n = last - first + 1;
    for (int64_t p = first; p <= last; ++p) {
        const float* kr = k + p * ldk;
        for (int64_t g = 0; g < group; ++g) {
            const float* qg = q + g * head_dim;
            float s = 0.0f;
#pragma omp simd reduction(+ : s)
            for (int64_t d = 0; d < head_dim; ++d) s += qg[d] * kr[d];
            scores[g * n + (p - first)] = s * scale;
        }
    }
    for (int64_t g = 0; g < group; ++g) {
        float* sg = scores + g * n;
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t i = 0; i < n; ++i) mx = std::max(mx, sg[i]);
        float sum = 0.0f;
        for (int64_t i = 0; i < n; ++i) {
            sg[i] = exp_f32(sg[i] - mx);
            sum += sg[i];
        }
        const float inv = 1.0f / sum;
        for (int64_t i = 0; i < n; ++i) sg[i] *= inv;
        float* og = out + g * head_dim;
        std::fill(og, og + head_dim, 0.0f);
    }
    for (int64_t p = first; p <= last; ++p) {
        const float* vr = v + p * ldv;
        for (int64_t g = 0; g < group; ++g) {
            const float w = scores[g * n + (p - first)];
            float* og = out + g * head_dim;
#pragma omp simd
            for (int64_t d = 0; d < head_dim; ++d) og[d] += w * vr[d];
        }
    }
}

// Prefill: a block of query tokens against the keys they can see, as two matrix products
// (S = Q K^T, O = P V) so that the work runs in the register-blocked GEMM kernels.
// q rows of the block: token t's heads of this kv head are group * head_dim floats at q + t * ldq.
struct BlockScratch {
    std::vector<float> q, s, vt, o;
};

void attend_block(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
                  const int32_t* q_pos, int64_t t0, int64_t t1, int64_t n_kv, int64_t group, int64_t head_dim,
                  float scale, int64_t window, float* out, int64_t ldo, BlockScratch& b) {
    const int64_t rows = (t1 - t0) * group;
    int64_t first = n_kv, last = -1;
    for (int64_t t = t0; t < t1; ++t) {
        last = std::max<int64_t>(last, std::min<int64_t>(q_pos[t], n_kv - 1));
        first = std::min<int64_t>(first, window > 0 ? std::max<int64_t>(0, q_pos[t] - window + 1) : 0);
    }
    const int64_t n = last - first + 1;
    b.q.resize(size_t(rows * head_dim));
    for (int64_t t = t0; t < t1; ++t)
        std::copy_n(q + t * ldq, group * head_dim, b.q.data() + (t - t0) * group * head_dim);
    b.s.resize(size_t(rows * std::max<int64_t>(n, 1)));
    b.o.resize(size_t(rows * head_dim));
    if (n <= 0) {
        std::fill(b.o.begin(), b.o.end(), 0.0f);
    } else {
        gemm(b.q.data(), head_dim, k + first * ldk, DType::kF32, ldk, nullptr, b.s.data(), n, rows, n, head_dim,
             false, MatmulPrecision::kF32);
        for (int64_t r = 0; r < rows; ++r) {
            const int64_t t = t0 + r / group;
            const int64_t hi = std::min<int64_t>(q_pos[t], n_kv - 1) - first;
            const int64_t lo = (window > 0 ? std::max<int64_t>(0, q_pos[t] - window + 1) : 0) - first;
            float* sr = b.s.data() + r * n;
            float mx = -std::numeric_limits<float>::infinity();
            for (int64_t i = lo; i <= hi; ++i) mx = std::max(mx, sr[i] * scale);
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int64_t i = 0; i < n; ++i) {
                sr[i] = (i >= lo && i <= hi) ? exp_f32(sr[i] * scale - mx) : 0.0f;
                sum += sr[i];
            }
            const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
            for (int64_t i = 0; i < n; ++i) sr[i] *= inv;
        }
        // O = P V computed as P (V^T)^T: the GEMM reads its second operand as rows of length n.
        b.vt.resize(size_t(head_dim * n));
        for (int64_t p = 0; p < n; ++p) {
            const float* vr = v + (first + p) * ldv;
            for (int64_t d = 0; d < head_dim; ++d) b.vt[size_t(d * n + p)] = vr[d];
        }
        gemm(b.s.data(), n, b.vt.data(), DType::kF32, n, nullptr, b.o.data(), head_dim, rows, head_dim, n, false,
             MatmulPrecision::kF32);
    }
    for (int64_t t = t0; t < t1; ++t)
        std::copy_n(b.o.data() + (t - t0) * group * head_dim, group * head_dim, out + t * ldo);
}

// Query tokens per prefill block: enough rows (times the group) for the tiled GEMM path, few enough
// that the causal mask wastes little.
constexpr int64_t kBlockTokens = 32;

}  // namespace

void attention(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
               const int32_t* q_pos, int64_t tokens, int64_t n_kv, int64_t n_head, int64_t n_head_kv,
               int64_t head_dim, float scale, int64_t window, float* out, int64_t ldo) {
    const int64_t group = n_head / n_head_kv;
    if (tokens >= kBlockTokens) {
        const int64_t blocks = (tokens + kBlockTokens - 1) / kBlockTokens;
        parallel_for(blocks * n_head_kv, 1, [&](int64_t i0, int64_t i1) {
            BlockScratch scratch;
            for (int64_t item = i0; item < i1; ++item) {
                const int64_t blk = item / n_head_kv, kvh = item % n_head_kv;
                const int64_t t0 = blk * kBlockTokens, t1 = std::min(tokens, t0 + kBlockTokens);
                attend_block(q + kvh * group * head_dim, ldq, k + kvh * head_dim, ldk, v + kvh * head_dim, ldv, q_pos,
                             t0, t1, n_kv, group, head_dim, scale, window, out + kvh * group * head_dim, ldo, scratch);
            }
        });
        return;
    }
    parallel_for(tokens * n_head_kv, 1, [&](int64_t i0, int64_t i1) {
        std::vector<float> scores;
        for (int64_t item = i0; item < i1; ++item) {
            const int64_t t = item / n_head_kv, kvh = item % n_head_kv;
            const int64_t last = std::min<int64_t>(q_pos[t], n_kv - 1);
            const int64_t first = window > 0 ? std::max<int64_t>(0, q_pos[t] - window + 1) : 0;
            float* o = out + t * ldo + kvh * group * head_dim;
            if (last < first) {
                std::fill(o, o + group * head_dim, 0.0f);
                continue;
            }
            scores.resize(size_t(group * (last - first + 1)));
            attend_group(q + t * ldq + kvh * group * head_dim, k + kvh * head_dim, ldk, v + kvh * head_dim, ldv,
                         first, last, group, head_dim, scale, scores.data(), o);
        }
    });
}

}  // namespace turbolm::cpu
