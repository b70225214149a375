// Weight-only INT4 on the CPU: the reference the GPU kernels are tested against, and a usable path
// for small models. The quantizer's arithmetic is the one ops.h specifies, step by step, so that
// the GPU can give the same bits.
#include "ops/cpu/cpu_int4.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/half.h"
#include "core/parallel.h"

namespace turbolm::cpu {
namespace {

// Eight running sums let the compiler keep the loop in vector registers without reassociating a
// single sum; the order is fixed, so the result does not depend on the thread count.
float dot(const float* a, const float* b, int64_t n) {
    float s[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) s[j] += a[i + j] * b[i + j];
    float acc = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; ++i) acc += a[i] * b[i];
    return acc;
}

// Row r of the weight as f32: (code - zero) * scale is exact in f32 (a 5-bit integer times an f16).
void dequantize_row(const Int4Weights& w, int64_t r, int64_t k, float* out) {
    const uint8_t* q = w.q + r * w.ldq;
    for (int64_t c0 = 0; c0 < k; c0 += w.group) {
        const int64_t gi = c0 / w.group;
        const float s = f16_to_f32(w.scale[r * w.lds + gi]);
        const int z = w.zero[r * w.ldz + gi];
        for (int64_t c = c0; c < c0 + w.group; c += 2) {
            const uint8_t byte = q[c / 2];
            out[c] = float(int(byte & 0x0f) - z) * s;
            out[c + 1] = float(int(byte >> 4) - z) * s;
        }
    }
}

float load(const void* w, DType dtype, int64_t i) {
    switch (dtype) {
        case DType::kF32:
            return static_cast<const float*>(w)[i];
        case DType::kBF16:
            return bf16_to_f32(static_cast<const uint16_t*>(w)[i]);
        case DType::kF16:
            return f16_to_f32(static_cast<const uint16_t*>(w)[i]);
        default:
            return 0.0f;
    }
}

constexpr uint16_t kF16One = 0x3c00;

template <typename E>
void gather_typed(const E* src, int64_t lds, const int32_t* perm, E* dst, int64_t ldd, int64_t rows, int64_t cols) {
    for (int64_t t = 0; t < rows; ++t)
        for (int64_t c = 0; c < cols; ++c) dst[t * ldd + c] = src[t * lds + perm[c]];
}

}  // namespace

void linear_int4(const float* x, int64_t ldx, const Int4Weights& w, const float* bias, float* y, int64_t ldy, int64_t m,
                 int64_t n, int64_t k, bool accumulate) {
    parallel_for(n, 16, [&](int64_t begin, int64_t end) {
        std::vector<float> row(static_cast<size_t>(k));
        for (int64_t r = begin; r < end; ++r) {
            dequantize_row(w, r, k, row.data());
            for (int64_t t = 0; t < m; ++t) {
                const float v = dot(x + t * ldx, row.data(), k) + (bias ? bias[r] : 0.0f);
                float& out = y[t * ldy + r];
                out = accumulate ? out + v : v;
            }
        }
    });
}

void quantize_groups_int4(const void* w, DType dtype, int64_t ldw, int64_t rows, int64_t cols, int64_t group,
                          uint8_t* q, int64_t ldq, uint16_t* scale, int64_t lds, uint8_t* zero, int64_t ldz) {
    parallel_for(rows, 8, [&](int64_t begin, int64_t end) {
        std::vector<float> v(static_cast<size_t>(group));
        for (int64_t r = begin; r < end; ++r) {
            for (int64_t c0 = 0; c0 < cols; c0 += group) {
                for (int64_t i = 0; i < group; ++i) v[size_t(i)] = load(w, dtype, r * ldw + c0 + i);
                float lo = v[0], hi = v[0];
                for (int64_t i = 1; i < group; ++i) {
                    lo = std::min(lo, v[size_t(i)]);
                    hi = std::max(hi, v[size_t(i)]);
                }
                uint16_t bits = f32_to_f16((hi - lo) / 15.0f);
                if (f16_to_f32(bits) == 0.0f) bits = kF16One;  // a constant group: no range to divide
                const float s = f16_to_f32(bits);
                const float z = std::clamp(std::nearbyint(-lo / s), 0.0f, 15.0f);
                scale[r * lds + c0 / group] = bits;
                zero[r * ldz + c0 / group] = uint8_t(z);
                for (int64_t i = 0; i < group; i += 2) {
                    const float lo_code = std::clamp(std::nearbyint(v[size_t(i)] / s) + z, 0.0f, 15.0f);
                    const float hi_code = std::clamp(std::nearbyint(v[size_t(i + 1)] / s) + z, 0.0f, 15.0f);
                    q[r * ldq + (c0 + i) / 2] = uint8_t(unsigned(lo_code) | (unsigned(hi_code) << 4));
                }
            }
        }
    });
}

void gather_columns(const void* src, int64_t lds, const int32_t* perm, void* dst, int64_t ldd, int64_t rows,
                    int64_t cols, size_t elem_size) {
    switch (elem_size) {
        case 1:
            return gather_typed(static_cast<const uint8_t*>(src), lds, perm, static_cast<uint8_t*>(dst), ldd, rows,
                                cols);
        case 2:
            return gather_typed(static_cast<const uint16_t*>(src), lds, perm, static_cast<uint16_t*>(dst), ldd, rows,
                                cols);
        case 4:
            return gather_typed(static_cast<const uint32_t*>(src), lds, perm, static_cast<uint32_t*>(dst), ldd, rows,
                                cols);
        case 8:
            return gather_typed(static_cast<const uint64_t*>(src), lds, perm, static_cast<uint64_t*>(dst), ldd, rows,
                                cols);
        default:
            break;
    }
    const auto* s = static_cast<const char*>(src);
    auto* d = static_cast<char*>(dst);
    for (int64_t t = 0; t < rows; ++t)
        for (int64_t c = 0; c < cols; ++c)
            std::memcpy(d + size_t(t * ldd + c) * elem_size, s + size_t(t * lds + perm[c]) * elem_size, elem_size);
}

}  // namespace turbolm::cpu
