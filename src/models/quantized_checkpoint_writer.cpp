#include "models/quantized_checkpoint_writer.h"

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/checkpoint_writing.h"
#include "models/llama_family.h"
#include "models/model.h"
#include "models/quantized_linear_io.h"
#include "quant/gptq_layout.h"

namespace turbolm {
namespace {

namespace fs = std::filesystem;
using quant::QuantizationConfig;
using quant::QuantMethod;

// Files beside the weights that a checkpoint directory needs to be used, copied when present.
const char* const kCopiedFiles[] = {
    "tokenizer.json",        "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
    "added_tokens.json",     "chat_template.jinja",   "vocab.json",      "merges.txt",
    "generation_config.json"};

void require_cpu(const Tensor& t, const std::string& name) {
    if (t.defined() && t.device() != Device::kCpu)
        fail(StatusCode::kInvalidArgument, "cannot write '", name, "': the weights are on ", device_name(t.device()),
             "; write a model loaded for the CPU");
}

// Weights placed on a device are fused (q/k/v, gate/up, stacked experts): the walk names the parts.
void require_unfused(const ModelWeights& w) {
    for (size_t i = 0; i < w.layers.size(); ++i) {
        const LayerWeights& l = w.layers[i];
        if (l.attn.fused() || l.gated.gate_up.w.defined() || l.moe.gate_up_stacked.defined())
            fail(StatusCode::kInvalidArgument, "cannot write layer ", i,
                 ": its projections are fused (weights placed on a device); write a model loaded for the CPU");
    }
}

// Runs the architecture's weight walk; the walk is where its tensor names live.
void walk_weights(const ModelConfig& cfg, ModelWeights& w, WeightVisitor& v) {
    if (cfg.tp.split())
        fail(StatusCode::kUnimplemented, "writing a checkpoint from one tensor-parallel rank's part of a model");
    if (!is_llama_family(cfg))
        fail(StatusCode::kUnimplemented, "writing checkpoints of ", cfg.architecture,
             " is not supported (the Llama family: llama, mistral, qwen2, qwen3, mixtral)");
    walk_llama_family(cfg, llama_flavor_of(w), /*moe_fused=*/false, w, v);
}

// What the quantizable projections hold: their formats, groups, and the ones left dense.
class Survey final : public WeightVisitor {
  public:
    void linear(const std::string& prefix, Linear& l, int64_t, int64_t, bool, bool quantizable,
                const LinearPart&) override {
        require_cpu(l.w, prefix);
        if (!quantizable) {
            if (l.format != WeightFormat::kDense)
                fail(StatusCode::kUnimplemented, "cannot write ", prefix, ": it is ", weight_format_name(l.format),
                     " but only the layers' attention and MLP projections can be stored quantized");
            return;
        }
        if (l.format == WeightFormat::kDense) {
            dense.push_back(prefix);
            return;
        }
        quantized.push_back(prefix);
        formats.insert(l.format);
        if (l.format == WeightFormat::kInt4) {
            groups[prefix] = l.group;
            ++group_count[l.group];
            permuted = permuted || l.in_perm.defined();
            v1_zeros = v1_zeros && quant::gptq_v1_can_hold({l.w, l.scale, l.zero, l.in_perm, l.group});
        }
    }
    void matrix(const std::string& name, Tensor& t, const Shape&, WeightKind, const LinearPart&) override {
        require_cpu(t, name);
    }
    void vector(const std::string& name, Tensor& t, int64_t, WeightKind) override { require_cpu(t, name); }

    std::set<WeightFormat> formats;
    std::vector<std::string> dense, quantized;
    std::map<std::string, int64_t> groups;
    std::map<int64_t, int64_t> group_count;
    bool permuted = false;
    bool v1_zeros = true;
};

// Collects every tensor under its checkpoint name, checking it against the shape the config implies.
class Collector final : public WeightVisitor {
  public:
    Collector(const QuantizationConfig& q, std::map<std::string, Tensor>& out) : q_(q), out_(out) {}

    void linear(const std::string& prefix, Linear& l, int64_t out, int64_t in, bool bias, bool quantizable,
                const LinearPart&) override {
        if (!l.w.defined()) fail(StatusCode::kInvalidArgument, "cannot write ", prefix, ": it has no weights");
        if (l.out() != out || l.in() != in)
            fail(StatusCode::kInvalidArgument, "cannot write ", prefix, ": it is ", l.out(), " x ", l.in(),
                 " but the config implies ", out, " x ", in);
        if (l.b.defined() != bias)
            fail(StatusCode::kInvalidArgument, "cannot write ", prefix, ": it ", l.b.defined() ? "has" : "lacks",
                 " a bias, unlike the first layer's projections of its kind");
        for (const Tensor* t : {&l.w, &l.b, &l.scale, &l.zero, &l.inv_smooth, &l.in_perm}) require_cpu(*t, prefix);
        add_linear_tensors(l, prefix, quantizable ? q_ : none_, out_);
    }
    void matrix(const std::string& name, Tensor& t, const Shape& shape, WeightKind, const LinearPart&) override {
        put(name, t, shape);
    }
    void vector(const std::string& name, Tensor& t, int64_t n, WeightKind) override { put(name, t, {n}); }

  private:
    void put(const std::string& name, const Tensor& t, const Shape& shape) {
        if (!t.defined() || t.shape() != shape)
            fail(StatusCode::kInvalidArgument, "cannot write '", name, "': it is ",
                 t.defined() ? t.describe() : "undefined", " but the config implies ", shape.to_string());
        out_[name] = t;
    }

