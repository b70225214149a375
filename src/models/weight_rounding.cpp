#include "models/weight_rounding.h"

#include <cstring>

#include "core/error.h"
#include "core/half.h"
#include "core/parallel.h"

namespace turbolm {

namespace {

float round_to(float x, DType to) {
    return to == DType::kBF16 ? bf16_to_f32(f32_to_bf16(x)) : f16_to_f32(f32_to_f16(x));
}

// Whether `x` survives a trip through `dt` bit for bit (NaN payloads aside, which weights never hold).
bool representable(float x, DType dt) {
    float back = x;
    if (dt == DType::kBF16) back = bf16_to_f32(f32_to_bf16(x));
    if (dt == DType::kF16) back = f16_to_f32(f32_to_f16(x));
    return std::memcmp(&back, &x, sizeof x) == 0 || (x != x && back != back);
}

}  // namespace

RoundedWeights::RoundedWeights(const WeightSource& inner, DType to) : inner_(inner), to_(to) {
    TURBOLM_REQUIRE(to == DType::kBF16 || to == DType::kF16, "weights can be rounded to bf16 or f16, not ",
                    dtype_name(to));
}

Tensor RoundedWeights::get(const std::string& name, const Shape& shape, WeightKind kind) const {
    Tensor t = inner_.get(name, shape, kind);
    if (kind != WeightKind::kMatrix && kind != WeightKind::kEmbedding) return t;
    return round_weight_values(t, to_);
}

std::string RoundedWeights::describe() const {
    return inner_.describe() + " rounded to " + dtype_name(to_);
}

Tensor round_weight_values(const Tensor& w, DType to) {
    TURBOLM_REQUIRE(to == DType::kBF16 || to == DType::kF16, "weights can be rounded to bf16 or f16, not ",
                    dtype_name(to));
    // Rounding to the type already stored changes nothing.
    if (w.dtype() == to) return w;
    // Random weights drawn on a GPU come back here too: round them on the host, once, at load.
    const Tensor host = w.to_device(Device::kCpu).contiguous().to(DType::kF32);
    Tensor rounded = Tensor::empty(host.shape(), DType::kF32);
    const float* src = host.data<float>();
    float* dst = rounded.data<float>();
    const int64_t n = host.numel();
    parallel_for(n, 1 << 16, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) dst[i] = round_to(src[i], to);
    });
    bool fits_stored_dtype = true;
    for (int64_t i = 0; i < n && fits_stored_dtype; ++i) fits_stored_dtype = representable(dst[i], w.dtype());
    const Tensor stored = fits_stored_dtype ? rounded.to(w.dtype()) : rounded;
    return stored.to_device(w.device());
}

}  // namespace turbolm
