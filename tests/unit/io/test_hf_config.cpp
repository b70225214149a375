// config.json in both key layouts, and generation_config.json.
#include <fstream>

#include <gtest/gtest.h>

#include "core/error.h"
#include "io/generation_config.h"
#include "io/hf_config.h"
#include "support/temp_dir.h"
#include "support/test_paths.h"

namespace turbolm {
namespace {

TEST(HfConfig, RopeFromTransformers4And5LayoutsAgree) {
    auto v4 = HfConfig::from_json(nlohmann::json::parse(R"({
        "rope_theta": 500000.0,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8192},
        "torch_dtype": "bfloat16"})"));
    auto v5 = HfConfig::from_json(nlohmann::json::parse(R"({
        "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
        "dtype": "bfloat16"})"));
    for (const auto* c : {&v4, &v5}) {
        RopeConfig r = c->rope();
        EXPECT_EQ(r.type, "llama3");
        EXPECT_EQ(r.theta, 500000.0);
        EXPECT_EQ(r.factor, 8.0);
        EXPECT_EQ(r.original_max_position_embeddings, 8192);
        EXPECT_EQ(c->dtype(), DType::kBF16);
    }
}

TEST(HfConfig, OldScalingKeyTypeAndDefaults) {
    auto c = HfConfig::from_json(nlohmann::json::parse(R"({"rope_scaling": {"type": "linear", "factor": 2.0}})"));
    EXPECT_EQ(c.rope().type, "linear");
    EXPECT_EQ(c.rope().theta, 10000.0);
    EXPECT_EQ(c.dtype(), DType::kF32);
    auto none = HfConfig::from_json(nlohmann::json::parse(R"({"rope_scaling": null, "rope_theta": 1e6})"));
    EXPECT_EQ(none.rope().type, "default");
    EXPECT_EQ(none.rope().theta, 1e6);
}

TEST(HfConfig, TypedGettersNameTheKey) {
    auto c = HfConfig::from_json(nlohmann::json::parse(R"({"hidden_size": "big", "n": 3})"), "x/config.json");
    EXPECT_EQ(c.get_int("n"), 3);
    try {
        c.get_int("hidden_size");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("x/config.json: 'hidden_size'"), std::string::npos) << e.what();
    }
    EXPECT_THROW(c.get_int("absent"), Error);
    EXPECT_EQ(c.get_int_or("absent", 5), 5);
    EXPECT_THROW(c.architecture(), Error);
    auto unknown = HfConfig::from_json(nlohmann::json::parse(R"({"rope_scaling": {"rope_type": "su"}})"));
    EXPECT_THROW(unknown.rope(), Error);
}

TEST(GenerationConfig, EosIdsAsIntOrList) {
    test::TempDir dir;
    EXPECT_TRUE(GenerationConfig::load(dir.path()).eos_token_ids.empty());  // no file: defaults
    std::ofstream(dir.path() / "generation_config.json") << R"({"eos_token_id": [128001, 128009], "do_sample": true,
        "temperature": 0.6, "top_p": 0.9, "bos_token_id": 128000})";
    GenerationConfig g = GenerationConfig::load(dir.path());
    EXPECT_EQ(g.eos_token_ids, (std::vector<int32_t>{128001, 128009}));
    EXPECT_EQ(*g.bos_token_id, 128000);
    EXPECT_TRUE(*g.do_sample);
    EXPECT_FLOAT_EQ(*g.temperature, 0.6f);
    std::ofstream(dir.path() / "generation_config.json") << R"({"eos_token_id": 2})";
    EXPECT_EQ(GenerationConfig::load(dir.path()).eos_token_ids, std::vector<int32_t>{2});
    std::ofstream(dir.path() / "generation_config.json") << "{broken";
    EXPECT_THROW(GenerationConfig::load(dir.path()), Error);
}

}  // namespace
}  // namespace turbolm
