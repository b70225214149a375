#include "models/quantized_checkpoint_fixture.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <numeric>

#include <gtest/gtest.h>

#include "io/safetensors.h"
#include "models/llama_family.h"
#include "ops/ops.h"
#include "support/test_paths.h"

namespace turbolm::test {

namespace fs = std::filesystem;

const char* const kTokenizerFiles[3] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"};

void make_source_dir(const std::string& name, const fs::path& dir) {
    const fs::path src = fixtures_dir() / "hf-tiny" / name;
    fs::create_directories(dir);
    for (const char* f : {"config.json", "generation_config.json", "model.safetensors"}) {
        fs::copy_file(src / f, dir / f);
        fs::permissions(dir / f, fs::perms::owner_write, fs::perm_options::add);
    }
    // Made-up contents: the writer copies these files, it does not read them.
    for (const char* f : kTokenizerFiles)
        std::ofstream(dir / f) << "{\"file\": \"" << f << "\", \"of\": \"" << name << "\"}\n";
}

namespace {

Tensor to_f32(const Tensor& t) {
    return t.dtype() == DType::kF32 ? t.contiguous() : t.to(DType::kF32);
}

int64_t group_for(int64_t in, int64_t group) {
    if (in % group == 0) return group;
    for (int64_t g = (std::min(group, in) / 32) * 32; g >= 32; g -= 32)
        if (in % g == 0) return g;
    ADD_FAILURE() << "no INT4 group for " << in << " input columns";
    return 32;
}

void quantize_int4(Linear& l, std::mt19937_64& rng, int64_t group, bool act_order) {
    const int64_t out = l.out(), in = l.in();
    group = group_for(in, group);
    Tensor w = to_f32(l.w);
    Tensor perm;
    if (act_order) {
        // A random quantization order, `group` columns at a time; in memory the columns are sorted by
        // group, in their stored order within a group (as a GPTQ checkpoint loads).
        std::vector<int32_t> order(static_cast<size_t>(in)), g_idx(static_cast<size_t>(in));
        std::iota(order.begin(), order.end(), 0);
        std::shuffle(order.begin(), order.end(), rng);
        for (int64_t i = 0; i < in; ++i) g_idx[size_t(order[size_t(i)])] = int32_t(i / group);
        std::vector<int32_t> sorted(static_cast<size_t>(in));
        std::iota(sorted.begin(), sorted.end(), 0);
        std::stable_sort(sorted.begin(), sorted.end(), [&](int32_t a, int32_t b) { return g_idx[a] < g_idx[b]; });
        if (!std::is_sorted(sorted.begin(), sorted.end())) {  // one group: no permutation
            perm = Tensor::empty({in}, DType::kI32);
            std::copy(sorted.begin(), sorted.end(), perm.data<int32_t>());
        }
        Tensor wp = Tensor::empty({out, in}, DType::kF32);
        for (int64_t r = 0; r < out; ++r)
            for (int64_t c = 0; c < in; ++c) wp.data<float>()[r * in + c] = w.data<float>()[r * in + sorted[size_t(c)]];
        w = wp;
    }
    Tensor q = Tensor::empty({out, in / 2}, DType::kU8);
    Tensor scale = Tensor::empty({out, in / group}, DType::kF16);
    Tensor zero = Tensor::empty({out, in / group}, DType::kU8);
    ops::quantize_groups_int4(w, group, q, scale, zero);
    Linear r;
    r.format = WeightFormat::kInt4;
    r.w = q;
    r.scale = scale;
    r.zero = zero;
    r.group = group;
    r.in_perm = perm;
    r.b = l.b;
    l = r;
}

void quantize_linear(Linear& l, WeightFormat format, std::mt19937_64& rng, int64_t group, bool act_order) {
    const int64_t out = l.out(), in = l.in();
    Linear r;
    r.b = l.b;
    r.format = format;
    r.scale = Tensor::empty({out}, DType::kF32);
    switch (format) {
        case WeightFormat::kDense:
            return;
        case WeightFormat::kInt4:
            return quantize_int4(l, rng, group, act_order);
        case WeightFormat::kInt8:
            r.w = Tensor::empty({out, in}, DType::kI8);
            ops::quantize_rows_int8(l.w, r.w, r.scale);
            break;
        case WeightFormat::kFp8:
            r.w = Tensor::empty({out, in}, DType::kF8E4M3);
            ops::quantize_rows_fp8(l.w, r.w, r.scale);
            break;
        case WeightFormat::kFp8Block:
            TURBOLM_CHECK(false, "block-scaled FP8 needs projections of 128-multiples, which the tiny models lack");
        case WeightFormat::kW8A8Int8: {
            std::uniform_real_distribution<float> smooth(0.5f, 2.0f);
            Tensor w = to_f32(l.w).contiguous();
            Tensor ws = Tensor::empty({out, in}, DType::kF32);
            r.inv_smooth = Tensor::empty({in}, DType::kF32);
            for (int64_t c = 0; c < in; ++c) {
                const float s = smooth(rng);
                r.inv_smooth.data<float>()[c] = 1.0f / s;
                for (int64_t row = 0; row < out; ++row)
                    ws.data<float>()[row * in + c] = w.data<float>()[row * in + c] * s;
            }
            r.w = Tensor::empty({out, in}, DType::kI8);
            ops::quantize_rows_int8(ws, r.w, r.scale);
            break;
        }
    }
    l = r;
}

// Records every tensor a walk visits; projections field by field, with their format and group.
class Recorder final : public WeightVisitor {
  public:
    explicit Recorder(std::map<std::string, Tensor>& out) : out_(out) {}
    void linear(const std::string& prefix, Linear& l, int64_t, int64_t, bool, bool, const LinearPart&) override {
        const std::pair<const char*, const Tensor*> fields[] = {{"w", &l.w},
                                                                {"b", &l.b},
                                                                {"scale", &l.scale},
                                                                {"zero", &l.zero},
                                                                {"inv_smooth", &l.inv_smooth},
                                                                {"in_perm", &l.in_perm}};
        for (const auto& [name, t] : fields)
            if (t->defined()) out_[prefix + "." + name] = *t;
        Tensor kind = Tensor::empty({2}, DType::kI64);
        kind.data<int64_t>()[0] = int64_t(l.format);
        kind.data<int64_t>()[1] = l.group;
        out_[prefix + ".format_and_group"] = kind;
    }
    void matrix(const std::string& name, Tensor& t, const Shape&, WeightKind, const LinearPart&) override {
        out_[name] = t;
    }
    void vector(const std::string& name, Tensor& t, int64_t, WeightKind) override { out_[name] = t; }

