// Where a model's weights come from: a checkpoint on disk, or random values of the right shapes
// (--dummy-weights, for benchmarking real model shapes without real weights). Every tensor is
// checked against the shape the config implies; a mismatch names the file and tensor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/checkpoint.h"

namespace turbolm {

enum class WeightKind : uint8_t { kMatrix, kEmbedding, kNormScale, kNormBias, kBias };

class WeightSource {
public:
    virtual ~WeightSource() = default;
    virtual bool has(const std::string& name) const = 0;
    // A float tensor of exactly `shape`, in its stored dtype (f32, bf16 or f16); zero-copy where possible.
    virtual Tensor get(const std::string& name, const Shape& shape, WeightKind kind) const = 0;
    virtual std::string describe() const = 0;
    // The stored tensor of any dtype and shape, unchecked: the readers of packed (quantized) layouts
    // check it against what their layout expects. Sources without stored tensors throw kUnimplemented.
    virtual Tensor get_stored(const std::string& name) const;
    // Where `name` is stored (the file), for messages.
    virtual std::string file_of(const std::string& name) const { return describe(); }
    // Made-up weights: dense whatever the config's quantization says (so --dummy-weights keeps
    // measuring the model's shapes from the config of a quantized checkpoint).
    virtual bool synthetic() const { return false; }
};

class CheckpointWeights final : public WeightSource {
public:
    explicit CheckpointWeights(Checkpoint ckpt) : ckpt_(std::move(ckpt)) {}
    bool has(const std::string& name) const override { return ckpt_.has(name); }
    Tensor get(const std::string& name, const Shape& shape, WeightKind kind) const override;
    std::string describe() const override { return ckpt_.dir().string(); }
    Tensor get_stored(const std::string& name) const override;
    std::string file_of(const std::string& name) const override { return ckpt_.file_of(name); }

private:
    Checkpoint ckpt_;
};

// Deterministic random weights: matrices uniform with variance 1/fan_in (so activations keep their
// scale through the layers), norm scales 1, biases 0.
class RandomWeights final : public WeightSource {
public:
    // On a device other than the CPU the values are drawn there (a different, equally deterministic
    // stream), so that a 16 GB model needs neither host memory nor a transfer.
    RandomWeights(DType dtype, uint64_t seed, Device device = Device::kCpu)
        : dtype_(dtype), seed_(seed), device_(device) {}
    bool has(const std::string& name) const override { return true; }
    Tensor get(const std::string& name, const Shape& shape, WeightKind kind) const override;
    std::string describe() const override { return "random weights"; }
    bool synthetic() const override { return true; }

private:
    DType dtype_;
    uint64_t seed_;
    Device device_;
};

// Helpers the architectures use.
// A matrix or embedding kept in its stored dtype.
Tensor load_matrix(const WeightSource& src, const std::string& name, const Shape& shape,
                   WeightKind kind = WeightKind::kMatrix);
// A copy of w [rows, cols] whose row i is w's row rows[i], in w's dtype (for fused projections whose
// heads are interleaved on disk).
Tensor gather_weight_rows(const Tensor& w, const std::vector<int64_t>& rows);
// A small vector (norm scale/bias, linear bias) converted to f32.
Tensor load_vector(const WeightSource& src, const std::string& name, int64_t n, WeightKind kind);

}  // namespace turbolm
