// Broken checkpoints fail the load with one clear message naming the file (and tensor) at fault,
// through the library API and through the turbolm command (non-zero exit, never a crash).
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/safetensors.h"
#include "models/model.h"
#include "support/temp_dir.h"
#include "support/test_paths.h"

namespace turbolm {
namespace {

namespace fs = std::filesystem;

class BadCheckpoint : public ::testing::Test {
protected:
    void SetUp() override {
        src_ = test::fixtures_dir() / "hf-tiny" / "llama-gqa";
        dir_ = tmp_.path() / "model";
        fs::create_directories(dir_);
        for (const char* f : {"config.json", "generation_config.json", "model.safetensors"})
            fs::copy_file(src_ / f, dir_ / f);
        fs::permissions(dir_ / "model.safetensors", fs::perms::owner_write, fs::perm_options::add);
        fs::permissions(dir_ / "config.json", fs::perms::owner_write, fs::perm_options::add);
    }

    // Loads through the API and through the CLI; both must fail, and both messages must contain every needle.
    void expect_load_error(StatusCode code, std::initializer_list<std::string> needles) {
        Status s = catch_status([&] { Model::load(dir_); });
        ASSERT_FALSE(s.is_ok()) << "loading a broken checkpoint succeeded";
        EXPECT_EQ(s.code(), code) << s.to_string();
        for (const auto& n : needles) EXPECT_NE(s.message().find(n), std::string::npos) << s.to_string();

        const fs::path bin = test::turbolm_binary();
        if (!fs::exists(bin)) return;
        std::string out;
        const int rc = test::run_command(bin.string() + " inspect " + dir_.string(), &out);
        EXPECT_NE(rc, 0) << out;
        EXPECT_LT(rc, 128) << "turbolm died from a signal: " << out;
        EXPECT_NE(out.find("error:"), std::string::npos) << out;
        for (const auto& n : needles) EXPECT_NE(out.find(n), std::string::npos) << out;
    }

    std::map<std::string, Tensor> tensors() {
        auto f = SafetensorsFile::open(src_ / "model.safetensors");
        std::map<std::string, Tensor> out;
        for (const auto& [name, e] : f->entries()) out[name] = f->tensor(name).contiguous().to(f->tensor(name).dtype());
        return out;
    }

    nlohmann::json config() {
        std::ifstream in(src_ / "config.json");
        return nlohmann::json::parse(in);
    }

    void write_config(const std::string& text) { std::ofstream(dir_ / "config.json") << text; }

    test::TempDir tmp_;
    fs::path src_, dir_;
};

TEST_F(BadCheckpoint, TruncatedSafetensors) {
    fs::resize_file(dir_ / "model.safetensors", fs::file_size(dir_ / "model.safetensors") - 1000);
    expect_load_error(StatusCode::kDataLoss, {"model.safetensors", "truncated", "tensor '"});
}

TEST_F(BadCheckpoint, TruncatedInsideHeader) {
    fs::resize_file(dir_ / "model.safetensors", 100);
    expect_load_error(StatusCode::kDataLoss, {"model.safetensors", "truncated"});
}

TEST_F(BadCheckpoint, MissingShard) {
    // Split the weights over two shards and an index, then delete the second shard.
    auto all = tensors();
    std::map<std::string, Tensor> first, second;
    nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
    for (auto& [name, t] : all) {
        const bool in_first = name.find("layers.2") == std::string::npos && name != "lm_head.weight";
        (in_first ? first : second)[name] = t;
        index["weight_map"][name] = in_first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    }
    fs::remove(dir_ / "model.safetensors");
    write_safetensors(dir_ / "model-00001-of-00002.safetensors", first);
    std::ofstream(dir_ / "model.safetensors.index.json") << index.dump(2);
    expect_load_error(StatusCode::kNotFound, {"model-00002-of-00002.safetensors", "missing"});
    // With the shard present the same split loads and names no error.
    write_safetensors(dir_ / "model-00002-of-00002.safetensors", second);
    EXPECT_NO_THROW(Model::load(dir_));
}

TEST_F(BadCheckpoint, TensorOfWrongShape) {
    auto all = tensors();
    all["model.layers.1.self_attn.k_proj.weight"] = Tensor::zeros({16, 64}, DType::kF32);
    write_safetensors(dir_ / "model.safetensors", all);
    expect_load_error(StatusCode::kInvalidArgument,
                      {"model.safetensors", "model.layers.1.self_attn.k_proj.weight", "[16, 64]", "[32, 64]"});
}

TEST_F(BadCheckpoint, TensorOfWrongDtype) {
    auto all = tensors();
    all["model.layers.0.mlp.up_proj.weight"] = Tensor::zeros({160, 64}, DType::kI32);
    write_safetensors(dir_ / "model.safetensors", all);
    expect_load_error(StatusCode::kInvalidArgument, {"model.safetensors", "model.layers.0.mlp.up_proj.weight", "i32"});
}

TEST_F(BadCheckpoint, MissingTensor) {
    auto all = tensors();
    all.erase("model.norm.weight");
    write_safetensors(dir_ / "model.safetensors", all);
    expect_load_error(StatusCode::kNotFound, {"model.norm.weight", "missing"});
}

TEST_F(BadCheckpoint, UnknownArchitecture) {
    auto cfg = config();
    cfg["architectures"] = {"FancyNewModelForCausalLM"};
    write_config(cfg.dump());
    expect_load_error(StatusCode::kUnimplemented, {"config.json", "FancyNewModelForCausalLM", "LlamaForCausalLM"});
}

TEST_F(BadCheckpoint, UnreadableConfig) {
    write_config("{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64,");
    expect_load_error(StatusCode::kDataLoss, {"config.json", "not valid JSON"});
}

TEST_F(BadCheckpoint, ConfigMissingAKey) {
    auto cfg = config();
    cfg.erase("num_hidden_layers");
    write_config(cfg.dump());
    expect_load_error(StatusCode::kInvalidArgument, {"config.json", "num_hidden_layers"});
}

TEST_F(BadCheckpoint, MissingConfig) {
    fs::remove(dir_ / "config.json");
    expect_load_error(StatusCode::kNotFound, {"config.json"});
}

TEST_F(BadCheckpoint, NoWeightFiles) {
    fs::remove(dir_ / "model.safetensors");
    expect_load_error(StatusCode::kNotFound, {"model.safetensors"});
}

TEST_F(BadCheckpoint, CorruptHeaderJson) {
    // Keep the length prefix but scramble the JSON it points to.
    std::fstream f(dir_ / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8);
    f.write("{\"x\":[", 6);
    f.close();
    expect_load_error(StatusCode::kDataLoss, {"model.safetensors"});
}

}  // namespace
}  // namespace turbolm
