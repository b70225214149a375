// Placing quantized projections (here on the CPU, which runs the same Placer as a GPU): parts of one
// format, group and input permutation fuse into one projection whose rows are the parts' rows
// stacked (codes, scales and zero points alike); parts that differ stay separate.
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "models/model.h"
#include "models/quantized_checkpoint_fixture.h"
#include "models/weight_placement.h"
#include "support/test_paths.h"

namespace turbolm {
namespace {

// The bytes of parts stacked row after row equal `fused`.
void expect_stacked(const Tensor& fused, std::initializer_list<const Tensor*> parts, const char* what) {
    ASSERT_TRUE(fused.defined()) << what;
    const Tensor f = fused.to_device(Device::kCpu).contiguous();
    size_t at = 0;
    int64_t rows = 0;
    for (const Tensor* p : parts) {
        ASSERT_EQ(p->dtype(), f.dtype()) << what;
        const Tensor c = p->contiguous();
        EXPECT_EQ(std::memcmp(static_cast<const char*>(f.raw_data()) + at, c.raw_data(), c.nbytes()), 0) << what;
        at += c.nbytes();
        rows += c.size(0);
    }
    EXPECT_EQ(rows, f.size(0)) << what;
    EXPECT_EQ(at, f.nbytes()) << what;
}

TEST(QuantizedPlacement, Int4PartsFuseByStackingRows) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    auto model = Model::load(test::fixtures_dir() / "hf-tiny" / "qwen2-qkv-bias");
    ModelWeights w = model->weights();
    test::quantize_projections(w, WeightFormat::kInt4, rng, 32);
    const ModelWeights placed = place_weights(w, Device::kCpu, DType::kF32);
    for (size_t i = 0; i < w.layers.size(); ++i) {
        const AttentionWeights& a = w.layers[i].attn;
        const Linear& qkv = placed.layers[i].attn.qkv;
        ASSERT_TRUE(placed.layers[i].attn.fused());
        EXPECT_EQ(qkv.format, WeightFormat::kInt4);
        EXPECT_EQ(qkv.group, 32);
        expect_stacked(qkv.w, {&a.q.w, &a.k.w, &a.v.w}, "qkv codes");
        expect_stacked(qkv.scale, {&a.q.scale, &a.k.scale, &a.v.scale}, "qkv scales");
        expect_stacked(qkv.zero, {&a.q.zero, &a.k.zero, &a.v.zero}, "qkv zeros");
        expect_stacked(qkv.b, {&a.q.b, &a.k.b, &a.v.b}, "qkv biases");
        const GatedFfn& g = w.layers[i].gated;
        const Linear& gate_up = placed.layers[i].gated.gate_up;
        expect_stacked(gate_up.w, {&g.gate.w, &g.up.w}, "gate_up codes");
        expect_stacked(gate_up.scale, {&g.gate.scale, &g.up.scale}, "gate_up scales");
        EXPECT_EQ(placed.layers[i].gated.down.format, WeightFormat::kInt4);
    }
}

TEST(QuantizedPlacement, DifferentPermutationsStaySeparate) {
    std::mt19937_64 rng(5);
    auto model = Model::load(test::fixtures_dir() / "hf-tiny" / "llama-gqa");
    ModelWeights w = model->weights();
    test::quantize_projections(w, WeightFormat::kInt4, rng, 32, /*act_order=*/true);
    const ModelWeights placed = place_weights(w, Device::kCpu, DType::kF32);
    const AttentionWeights& a = placed.layers[0].attn;
    EXPECT_FALSE(a.fused()) << "q, k and v carry different act-order permutations";
    EXPECT_EQ(a.q.format, WeightFormat::kInt4);
    EXPECT_TRUE(a.q.in_perm.defined());
    EXPECT_FALSE(placed.layers[0].gated.gate_up.w.defined());
    EXPECT_TRUE(placed.layers[0].gated.gate.w.defined());
}

TEST(QuantizedPlacement, W8A8PartsWithOneSmoothingFuse) {
    std::mt19937_64 rng(6);
    auto model = Model::load(test::fixtures_dir() / "hf-tiny" / "llama-gqa");
    ModelWeights w = model->weights();
    test::quantize_projections(w, WeightFormat::kW8A8Int8, rng);
    // q, k and v share their input, so SmoothQuant gives them one smoothing.
    for (auto& lw : w.layers) lw.attn.k.inv_smooth = lw.attn.v.inv_smooth = lw.attn.q.inv_smooth;
    const ModelWeights placed = place_weights(w, Device::kCpu, DType::kF32);
    const Linear& qkv = placed.layers[0].attn.qkv;
    ASSERT_TRUE(placed.layers[0].attn.fused());
    EXPECT_EQ(qkv.format, WeightFormat::kW8A8Int8);
    const AttentionWeights& a = w.layers[0].attn;
    expect_stacked(qkv.w, {&a.q.w, &a.k.w, &a.v.w}, "qkv int8");
    expect_stacked(qkv.scale, {&a.q.scale, &a.k.scale, &a.v.scale}, "qkv scales");
    expect_stacked(qkv.inv_smooth, {&a.q.inv_smooth}, "smoothing");
    EXPECT_FALSE(placed.layers[0].gated.gate_up.w.defined()) << "gate and up have their own smoothing here";
}

}  // namespace
}  // namespace turbolm
