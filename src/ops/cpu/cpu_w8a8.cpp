// W8A8 on the CPU. The quantizers use the same arithmetic as the CUDA ones (an f32 division by the
// row's scale, then the rounding), so both backends see identical codes and scales; the products of
// 8-bit values are exact in f32 (FP8) or int32 (INT8), which leaves only the order of the f32 sums.
#include "ops/cpu/cpu_w8a8.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "core/half.h"
#include "core/parallel.h"

namespace turbolm::cpu {
namespace {

float load(const void* x, DType dtype, int64_t i) {
    switch (dtype) {
        case DType::kF32:
            return static_cast<const float*>(x)[i];
        case DType::kBF16:
            return bf16_to_f32(static_cast<const uint16_t*>(x)[i]);
        case DType::kF16:
            return f16_to_f32(static_cast<const uint16_t*>(x)[i]);
        default:
            return 0.0f;
    }
}

// Every e4m3 code decoded once.
const std::array<float, 256>& e4m3_values() {
    static const std::array<float, 256> table = [] {
        std::array<float, 256> t{};
        for (int i = 0; i < 256; ++i) t[size_t(i)] = f8e4m3_to_f32(uint8_t(i));
        return t;
    }();
    return table;
}

// Eight running sums so that the compiler can keep them in vector registers; the order is fixed,
// so the result does not depend on the thread that computes it.
float dot(const float* a, const float* b, int64_t k) {
    float s[8] = {};
    int64_t c = 0;
    for (; c + 8 <= k; c += 8)
        for (int j = 0; j < 8; ++j) s[j] += a[c + j] * b[c + j];
    for (int j = 0; c < k; ++c, ++j) s[j] += a[c] * b[c];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

int32_t dot(const int8_t* a, const int8_t* b, int64_t k) {
    int32_t s = 0;
    for (int64_t c = 0; c < k; ++c) s += int32_t(a[c]) * int32_t(b[c]);
    return s;
}

void store(float v, bool accumulate, float& out) {
    out = accumulate ? out + v : v;
}

}  // namespace

void quantize_rows_fp8(const void* x, DType dtype, int64_t ldx, uint8_t* q, float* scale, int64_t rows, int64_t cols,
                       float zero_scale) {
    parallel_for(rows, 4, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            float absmax = 0.0f;
            for (int64_t c = 0; c < cols; ++c) absmax = std::max(absmax, std::fabs(load(x, dtype, r * ldx + c)));
            // The codes are x * (1 / s): one reciprocal a row, not a division an element (the GPU's
            // kernels make the same codes). No code can be formed when s underflows to zero or is so
            // small that its reciprocal overflows.
            const float s = absmax / 448.0f, f = 1.0f / s;
            const bool nonzero = s > 0.0f && std::isfinite(f);
            scale[r] = nonzero ? s : zero_scale;
            for (int64_t c = 0; c < cols; ++c)
                q[r * cols + c] = nonzero ? f32_to_f8e4m3(load(x, dtype, r * ldx + c) * f) : uint8_t(0);
        }
    });
}

void quantize_rows_int8_smooth(const float* x, int64_t ldx, const float* inv_smooth, int8_t* q, float* scale,
                               int64_t rows, int64_t cols) {
    parallel_for(rows, 4, [&](int64_t begin, int64_t end) {
        std::vector<float> row(static_cast<size_t>(cols));
        for (int64_t r = begin; r < end; ++r) {
            float absmax = 0.0f;
            for (int64_t c = 0; c < cols; ++c) {
                const float v = inv_smooth ? x[r * ldx + c] * inv_smooth[c] : x[r * ldx + c];
                row[size_t(c)] = v;
                absmax = std::max(absmax, std::fabs(v));
            }
            const float s = absmax / 127.0f;
            const bool nonzero = s > 0.0f;
            scale[r] = s;
            for (int64_t c = 0; c < cols; ++c) {
                // fmin/fmax as the GPU's fminf/fmaxf, so that even a NaN maps to the same code.
                const float v =
                    nonzero ? std::fmin(std::fmax(std::nearbyint(row[size_t(c)] / s), -127.0f), 127.0f) : 0.0f;
                q[r * cols + c] = static_cast<int8_t>(v);
            }
        }
    });
}

namespace {

// The FP8 products' loop: the activation codes xq [m, k] decoded once, then, over the weight rows in
// parallel, each row of q decoded and fn(r, xd, row) called with both as floats.
template <typename Fn>
void over_decoded_rows(const uint8_t* xq, const uint8_t* q, int64_t ldq, int64_t m, int64_t n, int64_t k, Fn&& fn) {
    const std::array<float, 256>& value = e4m3_values();
    std::vector<float> xd(static_cast<size_t>(m * k));
    for (size_t i = 0; i < xd.size(); ++i) xd[i] = value[xq[i]];
    parallel_for(n, 16, [&](int64_t begin, int64_t end) {
        std::vector<float> row(static_cast<size_t>(k));
        for (int64_t r = begin; r < end; ++r) {
            for (int64_t c = 0; c < k; ++c) row[size_t(c)] = value[q[r * ldq + c]];
            fn(r, static_cast<const float*>(xd.data()), static_cast<const float*>(row.data()));
        }
    });
}

}  // namespace

