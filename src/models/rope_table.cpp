#include "models/rope_table.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace turbolm {
namespace {

std::vector<double> default_inv_freq(double base, int64_t dim) {
    std::vector<double> f(size_t(dim / 2));
    for (int64_t i = 0; i < dim / 2; ++i) f[size_t(i)] = 1.0 / std::pow(base, double(2 * i) / double(dim));
    return f;
}

void apply_llama3(const RopeConfig& r, std::vector<double>& f) {
    const double old_ctx = r.original_max_position_embeddings;
    const double low_wavelen = old_ctx / r.low_freq_factor;
    const double high_wavelen = old_ctx / r.high_freq_factor;
    for (double& inv : f) {
        const double wavelen = 2.0 * M_PI / inv;
        if (wavelen > low_wavelen) {
            inv /= r.factor;
        } else if (wavelen >= high_wavelen) {  // between the two: interpolate smoothly
            const double smooth = (old_ctx / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
            inv = (1.0 - smooth) * inv / r.factor + smooth * inv;
        }
    }
}

double yarn_mscale(double scale, double mscale) { return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

// Returns the attention factor.
double apply_yarn(const RopeConfig& r, double factor, int64_t dim, int64_t original_ctx, std::vector<double>& f) {
    auto correction_dim = [&](double rotations) {
        return (double(dim) * std::log(double(original_ctx) / (rotations * 2.0 * M_PI))) / (2.0 * std::log(r.theta));
    };
    double low = correction_dim(r.beta_fast), high = correction_dim(r.beta_slow);
    if (r.truncate) {
        low = std::floor(low);
        high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, double(dim - 1));
    if (low == high) high += 0.001;  // avoid a zero-width ramp
    for (size_t i = 0; i < f.size(); ++i) {
        const double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
        const double extrapolation_weight = 1.0 - ramp;
        const double extrapolated = f[i], interpolated = f[i] / factor;
        f[i] = interpolated * (1.0 - extrapolation_weight) + extrapolated * extrapolation_weight;
    }
    if (r.attention_factor) return *r.attention_factor;
    if (r.mscale && r.mscale_all_dim && *r.mscale != 0.0 && *r.mscale_all_dim != 0.0)
        return yarn_mscale(factor, *r.mscale) / yarn_mscale(factor, *r.mscale_all_dim);
    return yarn_mscale(factor, 1.0);
}

Tensor to_tensor(const std::vector<double>& f) {
    Tensor t = Tensor::empty({int64_t(f.size())}, DType::kF32);
    for (size_t i = 0; i < f.size(); ++i) t.data<float>()[i] = float(f[i]);
    return t;
}

}  // namespace

RopeTable::RopeTable(const ModelConfig& cfg) : cfg_(cfg) {
    if (!cfg.use_rope) return;
    const RopeConfig& r = cfg.rope;
    const int64_t dim = cfg.rot_dim;
    std::vector<double> f = default_inv_freq(r.theta, dim);
    const int64_t original_ctx = r.original_max_position_embeddings > 0 ? r.original_max_position_embeddings
                                                                        : cfg.n_ctx_train;
    if (r.type == "linear") {
        for (double& v : f) v /= r.factor;
    } else if (r.type == "llama3") {
        RopeConfig with_ctx = r;
        with_ctx.original_max_position_embeddings = int(original_ctx);
        apply_llama3(with_ctx, f);
    } else if (r.type == "yarn") {
        double factor = r.factor > 0.0 ? r.factor : double(cfg.n_ctx_train) / double(original_ctx);
        attention_scale_ = float(apply_yarn(r, factor, dim, original_ctx, f));
    }
    base_inv_freq_ = to_tensor(f);
}

Tensor RopeTable::inv_freq(int64_t seq_len) const {
    if (cfg_.rope.type != "dynamic" || seq_len <= cfg_.n_ctx_train) return base_inv_freq_;
    // Dynamic NTK: grow the base with the sequence once it passes the trained context.
    const double factor = cfg_.rope.factor, dim = double(cfg_.rot_dim);
    const double base = cfg_.rope.theta *
                        std::pow(factor * double(seq_len) / double(cfg_.n_ctx_train) - (factor - 1.0), dim / (dim - 2.0));
    return to_tensor(default_inv_freq(base, cfg_.rot_dim));
}

}  // namespace turbolm
