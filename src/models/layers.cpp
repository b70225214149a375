#include "models/layers.h"

#include "models/linear_observer.h"
#include "ops/op_profile.h"

namespace turbolm {

const char* weight_format_name(WeightFormat f) {
    switch (f) {
        case WeightFormat::kDense: return "dense";
        case WeightFormat::kInt8: return "int8";
        case WeightFormat::kInt4: return "int4";
        case WeightFormat::kFp8: return "fp8";
        case WeightFormat::kW8A8Int8: return "w8a8-int8";
        case WeightFormat::kFp8Block: return "fp8-block";
    }
    return "?";
}

void linear_forward(const Tensor& x, const Linear& l, Tensor& y, ops::MatmulPrecision p, bool accumulate) {
    if (LinearObserver* observer = current_linear_observer()) observer->observe(l, x);
    // Keyed by format and both shapes: the projections of a layer apart (TURBOLM_OP_PROFILE).
    const ops::OpProfileScope profile(weight_format_name(l.format), x, &l.w);
    switch (l.format) {
        case WeightFormat::kDense: ops::linear(x, l.w, l.b, y, p, accumulate); return;
        case WeightFormat::kInt8: ops::linear_int8(x, l.w, l.scale, l.b, y, accumulate); return;
        case WeightFormat::kInt4: {
            if (!l.in_perm.defined()) {
                ops::linear_int4(x, l.w, l.scale, l.zero, l.group, l.b, y, accumulate);
                return;
            }
            Tensor permuted = Tensor::empty(x.shape(), x.dtype(), x.device());
            ops::gather_columns(x, l.in_perm, permuted);
            ops::linear_int4(permuted, l.w, l.scale, l.zero, l.group, l.b, y, accumulate);
            return;
        }
        case WeightFormat::kFp8: ops::linear_fp8(x, l.w, l.scale, l.b, y, accumulate); return;
        case WeightFormat::kW8A8Int8: ops::linear_w8a8_int8(x, l.inv_smooth, l.w, l.scale, l.b, y, accumulate); return;
        case WeightFormat::kFp8Block: ops::linear_fp8_block(x, l.w, l.scale, l.b, y, accumulate); return;
    }
}

void linear_forward(const ProductInput& in, const Linear& l, Tensor& y, ops::MatmulPrecision p, bool accumulate) {
    if (in.x.defined()) return linear_forward(in.x, l, y, p, accumulate);
    if (in.residual.defined()) {
        TURBOLM_CHECK(l.format == WeightFormat::kInt4 && !l.in_perm.defined(), "a norm's residual given to a ",
                      weight_format_name(l.format), " product");
        const ops::OpProfileScope profile("int4", in.residual, &l.w);
        ops::linear_int4_rms_normed(in.residual, in.norm_w, in.eps, in.dtype, l.w, l.scale, l.zero, l.group, l.b, y,
                                    accumulate);
        return;
    }
    TURBOLM_CHECK(l.format == WeightFormat::kFp8, "FP8 activation codes given to a ", weight_format_name(l.format),
                  " product");
    const ops::OpProfileScope profile("fp8", in.codes, &l.w);
    ops::linear_fp8_codes(in.codes, in.scales, l.w, l.scale, l.b, y, accumulate);
}

bool take_fp8_codes(std::initializer_list<const Linear*> products) {
    if (current_linear_observer()) return false;
    bool any = false;
    for (const Linear* l : products) {
        if (!l) continue;
        if (l->format != WeightFormat::kFp8) return false;
        any = true;
    }
    return any;
}

bool make_rows_in_product(std::initializer_list<const Linear*> products, int64_t n_tokens) {
    if (current_linear_observer() || n_tokens > ops::kInt4RowsMadeMax) return false;
    int count = 0;
    for (const Linear* l : products) {
        if (!l) continue;
        if (l->format != WeightFormat::kInt4 || l->in_perm.defined()) return false;
        ++count;
    }
    return count == 1;
}

NormHandoff norm_handoff(const ModelConfig& cfg, std::initializer_list<const Linear*> products, int64_t n_tokens) {
    if (cfg.norm != NormKind::kRms) return NormHandoff::kRows;
    if (take_fp8_codes(products)) return NormHandoff::kFp8Codes;
    if (!cfg.tp.split() && make_rows_in_product(products, n_tokens)) return NormHandoff::kNormedRows;
    return NormHandoff::kRows;
}

ProductInput norm_for_products(const ModelConfig& cfg, const Norm& n, const Tensor& x, NormHandoff how, Tensor& y) {
    if (how == NormHandoff::kRows || cfg.norm != NormKind::kRms) {
        norm_forward(cfg, n, x, y);
        return ProductInput(y);
    }
    if (how == NormHandoff::kNormedRows) return ProductInput::rms_normed(x, n.w, cfg.norm_eps, y.dtype());
    const int64_t T = x.size(0);
    Tensor codes = Tensor::empty({T, x.size(1)}, DType::kF8E4M3, x.device());
    Tensor scales = Tensor::empty({T}, DType::kF32, x.device());
    ops::rms_norm_fp8(x, n.w, cfg.norm_eps, y.dtype(), codes, scales);
    return ProductInput(std::move(codes), std::move(scales), y.dtype());
}

void norm_forward(const ModelConfig& cfg, const Norm& n, const Tensor& x, Tensor& y) {
    if (cfg.norm == NormKind::kRms) {
        ops::rms_norm(x, n.w, cfg.norm_eps, y);
    } else {
        ops::layer_norm(x, n.w, n.b, cfg.norm_eps, y);
    }
}

namespace {

// residual += down(act(gate(x)) * up(x)), gate and up in the activation dtype of x.
void gated_forward(const ModelConfig& cfg, const GatedFfn& f, const ProductInput& x, Tensor& residual,
                   ops::MatmulPrecision p) {
    const int64_t T = x.rows();
    const DType act_dtype = x.dtype;
    const Device device = x.device();
    Tensor gate, up;
    if (f.gate_up.w.defined()) {
        const int64_t n_ff = f.gate_up.out() / 2;
        Tensor both = Tensor::empty({T, 2 * n_ff}, act_dtype, device);
        linear_forward(x, f.gate_up, both, p);
        gate = both.slice(1, 0, n_ff);
        up = both.slice(1, n_ff, 2 * n_ff);
    } else {
        const int64_t n_ff = f.gate.out();
        gate = Tensor::empty({T, n_ff}, act_dtype, device);
        up = Tensor::empty({T, n_ff}, act_dtype, device);
        linear_forward(x, f.gate, gate, p);
        linear_forward(x, f.up, up, p);
    }
    if (make_rows_in_product({&f.down}, T)) {
        const ops::OpProfileScope profile("int4", gate, &f.down.w);
        ops::linear_int4_act_mul(cfg.act, gate, up, f.down.w, f.down.scale, f.down.zero, f.down.group, f.down.b,
                                 residual, /*accumulate=*/true);
        return;
    }
    if (take_fp8_codes({&f.down})) {
        Tensor codes = Tensor::empty(gate.shape(), DType::kF8E4M3, device);
        Tensor scales = Tensor::empty({T}, DType::kF32, device);
        ops::act_mul_fp8(cfg.act, gate, up, codes, scales);
        linear_forward(ProductInput(std::move(codes), std::move(scales), act_dtype), f.down, residual, p,
                       /*accumulate=*/true);
        return;
    }
    ops::act_mul(cfg.act, gate, up, gate);
    linear_forward(gate, f.down, residual, p, /*accumulate=*/true);
}

// residual += down(act(up(x)))
void plain_forward(const ModelConfig& cfg, const PlainFfn& f, const Tensor& x, Tensor& residual,
                   ops::MatmulPrecision p) {
    Tensor h = Tensor::empty({x.size(0), f.up.out()}, x.dtype(), x.device());
    linear_forward(x, f.up, h, p);
    ops::act_inplace(cfg.act, h);
    linear_forward(h, f.down, residual, p, /*accumulate=*/true);
}

// The few tokens of a decode step: routing, grouping and the experts' products all on the device,
// each expert's weights read once per group of up to four of its pairs.
void moe_forward_on_device(const ModelConfig& cfg, const MoeFfn& f, const Tensor& x, Tensor& residual,
                           ops::MatmulPrecision p) {
    const int64_t T = x.size(0), E = cfg.n_expert, K = cfg.n_expert_used, P = T * K, F = cfg.n_ff;
    const Device dev = x.device();
    Tensor logits = Tensor::empty({T, E}, DType::kF32, dev);
    linear_forward(x, f.router, logits, p);
    Tensor ids = Tensor::empty({T, K}, DType::kI32, dev);
    Tensor weights = Tensor::empty({T, K}, DType::kF32, dev);
    ops::moe_route_device(logits, K, cfg.moe_renormalize, ids, weights);
    Tensor order = Tensor::empty({P}, DType::kI32, dev);
    Tensor offsets = Tensor::empty({E + 1}, DType::kI32, dev);
    ops::moe_group(ids, E, order, offsets);
    Tensor gate_up = Tensor::empty({P, 2 * F}, x.dtype(), dev);
    ops::moe_linear(x, /*x_rows_div=*/K, f.gate_up_stacked, ids, order, offsets, gate_up);
    Tensor gate = gate_up.slice(1, 0, F), up = gate_up.slice(1, F, 2 * F);
    ops::act_mul(cfg.act, gate, up, gate);
    Tensor out = Tensor::empty({P, cfg.n_embd}, DType::kF32, dev);
    ops::moe_linear(gate, /*x_rows_div=*/1, f.down_stacked, ids, order, offsets, out);
    ops::moe_combine(out, weights, residual);
}

// Top-k routing as Mixtral does it: softmax over all experts, keep the k largest, renormalize, then
// each expert runs once on the rows routed to it and its output is added with the row's weight.
void moe_forward(const ModelConfig& cfg, const MoeFfn& f, const Tensor& x, Tensor& residual,
                 ops::MatmulPrecision p) {
    const int64_t T = x.size(0), E = cfg.n_expert, K = cfg.n_expert_used, D = x.size(1);
    const Device dev = x.device();
    Tensor logits_dev = Tensor::empty({T, E}, DType::kF32, dev);
    linear_forward(x, f.router, logits_dev, p);
    // Routing is decided on the host: each expert then runs once over the rows sent to it.
    Tensor logits = logits_dev.to_device(Device::kCpu);
    Tensor expert_ids = Tensor::empty({T, K}, DType::kI32);
    Tensor expert_weights = Tensor::empty({T, K}, DType::kF32);
    ops::moe_route(logits, K, cfg.moe_renormalize, expert_ids, expert_weights);
    // Group the (row, weight) pairs by expert so that each expert's weights are read once.
    std::vector<std::vector<int32_t>> rows(static_cast<size_t>(E));
    std::vector<std::vector<float>> weights(static_cast<size_t>(E));
    for (int64_t t = 0; t < T; ++t) {
        for (int64_t i = 0; i < K; ++i) {
            const int32_t e = expert_ids.row<int32_t>(t)[i];
            rows[size_t(e)].push_back(int32_t(t));
            weights[size_t(e)].push_back(expert_weights.row<float>(t)[i]);
        }
    }
    for (int64_t e = 0; e < E; ++e) {
        const int64_t n = int64_t(rows[size_t(e)].size());
        if (n == 0) continue;
        Tensor idx = Tensor::wrap(rows[size_t(e)].data(), {n}, DType::kI32, nullptr).to_device(dev);
        Tensor w = Tensor::wrap(weights[size_t(e)].data(), {n}, DType::kF32, nullptr).to_device(dev);
        Tensor xin = Tensor::empty({n, D}, x.dtype(), dev);
        ops::gather_rows(x, idx, xin);
        Tensor out = Tensor::zeros({n, D}, DType::kF32, dev);
        gated_forward(cfg, f.experts[size_t(e)], ProductInput(xin), out, p);
        ops::scatter_add_rows(out, idx, w, residual);
    }
}

}  // namespace

NormHandoff ffn_norm_handoff(const ModelConfig& cfg, const LayerWeights& lw, int64_t n_tokens) {
    if (cfg.ffn != FfnKind::kGated) return NormHandoff::kRows;
    const GatedFfn& f = lw.gated;
    return f.gate_up.w.defined() ? norm_handoff(cfg, {&f.gate_up}, n_tokens)
                                 : norm_handoff(cfg, {&f.gate, &f.up}, n_tokens);
}

void ffn_forward(const ModelConfig& cfg, const LayerWeights& lw, const ProductInput& x, Tensor& residual,
                 ops::MatmulPrecision precision) {
    if (cfg.ffn == FfnKind::kGated) return gated_forward(cfg, lw.gated, x, residual, precision);
    TURBOLM_CHECK(x.x.defined(), "FP8 activation codes given to a non-gated FFN");
    switch (cfg.ffn) {
        case FfnKind::kPlain: return plain_forward(cfg, lw.plain, x.x, residual, precision);
        case FfnKind::kMoe:
        if (moe_routes_without_host(cfg, lw.moe, x.x, x.x.size(0)))
            return moe_forward_on_device(cfg, lw.moe, x.x, residual, precision);
        return moe_forward(cfg, lw.moe, x.x, residual, precision);
        case FfnKind::kGated: break;
    }
}

bool moe_routes_without_host(const ModelConfig& cfg, const MoeFfn& f, const Tensor& x, int64_t n_tokens) {
    return f.gate_up_stacked.defined() && ops::routes_on_device(x) &&
           n_tokens * cfg.n_expert_used <= kMaxDeviceRoutedPairs;
}

}  // namespace turbolm
