// Quantized projections placed on the GPU: q/k/v and gate/up of INT4 parts fuse into one projection
// whose codes, scales, zero points and biases are the parts' rows stacked, byte for byte, and whose
// side tensors (input permutation) reach the device too; FP8 parts keep their f8 codes and f32 scales.
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "core/half.h"
#include "models/weight_placement.h"
#include "ops/ops.h"

namespace turbolm {
namespace {

Linear random_int4(int64_t out, int64_t in, int64_t group, std::mt19937_64& rng, bool bias) {
    Linear l;
    l.format = WeightFormat::kInt4;
    l.group = group;
    l.w = Tensor::empty({out, in / 2}, DType::kU8);
    l.scale = Tensor::empty({out, in / group}, DType::kF16);
    l.zero = Tensor::empty({out, in / group}, DType::kU8);
    for (int64_t i = 0; i < l.w.numel(); ++i) l.w.data<uint8_t>()[i] = uint8_t(rng());
    for (int64_t i = 0; i < l.zero.numel(); ++i) l.zero.data<uint8_t>()[i] = uint8_t(rng() % 16);
    std::uniform_real_distribution<float> s(1e-3f, 0.05f);
    for (int64_t i = 0; i < l.scale.numel(); ++i) l.scale.data<uint16_t>()[i] = f32_to_f16(s(rng));
    if (bias) {
        l.b = Tensor::empty({out}, DType::kF32);
        for (int64_t i = 0; i < out; ++i) l.b.data<float>()[i] = s(rng);
    }
    return l;
}

// `fused` (on the device) holds the parts' bytes one after another.
void expect_stacked(const Tensor& fused, std::initializer_list<const Tensor*> parts, const char* what) {
    ASSERT_TRUE(fused.defined()) << what;
    EXPECT_EQ(fused.device(), Device::kCuda) << what;
    const Tensor f = fused.to_device(Device::kCpu).contiguous();
    size_t at = 0;
    for (const Tensor* p : parts) {
        ASSERT_EQ(p->dtype(), f.dtype()) << what;
        EXPECT_EQ(std::memcmp(static_cast<const char*>(f.raw_data()) + at, p->raw_data(), p->nbytes()), 0) << what;
        at += p->nbytes();
    }
    EXPECT_EQ(at, f.nbytes()) << what;
}

TEST(GpuQuantizedPlacement, FusedInt4IsThePartsStacked) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    ops::init_device(Device::kCuda);
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    const int64_t D = 256, F = 512, kv = 64, group = 128;
    ModelWeights w;
    w.layers.resize(1);
    LayerWeights& l = w.layers[0];
    l.attn.q = random_int4(D, D, group, rng, true);
    l.attn.k = random_int4(kv, D, group, rng, true);
    l.attn.v = random_int4(kv, D, group, rng, false);  // a part without a bias gets zeros
    l.attn.o = random_int4(D, D, group, rng, false);
    l.gated.gate = random_int4(F, D, group, rng, false);
    l.gated.up = random_int4(F, D, group, rng, false);
    l.gated.down = random_int4(D, F, group, rng, false);
    // One act-order permutation shared by gate and up (they share their input).
    Tensor perm = Tensor::empty({D}, DType::kI32);
    for (int64_t c = 0; c < D; ++c) perm.data<int32_t>()[c] = int32_t((c * 37) % D);
    l.gated.gate.in_perm = l.gated.up.in_perm = perm;
    const ModelWeights parts = w;

    const ModelWeights placed = place_weights(w, Device::kCuda, DType::kBF16);
    const LayerWeights& p = placed.layers[0];
    ASSERT_TRUE(p.attn.fused());
    EXPECT_EQ(p.attn.qkv.format, WeightFormat::kInt4);
    EXPECT_EQ(p.attn.qkv.group, group);
    EXPECT_EQ(p.attn.qkv.in(), D);
    const AttentionWeights& a = parts.layers[0].attn;
    expect_stacked(p.attn.qkv.w, {&a.q.w, &a.k.w, &a.v.w}, "qkv codes");
    expect_stacked(p.attn.qkv.scale, {&a.q.scale, &a.k.scale, &a.v.scale}, "qkv scales");
    expect_stacked(p.attn.qkv.zero, {&a.q.zero, &a.k.zero, &a.v.zero}, "qkv zeros");
    const Tensor zeros = Tensor::zeros({kv}, DType::kF32);
    expect_stacked(p.attn.qkv.b, {&a.q.b, &a.k.b, &zeros}, "qkv biases");
    EXPECT_EQ(p.attn.o.w.device(), Device::kCuda);
    EXPECT_EQ(p.attn.o.w.dtype(), DType::kU8);

    const GatedFfn& g = parts.layers[0].gated;
    ASSERT_TRUE(p.gated.gate_up.w.defined());
    expect_stacked(p.gated.gate_up.w, {&g.gate.w, &g.up.w}, "gate_up codes");
    expect_stacked(p.gated.gate_up.zero, {&g.gate.zero, &g.up.zero}, "gate_up zeros");
    expect_stacked(p.gated.gate_up.in_perm, {&perm}, "gate_up permutation");
    EXPECT_EQ(p.gated.down.zero.device(), Device::kCuda);
}

TEST(GpuQuantizedPlacement, Fp8KeepsItsCodesAndScales) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    ops::init_device(Device::kCuda);
    std::mt19937_64 rng(7);
    ModelWeights w;
    w.layers.resize(1);
    AttentionWeights& a = w.layers[0].attn;
    for (Linear* l : {&a.q, &a.k, &a.v, &a.o}) {
        l->format = WeightFormat::kFp8;
        l->w = Tensor::empty({64, 128}, DType::kF8E4M3);
        for (int64_t i = 0; i < l->w.numel(); ++i) l->w.data<uint8_t>()[i] = uint8_t(rng() % 0x7e);
        l->scale = Tensor::empty({64}, DType::kF32);
        for (int64_t i = 0; i < 64; ++i) l->scale.data<float>()[i] = float(rng() % 100 + 1) / 1000.0f;
    }
    const AttentionWeights parts = a;
    const ModelWeights placed = place_weights(w, Device::kCuda, DType::kBF16);
    const Linear& qkv = placed.layers[0].attn.qkv;
    ASSERT_TRUE(placed.layers[0].attn.fused());
    EXPECT_EQ(qkv.format, WeightFormat::kFp8);
    expect_stacked(qkv.w, {&parts.q.w, &parts.k.w, &parts.v.w}, "fp8 codes");
    expect_stacked(qkv.scale, {&parts.q.scale, &parts.k.scale, &parts.v.scale}, "fp8 scales");
}

}  // namespace
}  // namespace turbolm
