// Broken quantized checkpoints fail the load with the file, the tensor and what the layout expects;
// configurations we cannot read fail naming the method and value; --dummy-weights ignores the
// quantization; and the writer refuses what it cannot write.
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/safetensors.h"
#include "models/model.h"
#include "models/quantized_checkpoint_fixture.h"
#include "models/quantized_checkpoint_writer.h"
#include "models/weight_placement.h"
#include "support/temp_dir.h"
#include "support/test_paths.h"

namespace turbolm {
namespace {

namespace fs = std::filesystem;

// A tiny Llama written in one quantized format, ready to be broken.
class BrokenQuantized : public ::testing::Test {
  protected:
    void write(WeightFormat format) {
        seed_ = std::random_device{}();
        std::mt19937_64 rng(seed_);
        src_ = tmp_.path() / "source";
        dir_ = tmp_.path() / "quantized";
        test::make_source_dir("llama-gqa", src_);
        auto model = Model::load(src_);
        ModelWeights w = model->weights();
        test::quantize_projections(w, format, rng, 32);
        write_quantized_checkpoint(model->config(), w, src_, dir_);
        tensors_ = test::read_tensors(dir_ / "model.safetensors");
    }
    void rewrite() { write_safetensors(dir_ / "model.safetensors", tensors_); }
    nlohmann::json config() {
        std::ifstream in(dir_ / "config.json");
        return nlohmann::json::parse(in);
    }
    void write_config(const nlohmann::json& j) { std::ofstream(dir_ / "config.json") << j.dump(2); }

    void expect_load_error(StatusCode code, std::initializer_list<std::string> needles) {
        SCOPED_TRACE(testing::Message() << "seed " << seed_);
        const Status s = catch_status([&] { Model::load(dir_); });
        ASSERT_FALSE(s.is_ok()) << "loading a broken checkpoint succeeded";
        EXPECT_EQ(s.code(), code) << s.to_string();
        for (const auto& n : needles) EXPECT_NE(s.message().find(n), std::string::npos) << s.to_string();
    }

