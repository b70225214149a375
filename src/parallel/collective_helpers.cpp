#include "parallel/collective_helpers.h"

#include <cstring>

#include "core/error.h"
#include "core/half.h"

namespace turbolm::collective {

RankOrderSum::RankOrderSum(DType dtype, int64_t n) : dtype_(dtype), sum_(static_cast<size_t>(n), 0.0f) {
    if (dtype != DType::kF32 && dtype != DType::kBF16 && dtype != DType::kF16)
        fail(StatusCode::kInvalidArgument, "all_reduce_sum of ", dtype_name(dtype), " (f32, bf16 or f16)");
}

void RankOrderSum::add(const void* values) {
    const int64_t n = int64_t(sum_.size());
    if (dtype_ == DType::kF32) {
        const float* v = static_cast<const float*>(values);
        for (int64_t i = 0; i < n; ++i) sum_[size_t(i)] += v[i];
        return;
    }
    const uint16_t* v = static_cast<const uint16_t*>(values);
    const bool bf = dtype_ == DType::kBF16;
    for (int64_t i = 0; i < n; ++i) sum_[size_t(i)] += bf ? bf16_to_f32(v[i]) : f16_to_f32(v[i]);
}

void RankOrderSum::store(void* out) const {
    const int64_t n = int64_t(sum_.size());
    if (dtype_ == DType::kF32) {
        std::memcpy(out, sum_.data(), size_t(n) * sizeof(float));
        return;
    }
    uint16_t* o = static_cast<uint16_t*>(out);
    const bool bf = dtype_ == DType::kBF16;
    for (int64_t i = 0; i < n; ++i) o[i] = bf ? f32_to_bf16(sum_[size_t(i)]) : f32_to_f16(sum_[size_t(i)]);
}

}  // namespace turbolm::collective
