// Checkpoints as the Hub's AWQ, GPTQ and llm-compressor quantizers write them, made with the layout
// packers of the unit tests (written from the published layouts, not from the loader), load and
// compute the same logits as a float checkpoint of their dequantized weights: AWQ GEMM, GPTQ v1 and
// v2, compressed-tensors W4A16, with and without act-order. Needs ops::linear_int4 (and
// gather_columns for act-order) on the CPU. compressed-tensors' 8-bit schemes are checked against
// the layouts that store the same numbers.
#include <cmath>
#include <fstream>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/half.h"
#include "io/safetensors.h"
#include "models/model.h"
#include "models/quantized_checkpoint_writer.h"
#include "models/tensor_parallel.h"
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
    const char* method;  // "awq", "gptq" or "compressed-tensors" (pack-quantized, 4 bits)
    bool act_order;
    bool v1;         // GPTQ: zeros stored minus one
    bool symmetric;  // compressed-tensors: no zero points (every zero 8)
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

// Two models' logits at every position of the same prompt, and how they differ.
struct LogitsComparison {
    int64_t differing = 0;  // elements not bit-identical
    double max_diff = 0.0, max_ref = 0.0;
    int64_t count = 0;
};

LogitsComparison compare_logits(Model& reference, Model& model) {
    const std::vector<int32_t> ids = {1, 200, 33, 4, 450, 61, 7, 88, 9, 310, 11, 12};
    KvCache ka = reference.new_kv_cache(16), kb = model.new_kv_cache(16);
    const Tensor a = reference.forward(ids, ka, /*all_logits=*/true), b = model.forward(ids, kb, true);
    LogitsComparison c;
    EXPECT_EQ(a.shape(), b.shape());
    if (a.shape() != b.shape()) return c;
    c.count = a.numel();
    for (int64_t i = 0; i < a.numel(); ++i) {
        const float x = a.data<float>()[i], y = b.data<float>()[i];
        c.differing += x != y;
        c.max_diff = std::max(c.max_diff, std::fabs(double(x) - double(y)));
        c.max_ref = std::max(c.max_ref, std::fabs(double(x)));
    }
    return c;
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
        Plain p = quant::test::random_plain(out, in, group, rng, c.act_order, c.v1 ? 1 : 0, 0.5f * s, 1.5f * s);
        if (c.symmetric)
            for (auto& zeros : p.zeros) std::fill(zeros.begin(), zeros.end(), 8);
        if (std::string(c.method) == "compressed-tensors")  // scales stored in bf16, as the quantizer keeps them
            for (auto& scales : p.scales)
                for (uint16_t& v : scales) v = f32_to_f16(bf16_to_f32(f32_to_bf16(f16_to_f32(v))));
        Tensor w = Tensor::empty({out, in}, DType::kF32);
        for (int64_t r = 0; r < out; ++r)
            for (int64_t col = 0; col < in; ++col) w.data<float>()[r * in + col] = quant::test::dequant(p, r, col);
        dense[name] = w;
        if (std::string(c.method) == "awq") {
            const quant::AwqTensors a = quant::test::awq_pack_by_hand(p);
            packed[prefix + ".qweight"] = a.qweight;
            packed[prefix + ".qzeros"] = a.qzeros;
            packed[prefix + ".scales"] = a.scales;
        } else if (std::string(c.method) == "compressed-tensors") {
            const quant::CompressedInt4Tensors t = quant::test::compressed_pack_by_hand(p, c.symmetric);
            packed[prefix + ".weight_packed"] = t.weight_packed;
            packed[prefix + ".weight_scale"] = t.weight_scale.to(DType::kBF16);  // exact: the values are bf16's
            if (!c.symmetric) packed[prefix + ".weight_zero_point"] = t.weight_zero_point;
            if (c.act_order) packed[prefix + ".weight_g_idx"] = t.weight_g_idx;
            Tensor shape = Tensor::empty({2}, DType::kI64);
            shape.data<int64_t>()[0] = out;
            shape.data<int64_t>()[1] = in;
            packed[prefix + ".weight_shape"] = shape;
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
    } else if (std::string(c.method) == "compressed-tensors") {
        const nlohmann::json weights = {{"num_bits", 4},          {"type", "int"},
                                        {"symmetric", c.symmetric}, {"strategy", "group"},
                                        {"group_size", group},    {"dynamic", false},
                                        {"actorder", c.act_order ? nlohmann::json("group") : nlohmann::json()}};
        config["quantization_config"] = {
            {"quant_method", "compressed-tensors"},
            {"format", "pack-quantized"},
            {"config_groups",
             {{"group_0", {{"targets", {"Linear"}}, {"weights", weights}, {"input_activations", nullptr}}}}},
            {"ignore", {"lm_head"}}};
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
    const LogitsComparison logits = compare_logits(*reference, *model);
    EXPECT_GT(logits.max_ref, 0.1);
    EXPECT_LT(logits.max_diff, 1e-4 * std::max(1.0, logits.max_ref)) << "largest logit " << logits.max_ref;
    if (std::string(c.method) != "compressed-tensors" || c.symmetric) return;
    // Broken: an asymmetric projection without its zero points, a weight_shape that disagrees.
    const std::string v = "model.layers.1.self_attn.v_proj";
    auto expect_load_error = [&](StatusCode code, std::initializer_list<std::string> needles) {
        write_dir(tmp.path() / "broken", config, packed);
        const Status st = catch_status([&] { Model::load(tmp.path() / "broken"); });
        EXPECT_EQ(st.code(), code) << st.to_string();
        for (const auto& n : needles) EXPECT_NE(st.message().find(n), std::string::npos) << st.to_string();
    };
    const Tensor zeros = packed.at(v + ".weight_zero_point");
    packed.erase(v + ".weight_zero_point");
    expect_load_error(StatusCode::kNotFound, {v + ".weight_zero_point", "missing", "compressed-tensors"});
    packed[v + ".weight_zero_point"] = zeros;
    packed[v + ".weight_shape"].data<int64_t>()[1] += 8;
    expect_load_error(StatusCode::kInvalidArgument, {v + ".weight_shape", "says ["});
}

INSTANTIATE_TEST_SUITE_P(Layouts, HubQuantizedLayouts,
                         ::testing::Values(HubCase{"awq", "awq", false, false, false},
                                           HubCase{"gptq_v1", "gptq", false, true, false},
                                           HubCase{"gptq_v1_act_order", "gptq", true, true, false},
                                           HubCase{"gptq_v2_act_order", "gptq", true, false, false},
                                           HubCase{"compressed_w4a16", "compressed-tensors", false, false, true},
                                           HubCase{"compressed_w4a16_asym_act_order", "compressed-tensors", true,
                                                   false, false}),
                         [](const testing::TestParamInfo<HubCase>& info) { return std::string(info.param.name); });

// compressed-tensors' 8-bit schemes store what another layout we read stores (FP8: quant_method
// fp8's tensors; INT8 with or without activations: our turbolm layouts), only named, typed and
// packed differently: both must give the same logits, bit for bit.
struct EightBitCase {
    const char* name;
    const char* scheme;  // "fp8", "w8a8" or "w8a16"
    bool per_tensor;     // fp8: one weight scale and a static input_scale
    bool packed;         // w8a16: pack-quantized (else int-quantized, the codes as I8)
};

class CompressedEightBit : public ::testing::TestWithParam<EightBitCase> {};

TEST_P(CompressedEightBit, LoadsAsTheEquivalentCheckpoint) {
    const EightBitCase& c = GetParam();
    const bool fp8 = std::string(c.scheme) == "fp8";
    const fs::path src = test::fixtures_dir() / "hf-tiny" / "llama-gqa";
    const auto source = test::read_tensors(src / "model.safetensors");
    std::map<std::string, Tensor> ours, compressed;
    for (const auto& [name, t] : source) {
        if (!is_projection(name, t)) {
            ours[name] = compressed[name] = t;
            continue;
        }
        const std::string prefix = name.substr(0, name.size() - 7);
        const int64_t out = t.size(0), in = t.size(1);
        const Tensor w = t.to(DType::kF32);
        const float* wd = w.data<float>();
        // Scales of the rows' (or the whole matrix's) largest magnitude, rounded to bf16 as stored.
        std::vector<float> scale(static_cast<size_t>(out));
        float all = 0.0f;
        for (int64_t r = 0; r < out; ++r) {
            float m = 0.0f;
            for (int64_t k = 0; k < in; ++k) m = std::max(m, std::fabs(wd[r * in + k]));
            scale[size_t(r)] = m;
            all = std::max(all, m);
        }
        const float code_max = fp8 ? 448.0f : 127.0f;
        for (float& v : scale) v = bf16_to_f32(f32_to_bf16(std::max(c.per_tensor ? all : v, 1e-6f) / code_max));
        Tensor codes = Tensor::empty({out, in}, fp8 ? DType::kF8E4M3 : DType::kI8);
        std::vector<std::vector<int>> int_codes(static_cast<size_t>(out), std::vector<int>(static_cast<size_t>(in)));
        for (int64_t r = 0; r < out; ++r)
            for (int64_t k = 0; k < in; ++k) {
                const float x = wd[r * in + k] / scale[size_t(r)];
                if (fp8) {
                    codes.data<uint8_t>()[r * in + k] = f32_to_f8e4m3(x);
                } else {
                    const int v = int(std::clamp(std::nearbyint(x), -127.0f, 127.0f));
                    int_codes[size_t(r)][size_t(k)] = v;
                    codes.data<int8_t>()[r * in + k] = int8_t(v);
                }
            }
        Tensor f32_scale = Tensor::empty({out}, DType::kF32), bf16_scale = Tensor::empty({out, 1}, DType::kBF16);
        for (int64_t r = 0; r < out; ++r) {
            f32_scale.data<float>()[r] = scale[size_t(r)];
            bf16_scale.data<uint16_t>()[r] = f32_to_bf16(scale[size_t(r)]);
        }
        ours[prefix + ".weight"] = codes;
        ours[prefix + ".weight_scale"] = f32_scale;
        if (c.per_tensor) {
            Tensor one = Tensor::empty({1}, DType::kBF16);
            one.data<uint16_t>()[0] = f32_to_bf16(scale[0]);
            compressed[prefix + ".weight_scale"] = one;
            compressed[prefix + ".input_scale"] = one;  // calibrated for static activations; not read
        } else {
            compressed[prefix + ".weight_scale"] = bf16_scale;
        }
        if (c.packed) {
            compressed[prefix + ".weight_packed"] = quant::test::compressed_pack_int8_by_hand(int_codes);
            Tensor shape = Tensor::empty({2}, DType::kI64);
            shape.data<int64_t>()[0] = out;
            shape.data<int64_t>()[1] = in;
            compressed[prefix + ".weight_shape"] = shape;
        } else {
            compressed[prefix + ".weight"] = codes;
        }
    }
    std::ifstream in(src / "config.json");
    nlohmann::json config = nlohmann::json::parse(in);
    test::TempDir tmp;
    const std::string scheme = c.scheme;
    config["quantization_config"] = fp8 ? nlohmann::json{{"quant_method", "fp8"}, {"activation_scheme", "dynamic"}}
                                        : nlohmann::json{{"quant_method", "turbolm"},
                                                         {"format", scheme == "w8a8" ? "w8a8-int8" : "int8"},
                                                         {"version", 1}};
    write_dir(tmp.path() / "ours", config, ours);
    const nlohmann::json weights = {{"num_bits", 8},
                                    {"type", fp8 ? "float" : "int"},
                                    {"symmetric", true},
                                    {"strategy", c.per_tensor ? "tensor" : "channel"},
                                    {"dynamic", false}};
    nlohmann::json activations = nullptr;
    if (scheme != "w8a16")
        activations = {{"num_bits", 8},
                       {"type", fp8 ? "float" : "int"},
                       {"symmetric", true},
                       {"strategy", c.per_tensor ? "tensor" : "token"},
                       {"dynamic", !c.per_tensor}};
    config["quantization_config"] = {
        {"quant_method", "compressed-tensors"},
        {"format", fp8 ? "float-quantized" : c.packed ? "pack-quantized" : "int-quantized"},
        {"config_groups",
         {{"group_0", {{"targets", {"Linear"}}, {"weights", weights}, {"input_activations", activations}}}}},
        {"ignore", {"lm_head"}},
        {"sparsity_config", nlohmann::json::object()}};
    write_dir(tmp.path() / "compressed", config, compressed);

    auto reference = Model::load(tmp.path() / "ours");
    auto model = Model::load(tmp.path() / "compressed");
    const WeightFormat want = fp8 ? WeightFormat::kFp8 : scheme == "w8a8" ? WeightFormat::kW8A8Int8 : WeightFormat::kInt8;
    EXPECT_EQ(model->weights().layers[0].attn.q.format, want);
    EXPECT_EQ(model->weights().layers[1].gated.down.format, want);
    const LogitsComparison logits = compare_logits(*reference, *model);
    EXPECT_GT(logits.max_ref, 0.1);
    EXPECT_EQ(logits.differing, 0) << "of " << logits.count << " logits";
}

INSTANTIATE_TEST_SUITE_P(Schemes, CompressedEightBit,
                         ::testing::Values(EightBitCase{"fp8_dynamic", "fp8", false, false},
                                           EightBitCase{"fp8_static_per_tensor", "fp8", true, false},
                                           EightBitCase{"w8a8_int8", "w8a8", false, false},
                                           EightBitCase{"w8a16_packed", "w8a16", false, true},
                                           EightBitCase{"w8a16_int_quantized", "w8a16", false, false}),
                         [](const testing::TestParamInfo<EightBitCase>& info) { return std::string(info.param.name); });

// Block-wise FP8 checkpoints (quant_method fp8 with weight_block_size and weight_scale_inv, as Qwen3's
// and DeepSeek's are; compressed-tensors' block strategy with weight_scale) load as the bf16 model of
// code * block scale: the logits of a bf16 checkpoint of those products, bit for bit. Blocks of 16 x 32
// so that the tiny projections hold several, partial ones included.
class BlockFp8 : public ::testing::TestWithParam<bool> {};

TEST_P(BlockFp8, LoadsAsItsDequantizedWeights) {
    const bool compressed_tensors = GetParam();
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    std::uniform_real_distribution<float> jitter(0.5f, 1.5f);
    const int64_t br = 16, bc = 32;
    const fs::path src = test::fixtures_dir() / "hf-tiny" / "llama-gqa";
    const auto source = test::read_tensors(src / "model.safetensors");
    std::map<std::string, Tensor> packed, dense;
    for (const auto& [name, t] : source) {
        if (!is_projection(name, t)) {
            packed[name] = dense[name] = t;
            continue;
        }
        const std::string prefix = name.substr(0, name.size() - 7);
        const int64_t out = t.size(0), in = t.size(1), rows = (out + br - 1) / br, cols = (in + bc - 1) / bc;
        const Tensor w = t.to(DType::kF32);
        Tensor scale = Tensor::empty({rows, cols}, DType::kF32);
        for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < cols; ++j) {
                float m = 1e-6f;
                for (int64_t r = i * br; r < std::min(out, (i + 1) * br); ++r)
                    for (int64_t c = j * bc; c < std::min(in, (j + 1) * bc); ++c)
                        m = std::max(m, std::fabs(w.data<float>()[r * in + c]));
                scale.data<float>()[i * cols + j] = m / 448.0f * jitter(rng);  // codes up to 448 / 0.5, saturated
            }
        Tensor codes = Tensor::empty({out, in}, DType::kF8E4M3), product = Tensor::empty({out, in}, DType::kBF16);
        for (int64_t r = 0; r < out; ++r)
            for (int64_t c = 0; c < in; ++c) {
                const float s = scale.data<float>()[(r / br) * cols + c / bc];
                const uint8_t code = f32_to_f8e4m3(w.data<float>()[r * in + c] / s);
                codes.data<uint8_t>()[r * in + c] = code;
                product.data<uint16_t>()[r * in + c] = f32_to_bf16(f8e4m3_to_f32(code) * s);
            }
        dense[name] = product;
        packed[prefix + ".weight"] = codes;
        packed[prefix + (compressed_tensors ? ".weight_scale" : ".weight_scale_inv")] = scale;
    }
    std::ifstream in(src / "config.json");
    nlohmann::json config = nlohmann::json::parse(in);
    test::TempDir tmp;
    write_dir(tmp.path() / "dense", config, dense);
    if (compressed_tensors) {
        const nlohmann::json weights = {{"num_bits", 8},      {"type", "float"},
                                        {"symmetric", true},  {"strategy", "block"},
                                        {"dynamic", false},   {"block_structure", {br, bc}}};
        const nlohmann::json activations = {{"num_bits", 8},          {"type", "float"}, {"symmetric", true},
                                            {"strategy", "group"},    {"group_size", bc}, {"dynamic", true}};
        config["quantization_config"] = {
            {"quant_method", "compressed-tensors"},
            {"format", "float-quantized"},
            {"config_groups",
             {{"group_0", {{"targets", {"Linear"}}, {"weights", weights}, {"input_activations", activations}}}}}};
    } else {
        config["quantization_config"] = {{"quant_method", "fp8"},
                                         {"activation_scheme", "dynamic"},
                                         {"fmt", "e4m3"},
                                         {"weight_block_size", {br, bc}}};
    }
    write_dir(tmp.path() / "packed", config, packed);

    auto reference = Model::load(tmp.path() / "dense");
    auto model = Model::load(tmp.path() / "packed");
    const Linear& q = model->weights().layers[0].attn.q;
    EXPECT_EQ(q.format, WeightFormat::kDense);
    EXPECT_EQ(q.w.dtype(), DType::kBF16);
    const LogitsComparison logits = compare_logits(*reference, *model);
    EXPECT_EQ(logits.differing, 0) << "of " << logits.count << " logits";
}