    test::TempDir tmp_;
    fs::path src_, dir_;
    uint64_t seed_ = 0;
    std::map<std::string, Tensor> tensors_;
};

TEST_F(BrokenQuantized, AwqQweightOfWrongShape) {
    write(WeightFormat::kInt4);
    // k_proj: 32 rows, 64 columns -> qweight [64, 4]
    tensors_["model.layers.1.self_attn.k_proj.qweight"] = Tensor::zeros({64, 2}, DType::kI32);
    rewrite();
    expect_load_error(StatusCode::kInvalidArgument,
                      {"model.safetensors", "model.layers.1.self_attn.k_proj.qweight", "[64, 2]", "[64, 4]", "awq"});
}

TEST_F(BrokenQuantized, AwqZerosOfWrongDtype) {
    write(WeightFormat::kInt4);
    tensors_["model.layers.0.mlp.down_proj.qzeros"] = Tensor::zeros({5, 8}, DType::kF32);
    rewrite();
    expect_load_error(StatusCode::kInvalidArgument,
                      {"model.safetensors", "model.layers.0.mlp.down_proj.qzeros", "f32", "i32"});
}

TEST_F(BrokenQuantized, AwqScalesMissing) {
    write(WeightFormat::kInt4);
    tensors_.erase("model.layers.2.mlp.up_proj.scales");
    rewrite();
    expect_load_error(StatusCode::kNotFound, {"model.layers.2.mlp.up_proj.scales", "missing", "awq"});
}

TEST_F(BrokenQuantized, TruncatedFile) {
    write(WeightFormat::kInt4);
    fs::resize_file(dir_ / "model.safetensors", fs::file_size(dir_ / "model.safetensors") - 100);
    expect_load_error(StatusCode::kDataLoss, {"model.safetensors", "truncated"});
}

TEST_F(BrokenQuantized, GptqWithoutGIdxUnderActOrder) {
    write(WeightFormat::kInt4);
    // Re-declare the AWQ tensors as GPTQ ones of the right shapes, but without g_idx under desc_act.
    auto cfg = config();
    cfg["quantization_config"] = {{"quant_method", "gptq"}, {"bits", 4}, {"group_size", 32}, {"desc_act", true}};
    write_config(cfg);
    std::map<std::string, Tensor> gptq;
    for (auto& [name, t] : tensors_) {
        const auto dot = name.rfind('.');
        const std::string prefix = name.substr(0, dot), field = name.substr(dot + 1);
        if (field == "qweight") {
            const int64_t in = t.size(0), out = t.size(1) * 8;
            gptq[name] = Tensor::zeros({in / 8, out}, DType::kI32);
            gptq[prefix + ".qzeros"] = Tensor::zeros({in / 32, out / 8}, DType::kI32);
            gptq[prefix + ".scales"] = Tensor::zeros({in / 32, out}, DType::kF16);
        } else if (field != "qzeros" && field != "scales") {
            gptq[name] = t;
        }
    }
    tensors_ = gptq;
    rewrite();
    expect_load_error(StatusCode::kNotFound, {"model.layers.0.self_attn.q_proj.g_idx", "missing", "gptq"});
}

TEST_F(BrokenQuantized, Fp8ScaleOfWrongShape) {
    write(WeightFormat::kFp8);
    tensors_["model.layers.0.self_attn.v_proj.weight_scale"] = Tensor::zeros({16}, DType::kF32);
    rewrite();
    expect_load_error(StatusCode::kInvalidArgument,
                      {"model.safetensors", "model.layers.0.self_attn.v_proj.weight_scale", "[16]", "[32, 1]"});
}

TEST_F(BrokenQuantized, Fp8BlockScalesOfWrongShape) {
    // Per-channel scales under a config that says 128 x 128 blocks: one scale for each projection.
    write(WeightFormat::kFp8);
    auto cfg = config();
    cfg["quantization_config"]["weight_block_size"] = {128, 128};
    write_config(cfg);
    expect_load_error(StatusCode::kInvalidArgument,
                      {"model.safetensors", "model.layers.0.self_attn.q_proj.weight_scale", "[1, 1]"});
    cfg["quantization_config"]["weight_block_size"] = {128};
    write_config(cfg);
    expect_load_error(StatusCode::kUnimplemented, {"config.json", "weight_block_size", "[128]"});
}

TEST_F(BrokenQuantized, Int8WithoutScales) {
    write(WeightFormat::kInt8);
    tensors_.erase("model.layers.0.self_attn.o_proj.weight_scale");
    rewrite();
    expect_load_error(StatusCode::kNotFound, {"model.layers.0.self_attn.o_proj.weight_scale", "turbolm"});
}

TEST_F(BrokenQuantized, QuantizedLmHead) {
    write(WeightFormat::kInt4);
    tensors_.erase("lm_head.weight");
    tensors_["lm_head.qweight"] = Tensor::zeros({64, 64}, DType::kI32);
    rewrite();
    expect_load_error(StatusCode::kUnimplemented, {"model.safetensors", "lm_head", "stored quantized", "awq"});
}

TEST_F(BrokenQuantized, UnsupportedMethodAndBits) {
    write(WeightFormat::kInt4);
    auto cfg = config();
    cfg["quantization_config"]["bits"] = 8;
    write_config(cfg);
    expect_load_error(StatusCode::kUnimplemented, {"config.json", "awq", "bits 8"});
    cfg["quantization_config"] = {{"quant_method", "hqq"}};
    write_config(cfg);
    expect_load_error(StatusCode::kUnimplemented, {"config.json", "hqq"});
}

TEST_F(BrokenQuantized, DummyWeightsIgnoreTheQuantization) {
    write(WeightFormat::kInt4);
    ModelOptions options;
    options.dummy_weights = true;
    auto model = Model::load(dir_, options);
    EXPECT_EQ(model->weights().layers[0].attn.q.format, WeightFormat::kDense);
    auto cfg = config();
    cfg["quantization_config"] = {{"quant_method", "bitsandbytes"}};
    write_config(cfg);
    EXPECT_NO_THROW(Model::load(dir_, options));
}

TEST(QuantizedCheckpointWriter, RefusesWhatItCannotWrite) {
    test::TempDir tmp;
    const fs::path src = tmp.path() / "source";
    test::make_source_dir("llama-gqa", src);
    auto model = Model::load(src);
    std::mt19937_64 rng(3);

    Status s = catch_status([&] { write_quantized_checkpoint(*model, src, src); });
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();

    // Placement fuses q/k/v and gate/up; the names a checkpoint needs are gone.
    ModelWeights fused = place_weights(model->weights(), Device::kCpu, DType::kF32);
    s = catch_status([&] { write_quantized_checkpoint(model->config(), fused, src, tmp.path() / "a"); });
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
    EXPECT_NE(s.message().find("fused"), std::string::npos) << s.to_string();

    ModelWeights mixed = model->weights();
    test::quantize_projections(mixed, WeightFormat::kInt8, rng);
    ModelWeights int4 = model->weights();
    test::quantize_projections(int4, WeightFormat::kInt4, rng, 32);
    mixed.layers[2].gated.down = int4.layers[2].gated.down;
    s = catch_status([&] { write_quantized_checkpoint(model->config(), mixed, src, tmp.path() / "b"); });
    EXPECT_EQ(s.code(), StatusCode::kUnimplemented) << s.to_string();
    EXPECT_NE(s.message().find("int4"), std::string::npos) << s.to_string();

    ModelConfig gpt2 = model->config();
    gpt2.architecture = "GPT2LMHeadModel";
    s = catch_status([&] { write_quantized_checkpoint(gpt2, model->weights(), src, tmp.path() / "c"); });
    EXPECT_EQ(s.code(), StatusCode::kUnimplemented) << s.to_string();
    EXPECT_NE(s.message().find("GPT2LMHeadModel"), std::string::npos) << s.to_string();
}

TEST(QuantizedCheckpointLoading, OtherArchitecturesRefuseQuantizedConfigs) {
    test::TempDir tmp;
    const fs::path dir = tmp.path() / "gpt2";
    fs::create_directories(dir);
    const fs::path src = test::fixtures_dir() / "hf-tiny" / "gpt2";
    fs::copy_file(src / "model.safetensors", dir / "model.safetensors");
    std::ifstream in(src / "config.json");
    nlohmann::json cfg = nlohmann::json::parse(in);
    cfg["quantization_config"] = {{"quant_method", "awq"}, {"bits", 4}, {"group_size", 128}};
    std::ofstream(dir / "config.json") << cfg.dump();
    const Status s = catch_status([&] { Model::load(dir); });
    EXPECT_EQ(s.code(), StatusCode::kUnimplemented) << s.to_string();
    EXPECT_NE(s.message().find("GPT2LMHeadModel"), std::string::npos) << s.to_string();
}

}  // namespace
}  // namespace turbolm
