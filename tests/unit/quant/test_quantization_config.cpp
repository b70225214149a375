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
    // Qwen3's and DeepSeek's FP8: 128 x 128 weight blocks.
    q = parse(R"({"quant_method": "fp8", "activation_scheme": "dynamic", "fmt": "e4m3",
        "weight_block_size": [128, 128]})");
    EXPECT_NO_THROW(q.require_supported());
    EXPECT_EQ(q.fp8_block_rows, 128);
    EXPECT_EQ(parse(q.to_json().dump()).fp8_block_rows, 128);
    q = parse(R"({"quant_method": "turbolm", "format": "w8a8-int8", "version": 1})");
    EXPECT_NO_THROW(q.require_supported());
    EXPECT_EQ(q.turbolm_format, TurbolmFormat::kW8A8Int8);
    EXPECT_EQ(parse(q.to_json().dump()).turbolm_format, TurbolmFormat::kW8A8Int8);
}

// compressed-tensors configs as llm-compressor writes them (the FP8-dynamic, W8A8, W4A16 and W8A16
// models of the Hub): one config group, the quantization args spelled out.
std::string compressed(const std::string& format, const std::string& weights, const std::string& activations,
                       const std::string& extra = "") {
    return R"({"quant_method": "compressed-tensors", "format": ")" + format +
           R"(", "quantization_status": "compressed", "global_compression_ratio": null,
        "config_groups": {"group_0": {"targets": ["Linear"], "weights": )" +
           weights + R"(, "input_activations": )" + activations +
           R"(, "output_activations": null}}, "ignore": ["lm_head", "re:.*mlp.gate$"], "kv_cache_scheme": null,
        "sparsity_config": {})" +
           extra + "}";
}

const char* kFp8ChannelWeights = R"({"num_bits": 8, "type": "float", "symmetric": true, "strategy": "channel",
    "group_size": null, "block_structure": null, "dynamic": false, "actorder": null, "observer": "minmax"})";
const char* kFp8TokenActivations = R"({"num_bits": 8, "type": "float", "symmetric": true, "strategy": "token",
    "group_size": null, "dynamic": true, "observer": null})";
const char* kInt8ChannelWeights = R"({"num_bits": 8, "type": "int", "symmetric": true, "strategy": "channel",
    "group_size": null, "dynamic": false, "actorder": null, "observer": "minmax"})";
const char* kInt8TokenActivations = R"({"num_bits": 8, "type": "int", "symmetric": true, "strategy": "token",
    "dynamic": true, "observer": null})";

std::string int4_weights(bool symmetric, const std::string& actorder = "null", int group = 128) {
    return R"({"num_bits": 4, "type": "int", "symmetric": )" + std::string(symmetric ? "true" : "false") +
           R"(, "strategy": "group", "group_size": )" + std::to_string(group) +
           R"(, "dynamic": false, "actorder": )" + actorder + R"(, "observer": "minmax"})";
}