  private:
    std::map<std::string, Tensor>& out_;
};

}  // namespace

void quantize_projections(ModelWeights& w, WeightFormat format, std::mt19937_64& rng, int64_t group, bool act_order,
                          bool experts) {
    for (auto& lw : w.layers) {
        for (Linear* l : {&lw.attn.q, &lw.attn.k, &lw.attn.v, &lw.attn.o, &lw.gated.gate, &lw.gated.up, &lw.gated.down})
            if (l->w.defined()) quantize_linear(*l, format, rng, group, act_order);
        if (!experts) continue;
        for (auto& e : lw.moe.experts)
            for (Linear* l : {&e.gate, &e.up, &e.down}) quantize_linear(*l, format, rng, group, act_order);
    }
}

std::map<std::string, Tensor> all_tensors(const ModelConfig& cfg, const ModelWeights& w) {
    std::map<std::string, Tensor> out;
    ModelWeights copy = w;
    Recorder r(out);
    walk_llama_family(cfg, llama_flavor_of(w), false, copy, r);
    if (cfg.tie_embeddings) out["lm_head (tied)"] = w.lm_head.w;
    return out;
}

void expect_same_tensors(const ModelConfig& cfg, const ModelWeights& a, const ModelWeights& b) {
    const auto ta = all_tensors(cfg, a), tb = all_tensors(cfg, b);
    EXPECT_EQ(ta.size(), tb.size());
    for (const auto& [name, x] : ta) {
        auto it = tb.find(name);
        if (it == tb.end()) {
            ADD_FAILURE() << name << " is missing after the reload";
            continue;
        }
        const Tensor y = it->second;
        if (x.dtype() != y.dtype() || x.shape() != y.shape()) {
            ADD_FAILURE() << name << ": " << x.describe() << " became " << y.describe();
            continue;
        }
        const Tensor cx = x.contiguous(), cy = y.contiguous();
        EXPECT_EQ(std::memcmp(cx.raw_data(), cy.raw_data(), cx.nbytes()), 0) << name << " differs in its bytes";
    }
}

std::map<std::string, Tensor> read_tensors(const fs::path& file) {
    auto f = SafetensorsFile::open(file);
    std::map<std::string, Tensor> out;
    for (const auto& [name, e] : f->entries()) {
        const Tensor t = f->tensor(name);
        Tensor copy = Tensor::empty(t.shape(), t.dtype());
        std::memcpy(copy.raw_data(), t.raw_data(), t.nbytes());
        out[name] = copy;
    }
    return out;
}

}  // namespace turbolm::test
