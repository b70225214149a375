#include "ops/ops.h"

#include <algorithm>

namespace turbolm::ops {
namespace {

void require_cpu(const Tensor& t, const char* what) {
    if (t.defined() && t.device() != Device::kCpu)
        fail(StatusCode::kUnimplemented, what, ": no kernel for ", device_name(t.device()), " tensors in this build");
}

void require_f32_rows(const Tensor& t, const char* what) {
    TURBOLM_CHECK(t.dtype() == DType::kF32, what, " must be f32, got ", t.describe());
    TURBOLM_CHECK(t.ndim() >= 1 && t.stride(-1) == 1, what, " must have a contiguous last axis, got ", t.describe());
}

// Rows of a 2-D view, or of a 3-D tensor [T, heads, dim] flattened to [T, heads * dim] when contiguous per token.
int64_t row_stride(const Tensor& t) { return t.ndim() == 1 ? t.size(0) : t.stride(0); }

}  // namespace

void linear(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, MatmulPrecision precision,
            bool accumulate) {
    require_cpu(x, "linear");
    require_cpu(w, "linear");
    require_f32_rows(x, "linear input");
    require_f32_rows(y, "linear output");
    TURBOLM_CHECK(w.ndim() == 2 && w.stride(1) == 1, "linear weight must be 2-D row-major, got ", w.describe());
    TURBOLM_CHECK(x.ndim() == 2 && y.ndim() == 2, "linear expects 2-D x and y, got ", x.describe(), " ", y.describe());
    const int64_t m = x.size(0), k = x.size(1), n = w.size(0);
    TURBOLM_CHECK(w.size(1) == k && y.size(0) == m && y.size(1) == n, "linear shapes: x ", x.describe(), " w ",
                  w.describe(), " y ", y.describe());
    const float* bias = nullptr;
    if (b.defined()) {
        TURBOLM_CHECK(b.dtype() == DType::kF32 && b.numel() == n && b.is_contiguous(), "linear bias ", b.describe());
        bias = b.data<float>();
    }
    cpu::gemm(x.data<float>(), x.stride(0), w.raw_data(), w.dtype(), w.stride(0), bias, y.data<float>(), y.stride(0),
              m, n, k, accumulate, precision);
}

void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) {
    require_cpu(x, "rms_norm");
    require_f32_rows(x, "rms_norm input");
    require_f32_rows(y, "rms_norm output");
    const int64_t cols = x.size(-1), rows = x.numel() / cols;
    TURBOLM_CHECK(w.dtype() == DType::kF32 && w.numel() == cols, "rms_norm weight ", w.describe(), " for ",
                  x.describe());
    TURBOLM_CHECK(y.numel() == x.numel(), "rms_norm output ", y.describe(), " for ", x.describe());
    // [T, heads, dim] tensors are normalized per head: rows are every `cols` floats when contiguous.
    const int64_t ldx = x.is_contiguous() ? cols : row_stride(x);
    const int64_t ldy = y.is_contiguous() ? cols : row_stride(y);
    TURBOLM_CHECK(x.is_contiguous() || x.ndim() == 2, "rms_norm of non-contiguous ", x.describe());
    cpu::rms_norm(x.data<float>(), ldx, w.data<float>(), eps, y.data<float>(), ldy, rows, cols);
}

void layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y) {
    require_cpu(x, "layer_norm");
    require_f32_rows(x, "layer_norm input");
    require_f32_rows(y, "layer_norm output");
    TURBOLM_CHECK(x.ndim() == 2 && y.ndim() == 2, "layer_norm expects 2-D tensors");
    const int64_t cols = x.size(1);
    TURBOLM_CHECK(w.dtype() == DType::kF32 && w.numel() == cols, "layer_norm weight ", w.describe());
    TURBOLM_CHECK(!b.defined() || (b.dtype() == DType::kF32 && b.numel() == cols), "layer_norm bias ", b.describe());
    cpu::layer_norm(x.data<float>(), x.stride(0), w.data<float>(), b.defined() ? b.data<float>() : nullptr, eps,
                    y.data<float>(), y.stride(0), x.size(0), cols);
}