TEST(QuantizationConfig, CompressedTensorsSchemes) {
    QuantizationConfig q = parse(compressed("float-quantized", kFp8ChannelWeights, kFp8TokenActivations));
    EXPECT_NO_THROW(q.require_supported());
    EXPECT_EQ(q.method, QuantMethod::kCompressedTensors);
    EXPECT_EQ(q.compressed_scheme, CompressedScheme::kFp8);
    EXPECT_FALSE(q.static_activations);
    // Static per-tensor FP8 (the transformers documentation's example, strategy tensor both sides).
    q = parse(compressed("naive-quantized", R"({"num_bits": 8, "strategy": "tensor", "type": "float"})",
                         R"({"num_bits": 8, "strategy": "tensor", "type": "float"})"));
    EXPECT_NO_THROW(q.require_supported());
    EXPECT_EQ(q.compressed_scheme, CompressedScheme::kFp8);
    EXPECT_TRUE(q.static_activations);
    // Block-wise FP8 (DeepSeek's recipe): 128 x 128 weight blocks, activations per token and 128 columns.
    q = parse(compressed("float-quantized",
                         R"({"num_bits": 8, "type": "float", "strategy": "block", "block_structure": [128, 128]})",
                         R"({"num_bits": 8, "type": "float", "strategy": "group", "group_size": 128,
                             "dynamic": true})"));
    EXPECT_NO_THROW(q.require_supported());
    EXPECT_EQ(q.compressed_scheme, CompressedScheme::kFp8);
    EXPECT_EQ(q.fp8_block_rows, 128);
    EXPECT_EQ(q.fp8_block_cols, 128);
    EXPECT_EQ(parse(q.to_json().dump()).fp8_block_cols, 128);
    q = parse(compressed("int-quantized", kInt8ChannelWeights, kInt8TokenActivations));
    EXPECT_NO_THROW(q.require_supported());
    EXPECT_EQ(q.compressed_scheme, CompressedScheme::kW8A8Int8);
    q = parse(compressed("pack-quantized", int4_weights(true, R"("group")"), "null"));
    EXPECT_NO_THROW(q.require_supported());
    EXPECT_EQ(q.compressed_scheme, CompressedScheme::kW4A16);
    EXPECT_EQ(q.group_for("model.layers.0.mlp.down_proj", 14336), 128);
    EXPECT_TRUE(q.sym);
    q = parse(compressed("pack-quantized", int4_weights(false, R"("weight")", 64), "null"));
    EXPECT_NO_THROW(q.require_supported());
    EXPECT_FALSE(q.sym);
    EXPECT_EQ(q.group_size, 64);
    q = parse(compressed("pack-quantized", kInt8ChannelWeights, "null"));
    EXPECT_NO_THROW(q.require_supported());
    EXPECT_EQ(q.compressed_scheme, CompressedScheme::kW8A16);
    // The ignore list: whole names, and re: patterns matched from the start of the name.
    EXPECT_FALSE(q.converts("lm_head"));
    EXPECT_FALSE(q.converts("model.layers.3.mlp.gate"));
    EXPECT_TRUE(q.converts("model.layers.3.mlp.gate_proj"));
    EXPECT_TRUE(q.converts("model.lm_head_extra"));
    // What we write for a scheme parses back to it.
    for (const auto& text : {compressed("pack-quantized", int4_weights(false, "null", 64), "null"),
                             compressed("int-quantized", kInt8ChannelWeights, kInt8TokenActivations),
                             compressed("float-quantized", kFp8ChannelWeights, kFp8TokenActivations)}) {
        const QuantizationConfig a = parse(text), back = parse(a.to_json().dump());
        EXPECT_NO_THROW(back.require_supported());
        EXPECT_EQ(back.compressed_scheme, a.compressed_scheme);
        EXPECT_EQ(back.group_size, a.group_size);
        EXPECT_EQ(back.sym, a.sym);
        EXPECT_EQ(back.ignore, a.ignore);
    }
}

TEST(QuantizationConfig, CompressedTensorsRefusals) {
    expect_refused(compressed("float-quantized", R"({"num_bits": 8, "type": "float", "strategy": "block"})",
                              R"({"num_bits": 8, "type": "float", "strategy": "group", "group_size": 128,
                                  "dynamic": true})"),
                   {"compressed-tensors", "block_structure"});
    expect_refused(compressed("pack-quantized", int4_weights(true, "null", 16), "null"), {"group_size 16"});
    expect_refused(compressed("int-quantized", kInt8ChannelWeights,
                              R"({"num_bits": 8, "type": "int", "symmetric": false, "strategy": "token",
                                  "dynamic": true})"),
                   {"asymmetric"});
    expect_refused(compressed("nvfp4-pack-quantized", R"({"num_bits": 4, "type": "float", "strategy": "tensor_group",
                              "group_size": 16})",
                              "null"),
                   {"4-bit float"});
    expect_refused(compressed("pack-quantized", R"({"num_bits": 2, "type": "int", "strategy": "group",
                              "group_size": 128})",
                              "null"),
                   {"2-bit"});
    expect_refused(compressed("float-quantized", kFp8ChannelWeights, kFp8TokenActivations,
                              R"(, "sparsity_config": {"format": "sparse-24-bitmask", "sparsity_structure": "2:4"})"),
                   {"sparsity", "sparse-24-bitmask"});
    expect_refused(
        R"({"quant_method": "compressed-tensors", "format": "mixed-precision", "config_groups": {
            "group_0": {"targets": ["re:.*self_attn.*"], "weights": {"num_bits": 8, "type": "float", "strategy": "channel"}},
            "group_1": {"targets": ["re:.*mlp.*"], "weights": {"num_bits": 4, "type": "int", "strategy": "group",
                        "group_size": 128}}}})",
        {"group_0", "group_1"});
    expect_refused(R"({"quant_method": "compressed-tensors", "format": "pack-quantized"})", {"config_groups"});
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
    expect_refused(R"({"quant_method": "fp8", "activation_scheme": "dynamic", "weight_block_size": [128, 0]})",
                   {"weight_block_size", "[128,0]"});
    expect_refused(R"({"quant_method": "bitsandbytes", "load_in_4bit": true})", {"bitsandbytes"});
    expect_refused(R"({"quant_method": "turbolm", "format": "int2"})", {"format", "int2"});
}

}  // namespace
}  // namespace turbolm::quant
