// Checkpoints as the Hub's AWQ and GPTQ quantizers write them, made with the layout packers of the
// unit tests (written from the published layouts, not from the loader), load and compute the same
// logits as a float checkpoint of their dequantized weights: AWQ GEMM, GPTQ v1 and v2, with and
// without act-order. Needs ops::linear_int4 (and gather_columns for act-order) on the CPU.
#include <cmath>
#include <fstream>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "models/model.h"
#include "models/quantized_checkpoint_fixture.h"
#include "support/temp_dir.h"
#include "support/test_paths.h"
#include "unit/quant/int4_hand_packers.h"

namespace turbolm {
namespace {

namespace fs = std::filesystem;
using quant::test::Plain;

struct HubCase {
    const char* name;
    const char* method;
    bool act_order;
    bool v1;  // GPTQ: zeros stored minus one
};

class HubQuantizedLayouts : public ::testing::TestWithParam<HubCase> {};

bool is_projection(const std::string& name, const Tensor& t) {
    return t.ndim() == 2 && name.rfind(".weight") == name.size() - 7 &&
           (name.find(".self_attn.") != std::string::npos || name.find(".mlp.") != std::string::npos);
}

void write_dir(const fs::path& dir, const nlohmann::json& config, const std::map<std::string, Tensor>& tensors) {
    fs::create_directories(dir);
    std::ofstream(dir / "config.json") << config.dump(2);
    write_safetensors(dir / "model.safetensors", tensors);
}

TEST_P(HubQuantizedLayouts, LoadAndMatchTheDequantizedModel) {
    const HubCase& c = GetParam();
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    const fs::path src = test::fixtures_dir() / "hf-tiny" / "llama-gqa";
    const auto source = test::read_tensors(src / "model.safetensors");
    std::map<std::string, Tensor> packed, dense;
    const int64_t group = 32;
    for (const auto& [name, t] : source) {
        if (!is_projection(name, t)) {
            packed[name] = dense[name] = t;
            continue;
        }
        const std::string prefix = name.substr(0, name.size() - 7);
        const int64_t out = t.size(0), in = t.size(1);
        // Scales that give the dequantized weights about the spread of the originals (1 / sqrt(in)).
        const float s = 1.0f / (8.0f * std::sqrt(float(in)));
        const Plain p = quant::test::random_plain(out, in, group, rng, c.act_order, c.v1 ? 1 : 0, 0.5f * s, 1.5f * s);
        Tensor w = Tensor::empty({out, in}, DType::kF32);
        for (int64_t r = 0; r < out; ++r)
            for (int64_t col = 0; col < in; ++col) w.data<float>()[r * in + col] = quant::test::dequant(p, r, col);
        dense[name] = w;
        if (std::string(c.method) == "awq") {
            const quant::AwqTensors a = quant::test::awq_pack_by_hand(p);
            packed[prefix + ".qweight"] = a.qweight;
            packed[prefix + ".qzeros"] = a.qzeros;
            packed[prefix + ".scales"] = a.scales;
        } else {
            const quant::GptqTensors g = quant::test::gptq_pack_by_hand(p, c.v1);
            packed[prefix + ".qweight"] = g.qweight;
            packed[prefix + ".qzeros"] = g.qzeros;
            packed[prefix + ".scales"] = g.scales;
            packed[prefix + ".g_idx"] = g.g_idx;
        }
    }
    std::ifstream in(src / "config.json");
    nlohmann::json config = nlohmann::json::parse(in);
    test::TempDir tmp;
    write_dir(tmp.path() / "dense", config, dense);
    if (std::string(c.method) == "awq") {
        config["quantization_config"] = {
            {"quant_method", "awq"}, {"bits", 4}, {"group_size", group}, {"version", "gemm"}, {"zero_point", true}};
    } else {
        config["quantization_config"] = {{"quant_method", "gptq"}, {"bits", 4},
                                         {"group_size", group},    {"desc_act", c.act_order},
                                         {"sym", false},           {"checkpoint_format", c.v1 ? "gptq" : "gptq_v2"}};
    }
    write_dir(tmp.path() / "packed", config, packed);

    auto reference = Model::load(tmp.path() / "dense");
    auto model = Model::load(tmp.path() / "packed");
    EXPECT_EQ(model->weights().layers[0].attn.q.format, WeightFormat::kInt4);
    EXPECT_EQ(model->weights().layers[0].attn.q.in_perm.defined(), c.act_order);
    const std::vector<int32_t> ids = {1, 200, 33, 4, 450, 61, 7, 88, 9, 310, 11, 12};
    KvCache ka = reference->new_kv_cache(16), kb = model->new_kv_cache(16);
    const Tensor a = reference->forward(ids, ka, /*all_logits=*/true), b = model->forward(ids, kb, true);
    ASSERT_EQ(a.shape(), b.shape());
    double max_diff = 0.0, max_ref = 0.0;
    for (int64_t i = 0; i < a.numel(); ++i) {
        max_diff = std::max(max_diff, std::fabs(double(a.data<float>()[i]) - double(b.data<float>()[i])));
        max_ref = std::max(max_ref, std::fabs(double(a.data<float>()[i])));
    }
    EXPECT_GT(max_ref, 0.1);
    EXPECT_LT(max_diff, 1e-4 * std::max(1.0, max_ref)) << "largest logit " << max_ref;
}

INSTANTIATE_TEST_SUITE_P(Layouts, HubQuantizedLayouts,
                         ::testing::Values(HubCase{"awq", "awq", false, false}, HubCase{"gptq_v1", "gptq", false, true},
                                           HubCase{"gptq_v1_act_order", "gptq", true, true},
                                           HubCase{"gptq_v2_act_order", "gptq", true, false}),
                         [](const testing::TestParamInfo<HubCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace turbolm