void rope(Tensor& x, const Tensor& pos, const Tensor& inv_freq, int64_t rot_dim, float attention_scale) {
    require_cpu(x, "rope");
    require_f32_rows(x, "rope input");
    TURBOLM_CHECK(x.ndim() == 3 && x.stride(1) == x.size(2), "rope expects [T, heads, head_dim], got ", x.describe());
    TURBOLM_CHECK(pos.dtype() == DType::kI32 && pos.numel() == x.size(0), "rope positions ", pos.describe());
    TURBOLM_CHECK(rot_dim % 2 == 0 && rot_dim <= x.size(2) && inv_freq.numel() == rot_dim / 2, "rope rot_dim ",
                  rot_dim, " inv_freq ", inv_freq.describe());
    cpu::rope_neox(x.data<float>(), x.stride(0), x.size(0), x.size(1), x.size(2), rot_dim, pos.data<int32_t>(),
                   inv_freq.data<float>(), attention_scale);
}

void act_mul(Activation act, const Tensor& gate, const Tensor& up, Tensor& out) {
    require_cpu(gate, "act_mul");
    require_f32_rows(gate, "act_mul gate");
    require_f32_rows(up, "act_mul up");
    require_f32_rows(out, "act_mul output");
    TURBOLM_CHECK(gate.ndim() == 2 && gate.shape() == up.shape() && gate.shape() == out.shape(), "act_mul shapes ",
                  gate.describe(), " ", up.describe(), " ", out.describe());
    cpu::act_mul(act, gate.data<float>(), gate.stride(0), up.data<float>(), up.stride(0), out.data<float>(),
                 out.stride(0), gate.size(0), gate.size(1));
}

void act_inplace(Activation act, Tensor& x) {
    require_cpu(x, "act_inplace");
    require_f32_rows(x, "activation input");
    TURBOLM_CHECK(x.ndim() == 2, "activation expects 2-D, got ", x.describe());
    cpu::act_inplace(act, x.data<float>(), x.stride(0), x.size(0), x.size(1));
}

void embedding(const Tensor& ids, const Tensor& table, Tensor& out) {
    require_cpu(table, "embedding");
    TURBOLM_CHECK(ids.dtype() == DType::kI32 && ids.is_contiguous(), "embedding ids ", ids.describe());
    TURBOLM_CHECK(table.ndim() == 2 && table.is_contiguous(), "embedding table ", table.describe());
    TURBOLM_CHECK(table.dtype() == DType::kF32 || table.dtype() == DType::kBF16 || table.dtype() == DType::kF16,
                  "embedding table dtype ", table.describe());
    require_f32_rows(out, "embedding output");
    TURBOLM_CHECK(out.ndim() == 2 && out.size(0) == ids.numel() && out.size(1) == table.size(1),
                  "embedding output ", out.describe());
    const int32_t* p = ids.data<int32_t>();
    for (int64_t i = 0; i < ids.numel(); ++i)
        if (p[i] < 0 || p[i] >= table.size(0))
            fail(StatusCode::kOutOfRange, "token id ", p[i], " is outside the vocabulary [0, ", table.size(0), ")");
    cpu::embedding(p, ids.numel(), table.raw_data(), table.dtype(), table.size(1), out.data<float>(), out.stride(0));
}

void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int64_t n_kv, const Tensor& q_pos,
               const AttentionParams& params, Tensor& out) {
    require_cpu(q, "attention");
    require_f32_rows(q, "attention q");
    require_f32_rows(k_cache, "attention k");
    require_f32_rows(v_cache, "attention v");
    require_f32_rows(out, "attention output");
    TURBOLM_CHECK(q.ndim() == 3 && k_cache.ndim() == 3 && v_cache.ndim() == 3 && out.ndim() == 3, "attention ranks");
    const int64_t n_head = q.size(1), head_dim = q.size(2), n_head_kv = k_cache.size(1);
    TURBOLM_CHECK(q.stride(1) == head_dim && k_cache.stride(1) == head_dim && v_cache.stride(1) == head_dim &&
                      out.stride(1) == head_dim,
                  "attention heads must be packed");
    TURBOLM_CHECK(k_cache.size(2) == head_dim && v_cache.shape() == k_cache.shape() && n_head % n_head_kv == 0,
                  "attention shapes q ", q.describe(), " k ", k_cache.describe(), " v ", v_cache.describe());
    TURBOLM_CHECK(out.shape() == q.shape(), "attention output ", out.describe());
    TURBOLM_CHECK(n_kv <= k_cache.size(0) && q_pos.numel() == q.size(0) && q_pos.dtype() == DType::kI32,
                  "attention n_kv / positions");
    cpu::attention(q.data<float>(), q.stride(0), k_cache.data<float>(), k_cache.stride(0), v_cache.data<float>(),
                   v_cache.stride(0), q_pos.data<int32_t>(), q.size(0), n_kv, n_head, n_head_kv, head_dim,
                   params.scale, params.window, out.data<float>(), out.stride(0));
}

