#include "models/calibrated_quantization.h"

#include <map>

#include "core/error.h"
#include "models/model.h"
#include "ops/ops.h"
#include "quant/awq_search.h"
#include "quant/fake_quantization.h"
#include "quant/smoothquant_search.h"

namespace turbolm {
namespace {

// Projections that multiply the same input, and what produces that input (where 1/s can go).
struct InputGroup {
    std::string where;
    std::vector<Linear*> members;
    Norm* norm = nullptr;         // the input is norm(x): its scale (and bias) absorb 1/s
    Linear* producer = nullptr;   // or it is rows [row0, row0 + in) of this projection's output
    int64_t row0 = 0;
};

std::vector<InputGroup> input_groups(const ModelConfig& cfg, ModelWeights& w) {
    std::vector<InputGroup> groups;
    for (size_t i = 0; i < w.layers.size(); ++i) {
        LayerWeights& lw = w.layers[i];
        const std::string layer = "layer " + std::to_string(i) + " ";
        AttentionWeights& a = lw.attn;
        std::vector<Linear*> mlp_in;
        if (cfg.ffn == FfnKind::kGated) mlp_in = {&lw.gated.gate, &lw.gated.up};
        else if (cfg.ffn == FfnKind::kPlain) mlp_in = {&lw.plain.up};
        const bool shared_norm = cfg.parallel_residual && !cfg.parallel_two_norms;

        InputGroup attn{layer + (a.fused() ? "qkv" : "q,k,v"), {}, &lw.attn_norm};
        if (a.fused()) attn.members = {&a.qkv};
        else attn.members = {&a.q, &a.k, &a.v};
        if (shared_norm) {
            attn.members.insert(attn.members.end(), mlp_in.begin(), mlp_in.end());
            attn.where += mlp_in.empty() ? "" : " + mlp in";
        }
        groups.push_back(attn);

        InputGroup o{layer + "o", {&a.o}};
        if (cfg.n_head == cfg.n_head_kv) {  // o's input column c is v's output row c (no head sharing)
            o.producer = a.fused() ? &a.qkv : &a.v;
            o.row0 = a.fused() ? (cfg.n_head + cfg.n_head_kv) * cfg.head_dim : 0;
        }
        groups.push_back(o);

        if (!shared_norm && !mlp_in.empty())
            groups.push_back(InputGroup{layer + (cfg.ffn == FfnKind::kGated ? "gate,up" : "up"), mlp_in,
                                        cfg.parallel_two_norms || !cfg.parallel_residual ? &lw.mlp_norm : nullptr});
        if (cfg.ffn == FfnKind::kGated)  // down's input is act(gate) * up: linear in up's rows
            groups.push_back(InputGroup{layer + "down", {&lw.gated.down}, nullptr, &lw.gated.up, 0});
        else if (cfg.ffn == FfnKind::kPlain)
            groups.push_back(InputGroup{layer + "down", {&lw.plain.down}});
    }
    for (InputGroup& g : groups) std::erase_if(g.members, [](Linear* l) { return !l->w.defined(); });
    std::erase_if(groups, [](const InputGroup& g) { return g.members.empty(); });
    return groups;
}

const LinearInputStats& stats_of(const CalibrationStats& stats, const InputGroup& g) {
    auto it = stats.find(g.members[0]);
    TURBOLM_REQUIRE(it != stats.end() && it->second.kept > 0, "calibration saw no input for ", g.where);
    return it->second;
}

// A copy of a 1-d f32 tensor divided elementwise by s (a fresh tensor: the old one may be a view
// of the checkpoint's file).
Tensor divided(const Tensor& v, std::span<const float> s, int64_t offset = 0) {
    Tensor out = v.to(DType::kF32);
    for (size_t c = 0; c < s.size(); ++c) out.data<float>()[offset + int64_t(c)] /= s[c];
    return out;
}

// AWQ leaves q and k unclipped: their errors pass through the softmax, not straight to the output.
bool is_query_or_key(const ModelWeights& w, const Linear* l) {
    for (const LayerWeights& lw : w.layers)
        if (l == &lw.attn.q || l == &lw.attn.k) return true;
    return false;
}

}  // namespace

CalibratedQuantizationReport quantize_int4_awq(Model& model, const CalibrationStats& stats,
                                               const CalibratedQuantizationOptions& options) {
    TURBOLM_REQUIRE(model.device() == Device::kCpu, "AWQ runs on a model loaded on the CPU");
    ModelWeights& w = model.mutable_weights();
    std::map<Linear*, Tensor> work;  // f32 copies the searches scale and clip, rounded at the end
    for_each_quantizable_linear(w, [&](Linear& l) {
        TURBOLM_REQUIRE(l.format == WeightFormat::kDense, "AWQ needs an unquantized model");
        work[&l] = quant::to_f32(l.w);
    });
    CalibratedQuantizationReport report;
    double shrink_sum = 0.0;
    int64_t clipped = 0;
    for (InputGroup& g : input_groups(model.config(), w)) {
        const LinearInputStats& st = stats_of(stats, g);
        Tensor x = st.sample_tensor();
        const int64_t in = x.size(1);
        const int64_t group = int4_group_for(in, options.group);
        if (group == 0)
            fail(StatusCode::kUnimplemented, "AWQ: ", g.where, " reads ", in,
                 " columns, which no INT4 group of a multiple of 32 divides (--quantize int4 at load leaves such "
                 "projections 16-bit)");
        std::vector<Tensor> weights;
        for (Linear* l : g.members) weights.push_back(work.at(l));
        const quant::AwqScales found =
            quant::awq_search_scales(x, weights, st.abs_mean(), group, options.n_grid);
        const bool can_fold = g.norm != nullptr || g.producer != nullptr;
        report.searches.push_back({g.where, found.ratio, found.duo, can_fold, found.error_rtn,
                                   can_fold ? found.error : found.error_rtn});
        if (can_fold && found.ratio > 0.0) {
            for (Linear* l : g.members) quant::scale_columns(work.at(l), found.scales);
            if (g.norm) {
                g.norm->w = divided(g.norm->w, found.scales);
                if (g.norm->b.defined()) g.norm->b = divided(g.norm->b, found.scales);
            } else {
                Tensor& pw = work.at(g.producer);
                for (int64_t c = 0; c < in; ++c) {
                    float* row = pw.data<float>() + (g.row0 + c) * pw.size(1);
                    for (int64_t k = 0; k < pw.size(1); ++k) row[k] /= found.scales[size_t(c)];
                }
                if (g.producer->b.defined()) g.producer->b = divided(g.producer->b, found.scales, g.row0);
            }
            quant::divide_columns(x, found.scales);
        }
        if (!options.clip) continue;
        for (Linear* l : g.members) {
            if (is_query_or_key(w, l)) continue;
            shrink_sum += quant::awq_clip_weights(x, work.at(l), group, options.n_grid);
            ++clipped;
        }
    }
    report.mean_clip_shrink = clipped > 0 ? shrink_sum / double(clipped) : 0.0;
    for (auto& [l, dense] : work) quantize_linear_int4(*l, dense, options.group);
    return report;
}

CalibratedQuantizationReport quantize_smoothquant(Model& model, const CalibrationStats& stats,
                                                  const CalibratedQuantizationOptions& options) {
    TURBOLM_REQUIRE(model.device() == Device::kCpu, "SmoothQuant runs on a model loaded on the CPU");
    ModelWeights& w = model.mutable_weights();
    CalibratedQuantizationReport report;
    for (InputGroup& g : input_groups(model.config(), w)) {
        const LinearInputStats& st = stats_of(stats, g);
        const Tensor x = st.sample_tensor();
        std::vector<Tensor> weights;
        for (Linear* l : g.members) {
            TURBOLM_REQUIRE(l->format == WeightFormat::kDense, "SmoothQuant needs an unquantized model");
            weights.push_back(quant::to_f32(l->w));
        }
        const quant::SmoothScales found = quant::smoothquant_search(x, weights, st.abs_max, options.alphas);
        report.searches.push_back({g.where, found.alpha, false, true, found.error_plain, found.error});
        Tensor inv = Tensor::empty({x.size(1)}, DType::kF32);
        std::copy(found.inv.begin(), found.inv.end(), inv.data<float>());
        for (size_t i = 0; i < g.members.size(); ++i) {
            quant::scale_columns(weights[i], found.scales);
            Linear& l = *g.members[i];
            quantize_linear_int8(l, weights[i]);
            l.format = WeightFormat::kW8A8Int8;
            l.inv_smooth = inv;  // shared by the group, so fused q/k/v on the GPU see one smoothing
        }
    }
    return report;
}

}  // namespace turbolm