INSTANTIATE_TEST_SUITE_P(Formats, BlockFp8, ::testing::Bool(), [](const testing::TestParamInfo<bool>& info) {
    return std::string(info.param ? "compressed_tensors" : "fp8_weight_block_size");
});

// Projections that 128 x 128 blocks tile exactly load as the block-scaled product (kFp8Block): a
// Llama of 128-multiples with random weights, its FP8 checkpoint of 128 x 128 blocks. Its logits stay
// near those of the bf16 model of its dequantized weights (they differ by the activations' FP8
// rounding); the writer stores it back as the same checkpoint, which reloads to the same bytes; and a
// tensor-parallel part must fall on the blocks.
TEST(BlockFp8Product, FullBlocksLoadAsTheBlockScaledProduct) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    const int64_t hidden = 256, ff = 384, vocab = 512, blk = ops::kFp8Block;
    nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}},
                             {"model_type", "llama"},
                             {"hidden_size", hidden},
                             {"intermediate_size", ff},
                             {"num_hidden_layers", 2},
                             {"num_attention_heads", 8},
                             {"num_key_value_heads", 4},
                             {"head_dim", 32},
                             {"vocab_size", vocab},
                             {"max_position_embeddings", 128},
                             {"rms_norm_eps", 1e-5},
                             {"rope_theta", 10000.0},
                             {"hidden_act", "silu"},
                             {"tie_word_embeddings", false},
                             {"torch_dtype", "bfloat16"}};
    std::normal_distribution<float> normal(0.0f, 1.0f);
    auto random = [&](int64_t rows, int64_t cols, float sd) {
        Tensor t = Tensor::empty({rows, cols}, DType::kF32);
        for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = sd * normal(rng);
        return t;
    };
    std::map<std::string, Tensor> packed, dense;
    packed["model.embed_tokens.weight"] = dense["model.embed_tokens.weight"] = random(vocab, hidden, 1.0f);
    packed["lm_head.weight"] = dense["lm_head.weight"] = random(vocab, hidden, 0.06f);
    Tensor ones = Tensor::empty({hidden}, DType::kF32);
    for (int64_t i = 0; i < hidden; ++i) ones.data<float>()[i] = 1.0f;
    packed["model.norm.weight"] = dense["model.norm.weight"] = ones;
    const std::pair<const char*, std::pair<int64_t, int64_t>> projections[] = {
        {"self_attn.q_proj", {256, hidden}}, {"self_attn.k_proj", {128, hidden}}, {"self_attn.v_proj", {128, hidden}},
        {"self_attn.o_proj", {hidden, 256}}, {"mlp.gate_proj", {ff, hidden}},     {"mlp.up_proj", {ff, hidden}},
        {"mlp.down_proj", {hidden, ff}}};
    for (int layer = 0; layer < 2; ++layer) {
        const std::string p = "model.layers." + std::to_string(layer) + ".";
        packed[p + "input_layernorm.weight"] = dense[p + "input_layernorm.weight"] = ones;
        packed[p + "post_attention_layernorm.weight"] = dense[p + "post_attention_layernorm.weight"] = ones;
        for (const auto& [name, shape] : projections) {
            const auto [out, in] = shape;
            const Tensor w = random(out, in, 1.0f / std::sqrt(float(in)));
            Tensor scale = Tensor::empty({out / blk, in / blk}, DType::kF32);
            for (int64_t i = 0; i < out / blk; ++i)
                for (int64_t j = 0; j < in / blk; ++j) {
                    float m = 0.0f;
                    for (int64_t r = i * blk; r < (i + 1) * blk; ++r)
                        for (int64_t c = j * blk; c < (j + 1) * blk; ++c)
                            m = std::max(m, std::fabs(w.data<float>()[r * in + c]));
                    scale.data<float>()[i * (in / blk) + j] = m / 448.0f;
                }
            Tensor codes = Tensor::empty({out, in}, DType::kF8E4M3), product = Tensor::empty({out, in}, DType::kBF16);
            for (int64_t r = 0; r < out; ++r)
                for (int64_t c = 0; c < in; ++c) {
                    const float sc = scale.data<float>()[(r / blk) * (in / blk) + c / blk];
                    const uint8_t code = f32_to_f8e4m3(w.data<float>()[r * in + c] / sc);
                    codes.data<uint8_t>()[r * in + c] = code;
                    product.data<uint16_t>()[r * in + c] = f32_to_bf16(f8e4m3_to_f32(code) * sc);
                }
            packed[p + name + ".weight"] = codes;
            packed[p + name + ".weight_scale_inv"] = scale;
            dense[p + name + ".weight"] = product;
        }
    }
    test::TempDir tmp;
    write_dir(tmp.path() / "dense", config, dense);
    config["quantization_config"] = {{"quant_method", "fp8"},
                                     {"activation_scheme", "dynamic"},
                                     {"fmt", "e4m3"},
                                     {"weight_block_size", {blk, blk}}};
    write_dir(tmp.path() / "packed", config, packed);

    auto reference = Model::load(tmp.path() / "dense");
    auto model = Model::load(tmp.path() / "packed");
    const Linear& k = model->weights().layers[1].attn.k;
    EXPECT_EQ(k.format, WeightFormat::kFp8Block);
    EXPECT_EQ(k.scale.shape(), (Shape{1, 2}));
    const LogitsComparison logits = compare_logits(*reference, *model);
    EXPECT_GT(logits.max_ref, 0.5);
    // FP8 activations are off by up to 1/16 each; over a couple of layers the logits move by a few percent.
    EXPECT_LT(logits.max_diff, 0.1 * logits.max_ref) << "largest logit " << logits.max_ref;
    EXPECT_GT(logits.max_diff, 0.0) << "the activations were not quantized";

    write_quantized_checkpoint(*model, tmp.path() / "packed", tmp.path() / "written");
    auto reloaded = Model::load(tmp.path() / "written");
    test::expect_same_tensors(model->config(), model->weights(), reloaded->weights());

    LinearPart half_rows;
    half_rows.rows = AxisRange{0, 64};
    const Status st = catch_status([&] { take_part(k, half_rows); });
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.to_string();
    LinearPart block_rows;
    block_rows.rows = AxisRange{0, 128};
    block_rows.cols = AxisRange{128, 256};
    const Linear part = take_part(model->weights().layers[0].attn.q, block_rows);
    EXPECT_EQ(part.scale.shape(), (Shape{1, 1}));
    EXPECT_EQ(part.scale.data<float>()[0], model->weights().layers[0].attn.q.scale.data<float>()[1]);
}

}  // namespace
}  // namespace turbolm