void moe_route(const Tensor& logits, int64_t k, bool renormalize, Tensor& ids, Tensor& weights) {
    require_cpu(logits, "moe_route");
    TURBOLM_CHECK(logits.dtype() == DType::kF32 && logits.ndim() == 2 && logits.is_contiguous(), "moe_route logits ",
                  logits.describe());
    const int64_t T = logits.size(0), E = logits.size(1);
    TURBOLM_CHECK(k >= 1 && k <= E && ids.shape() == Shape({T, k}) && weights.shape() == Shape({T, k}) &&
                      ids.dtype() == DType::kI32 && weights.dtype() == DType::kF32,
                  "moe_route outputs ", ids.describe(), " ", weights.describe());
    Tensor prob = logits.to(DType::kF32);  // a copy: the caller's logits stay intact
    cpu::softmax_rows(prob.data<float>(), T, E);
    cpu::top_k_rows(prob.data<float>(), T, E, k, renormalize, ids.data<int32_t>(), weights.data<float>());
}

void gather_rows(const Tensor& src, const Tensor& rows, Tensor& dst) {
    require_cpu(src, "gather_rows");
    require_f32_rows(src, "gather_rows source");
    require_f32_rows(dst, "gather_rows destination");
    TURBOLM_CHECK(rows.dtype() == DType::kI32 && rows.numel() == dst.size(0) && src.ndim() == 2 && dst.ndim() == 2 &&
                      src.size(1) == dst.size(1),
                  "gather_rows shapes");
    const int32_t* r = rows.data<int32_t>();
    for (int64_t i = 0; i < rows.numel(); ++i) {
        TURBOLM_CHECK(r[i] >= 0 && r[i] < src.size(0), "gather_rows index ", r[i]);
        std::copy_n(src.row<float>(r[i]), src.size(1), dst.row<float>(i));
    }
}

void scatter_add_rows(const Tensor& src, const Tensor& rows, const Tensor& weights, Tensor& dst) {
    require_cpu(src, "scatter_add_rows");
    require_f32_rows(src, "scatter_add_rows source");
    require_f32_rows(dst, "scatter_add_rows destination");
    TURBOLM_CHECK(rows.dtype() == DType::kI32 && weights.dtype() == DType::kF32 && rows.numel() == src.size(0) &&
                      weights.numel() == src.size(0) && src.ndim() == 2 && dst.ndim() == 2 &&
                      src.size(1) == dst.size(1),
                  "scatter_add_rows shapes");
    const int32_t* r = rows.data<int32_t>();
    const float* w = weights.data<float>();
    const int64_t D = src.size(1);
    for (int64_t i = 0; i < rows.numel(); ++i) {
        TURBOLM_CHECK(r[i] >= 0 && r[i] < dst.size(0), "scatter_add_rows index ", r[i]);
        float* d = dst.row<float>(r[i]);
        const float* s = src.row<float>(i);
        for (int64_t j = 0; j < D; ++j) d[j] += w[i] * s[j];
    }
}

void add(const Tensor& a, const Tensor& b, Tensor& y) {
    require_cpu(a, "add");
    TURBOLM_CHECK(a.shape() == b.shape() && a.shape() == y.shape() && a.is_contiguous() && b.is_contiguous() &&
                      y.is_contiguous() && a.dtype() == DType::kF32 && b.dtype() == DType::kF32,
                  "add shapes ", a.describe(), " ", b.describe(), " ", y.describe());
    cpu::add(a.data<float>(), b.data<float>(), y.data<float>(), a.numel());
}

}  // namespace turbolm::ops
