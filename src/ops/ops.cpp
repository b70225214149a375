#include "ops/ops.h"

#include <algorithm>
#include <vector>

#include "ops/cpu/cpu_kv_quant.h"
#include "ops/ops_checks.h"

#ifdef TURBOLM_WITH_CUDA
#include "ops/cuda/cuda_ops.h"
#endif

namespace turbolm::ops {
namespace {

// The pools of a KV layer: 8-bit codes come with f32 scales [n_slots, n_head_kv] on the same device,
// other pools without. Shapes of k and v are checked by the op.
void check_kv_layer(const KvLayer& c, const char* op) {
    const bool codes = c.k.dtype() == DType::kI8 || c.k.dtype() == DType::kF8E4M3;
    TURBOLM_CHECK(c.v.dtype() == c.k.dtype(), op, ": k and v pools of different dtypes, ", c.k.describe(), " and ",
                  c.v.describe());
    TURBOLM_CHECK(codes == c.k_scale.defined() && codes == c.v_scale.defined(), op, ": a ", dtype_name(c.k.dtype()),
                  " KV cache ", codes ? "needs" : "takes no", " k and v scales");
    if (!codes) return;
    for (const Tensor* s : {&c.k_scale, &c.v_scale})
        TURBOLM_CHECK(s->dtype() == DType::kF32 && s->is_contiguous() && s->device() == c.k.device() &&
                          s->shape() == Shape({c.k.size(0), c.k.size(1)}),
                      op, ": KV scales must be f32 [n_slots, n_head_kv] = [", c.k.size(0), ", ", c.k.size(1),
                      "] beside the pools, got ", s->describe());
}

// Rows of a 2-D view, or of a 3-D tensor [T, heads, dim] flattened to [T, heads * dim] when contiguous per token.
int64_t row_stride(const Tensor& t) { return t.ndim() == 1 ? t.size(0) : t.stride(0); }

}  // namespace

void linear(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, MatmulPrecision precision,
            bool accumulate) {
    TURBOLM_DISPATCH_CUDA(x, linear(x, w, b, y, accumulate))
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

void linear_int8(const Tensor& x, const Tensor& q, const Tensor& scale, const Tensor& b, Tensor& y, bool accumulate) {
    TURBOLM_DISPATCH_CUDA(x, linear_int8(x, q, scale, b, y, accumulate))
    require_cpu(q, "linear_int8 weight");
    require_f32_rows(x, "linear_int8 input");
    require_f32_rows(y, "linear_int8 output");
    TURBOLM_CHECK(q.dtype() == DType::kI8 && q.ndim() == 2 && q.stride(1) == 1, "linear_int8 weight ", q.describe());
    const int64_t m = x.size(0), k = x.size(1), n = q.size(0);
    TURBOLM_CHECK(x.ndim() == 2 && y.ndim() == 2 && q.size(1) == k && y.size(0) == m && y.size(1) == n,
                  "linear_int8 shapes: x ", x.describe(), " q ", q.describe(), " y ", y.describe());
    TURBOLM_CHECK(scale.dtype() == DType::kF32 && scale.numel() == n && scale.is_contiguous(), "linear_int8 scale ",
                  scale.describe());
    const float* bias = nullptr;
    if (b.defined()) {
        TURBOLM_CHECK(b.dtype() == DType::kF32 && b.numel() == n && b.is_contiguous(), "linear_int8 bias ", b.describe());
        bias = b.data<float>();
    }
    cpu::linear_int8(x.data<float>(), x.stride(0), q.data<int8_t>(), q.stride(0), scale.data<float>(), bias,
                     y.data<float>(), y.stride(0), m, n, k, accumulate);
}

void quantize_rows_int8(const Tensor& w, Tensor& q, Tensor& scale) {
    TURBOLM_DISPATCH_CUDA(w, quantize_rows_int8(w, q, scale))
    require_cpu(q, "quantized weight");
    TURBOLM_CHECK(w.ndim() == 2 && w.stride(1) == 1 && q.dtype() == DType::kI8 && q.shape() == w.shape() &&
                      q.is_contiguous() && scale.dtype() == DType::kF32 && scale.numel() == w.size(0),
                  "quantize_rows_int8: w ", w.describe(), " q ", q.describe(), " scale ", scale.describe());
    cpu::quantize_rows_int8(w.raw_data(), w.dtype(), w.stride(0), q.data<int8_t>(), scale.data<float>(), w.size(0),
                            w.size(1));
}

void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) {
    TURBOLM_DISPATCH_CUDA(x, rms_norm(x, w, eps, y))
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
    TURBOLM_DISPATCH_CUDA(x, layer_norm(x, w, b, eps, y))
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

void act_mul(Activation act, const Tensor& gate, const Tensor& up, Tensor& out) {
    TURBOLM_DISPATCH_CUDA(gate, act_mul(act, gate, up, out))
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
    TURBOLM_DISPATCH_CUDA(x, act_inplace(act, x))
    require_cpu(x, "act_inplace");
    require_f32_rows(x, "activation input");
    TURBOLM_CHECK(x.ndim() == 2, "activation expects 2-D, got ", x.describe());
    cpu::act_inplace(act, x.data<float>(), x.stride(0), x.size(0), x.size(1));
}

void embedding(const Tensor& ids, const Tensor& table, Tensor& out, bool accumulate) {
    TURBOLM_DISPATCH_CUDA(table, embedding(ids, table, out, accumulate))
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
    if (!accumulate) {
        cpu::embedding(p, ids.numel(), table.raw_data(), table.dtype(), table.size(1), out.data<float>(),
                       out.stride(0));
        return;
    }
    Tensor rows = Tensor::empty(out.shape(), DType::kF32);
    cpu::embedding(p, ids.numel(), table.raw_data(), table.dtype(), table.size(1), rows.data<float>(), rows.stride(0));
    for (int64_t t = 0; t < out.size(0); ++t) cpu::add(out.row<float>(t), rows.row<float>(t), out.row<float>(t), out.size(1));
}

void embedding_part(const Tensor& ids, const Tensor& table, int64_t first_row, Tensor& out) {
    TURBOLM_DISPATCH_CUDA(table, embedding_part(ids, table, first_row, out))
    TURBOLM_CHECK(ids.dtype() == DType::kI32 && ids.is_contiguous(), "embedding ids ", ids.describe());
    TURBOLM_CHECK(table.ndim() == 2 && table.is_contiguous(), "embedding table ", table.describe());
    require_f32_rows(out, "embedding output");
    TURBOLM_CHECK(out.ndim() == 2 && out.size(0) == ids.numel() && out.size(1) == table.size(1),
                  "embedding output ", out.describe());
    const int32_t* p = ids.data<int32_t>();
    const int64_t rows = table.size(0), cols = table.size(1);
    for (int64_t t = 0; t < ids.numel(); ++t) {
        const int64_t r = int64_t(p[t]) - first_row;
        if (r < 0 || r >= rows) {
            std::fill_n(out.row<float>(t), cols, 0.0f);
            continue;
        }
        const int32_t local = int32_t(r);
        cpu::embedding(&local, 1, table.raw_data(), table.dtype(), cols, out.row<float>(t), out.stride(0));
    }
}

void assemble_vocab_parts(const Tensor& parts, Tensor& out) {
    TURBOLM_DISPATCH_CUDA(parts, assemble_vocab_parts(parts, out))
    TURBOLM_CHECK(parts.dtype() == DType::kF32 && parts.ndim() == 3 && parts.is_contiguous(), "vocabulary parts ",
                  parts.describe());
    require_f32_rows(out, "logits");
    const int64_t world = parts.size(0), rows = parts.size(1), part = parts.size(2), vocab = out.size(1);
    TURBOLM_CHECK(out.size(0) == rows && vocab <= world * part && vocab > (world - 1) * part, "logits ",
                  out.describe(), " from parts ", parts.describe());
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t w = 0; w < world; ++w) {
            const int64_t n = std::min(part, vocab - w * part);
            std::copy_n(parts.data<float>() + (w * rows + r) * part, n, out.row<float>(r) + w * part);
        }
}

void attention(const Tensor& q, const KvLayer& cache, const AttentionBatch& batch, const AttentionParams& params,
               Tensor& out) {
    const Tensor &k_cache = cache.k, &v_cache = cache.v;
    TURBOLM_CHECK(q.ndim() == 3 && k_cache.ndim() == 3 && v_cache.ndim() == 3 && out.ndim() == 3, "attention ranks");
    const int64_t n_head = q.size(1), head_dim = q.size(2), n_head_kv = k_cache.size(1);
    TURBOLM_CHECK(q.stride(1) == head_dim && q.stride(2) == 1 && out.stride(1) == head_dim && out.stride(2) == 1 &&
                      k_cache.is_contiguous() && v_cache.is_contiguous(),
                  "attention heads must be packed: q ", q.describe(), " out ", out.describe());
    TURBOLM_CHECK(k_cache.size(2) == head_dim && v_cache.shape() == k_cache.shape() && n_head % n_head_kv == 0,
                  "attention shapes q ", q.describe(), " k ", k_cache.describe(), " v ", v_cache.describe());
    TURBOLM_CHECK(out.shape() == q.shape(), "attention output ", out.describe(), " for q ", q.describe());
    TURBOLM_CHECK(batch.q_start.numel() == batch.n_seqs() + 1 && batch.q_pos.numel() == q.size(0) &&
                      batch.block_table.ndim() == 2 && batch.block_table.size(0) == batch.n_seqs() &&
                      batch.block_size > 0,
                  "attention batch description");
    check_kv_layer(cache, "attention");
    TURBOLM_DISPATCH_CUDA(q, attention(q, cache, batch, params, out))
    require_f32_rows(q, "attention q");
    if (!cache.quantized()) require_f32_rows(k_cache, "attention k");
    require_f32_rows(out, "attention output");
    const int32_t* q_start = batch.q_start.data<int32_t>();
    const int32_t* kv_len = batch.kv_len.data<int32_t>();
    const int32_t* q_pos = batch.q_pos.data<int32_t>();
    const int64_t bs = batch.block_size, row = n_head_kv * head_dim;
    for (int64_t s = 0; s < batch.n_seqs(); ++s) {
        const int64_t t0 = q_start[s], t1 = q_start[s + 1], n_kv = kv_len[s];
        if (t1 == t0) continue;
        const int32_t* blocks = batch.block_table.row<int32_t>(s);
        const float *k, *v;
        std::vector<float> k_rows, v_rows;
        if (!cache.quantized() && n_kv <= bs) {
            // The whole sequence sits in its first block: read the cache in place.
            k = k_cache.data<float>() + blocks[0] * bs * row;
            v = v_cache.data<float>() + blocks[0] * bs * row;
        } else if (!cache.quantized()) {
            k_rows.resize(size_t(n_kv * row));
            v_rows.resize(size_t(n_kv * row));
            for (int64_t p = 0; p < n_kv; ++p) {
                const int64_t slot = blocks[p / bs] * bs + p % bs;
                std::copy_n(k_cache.data<float>() + slot * row, row, k_rows.data() + p * row);
                std::copy_n(v_cache.data<float>() + slot * row, row, v_rows.data() + p * row);
            }
            k = k_rows.data();
            v = v_rows.data();
        } else {
            // Codes become f32 rows once per call. Positions before every query's window are never
            // read (their blocks may have been released to the null block) and stay zero.
            int64_t first = 0;
            if (params.window > 0) {
                first = n_kv;
                for (int64_t t = t0; t < t1; ++t) first = std::min<int64_t>(first, q_pos[t] - params.window + 1);
                first = std::clamp<int64_t>(first, 0, n_kv);
            }
            k_rows.assign(size_t(n_kv * row), 0.0f);
            v_rows.assign(size_t(n_kv * row), 0.0f);
            const size_t es = dtype_size(k_cache.dtype());
            const auto* kc = static_cast<const char*>(k_cache.raw_data());
            const auto* vc = static_cast<const char*>(v_cache.raw_data());
            for (int64_t p = first; p < n_kv; ++p) {
                const int64_t slot = blocks[p / bs] * bs + p % bs;
                cpu::dequantize_kv_rows(kc + size_t(slot * row) * es, head_dim, k_cache.dtype(),
                                        cache.k_scale.data<float>() + slot * n_head_kv, n_head_kv, head_dim,
                                        k_rows.data() + p * row, head_dim);
                cpu::dequantize_kv_rows(vc + size_t(slot * row) * es, head_dim, v_cache.dtype(),
                                        cache.v_scale.data<float>() + slot * n_head_kv, n_head_kv, head_dim,
                                        v_rows.data() + p * row, head_dim);
            }
            k = k_rows.data();
            v = v_rows.data();
        }
        cpu::attention(q.row<float>(t0), q.stride(0), k, row, v, row, q_pos + t0, t1 - t0, n_kv, n_head, n_head_kv,
                       head_dim, params.scale, params.window, out.row<float>(t0), out.stride(0));
    }
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
    TURBOLM_DISPATCH_CUDA(src, gather_rows(src, rows, dst))
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
    TURBOLM_DISPATCH_CUDA(src, scatter_add_rows(src, rows, weights, dst))
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
    TURBOLM_DISPATCH_CUDA(a, add(a, b, y))
    require_cpu(a, "add");
    TURBOLM_CHECK(a.shape() == b.shape() && a.shape() == y.shape() && a.is_contiguous() && b.is_contiguous() &&
                      y.is_contiguous() && a.dtype() == DType::kF32 && b.dtype() == DType::kF32,
                  "add shapes ", a.describe(), " ", b.describe(), " ", y.describe());
    cpu::add(a.data<float>(), b.data<float>(), y.data<float>(), a.numel());
}

void qkv_to_cache(const Tensor& qkv, const QkvToCacheArgs& a, const KvLayer& cache, Tensor& q_out) {
    const Tensor &k_cache = cache.k, &v_cache = cache.v;
    const int64_t T = qkv.size(0), H = a.n_head, Hkv = a.n_head_kv;
    TURBOLM_CHECK(qkv.ndim() == 2 && qkv.stride(1) == 1 && H > 0 && Hkv > 0 && qkv.size(1) % (H + 2 * Hkv) == 0,
                  "qkv_to_cache input ", qkv.describe());
    const int64_t hd = qkv.size(1) / (H + 2 * Hkv);
    TURBOLM_CHECK(q_out.is_contiguous() && q_out.shape() == Shape({T, H, hd}), "qkv_to_cache q ", q_out.describe());
    TURBOLM_CHECK(k_cache.is_contiguous() && v_cache.is_contiguous() && k_cache.ndim() == 3 &&
                      k_cache.size(1) == Hkv && k_cache.size(2) == hd && v_cache.shape() == k_cache.shape(),
                  "qkv_to_cache cache ", k_cache.describe());
    TURBOLM_CHECK(a.slots.dtype() == DType::kI64 && a.slots.numel() == T && a.pos.numel() == T,
                  "qkv_to_cache slots/positions");
    TURBOLM_CHECK(!a.inv_freq.defined() || (a.rot_dim % 2 == 0 && a.rot_dim <= hd && a.inv_freq.numel() == a.rot_dim / 2),
                  "qkv_to_cache rot_dim ", a.rot_dim);
    check_kv_layer(cache, "qkv_to_cache");
    TURBOLM_DISPATCH_CUDA(qkv, qkv_to_cache(qkv, a, cache, q_out))
    require_f32_rows(qkv, "qkv_to_cache input");
    if (!cache.quantized()) require_f32_rows(k_cache, "qkv_to_cache cache");
    Tensor k = Tensor::empty({T, Hkv, hd}, DType::kF32);
    q_out.copy_from(qkv.slice(1, 0, H * hd).unflatten(1, H, hd));
    k.copy_from(qkv.slice(1, H * hd, (H + Hkv) * hd).unflatten(1, Hkv, hd));
    if (a.q_norm.defined()) cpu::rms_norm(q_out.data<float>(), hd, a.q_norm.data<float>(), a.norm_eps, q_out.data<float>(), hd, T * H, hd);
    if (a.k_norm.defined()) cpu::rms_norm(k.data<float>(), hd, a.k_norm.data<float>(), a.norm_eps, k.data<float>(), hd, T * Hkv, hd);
    if (a.inv_freq.defined()) {
        cpu::rope_neox(q_out.data<float>(), H * hd, T, H, hd, a.rot_dim, a.pos.data<int32_t>(), a.inv_freq.data<float>(), a.rope_scale);
        cpu::rope_neox(k.data<float>(), Hkv * hd, T, Hkv, hd, a.rot_dim, a.pos.data<int32_t>(), a.inv_freq.data<float>(), a.rope_scale);
    }
    const int64_t row = Hkv * hd;
    const int64_t* slots = a.slots.data<int64_t>();
    for (int64_t t = 0; t < T; ++t) {
        if (slots[t] < 0) continue;
        TURBOLM_CHECK(slots[t] < k_cache.size(0), "KV slot ", slots[t], " outside the cache");
        const float* v = qkv.row<float>(t) + (H + Hkv) * hd;
        if (!cache.quantized()) {
            std::copy_n(k.row<float>(t), row, k_cache.data<float>() + slots[t] * row);
            std::copy_n(v, row, v_cache.data<float>() + slots[t] * row);
            continue;
        }
        const size_t at = size_t(slots[t] * row) * dtype_size(k_cache.dtype());
        cpu::quantize_kv_rows(k.row<float>(t), hd, Hkv, hd, k_cache.dtype(),
                              static_cast<char*>(k_cache.raw_data()) + at, hd, cache.k_scale.data<float>() + slots[t] * Hkv);
        cpu::quantize_kv_rows(v, hd, Hkv, hd, v_cache.dtype(), static_cast<char*>(v_cache.raw_data()) + at, hd,
                              cache.v_scale.data<float>() + slots[t] * Hkv);
    }
}

void fill_uniform(Tensor& t, float lo, float hi, uint64_t seed) {
    TURBOLM_CHECK(t.is_contiguous(), "fill_uniform of non-contiguous ", t.describe());
    TURBOLM_DISPATCH_CUDA(t, fill_uniform(t, lo, hi, seed))
    fail(StatusCode::kUnimplemented, "fill_uniform on the CPU (RandomWeights fills CPU tensors itself)");
}

void fill_constant(Tensor& t, float value) {
    TURBOLM_CHECK(t.is_contiguous(), "fill_constant of non-contiguous ", t.describe());
    TURBOLM_DISPATCH_CUDA(t, fill_constant(t, value))
    Tensor one = Tensor::empty({1}, DType::kF32);
    one.data<float>()[0] = value;
    Tensor v = one.to(t.dtype());
    const size_t es = dtype_size(t.dtype());
    for (int64_t i = 0; i < t.numel(); ++i)
        std::copy_n(static_cast<const char*>(v.raw_data()), es, static_cast<char*>(t.raw_data()) + size_t(i) * es);
}

void convert(const Tensor& src, Tensor& dst) {
    TURBOLM_CHECK(src.shape() == dst.shape() && src.is_contiguous() && dst.is_contiguous() &&
                      src.device() == dst.device(),
                  "convert ", src.describe(), " -> ", dst.describe());
    TURBOLM_DISPATCH_CUDA(src, convert(src, dst))
    dst.copy_from(src);
}

void sample(Tensor& logits, const Tensor& params, const Tensor& counts, const Tensor& seen, Tensor& ids,
            Tensor& logprobs) {
    TURBOLM_CHECK(logits.dtype() == DType::kF32 && logits.ndim() == 2 && logits.stride(1) == 1, "sample logits ",
                  logits.describe());
    const int64_t rows = logits.size(0);
    TURBOLM_CHECK(params.dtype() == DType::kU8 && params.numel() == rows * int64_t(sizeof(SamplingRowParams)) &&
                      ids.dtype() == DType::kI32 && ids.numel() == rows,
                  "sample params/ids ", params.describe(), " ", ids.describe());
    TURBOLM_CHECK(!counts.defined() || (counts.shape() == logits.shape() && seen.shape() == logits.shape()),
                  "sample penalty state");
    TURBOLM_DISPATCH_CUDA(logits, sample(logits, params, counts, seen, ids, logprobs))
    fail(StatusCode::kUnimplemented, "ops::sample runs on the GPU; the CPU engine samples with turbolm::Sampler");
}

void record_tokens(const Tensor& ids, Tensor& counts, Tensor& seen) {
    TURBOLM_CHECK(counts.ndim() == 2 && ids.numel() == counts.size(0), "record_tokens shapes");
    TURBOLM_DISPATCH_CUDA(ids, record_tokens(ids, counts, seen))
    fail(StatusCode::kUnimplemented, "ops::record_tokens runs on the GPU");
}

void mark_prompts(const Tensor& prompt_ids, const Tensor& offsets, Tensor& counts, Tensor& seen) {
    TURBOLM_CHECK(counts.ndim() == 2 && offsets.numel() == counts.size(0) + 1, "mark_prompts shapes");
    TURBOLM_DISPATCH_CUDA(counts, mark_prompts(prompt_ids, offsets, counts, seen))
    fail(StatusCode::kUnimplemented, "ops::mark_prompts runs on the GPU");
}

bool routes_on_device(const Tensor& x) {
#ifdef TURBOLM_WITH_CUDA
    return x.device() == Device::kCuda;
#else
    return false;
#endif
}

void moe_route_device(const Tensor& logits, int64_t k, bool renormalize, Tensor& ids, Tensor& weights) {
    TURBOLM_CHECK(logits.dtype() == DType::kF32 && logits.ndim() == 2 && logits.is_contiguous() &&
                      ids.shape() == Shape({logits.size(0), k}) && weights.shape() == ids.shape() &&
                      ids.dtype() == DType::kI32 && weights.dtype() == DType::kF32,
                  "moe_route_device shapes ", logits.describe(), " ", ids.describe(), " ", weights.describe());
    TURBOLM_DISPATCH_CUDA(logits, moe_route(logits, k, renormalize, ids, weights))
    fail(StatusCode::kUnimplemented, "moe_route_device on ", device_name(logits.device()));
}

void moe_group(const Tensor& ids, int64_t n_expert, Tensor& order, Tensor& offsets) {
    TURBOLM_CHECK(ids.dtype() == DType::kI32 && order.numel() == ids.numel() && offsets.numel() == n_expert + 1,
                  "moe_group shapes");
    TURBOLM_DISPATCH_CUDA(ids, moe_group(ids, n_expert, order, offsets))
    fail(StatusCode::kUnimplemented, "moe_group on ", device_name(ids.device()));
}

void moe_linear(const Tensor& x, int64_t x_rows_div, const Tensor& w, const Tensor& ids, const Tensor& order,
                const Tensor& offsets, Tensor& y) {
    TURBOLM_CHECK(w.ndim() == 3 && x.ndim() == 2 && y.ndim() == 2 && x.size(1) == w.size(2) && y.size(1) == w.size(1) &&
                      y.size(0) == ids.numel() && offsets.numel() == w.size(0) + 1,
                  "moe_linear shapes x ", x.describe(), " w ", w.describe(), " y ", y.describe());
    TURBOLM_DISPATCH_CUDA(x, moe_linear(x, x_rows_div, w, ids, order, offsets, y))
    fail(StatusCode::kUnimplemented, "moe_linear on ", device_name(x.device()));
}

void moe_combine(const Tensor& y, const Tensor& weights, Tensor& residual) {
    TURBOLM_CHECK(y.dtype() == DType::kF32 && weights.dtype() == DType::kF32 && weights.ndim() == 2 &&
                      y.size(0) == weights.numel() && residual.size(0) == weights.size(0) &&
                      residual.size(1) == y.size(1),
                  "moe_combine shapes");
    TURBOLM_DISPATCH_CUDA(y, moe_combine(y, weights, residual))
    fail(StatusCode::kUnimplemented, "moe_combine on ", device_name(y.device()));
}

void init_device(Device device) {
    if (device == Device::kCpu) return;
#ifdef TURBOLM_WITH_CUDA
    cuda_ops::init();
#else
    fail(StatusCode::kUnimplemented, "this build of turbolm has no CUDA backend (build with nvcc available)");
#endif
}

bool device_available(Device device) {
    if (device == Device::kCpu) return true;
#ifdef TURBOLM_WITH_CUDA
    return cuda_ops::available();
#else
    return false;
#endif
}

void synchronize(Device device) {
    if (device == Device::kCpu) return;
#ifdef TURBOLM_WITH_CUDA
    cuda_ops::synchronize();
#endif
}

DeviceMemoryStats device_memory_stats(Device device) {
#ifdef TURBOLM_WITH_CUDA
    if (device == Device::kCuda) return cuda_ops::memory_stats();
#endif
    return {};
}

void reset_peak_device_memory(Device device) {
#ifdef TURBOLM_WITH_CUDA
    if (device == Device::kCuda) cuda_ops::reset_peak_memory();
#endif
}

void trim_device_memory(Device device) {
#ifdef TURBOLM_WITH_CUDA
    if (device == Device::kCuda) cuda_ops::trim_memory();
#endif
}

std::string device_description(Device device) {
#ifdef TURBOLM_WITH_CUDA
    if (device == Device::kCuda) return cuda_ops::description();
#endif
    return device_name(device);
}

struct DeviceGraph::Impl {
#ifdef TURBOLM_WITH_CUDA
    std::shared_ptr<void> memory;
    std::shared_ptr<cuda_ops::Graph> graph;
#endif
};

DeviceGraph::DeviceGraph(Device device) : device_(device), impl_(std::make_unique<Impl>()) {
#ifdef TURBOLM_WITH_CUDA
    if (device_ == Device::kCuda) impl_->memory = cuda_ops::new_graph_memory();
#endif
}

DeviceGraph::DeviceGraph(Device device, const DeviceGraph& share_memory_with) : DeviceGraph(device) {
#ifdef TURBOLM_WITH_CUDA
    if (device_ == Device::kCuda && share_memory_with.device_ == device_) impl_->memory = share_memory_with.impl_->memory;
#endif
}
DeviceGraph::~DeviceGraph() = default;

void DeviceGraph::capture(const std::function<void()>& work) {
#ifdef TURBOLM_WITH_CUDA
    if (device_ == Device::kCuda) {
        impl_->graph = cuda_ops::capture_graph(work, impl_->memory);
        return;
    }
#endif
    work_ = work;
    work_();
}

void DeviceGraph::replay() {
#ifdef TURBOLM_WITH_CUDA
    if (device_ == Device::kCuda) {
        TURBOLM_CHECK(impl_->graph != nullptr, "replay of a graph that was never captured");
        cuda_ops::replay_graph(*impl_->graph);
        return;
    }
#endif
    TURBOLM_CHECK(work_ != nullptr, "replay of a graph that was never captured");
    work_();
}

DType compute_dtype(Device device, DType weight_dtype) {
    if (device == Device::kCpu) return DType::kF32;
    // bf16 checkpoints compute in bf16; f16 and f32 ones in f16, whose 3 extra mantissa bits keep
    // f32 models closer to themselves (mixture-of-experts routing flips under bf16 rounding).
    return weight_dtype == DType::kBF16 ? DType::kBF16 : DType::kF16;
}

}  // namespace turbolm::ops