void linear_fp8_codes(const uint8_t* xq, const float* xscale, const uint8_t* q, int64_t ldq, const float* scale,
                      const float* bias, float* y, int64_t ldy, int64_t m, int64_t n, int64_t k, bool accumulate) {
    over_decoded_rows(xq, q, ldq, m, n, k, [&](int64_t r, const float* xd, const float* row) {
        for (int64_t t = 0; t < m; ++t) {
            const float acc = dot(xd + t * k, row, k);
            store(acc * xscale[t] * scale[r] + (bias ? bias[r] : 0.0f), accumulate, y[t * ldy + r]);
        }
    });
}

void linear_fp8(const float* x, int64_t ldx, const uint8_t* q, int64_t ldq, const float* scale, const float* bias,
                float* y, int64_t ldy, int64_t m, int64_t n, int64_t k, bool accumulate) {
    std::vector<uint8_t> xq(static_cast<size_t>(m * k));
    std::vector<float> xs(static_cast<size_t>(m));
    quantize_rows_fp8(x, DType::kF32, ldx, xq.data(), xs.data(), m, k, 0.0f);
    linear_fp8_codes(xq.data(), xs.data(), q, ldq, scale, bias, y, ldy, m, n, k, accumulate);
}

void quantize_blocks_fp8(const void* w, DType dtype, int64_t ldw, uint8_t* q, float* scale, int64_t rows,
                         int64_t cols, int64_t block) {
    const int64_t bc = cols / block;
    parallel_for(rows / block * bc, 1, [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
            const int64_t r0 = (b / bc) * block, c0 = (b % bc) * block;
            float absmax = 0.0f;
            for (int64_t r = r0; r < r0 + block; ++r)
                for (int64_t c = c0; c < c0 + block; ++c) absmax = std::max(absmax, std::fabs(load(w, dtype, r * ldw + c)));
            const float s = absmax / 448.0f, f = 1.0f / s;
            const bool nonzero = s > 0.0f && std::isfinite(f);
            scale[b] = nonzero ? s : 1.0f;
            for (int64_t r = r0; r < r0 + block; ++r)
                for (int64_t c = c0; c < c0 + block; ++c)
                    q[r * cols + c] = nonzero ? f32_to_f8e4m3(load(w, dtype, r * ldw + c) * f) : uint8_t(0);
        }
    });
}

void linear_fp8_block(const float* x, int64_t ldx, const uint8_t* q, int64_t ldq, const float* scale,
                      const float* bias, float* y, int64_t ldy, int64_t m, int64_t n, int64_t k, int64_t block,
                      bool accumulate) {
    const int64_t groups = k / block;
    std::vector<uint8_t> xq(static_cast<size_t>(m * k));
    std::vector<float> xs(static_cast<size_t>(m * groups));
    // A token's group of columns is a row of `block` values to quantize_rows_fp8.
    for (int64_t t = 0; t < m; ++t)
        for (int64_t g = 0; g < groups; ++g)
            quantize_rows_fp8(x + t * ldx + g * block, DType::kF32, ldx, xq.data() + t * k + g * block,
                              xs.data() + t * groups + g, 1, block, 0.0f);
    over_decoded_rows(xq.data(), q, ldq, m, n, k, [&](int64_t r, const float* xd, const float* row) {
        const float* wscale = scale + (r / block) * groups;
        for (int64_t t = 0; t < m; ++t) {
            float acc = 0.0f;
            for (int64_t g = 0; g < groups; ++g)
                acc += dot(xd + t * k + g * block, row + g * block, block) * xs[size_t(t * groups + g)] * wscale[g];
            store(acc + (bias ? bias[r] : 0.0f), accumulate, y[t * ldy + r]);
        }
    });
}

void linear_w8a8_int8(const float* x, int64_t ldx, const float* inv_smooth, const int8_t* q, int64_t ldq,
                      const float* scale, const float* bias, float* y, int64_t ldy, int64_t m, int64_t n, int64_t k,
                      bool accumulate) {
    std::vector<int8_t> xq(static_cast<size_t>(m * k));
    std::vector<float> xs(static_cast<size_t>(m));
    quantize_rows_int8_smooth(x, ldx, inv_smooth, xq.data(), xs.data(), m, k);
    parallel_for(n, 16, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            for (int64_t t = 0; t < m; ++t) {
                const int32_t acc = dot(xq.data() + t * k, q + r * ldq, k);
                store(float(acc) * xs[size_t(t)] * scale[r] + (bias ? bias[r] : 0.0f), accumulate, y[t * ldy + r]);
            }
        }
    });
}

}  // namespace turbolm::cpu
