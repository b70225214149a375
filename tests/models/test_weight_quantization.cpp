// Quantization at load time on the demo model, on its held-out text: each mode's next-token
// distributions stay within the KL divergence the quantization work promises against the
// unquantized model (INT8 <= 0.002, FP8 <= 0.005) and pick the same top token almost everywhere.
// Round-to-nearest INT4 has no promise of its own (AWQ's has: test_calibrated_quantization.cpp);
// it is measured here so that a regression in its kernels shows.
#include <cmath>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "models/demo_divergence.h"
#include "models/model.h"
#include "support/temp_dir.h"

namespace turbolm {
namespace {

struct Mode {
    WeightQuantization q;
    double max_kl;
    double min_top1;
};

class LoadTimeQuantization : public ::testing::TestWithParam<Mode> {};

TEST_P(LoadTimeQuantization, StaysCloseToTheUnquantizedModel) {
    const Mode mode = GetParam();
    const std::vector<int32_t> ids = test::demo_heldout_ids(1024);
    ModelOptions mo;
    const auto base = Model::load(test::demo_model_dir(), mo);
    mo.quantize = mode.q;
    const auto quant = Model::load(test::demo_model_dir(), mo);
    const test::Divergence d = test::divergence(*base, *quant, ids, 512);
    std::printf("%s: KL %.3g, top-1 agreement %.4f over %zu tokens\n", weight_quantization_name(mode.q), d.kl_mean,
                d.top1_agreement, ids.size());
    EXPECT_GT(d.kl_mean, 0.0);  // the weights did change
    EXPECT_LT(d.kl_mean, mode.max_kl);
    EXPECT_GE(d.top1_agreement, mode.min_top1);
    EXPECT_LT(quant->weight_bytes(), base->weight_bytes());
}

INSTANTIATE_TEST_SUITE_P(Modes, LoadTimeQuantization,
                         ::testing::Values(Mode{WeightQuantization::kInt8, 0.002, 0.95},
                                           Mode{WeightQuantization::kFp8, 0.005, 0.93},
                                           Mode{WeightQuantization::kInt4, 0.1, 0.8}),
                         [](const auto& info) { return std::string(weight_quantization_name(info.param.q)); });

// A projection whose input width no multiple of 32 divides (a feed-forward width of 100 here, 172 in
// llama2.c's stories260K) keeps its 16-bit weights under INT4; the rest are quantized and the model
// runs.
TEST(LoadTimeQuantization, Int4KeepsProjectionsNoGroupDividesIn16Bits) {
    test::TempDir dir;
    const nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}},
                                   {"model_type", "llama"},
                                   {"hidden_size", 64},
                                   {"intermediate_size", 100},
                                   {"num_hidden_layers", 2},
                                   {"num_attention_heads", 4},
                                   {"num_key_value_heads", 2},
                                   {"head_dim", 16},
                                   {"vocab_size", 128},
                                   {"max_position_embeddings", 64},
                                   {"rms_norm_eps", 1e-5},
                                   {"hidden_act", "silu"},
                                   {"torch_dtype", "bfloat16"}};
    std::ofstream(dir.path() / "config.json") << config.dump();
    ModelOptions mo;
    mo.dummy_weights = true;
    mo.quantize = WeightQuantization::kInt4;
    const auto model = Model::load(dir.path(), mo);
    for (const LayerWeights& l : model->weights().layers) {
        EXPECT_EQ(l.gated.down.format, WeightFormat::kDense);
        for (const Linear* p : {&l.attn.q, &l.attn.o, &l.gated.gate, &l.gated.up}) {
            if (!p->w.defined()) continue;  // fused at load
            EXPECT_EQ(p->format, WeightFormat::kInt4);
            EXPECT_EQ(p->group, 64);  // the largest multiple of 32 that divides 64
        }
    }
    const std::vector<int32_t> ids = {1, 5, 9, 17, 33};
    KvCache kv = model->new_kv_cache(int64_t(ids.size()));
    const Tensor logits = model->forward(ids, kv, true);
    for (int64_t i = 0; i < logits.numel(); ++i) ASSERT_TRUE(std::isfinite(logits.data<float>()[i])) << i;
}

}  // namespace
}  // namespace turbolm