    const QuantizationConfig& q_;
    const QuantizationConfig none_;
    std::map<std::string, Tensor>& out_;
};

// modules_to_not_convert: the dense projections by name, except that experts left dense (a Mixtral
// whose attention alone is quantized) are one entry, "block_sparse_moe.experts", which readers match
// as a substring, rather than one per expert.
std::vector<std::string> not_converted(const Survey& s) {
    std::vector<std::string> out;
    std::set<std::string> collapsed;
    for (const std::string& name : s.dense) {
        const size_t experts = name.find(".experts.");
        const size_t layer = name.rfind("layers.", experts);
        const size_t start = layer == std::string::npos ? std::string::npos : name.find('.', layer + 7);
        if (experts != std::string::npos && start != std::string::npos && start < experts) {
            const std::string key = name.substr(start + 1, experts + 8 - start - 1);
            bool clash = false;
            for (const std::string& q : s.quantized) clash = clash || q.find(key) != std::string::npos;
            if (!clash) {
                if (collapsed.insert(key).second) out.push_back(key);
                continue;
            }
        }
        out.push_back(name);
    }
    return out;
}

void write_config(const fs::path& source_dir, const fs::path& out_dir, const QuantizationConfig& q) {
    const fs::path src = source_dir / "config.json";
    std::ifstream in(src);
    if (!in) fail(StatusCode::kNotFound, src.string(), ": cannot open");
    nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) fail(StatusCode::kDataLoss, src.string(), ": not a JSON object");
    if (q.quantized()) {
        j["quantization_config"] = q.to_json();
    } else {
        j.erase("quantization_config");
    }
    const fs::path dst = out_dir / "config.json";
    std::ofstream out(dst, std::ios::trunc);
    out << j.dump(2) << "\n";
    if (!out) fail(StatusCode::kDataLoss, dst.string(), ": write failed");
}

}  // namespace

QuantizationConfig quantization_config_for(const ModelConfig& cfg, const ModelWeights& w) {
    ModelWeights copy = w;
    Survey s;
    walk_weights(cfg, copy, s);
    QuantizationConfig q;
    if (s.formats.empty()) return q;
    if (s.formats.size() > 1) {
        std::string list;
        for (WeightFormat f : s.formats) list += (list.empty() ? "" : ", ") + std::string(weight_format_name(f));
        fail(StatusCode::kUnimplemented, "the projections are in several formats (", list,
             "); one checkpoint stores one format");
    }
    q.modules_to_not_convert = not_converted(s);
    switch (*s.formats.begin()) {
        case WeightFormat::kDense:
            break;
        case WeightFormat::kInt4: {
            q.method = s.permuted ? QuantMethod::kGptq : QuantMethod::kAwq;
            q.bits = 4;
            // The group most projections use goes in group_size; the rest are listed by name.
            int64_t best = 0;
            for (const auto& [g, n] : s.group_count)
                if (best == 0 || n >= s.group_count[best]) best = g;
            q.group_size = best;
            for (const auto& [prefix, g] : s.groups)
                if (g != best) q.group_overrides[prefix] = g;
            q.desc_act = s.permuted;
            q.sym = false;
            q.zeros_minus_one = s.v1_zeros;  // v1 when every zero point has a v1 encoding
            break;
        }
        case WeightFormat::kFp8:
            q.method = QuantMethod::kFp8;
            break;
        case WeightFormat::kFp8Block:
            q.method = QuantMethod::kFp8;
            q.fp8_block_rows = q.fp8_block_cols = ops::kFp8Block;
            break;
        case WeightFormat::kInt8:
        case WeightFormat::kW8A8Int8:
            q.method = QuantMethod::kTurbolm;
            q.turbolm_format = *s.formats.begin() == WeightFormat::kInt8 ? quant::TurbolmFormat::kInt8
                                                                         : quant::TurbolmFormat::kW8A8Int8;
            break;
    }
    return q;
}

CheckpointWriteResult write_quantized_checkpoint(const ModelConfig& cfg, const ModelWeights& w,
                                                 const fs::path& source_dir, const fs::path& out_dir,
                                                 const CheckpointWriteOptions& options) {
    if (fs::exists(out_dir) && fs::exists(source_dir) && fs::equivalent(out_dir, source_dir))
        fail(StatusCode::kInvalidArgument, out_dir.string(),
             ": cannot write a checkpoint over the one it was loaded from (its files may be mapped)");
    require_unfused(w);
    CheckpointWriteResult result;
    result.quant = quantization_config_for(cfg, w);
    std::map<std::string, Tensor> tensors;
    ModelWeights copy = w;
    Collector collect(result.quant, tensors);
    walk_weights(cfg, copy, collect);
    for (const auto& [name, t] : tensors) result.tensor_bytes += t.nbytes();

    fs::create_directories(out_dir);
    result.files = write_checkpoint_weights(out_dir, tensors, options.max_shard_bytes);
    write_config(source_dir, out_dir, result.quant);
    result.files.push_back("config.json");
    for (const char* f : kCopiedFiles) {
        if (!fs::is_regular_file(source_dir / f)) continue;
        fs::copy_file(source_dir / f, out_dir / f, fs::copy_options::overwrite_existing);
        result.files.push_back(f);
    }
    return result;
}

CheckpointWriteResult write_quantized_checkpoint(const Model& model, const fs::path& source_dir,
                                                 const fs::path& out_dir, const CheckpointWriteOptions& options) {
    if (model.device() != Device::kCpu)
        fail(StatusCode::kInvalidArgument, "cannot write a model placed on ", device_name(model.device()),
             " (its projections are fused there); load it for the CPU");
    return write_quantized_checkpoint(model.config(), model.weights(), source_dir, out_dir, options);
}

}  // namespace turbolm
