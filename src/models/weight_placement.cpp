#include "models/weight_placement.h"

#include <cstring>
#include <map>

namespace turbolm {
namespace {

class Placer {
public:
    Placer(Device device, DType compute) : device_(device), compute_(compute) {}

    // Matrices and embedding tables: the compute dtype. Vectors (norms, biases): f32.
    Tensor matrix(const Tensor& t) { return place(t, compute_); }
    Tensor vector(const Tensor& t) { return place(t, DType::kF32); }

    // Matrices and tables of quantized projections, and their integer side tensors: as they are.
    Tensor as_is(const Tensor& t) { return t.defined() ? place(t, t.dtype()) : t; }

    // Whether parts can be one product: one format and, quantized, one group, input permutation and
    // smoothing (q, k and v of a GPTQ act-order or SmoothQuant checkpoint usually share them, as they
    // share their input; when they do not, they stay separate products).
    static bool fusable(std::initializer_list<const Linear*> parts) {
        const Linear& first = **parts.begin();
        for (const Linear* l : parts) {
            if (!l->w.defined() || l->format != first.format || l->in() != first.in()) return false;
            if (l->format == WeightFormat::kDense) continue;
            if (l->group != first.group || l->w.dtype() != first.w.dtype() || l->scale.dtype() != first.scale.dtype() ||
                l->scale.ndim() != first.scale.ndim() || !same_values(l->in_perm, first.in_perm) ||
                !same_values(l->inv_smooth, first.inv_smooth))
                return false;
        }
        return true;
    }

    // Rows of the parts stacked in order: the weight (and, quantized, the row scales and zero points,
    // which belong to the rows), the biases (zeros for parts without one when any has one).
    Linear fuse(std::initializer_list<const Linear*> parts) {
        const Linear& first = **parts.begin();
        Linear fused;
        fused.format = first.format;
        fused.group = first.group;
        std::vector<const Tensor*> ws, bs, scales, zeros;
        bool any_bias = false;
        for (const Linear* l : parts) any_bias = any_bias || l->b.defined();
        std::vector<Tensor> zero_biases;
        zero_biases.reserve(parts.size());
        for (const Linear* l : parts) {
            ws.push_back(&l->w);
            scales.push_back(&l->scale);
            zeros.push_back(&l->zero);
            if (any_bias && !l->b.defined()) {
                zero_biases.push_back(Tensor::zeros({l->out()}, DType::kF32));
                bs.push_back(&zero_biases.back());
            } else if (any_bias) {
                bs.push_back(&l->b);
            }
        }
        if (first.format == WeightFormat::kDense) {
            fused.w = stack_vec(ws, compute_);
        } else {
            fused.w = stack_vec(ws, first.w.dtype());
            fused.scale = stack_vec(scales, first.scale.dtype());
            if (first.zero.defined()) fused.zero = stack_vec(zeros, first.zero.dtype());
            fused.in_perm = as_is(first.in_perm);
            fused.inv_smooth = vector(first.inv_smooth);
        }
        if (any_bias) fused.b = stack_vec(bs, DType::kF32);
        return fused;
    }

    // dst (on the device, contiguous) = src converted to dst's dtype, wherever src lives.
    void copy_converted(const Tensor& src, Tensor& dst) {
        if (src.dtype() == dst.dtype()) {
            dst.copy_from(src.is_contiguous() || src.device() != Device::kCpu ? src : src.contiguous());
        } else if (src.device() == Device::kCpu) {
            dst.copy_from(src.to(dst.dtype()));
        } else {
            ops::convert(src, dst);
        }
    }

    Device device() const { return device_; }
    DType compute() const { return compute_; }

private:
    static bool same_values(const Tensor& a, const Tensor& b) {
        if (a.defined() != b.defined()) return false;
        if (!a.defined() || a.raw_data() == b.raw_data()) return true;
        if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
        const Tensor ha = a.to_device(Device::kCpu).contiguous(), hb = b.to_device(Device::kCpu).contiguous();
        return std::memcmp(ha.raw_data(), hb.raw_data(), ha.nbytes()) == 0;
    }

    Tensor stack_vec(const std::vector<const Tensor*>& parts, DType dtype) {
        int64_t rows = 0;
        for (const Tensor* p : parts) rows += p->size(0);
        Shape shape = parts[0]->ndim() == 2 ? Shape{rows, parts[0]->size(1)} : Shape{rows};
        Tensor out = Tensor::empty(shape, dtype, device_);
        int64_t at = 0;
        for (const Tensor* p : parts) {
            Tensor dst = out.slice(0, at, at + p->size(0));
            copy_converted(*p, dst);
            at += p->size(0);
        }
        return out;
    }

