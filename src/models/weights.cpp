#include "models/weights.h"

#include <cmath>
#include <cstring>
#include <functional>

#include "core/half.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "ops/ops.h"

namespace turbolm {

Tensor WeightSource::get_stored(const std::string& name) const {
    fail(StatusCode::kUnimplemented, describe(), ": tensor '", name,
         "': packed (quantized) tensors cannot be read from here");
}

Tensor CheckpointWeights::get_stored(const std::string& name) const {
    if (!ckpt_.has(name))
        fail(StatusCode::kNotFound, ckpt_.dir().string(), ": tensor '", name, "' is missing from the checkpoint");
    return ckpt_.get(name);
}

Tensor CheckpointWeights::get(const std::string& name, const Shape& shape, WeightKind kind) const {
    if (!ckpt_.has(name))
        fail(StatusCode::kNotFound, ckpt_.dir().string(), ": tensor '", name, "' is missing from the checkpoint");
    Tensor t = ckpt_.get(name);
    const std::string file = ckpt_.file_of(name);
    if (t.dtype() != DType::kF32 && t.dtype() != DType::kBF16 && t.dtype() != DType::kF16)
        fail(StatusCode::kInvalidArgument, file, ": tensor '", name, "' has dtype ", dtype_name(t.dtype()),
             "; expected a float tensor (f32, bf16 or f16)");
    if (t.shape() != shape)
        fail(StatusCode::kInvalidArgument, file, ": tensor '", name, "' has shape ", t.shape().to_string(),
             " but the config implies ", shape.to_string());
    return t;
}

Tensor RandomWeights::get(const std::string& name, const Shape& shape, WeightKind kind) const {
    const DType dt = (kind == WeightKind::kMatrix || kind == WeightKind::kEmbedding) ? dtype_ : DType::kF32;
    TURBOLM_CHECK(dt == DType::kF32 || dt == DType::kBF16 || dt == DType::kF16, "random weights of ", dtype_name(dt));
    Tensor t = Tensor::empty(shape, dt, device_);
    const int64_t n = t.numel();
    // Uniform on [-a, a] has variance a^2 / 3; embeddings get unit variance like a trained table's scale.
    const int64_t fan = shape[shape.size() - 1];
    const float bound = kind == WeightKind::kEmbedding ? 1.7320508f : std::sqrt(3.0f / float(fan));
    if (device_ != Device::kCpu) {
        if (kind == WeightKind::kMatrix || kind == WeightKind::kEmbedding) {
            ops::fill_uniform(t, -bound, bound, seed_ ^ std::hash<std::string>{}(name));
        } else {
            ops::fill_constant(t, kind == WeightKind::kNormScale ? 1.0f : 0.0f);
        }
        return t;
    }
    if (kind == WeightKind::kNormScale || kind == WeightKind::kNormBias || kind == WeightKind::kBias) {
        float* p = t.data<float>();
        for (int64_t i = 0; i < n; ++i) p[i] = kind == WeightKind::kNormScale ? 1.0f : 0.0f;
        return t;
    }
    const float a = bound;
    const uint64_t name_seed = seed_ ^ std::hash<std::string>{}(name);
    constexpr int64_t kChunk = 1 << 16;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    void* base = t.raw_data();
    parallel_for(chunks, 4, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
            Rng rng(name_seed + uint64_t(c) * 0x9e3779b97f4a7c15ull);
            const int64_t begin = c * kChunk, end = std::min(n, (c + 1) * kChunk);
            if (dt == DType::kF32) {
                float* p = static_cast<float*>(base);
                for (int64_t i = begin; i < end; ++i) p[i] = a * rng.uniform_pm1();
            } else {
                uint16_t* p = static_cast<uint16_t*>(base);
                if (dt == DType::kBF16) {
                    for (int64_t i = begin; i < end; ++i) p[i] = f32_to_bf16(a * rng.uniform_pm1());
                } else {
                    for (int64_t i = begin; i < end; ++i) p[i] = f32_to_f16(a * rng.uniform_pm1());
                }
            }
        }
    });
    return t;
}

Tensor load_matrix(const WeightSource& src, const std::string& name, const Shape& shape, WeightKind kind) {
    return src.get(name, shape, kind);
}

Tensor gather_weight_rows(const Tensor& w, const std::vector<int64_t>& rows) {
    TURBOLM_CHECK(w.ndim() <= 2 && w.is_contiguous(), "gather_weight_rows of ", w.describe());
    if (w.device() != Device::kCpu) {
        std::vector<int32_t> idx(rows.begin(), rows.end());
        Tensor idx_dev = Tensor::wrap(idx.data(), {int64_t(idx.size())}, DType::kI32, nullptr).to_device(w.device());
        Tensor src = w.ndim() == 2 ? w : w.view({w.size(0), 1});
        Tensor out = Tensor::empty({int64_t(rows.size()), src.size(1)}, w.dtype(), w.device());
        ops::gather_rows(src, idx_dev, out);
        return w.ndim() == 2 ? out : out.view({int64_t(rows.size())});
    }
    const int64_t cols = w.ndim() == 2 ? w.size(1) : 1;
    Shape shape = w.ndim() == 2 ? Shape{int64_t(rows.size()), cols} : Shape{int64_t(rows.size())};
    Tensor out = Tensor::empty(shape, w.dtype());
    const size_t row_bytes = size_t(cols) * dtype_size(w.dtype());
    const char* src = static_cast<const char*>(w.raw_data());
    char* dst = static_cast<char*>(out.raw_data());
    for (size_t i = 0; i < rows.size(); ++i) {
        TURBOLM_CHECK(rows[i] >= 0 && rows[i] < w.size(0), "row ", rows[i], " of ", w.describe());
        std::memcpy(dst + i * row_bytes, src + size_t(rows[i]) * row_bytes, row_bytes);
    }
    return out;
}

Tensor load_vector(const WeightSource& src, const std::string& name, int64_t n, WeightKind kind) {
    Tensor t = src.get(name, {n}, kind);
    return t.dtype() == DType::kF32 ? t : t.to(DType::kF32);
}

}  // namespace turbolm
