#include "models/tensor_parallel.h"

#include <algorithm>

#include "core/error.h"

namespace turbolm {
namespace {

AxisRange even_part(int64_t n, const TensorParallel& tp) {
    const int64_t per = n / tp.world;
    return {per * tp.rank, per * (tp.rank + 1)};
}

// Rows [rows.begin, rows.end) of every row range in `ranges`, stacked: for fused projections.
Tensor stack_rows(const Tensor& t, const std::vector<AxisRange>& ranges) {
    int64_t total = 0;
    for (const AxisRange& r : ranges) total += r.size();
    Shape shape = t.shape();
    shape[0] = total;
    Tensor out = Tensor::empty(shape, t.dtype(), t.device());
    int64_t at = 0;
    for (const AxisRange& r : ranges) {
        Tensor dst = out.slice(0, at, at + r.size());
        dst.copy_from(t.slice(0, r.begin, r.end));
        at += r.size();
    }
    return out;
}

}  // namespace

void check_tensor_parallel(const ModelConfig& c) {
    const int64_t W = c.tp.world;
    TURBOLM_REQUIRE(W >= 1 && c.tp.rank >= 0 && c.tp.rank < W, "tensor-parallel rank ", c.tp.rank, " of ", W);
    if (W == 1) return;
    auto need = [&](bool ok, const char* what, int64_t n) {
        if (!ok)
            fail(StatusCode::kInvalidArgument, c.architecture, ": ", what, " (", n, ") does not split over ", W,
                 " tensor-parallel ranks");
    };
    need(c.n_head % W == 0, "num_attention_heads", c.n_head);
    need(c.n_head_kv % W == 0 || W % c.n_head_kv == 0, "num_key_value_heads", c.n_head_kv);
    need(c.n_ff % W == 0, "intermediate_size", c.n_ff);
    need(c.n_vocab >= W, "vocab_size", c.n_vocab);
}

ModelConfig local_config(const ModelConfig& full) {
    ModelConfig c = full;
    const int64_t W = full.tp.world;
    c.n_head = full.n_head / W;
    c.n_head_kv = full.n_head_kv % W == 0 ? full.n_head_kv / W : 1;
    c.n_ff = full.n_ff / W;
    return c;
}

AxisRange q_head_rows(const ModelConfig& full) {
    const AxisRange heads = even_part(full.n_head, full.tp);
    return {heads.begin * full.head_dim, heads.end * full.head_dim};
}

AxisRange kv_head_rows(const ModelConfig& full) {
    const int64_t W = full.tp.world, Hkv = full.n_head_kv;
    if (Hkv % W == 0) {
        const AxisRange heads = even_part(Hkv, full.tp);
        return {heads.begin * full.head_dim, heads.end * full.head_dim};
    }
    // Fewer KV heads than ranks: the rank's query heads all read KV head (first q head) / group.
    const int64_t first_q = even_part(full.n_head, full.tp).begin, group = full.n_head / Hkv;
    const int64_t h = first_q / group;
    return {h * full.head_dim, (h + 1) * full.head_dim};
}

AxisRange ffn_rows(const ModelConfig& full) {
    return even_part(full.n_ff, full.tp);
}

int64_t vocab_part_rows(const ModelConfig& full) {
    return (full.n_vocab + full.tp.world - 1) / full.tp.world;
}

AxisRange vocab_rows(const ModelConfig& full) {
    const int64_t per = vocab_part_rows(full);
    return {std::min(full.n_vocab, per * full.tp.rank), std::min(full.n_vocab, per * (full.tp.rank + 1))};
}

LinearPart column_parallel(const AxisRange& rows) {
    LinearPart p;
    p.rows = rows;
    return p;
}

LinearPart row_parallel(const AxisRange& cols, const TensorParallel& tp) {
    LinearPart p;
    p.cols = cols;
    p.bias = tp.rank == 0;
    return p;
}

LinearPart q_part(const ModelConfig& full) {
    return full.tp.split() ? column_parallel(q_head_rows(full)) : LinearPart{};
}
LinearPart kv_part(const ModelConfig& full) {
    return full.tp.split() ? column_parallel(kv_head_rows(full)) : LinearPart{};
}
LinearPart o_part(const ModelConfig& full) {
    return full.tp.split() ? row_parallel(q_head_rows(full), full.tp) : LinearPart{};
}
LinearPart ffn_up_part(const ModelConfig& full) {
    return full.tp.split() ? column_parallel(ffn_rows(full)) : LinearPart{};
}
LinearPart ffn_down_part(const ModelConfig& full) {
    return full.tp.split() ? row_parallel(ffn_rows(full), full.tp) : LinearPart{};
}
LinearPart vocab_part(const ModelConfig& full) {
    return full.tp.split() ? column_parallel(vocab_rows(full)) : LinearPart{};
}

Tensor take_rows(const Tensor& t, const AxisRange& rows) {
    TURBOLM_CHECK(rows.begin >= 0 && rows.begin <= rows.end && rows.end <= t.size(0), "rows [", rows.begin, ", ",
                  rows.end, ") of ", t.describe());
    if (rows.begin == 0 && rows.end == t.size(0)) return t;
    Tensor v = t.slice(0, rows.begin, rows.end);
    if (t.device() == Device::kCpu && v.is_contiguous()) return v;
    Tensor out = Tensor::empty(v.shape(), v.dtype(), v.device());
    out.copy_from(v);
    return out;
}

Tensor take_cols(const Tensor& t, const AxisRange& cols) {
    TURBOLM_CHECK(t.ndim() == 2 && cols.begin >= 0 && cols.begin <= cols.end && cols.end <= t.size(1), "columns [",
                  cols.begin, ", ", cols.end, ") of ", t.describe());
    if (cols.begin == 0 && cols.end == t.size(1)) return t;
    Tensor v = t.slice(1, cols.begin, cols.end);
    Tensor out = Tensor::empty(v.shape(), v.dtype(), v.device());
    out.copy_from(v);
    return out;
}

// The blocks of a kFp8Block scale that rows (or columns) [begin, end) of its weight fall on; they must
// start and end on block edges.
AxisRange fp8_blocks(const AxisRange& r, int64_t extent, const char* what) {
    const int64_t b = ops::kFp8Block;
    if (r.begin % b != 0 || (r.end % b != 0 && r.end != extent))
        fail(StatusCode::kInvalidArgument, what, " [", r.begin, ", ", r.end,
             ") of a block-scaled FP8 projection do not fall on its blocks of ", b);
    return {r.begin / b, (r.end + b - 1) / b};
}

Linear take_part(Linear l, const LinearPart& part) {
    if (l.format == WeightFormat::kFp8Block) {
        // Block scales belong to 128 x 128 tiles, not to rows.
        const int64_t out = l.out(), in = l.in();
        if (part.rows) {
            l.scale = take_rows(l.scale, fp8_blocks(*part.rows, out, "rows"));
            l.w = take_rows(l.w, *part.rows);
            if (l.b.defined()) l.b = take_rows(l.b, *part.rows);
        }
        if (part.cols) {
            l.scale = take_cols(l.scale, fp8_blocks(*part.cols, in, "input columns"));
            l.w = take_cols(l.w, *part.cols);
        }
        if (!part.bias) l.b = Tensor();
        return l;
    }
    if (part.rows) {
        const AxisRange& r = *part.rows;
        l.w = take_rows(l.w, r);
        if (l.b.defined()) l.b = take_rows(l.b, r);
        if (l.scale.defined() && l.format != WeightFormat::kDense) l.scale = take_rows(l.scale, r);
        if (l.zero.defined()) l.zero = take_rows(l.zero, r);
    }
    if (part.cols) {
        const AxisRange& c = *part.cols;
        if (l.format == WeightFormat::kInt4) {
            if (l.in_perm.defined())
                fail(StatusCode::kUnimplemented, "a GPTQ act-order projection (desc_act) cannot be split by its ",
                     "input columns over tensor-parallel ranks");
            if (c.begin % l.group != 0 || c.end % l.group != 0)
                fail(StatusCode::kInvalidArgument, "input columns [", c.begin, ", ", c.end,
                     ") of an INT4 projection do not fall on its groups of ", l.group);
            l.w = take_cols(l.w, {c.begin / 2, c.end / 2});
            l.scale = take_cols(l.scale, {c.begin / l.group, c.end / l.group});
            l.zero = take_cols(l.zero, {c.begin / l.group, c.end / l.group});
        } else {
            l.w = take_cols(l.w, c);
            if (l.inv_smooth.defined()) l.inv_smooth = take_rows(l.inv_smooth, c);
        }
    }
    if (!part.bias) l.b = Tensor();
    return l;
}

Linear take_qkv_part(const Linear& fused, const ModelConfig& full) {
    if (!full.tp.split()) return fused;
    TURBOLM_CHECK(fused.format == WeightFormat::kDense, "splitting a fused ", weight_format_name(fused.format),
                  " qkv projection");
    const int64_t q_rows = full.n_head * full.head_dim, kv_rows = full.n_head_kv * full.head_dim;
    const AxisRange q = q_head_rows(full), kv = kv_head_rows(full);
    const std::vector<AxisRange> ranges = {
        q, {q_rows + kv.begin, q_rows + kv.end}, {q_rows + kv_rows + kv.begin, q_rows + kv_rows + kv.end}};
    Linear out;
    out.w = stack_rows(fused.w, ranges);
    if (fused.b.defined()) out.b = stack_rows(fused.b, ranges);
    return out;
}

}  // namespace turbolm
