// Quantized models written as checkpoint directories and loaded back: every tensor comes back with
// the same bytes (projections in each format, norms changed in memory after loading, biases, tied
// embeddings), config.json says how the projections are stored, the tokenizer files come along, and
// large models are sharded. Models quantized at load time also give the same logits after the reload.
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/model.h"
#include "models/quantized_checkpoint_fixture.h"
#include "models/quantized_checkpoint_writer.h"
#include "support/temp_dir.h"

namespace turbolm {
namespace {

namespace fs = std::filesystem;

nlohmann::json read_json(const fs::path& p) {
    std::ifstream in(p);
    return nlohmann::json::parse(in);
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

struct RoundTripCase {
    std::string fixture;
    WeightFormat format;
    bool act_order;
    std::string method;    // the quant_method config.json must name
    bool experts = false;  // MoE experts quantized too
    friend void PrintTo(const RoundTripCase& c, std::ostream* os) {
        *os << c.fixture << " " << weight_format_name(c.format) << (c.act_order ? " act-order" : "")
            << (c.experts ? " experts" : "");
    }
};

class QuantizedRoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(QuantizedRoundTrip, ReloadsEveryTensorBitForBit) {
    const RoundTripCase& c = GetParam();
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    test::TempDir tmp;
    const fs::path src = tmp.path() / "source", out = tmp.path() / "quantized";
    test::make_source_dir(c.fixture, src);
    auto model = Model::load(src);
    ModelWeights w = model->weights();
    // Act-order in groups of 32, so that every projection has several groups to permute.
    test::quantize_projections(w, c.format, rng, c.act_order ? 32 : 128, c.act_order, c.experts);
    if (c.act_order) ASSERT_TRUE(w.layers[0].attn.q.in_perm.defined());
    // A search that folds scales into norms changes them after loading: they must be written from memory.
    Tensor scaled = w.layers[0].attn_norm.w.contiguous().to(DType::kF32);
    for (int64_t i = 0; i < scaled.numel(); ++i) scaled.data<float>()[i] *= 1.0f + 0.01f * float(i % 7);
    w.layers[0].attn_norm.w = scaled;
    // Leave one projection in 16 bits: it must come back dense, listed as not converted.
    w.layers[1].attn.o = model->weights().layers[1].attn.o;

    const CheckpointWriteResult r = write_quantized_checkpoint(model->config(), w, src, out);
    EXPECT_EQ(quant::quant_method_name(r.quant.method), c.method);
    auto reloaded = Model::load(out);
    test::expect_same_tensors(model->config(), w, reloaded->weights());
    EXPECT_EQ(reloaded->weights().layers[1].attn.o.format, WeightFormat::kDense);

    const nlohmann::json cfg = read_json(out / "config.json");
    ASSERT_TRUE(cfg.contains("quantization_config")) << cfg.dump(2);
    EXPECT_EQ(cfg["quantization_config"]["quant_method"], c.method);
    // Experts left dense are one entry that matches them all.
    const bool dense_experts = model->config().ffn == FfnKind::kMoe && !c.experts;
    const nlohmann::json not_converted =
        dense_experts ? nlohmann::json({"block_sparse_moe.experts", "model.layers.1.self_attn.o_proj"})
                      : nlohmann::json({"model.layers.1.self_attn.o_proj"});
    EXPECT_EQ(cfg["quantization_config"]["modules_to_not_convert"], not_converted);
    if (c.experts) EXPECT_EQ(reloaded->weights().layers[0].moe.experts[1].down.format, c.format);
    nlohmann::json source_cfg = read_json(src / "config.json"), written = cfg;
    written.erase("quantization_config");
    EXPECT_EQ(written, source_cfg) << "config.json is the source's plus quantization_config";
    for (const char* f : test::kTokenizerFiles) EXPECT_EQ(read_file(out / f), read_file(src / f)) << f;
    EXPECT_EQ(read_file(out / "generation_config.json"), read_file(src / "generation_config.json"));
}

INSTANTIATE_TEST_SUITE_P(Formats, QuantizedRoundTrip,
                         ::testing::Values(RoundTripCase{"llama-gqa", WeightFormat::kInt4, false, "awq"},
                                           RoundTripCase{"llama-gqa", WeightFormat::kInt4, true, "gptq"},
                                           RoundTripCase{"llama-gqa", WeightFormat::kFp8, false, "fp8"},
                                           RoundTripCase{"llama-gqa", WeightFormat::kInt8, false, "turbolm"},
                                           RoundTripCase{"llama-gqa", WeightFormat::kW8A8Int8, false, "turbolm"},
                                           RoundTripCase{"qwen2-qkv-bias", WeightFormat::kInt4, false, "awq"},
                                           RoundTripCase{"qwen2-qkv-bias", WeightFormat::kW8A8Int8, false, "turbolm"},
                                           RoundTripCase{"mistral-sliding-window", WeightFormat::kFp8, false, "fp8"},
                                           RoundTripCase{"qwen3-qk-norm", WeightFormat::kInt8, false, "turbolm"},
                                           RoundTripCase{"llama3-rope-scaled-tied", WeightFormat::kInt4, false, "awq"},
                                           RoundTripCase{"mixtral-moe", WeightFormat::kInt4, false, "awq"},
                                           RoundTripCase{"mixtral-moe", WeightFormat::kInt4, false, "awq", true},
                                           RoundTripCase{"mixtral-moe", WeightFormat::kFp8, false, "fp8", true}),
                         [](const testing::TestParamInfo<RoundTripCase>& info) {
                             std::string name = info.param.fixture + "_" + weight_format_name(info.param.format) +
                                                (info.param.act_order ? "_act_order" : "") +
                                                (info.param.experts ? "_experts" : "");
                             for (char& ch : name)
                                 if (ch == '-') ch = '_';
                             return name;
                         });

TEST(QuantizedCheckpoint, LargeModelsAreSharded) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    test::TempDir tmp;
    const fs::path src = tmp.path() / "source", out = tmp.path() / "quantized";
    test::make_source_dir("llama-gqa", src);
    auto model = Model::load(src);
    ModelWeights w = model->weights();
    test::quantize_projections(w, WeightFormat::kInt4, rng);
    // A stale single file from an earlier write must not shadow the shards.
    fs::create_directories(out);
    fs::copy_file(src / "model.safetensors", out / "model.safetensors");
    CheckpointWriteOptions options;
    options.max_shard_bytes = 64 * 1024;
    const CheckpointWriteResult r = write_quantized_checkpoint(model->config(), w, src, out, options);
    EXPECT_FALSE(fs::exists(out / "model.safetensors"));
    ASSERT_TRUE(fs::exists(out / "model.safetensors.index.json"));
    const nlohmann::json index = read_json(out / "model.safetensors.index.json");
    EXPECT_EQ(index["metadata"]["total_size"], r.tensor_bytes);
    std::map<std::string, int> tensors_in;
    for (const auto& [name, file] : index["weight_map"].items()) ++tensors_in[file.get<std::string>()];
    int shards = 0;
    for (const auto& f : r.files) {
        if (f.find("-of-") == std::string::npos) continue;
        ++shards;
        // At most the limit of data (plus a header), unless one tensor alone is larger.
        if (tensors_in[f] > 1) EXPECT_LE(fs::file_size(out / f), options.max_shard_bytes + 16 * 1024) << f;
    }
    EXPECT_GT(shards, 2);
    auto reloaded = Model::load(out);
    test::expect_same_tensors(model->config(), w, reloaded->weights());
}

TEST(QuantizedCheckpoint, UnquantizedModelsWriteNoQuantizationConfig) {
    test::TempDir tmp;
    const fs::path src = tmp.path() / "source", out = tmp.path() / "copy";
    test::make_source_dir("qwen2-qkv-bias", src);
    auto model = Model::load(src);
    const CheckpointWriteResult r = write_quantized_checkpoint(*model, src, out);
    EXPECT_FALSE(r.quant.quantized());
    EXPECT_FALSE(read_json(out / "config.json").contains("quantization_config"));
    auto reloaded = Model::load(out);
    test::expect_same_tensors(model->config(), model->weights(), reloaded->weights());
}

// Needs the quantized products (ops::linear_int4, linear_fp8, linear_int8) on the CPU: a model
// quantized while loading, written and loaded back, holds the same bytes and gives the same logits.
class LoadTimeQuantized : public ::testing::TestWithParam<WeightQuantization> {};

TEST_P(LoadTimeQuantized, GivesTheSameLogitsAfterTheReload) {
    test::TempDir tmp;
    const fs::path src = tmp.path() / "source", out = tmp.path() / "quantized";
    test::make_source_dir("llama-gqa", src);
    ModelOptions options;
    options.quantize = GetParam();
    auto model = Model::load(src, options);
    write_quantized_checkpoint(*model, src, out);
    auto reloaded = Model::load(out);
    test::expect_same_tensors(model->config(), model->weights(), reloaded->weights());
    const std::vector<int32_t> ids = {1, 17, 42, 300, 5, 77, 128, 9, 499, 3};
    KvCache ka = model->new_kv_cache(16), kb = reloaded->new_kv_cache(16);
    const Tensor a = model->forward(ids, ka, /*all_logits=*/true), b = reloaded->forward(ids, kb, true);
    ASSERT_EQ(a.shape(), b.shape());
    int64_t differ = 0;
    for (int64_t i = 0; i < a.numel(); ++i) differ += a.data<float>()[i] != b.data<float>()[i] ? 1 : 0;
    EXPECT_EQ(differ, 0) << "of " << a.numel() << " logits";
}

INSTANTIATE_TEST_SUITE_P(Formats, LoadTimeQuantized,
                         ::testing::Values(WeightQuantization::kInt8, WeightQuantization::kInt4,
                                           WeightQuantization::kFp8),
                         [](const testing::TestParamInfo<WeightQuantization>& info) {
                             return std::string(weight_quantization_name(info.param));
                         });

}  // namespace
}  // namespace turbolm