    Tensor place(const Tensor& t, DType dtype) {
        if (!t.defined()) return t;
        if (t.device() == device_ && t.dtype() == dtype) return t;
        auto it = placed_.find(t.raw_data());
        if (it != placed_.end() && it->second.dtype() == dtype && it->second.shape() == t.shape()) return it->second;
        Tensor out = Tensor::empty(t.shape(), dtype, device_);
        copy_converted(t, out);
        placed_[t.raw_data()] = out;
        return out;
    }

    Device device_;
    DType compute_;
    std::map<const void*, Tensor> placed_;  // keeps tied weights tied
};

void place_linear(Placer& p, Linear& l) {
    if (l.format == WeightFormat::kDense) {
        l.w = p.matrix(l.w);
    } else {
        l.w = p.as_is(l.w);
        l.scale = p.as_is(l.scale);
        l.zero = p.as_is(l.zero);
        l.in_perm = p.as_is(l.in_perm);
        l.inv_smooth = p.vector(l.inv_smooth);
    }
    l.b = p.vector(l.b);
}

void place_norm(Placer& p, Norm& n) {
    n.w = p.vector(n.w);
    n.b = p.vector(n.b);
}

void place_gated(Placer& p, GatedFfn& g) {
    if (!g.gate_up.w.defined() && g.gate.w.defined() && Placer::fusable({&g.gate, &g.up})) {
        g.gate_up = p.fuse({&g.gate, &g.up});
        g.gate = {};
        g.up = {};
    }
    place_linear(p, g.gate);
    place_linear(p, g.up);
    place_linear(p, g.gate_up);
    place_linear(p, g.down);
}

// Experts stacked into [E, 2 n_ff, n_embd] and [E, n_embd, n_ff] so that the device can route
// without the host; each expert's matrices become views of the stacks.
void place_moe(Placer& p, MoeFfn& moe) {
    place_linear(p, moe.router);
    bool stackable = !moe.experts.empty();
    for (const auto& e : moe.experts)
        stackable = stackable && e.gate.w.defined() && e.up.w.defined() && !e.gate.b.defined() && !e.up.b.defined() &&
                    !e.down.b.defined() && e.gate.format == WeightFormat::kDense &&
                    e.up.format == WeightFormat::kDense && e.down.format == WeightFormat::kDense;
    if (!stackable) {
        for (auto& e : moe.experts) place_gated(p, e);
        return;
    }
    const int64_t E = int64_t(moe.experts.size());
    const int64_t F = moe.experts[0].gate.out(), D = moe.experts[0].gate.w.size(1);
    moe.gate_up_stacked = Tensor::empty({E, 2 * F, D}, p.compute(), p.device());
    moe.down_stacked = Tensor::empty({E, D, F}, p.compute(), p.device());
    for (int64_t i = 0; i < E; ++i) {
        GatedFfn& e = moe.experts[size_t(i)];
        Tensor gu = moe.gate_up_stacked.select(0, i), down = moe.down_stacked.select(0, i);
        Tensor gate_rows = gu.slice(0, 0, F), up_rows = gu.slice(0, F, 2 * F);
        p.copy_converted(e.gate.w, gate_rows);
        p.copy_converted(e.up.w, up_rows);
        p.copy_converted(e.down.w, down);
        e.gate = {};
        e.up = {};
        e.gate_up.w = gu;
        e.down.w = down;
    }
}

}  // namespace

ModelWeights place_weights(ModelWeights w, Device device, DType compute_dtype,
                           const std::function<void(int64_t, int64_t)>& on_layer) {
    Placer p(device, compute_dtype);
    w.tok_embd = p.matrix(w.tok_embd);
    w.pos_embd = p.matrix(w.pos_embd);
    for (auto& lw : w.layers) {
        place_norm(p, lw.attn_norm);
        place_norm(p, lw.mlp_norm);
        AttentionWeights& a = lw.attn;
        if (!a.fused() && Placer::fusable({&a.q, &a.k, &a.v})) {
            a.qkv = p.fuse({&a.q, &a.k, &a.v});
            a.q = {};
            a.k = {};
            a.v = {};
        }
        place_linear(p, a.qkv);
        place_linear(p, a.q);
        place_linear(p, a.k);
        place_linear(p, a.v);
        place_linear(p, a.o);
        place_norm(p, a.q_norm);
        place_norm(p, a.k_norm);
        if (lw.gated.gate.w.defined() || lw.gated.gate_up.w.defined()) place_gated(p, lw.gated);
        place_linear(p, lw.plain.up);
        place_linear(p, lw.plain.down);
        place_moe(p, lw.moe);
        if (on_layer) on_layer(int64_t(&lw - w.layers.data()) + 1, int64_t(w.layers.size()));
    }
    place_norm(p, w.final_norm);
    place_linear(p, w.lm_head);
    return w;
}

}  // namespace turbolm
