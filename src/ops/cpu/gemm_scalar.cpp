// Portable gemm kernels: the fallback for CPUs without AVX2 and the plainest statement of what every
// other path computes. Only the dot path exists here; it serves every m.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/half.h"
#include "ops/cpu/gemm_kernels.h"

namespace turbolm::cpu::gemm_detail {
namespace {

float round_x(float v, XRound r) {
    switch (r) {
        case XRound::kNone:
            return v;
        case XRound::kBf16:
            return bf16_to_f32(f32_to_bf16(v));
        case XRound::kF16:
            return f16_to_f32(f32_to_f16(v));
    }
    return v;
}

void widen_row(const void* w, DType dt, int64_t ldw, int64_t j, int64_t k, float* out) {
    switch (dt) {
        case DType::kF32:
            std::memcpy(out, static_cast<const float*>(w) + j * ldw, size_t(k) * 4);
            return;
        case DType::kBF16: {
            const uint16_t* row = static_cast<const uint16_t*>(w) + j * ldw;
            for (int64_t i = 0; i < k; ++i) out[i] = bf16_to_f32(row[i]);
            return;
        }
        default: {
            const uint16_t* row = static_cast<const uint16_t*>(w) + j * ldw;
            for (int64_t i = 0; i < k; ++i) out[i] = f16_to_f32(row[i]);
            return;
        }
    }
}

// Eight partial sums: shorter rounding chains than one running sum, and a loop compilers vectorize.
float dot(const float* a, const float* b, int64_t k) {
    float s[8] = {};
    int64_t i = 0;
    for (; i + 8 <= k; i += 8)
        for (int l = 0; l < 8; ++l) s[l] += a[i + l] * b[i + l];
    for (int l = 0; i < k; ++i, ++l) s[l] += a[i] * b[i];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

int64_t x_row_bytes(int64_t k) {
    return (k * 4 + 63) / 64 * 64;
}

void prepare_x(const GemmArgs& a, void* xp, int64_t row_bytes, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
        float* out = reinterpret_cast<float*>(static_cast<char*>(xp) + i * row_bytes);
        const float* x = a.x + i * a.ldx;
        for (int64_t c = 0; c < a.k; ++c) out[c] = round_x(x[c], a.round);
    }
}

void rows(const GemmArgs& a, const void* xp, int64_t row_bytes, int64_t j0, int64_t j1) {
    thread_local std::vector<float> wrow;
    wrow.resize(size_t(a.k));
    for (int64_t j = j0; j < j1; ++j) {
        widen_row(a.w, a.w_dtype, a.ldw, j, a.k, wrow.data());
        const float b = a.bias ? a.bias[j] : 0.0f;
        for (int64_t i = 0; i < a.m; ++i) {
            const float* x = reinterpret_cast<const float*>(static_cast<const char*>(xp) + i * row_bytes);
            float& y = a.y[i * a.ldy + j];
            const float s = dot(wrow.data(), x, a.k) + b;
            y = a.accumulate ? y + s : s;
        }
    }
}

}  // namespace

const KernelSet& scalar_kernels() {
    static const KernelSet set{"scalar", INT64_MAX, {x_row_bytes, prepare_x, rows}, {}};
    return set;
}

}  // namespace turbolm::cpu::gemm_detail
