// config.json's quantization_config as the Hub's AWQ, GPTQ and FP8 checkpoints write it, ours, and
// the methods and values we refuse (with the method and value named when the weights are read).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "quant/quantization_config.h"

namespace turbolm::quant {
namespace {

QuantizationConfig parse(const std::string& quantization_config) {
    nlohmann::json j = {{"architectures", {"LlamaForCausalLM"}}};
    j["quantization_config"] = nlohmann::json::parse(quantization_config);
    return parse_quantization_config(j, "dir/config.json");
}

void expect_refused(const std::string& text, std::initializer_list<std::string> needles) {
    const QuantizationConfig q = parse(text);
    const Status s = catch_status([&] { q.require_supported(); });
    EXPECT_EQ(s.code(), StatusCode::kUnimplemented) << text << ": " << s.to_string();
    for (const auto& n : needles) EXPECT_NE(s.message().find(n), std::string::npos) << s.to_string();
    EXPECT_NE(s.message().find("dir/config.json"), std::string::npos) << s.to_string();
}

TEST(QuantizationConfig, AbsentOrNullIsNone) {
    nlohmann::json j = {{"architectures", {"LlamaForCausalLM"}}};
    EXPECT_FALSE(parse_quantization_config(j, "c").quantized());
    j["quantization_config"] = nullptr;
    const QuantizationConfig q = parse_quantization_config(j, "c");
    EXPECT_FALSE(q.quantized());
    EXPECT_NO_THROW(q.require_supported());
}

TEST(QuantizationConfig, AutoAwqGemm) {
    const QuantizationConfig q = parse(R"({"bits": 4, "group_size": 128, "modules_to_not_convert": ["gate"],
        "quant_method": "awq", "version": "GEMM", "zero_point": true})");
    EXPECT_NO_THROW(q.require_supported());
    EXPECT_EQ(q.method, QuantMethod::kAwq);
    EXPECT_EQ(q.group_for("model.layers.0.mlp.up_proj", 4096), 128);
    EXPECT_FALSE(q.converts("model.layers.0.block_sparse_moe.gate"));
    EXPECT_TRUE(q.converts("model.layers.0.self_attn.q_proj"));
    const QuantizationConfig back = parse(q.to_json().dump());
    EXPECT_EQ(back.method, QuantMethod::kAwq);
    EXPECT_EQ(back.group_size, 128);
    EXPECT_EQ(back.modules_to_not_convert, q.modules_to_not_convert);
}

TEST(QuantizationConfig, GptqVariants) {
    QuantizationConfig q = parse(R"({"bits": 4, "group_size": 128, "desc_act": true, "sym": true,
        "quant_method": "gptq", "damp_percent": 0.01, "static_groups": false, "true_sequential": true})");
    EXPECT_NO_THROW(q.require_supported());
    EXPECT_EQ(q.method, QuantMethod::kGptq);
    EXPECT_TRUE(q.desc_act);
    EXPECT_TRUE(q.zeros_minus_one);
    q = parse(R"({"bits": 4, "group_size": -1, "quant_method": "gptq", "checkpoint_format": "gptq_v2"})");
    EXPECT_NO_THROW(q.require_supported());
    EXPECT_FALSE(q.zeros_minus_one);
    EXPECT_EQ(q.group_for("x", 4096), 4096);
    const QuantizationConfig back = parse(q.to_json().dump());
    EXPECT_FALSE(back.zeros_minus_one);
    EXPECT_EQ(back.group_size, -1);
}

TEST(QuantizationConfig, Fp8AndOurs) {
    QuantizationConfig q =
        parse(R"({"quant_method": "fp8", "activation_scheme": "static", "ignored_layers": ["lm_head"]})");
    EXPECT_NO_THROW(q.require_supported());
    EXPECT_EQ(q.method, QuantMethod::kFp8);
    EXPECT_TRUE(q.static_activations);
    EXPECT_FALSE(q.converts("lm_head"));
    q = parse(R"({"quant_method": "turbolm", "format": "w8a8-int8", "version": 1})");
    EXPECT_NO_THROW(q.require_supported());
    EXPECT_EQ(q.turbolm_format, TurbolmFormat::kW8A8Int8);
    EXPECT_EQ(parse(q.to_json().dump()).turbolm_format, TurbolmFormat::kW8A8Int8);
}

TEST(QuantizationConfig, GroupOverridesRoundTrip) {
    QuantizationConfig q = parse(R"({"quant_method": "awq", "bits": 4, "group_size": 64, "version": "gemm",
        "turbolm_group_sizes": {"model.layers.0.mlp.down_proj": 32}})");
    EXPECT_NO_THROW(q.require_supported());
    EXPECT_EQ(q.group_for("model.layers.0.mlp.down_proj", 160), 32);
    EXPECT_EQ(q.group_for("model.layers.0.mlp.up_proj", 64), 64);
    EXPECT_EQ(parse(q.to_json().dump()).group_overrides, q.group_overrides);
}

TEST(QuantizationConfig, RefusesWhatWeCannotLoad) {
    expect_refused(R"({"quant_method": "awq", "bits": 3, "group_size": 128, "version": "gemm"})", {"awq", "bits 3"});
    expect_refused(R"({"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemv"})", {"version", "gemv"});
    expect_refused(R"({"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": false})", {"zero_point"});
    expect_refused(R"({"quant_method": "gptq", "bits": 8, "group_size": 128})", {"gptq", "bits 8"});
    expect_refused(R"({"quant_method": "gptq", "bits": 4, "group_size": 16})", {"group_size 16"});
    expect_refused(R"({"quant_method": "gptq", "bits": 4, "group_size": 128, "checkpoint_format": "marlin"})",
                   {"checkpoint_format", "marlin"});
    expect_refused(R"({"quant_method": "fp8", "activation_scheme": "dynamic", "weight_block_size": [128, 128]})",
                   {"weight_block_size", "[128,128]"});
    expect_refused(R"({"quant_method": "bitsandbytes", "load_in_4bit": true})", {"bitsandbytes"});
    expect_refused(R"({"quant_method": "turbolm", "format": "int2"})", {"format", "int2"});
}

}  // namespace
}  // namespace turbolm::quant
