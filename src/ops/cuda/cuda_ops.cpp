#include "ops/cuda/cuda_ops.h"

#include <cstddef>

#include "ops/cuda/attention/attention_kernels.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_device.h"
#include "ops/cuda/cuda_backend.h"
#include "ops/cuda/cuda_op_checks.h"
#include "ops/cuda/cuda_gemm.h"
#include "ops/cuda/gemv_int8.h"
#include "ops/cuda/elementwise/elementwise_kernels.h"
#include "ops/cuda/moe/moe_kernels.h"
#include "ops/cuda/rows_kernels.h"
#include "ops/cuda/sampling/sampling_kernels.h"

namespace turbolm::ops::cuda_ops {
namespace {
// Row stride of a 2-D view whose last axis is contiguous.
int64_t rows_of(const Tensor& t, const char* what) {
    TURBOLM_CHECK(t.ndim() == 2 && t.stride(1) == 1, what, " must be 2-D with a contiguous last axis, got ",
                  t.describe());
    return t.stride(0);
}

const float* f32_or_null(const Tensor& t, int64_t n, const char* what) {
    if (!t.defined()) return nullptr;
    require_cuda(t, what);
    TURBOLM_CHECK(t.dtype() == DType::kF32 && t.numel() == n && t.is_contiguous(), what, " ", t.describe());
    return t.data<float>();
}

}  // namespace

void init() { cuda::init(); }
// A device that exists is set up at once, so that device tensors can be made before any op runs.
bool available() {
    if (!cuda::available()) return false;
    cuda::init();
    return true;
}
void synchronize() { cuda::synchronize("GPU work"); }

DeviceMemoryStats memory_stats() {
    const cuda::MemoryStats m = cuda::memory_stats();
    DeviceMemoryStats s;
    s.allocated = m.allocated;
    s.reserved = m.reserved;
    s.peak_allocated = m.peak_allocated;
    s.peak_reserved = m.peak_reserved;
    TURBOLM_CUDA_CHECK(cudaMemGetInfo(&s.device_free, &s.device_total));
    return s;
}

void reset_peak_memory() { cuda::reset_peak_memory(); }
void trim_memory() { cuda::release_cached_memory(); }

std::string description() {
    for (const auto& d : cuda::list_devices())
        return str_cat(d.name, " (", d.multiprocessors, " SMs, sm_", d.sm_major, d.sm_minor, ", ",
                       d.memory_bytes >> 20, " MiB)");
    return "no GPU";
}

struct Graph {
    std::shared_ptr<cuda::MemoryPool> pool;
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    ~Graph() {
        if (exec) cudaGraphExecDestroy(exec);
        if (graph) cudaGraphDestroy(graph);
    }
};

std::shared_ptr<void> new_graph_memory() { return cuda::new_private_pool(); }

bool capturing() { return cuda::g_capturing.load(); }

void* record_time_mark() {
    cudaEvent_t e = nullptr;
    TURBOLM_CUDA_CHECK(cudaEventCreate(&e));
    TURBOLM_CUDA_CHECK(cudaEventRecord(e, cuda::stream()));
    return e;
}

float time_between_marks_ms(void* begin, void* end) {
    TURBOLM_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(end)));
    float ms = 0.0f;
    TURBOLM_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(begin), static_cast<cudaEvent_t>(end)));
    return ms;
}

void release_time_mark(void* mark) { cudaEventDestroy(static_cast<cudaEvent_t>(mark)); }

std::shared_ptr<Graph> capture_graph(const std::function<void()>& work, const std::shared_ptr<void>& memory) {
    auto g = std::make_shared<Graph>();
    g->pool = std::static_pointer_cast<cuda::MemoryPool>(memory);
    cudaStream_t s = cuda::stream();
    {
        cuda::ScopedPool scope(g->pool);
        // Relaxed: the pool may still need to cudaMalloc a fresh block while recording.
        TURBOLM_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
        cuda::g_capturing = true;
        try {
            work();
        } catch (...) {
            cuda::g_capturing = false;
            cudaGraph_t broken = nullptr;
            cudaStreamEndCapture(s, &broken);
            if (broken) cudaGraphDestroy(broken);
            throw;
        }
        cuda::g_capturing = false;
        TURBOLM_CUDA_CHECK(cudaStreamEndCapture(s, &g->graph));
    }
    TURBOLM_CUDA_CHECK(cudaGraphInstantiate(&g->exec, g->graph, 0));
    return g;
}

void replay_graph(Graph& graph) { TURBOLM_CUDA_CHECK(cudaGraphLaunch(graph.exec, cuda::stream())); }

void linear(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, bool accumulate) {
    require_cuda(w, "linear weight");
    require_cuda(y, "linear output");
    const int64_t ldx = rows_of(x, "linear input"), ldw = rows_of(w, "linear weight"), ldy = rows_of(y, "linear output");
    const int64_t m = x.size(0), k = x.size(1), n = w.size(0);
    TURBOLM_CHECK(w.size(1) == k && y.size(0) == m && y.size(1) == n, "linear shapes: x ", x.describe(), " w ",
                  w.describe(), " y ", y.describe());
    TURBOLM_CHECK(is_16bit(x.dtype()) && w.dtype() == x.dtype(), "linear on the GPU multiplies one 16-bit type: x ",
                  x.describe(), " w ", w.describe());
    cuda::gemm(x.raw_data(), ldx, w.raw_data(), ldw, x.dtype(), y.raw_data(), ldy, y.dtype(), m, n, k,
               accumulate ? 1.0f : 0.0f, cuda::stream());
    if (const float* bias = f32_or_null(b, n, "linear bias"))
        cuda::launch_add_bias(y.raw_data(), y.dtype(), ldy, bias, m, n, cuda::stream());
}

void linear_int8(const Tensor& x, const Tensor& q, const Tensor& scale, const Tensor& b, Tensor& y, bool accumulate) {
    require_cuda(q, "linear_int8 weight");
    require_cuda(y, "linear_int8 output");
    const int64_t ldx = rows_of(x, "linear_int8 input"), ldq = rows_of(q, "linear_int8 weight"),
                  ldy = rows_of(y, "linear_int8 output");
    const int64_t m = x.size(0), k = x.size(1), n = q.size(0);
    TURBOLM_CHECK(q.dtype() == DType::kI8 && q.size(1) == k && y.size(0) == m && y.size(1) == n && is_16bit(x.dtype()),
                  "linear_int8 shapes: x ", x.describe(), " q ", q.describe(), " y ", y.describe());
    const float* s = f32_or_null(scale, n, "linear_int8 scale");
    TURBOLM_CHECK(s != nullptr, "linear_int8 needs its scales");
    const float* bias = f32_or_null(b, n, "linear_int8 bias");
    if (cuda::gemv_int8_supported(x.raw_data(), ldx, q.raw_data(), ldq, m, k)) {
        cuda::launch_gemv_int8(x.raw_data(), ldx, q.data<int8_t>(), ldq, s, x.dtype(), y.raw_data(), ldy, y.dtype(), m,
                               n, k, accumulate, cuda::stream());
        if (bias) cuda::launch_add_bias(y.raw_data(), y.dtype(), ldy, bias, m, n, cuda::stream());
        return;
    }
    // A prefill's product is compute-bound: widening the weights once costs little beside it. The
    // int8 values widen exactly and the row scales apply to the f32 product, so nothing is rounded
    // that the decode kernel does not round.
    Tensor w = Tensor::empty({n, k}, x.dtype(), Device::kCuda);
    Tensor product = Tensor::empty({m, n}, DType::kF32, Device::kCuda);
    cuda::launch_widen_int8(q.data<int8_t>(), ldq, w.raw_data(), k, x.dtype(), n, k, cuda::stream());
    cuda::gemm(x.raw_data(), ldx, w.raw_data(), k, x.dtype(), product.raw_data(), n, DType::kF32, m, n, k, 0.0f,
               cuda::stream());
    cuda::launch_scale_columns(product.data<float>(), n, s, bias, y.raw_data(), ldy, y.dtype(), m, n, accumulate,
                               cuda::stream());
}

void quantize_rows_int8(const Tensor& w, Tensor& q, Tensor& scale) {
    require_cuda(q, "quantized weight");
    require_cuda(scale, "quantization scales");
    TURBOLM_CHECK(w.ndim() == 2 && w.stride(1) == 1 && q.dtype() == DType::kI8 && q.shape() == w.shape() &&
                      q.is_contiguous() && scale.dtype() == DType::kF32 && scale.numel() == w.size(0),
                  "quantize_rows_int8: w ", w.describe(), " q ", q.describe(), " scale ", scale.describe());
    cuda::launch_quantize_rows_int8(w.raw_data(), w.dtype(), w.stride(0), q.data<int8_t>(), scale.data<float>(),
                                    w.size(0), w.size(1), cuda::stream());
}

void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) {
    require_cuda(y, "rms_norm output");
    TURBOLM_CHECK(x.dtype() == DType::kF32, "rms_norm input must be f32, got ", x.describe());
    const int64_t ldx = rows_of(x, "rms_norm input"), ldy = rows_of(y, "rms_norm output");
    TURBOLM_CHECK(y.shape() == x.shape(), "rms_norm output ", y.describe(), " for ", x.describe());
    cuda::launch_rms_norm(x.data<float>(), ldx, f32_or_null(w, x.size(1), "rms_norm weight"), eps, y.raw_data(),
                          y.dtype(), ldy, x.size(0), x.size(1), cuda::stream());
}

void layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y) {
    require_cuda(y, "layer_norm output");
    TURBOLM_CHECK(x.dtype() == DType::kF32, "layer_norm input must be f32, got ", x.describe());
    const int64_t ldx = rows_of(x, "layer_norm input"), ldy = rows_of(y, "layer_norm output");
    TURBOLM_CHECK(y.shape() == x.shape(), "layer_norm output ", y.describe(), " for ", x.describe());
    cuda::launch_layer_norm(x.data<float>(), ldx, f32_or_null(w, x.size(1), "layer_norm weight"), f32_or_null(b, x.size(1), "layer_norm bias"),
                            eps, y.raw_data(), y.dtype(), ldy, x.size(0), x.size(1), cuda::stream());
}

void act_mul(Activation act, const Tensor& gate, const Tensor& up, Tensor& out) {
    require_cuda(up, "act_mul up");
    require_cuda(out, "act_mul output");
    TURBOLM_CHECK(gate.shape() == up.shape() && gate.shape() == out.shape() && is_16bit(gate.dtype()) &&
                      up.dtype() == gate.dtype() && out.dtype() == gate.dtype(),
                  "act_mul tensors ", gate.describe(), " ", up.describe(), " ", out.describe());
    cuda::launch_act_mul(act, gate.raw_data(), rows_of(gate, "act_mul gate"), up.raw_data(), rows_of(up, "act_mul up"),
                         out.raw_data(), rows_of(out, "act_mul output"), gate.size(0), gate.size(1), gate.dtype(),
                         cuda::stream());
}

void act_inplace(Activation act, Tensor& x) {
    TURBOLM_CHECK(is_16bit(x.dtype()), "activation input ", x.describe());
    cuda::launch_act_inplace(act, x.raw_data(), rows_of(x, "activation input"), x.size(0), x.size(1), x.dtype(),
                             cuda::stream());
}

namespace {

// The table's rows are vocabulary rows [first_row, first_row + rows); other ids give zeros.
void embedding_rows(const Tensor& ids, const Tensor& table, int64_t first_row, Tensor& out, bool accumulate) {
    require_cuda(ids, "embedding ids");
    require_cuda(out, "embedding output");
    TURBOLM_CHECK(ids.dtype() == DType::kI32 && ids.is_contiguous(), "embedding ids ", ids.describe());
    TURBOLM_CHECK(table.ndim() == 2 && table.is_contiguous(), "embedding table ", table.describe());
    TURBOLM_CHECK(out.dtype() == DType::kF32 && out.size(0) == ids.numel() && out.size(1) == table.size(1),
                  "embedding output ", out.describe());
    cuda::launch_embedding(ids.data<int32_t>(), ids.numel(), table.raw_data(), table.dtype(), first_row,
                           table.size(0), table.size(1), out.data<float>(), rows_of(out, "embedding output"),
                           accumulate, cuda::stream());
}

}  // namespace

void embedding(const Tensor& ids, const Tensor& table, Tensor& out, bool accumulate) {
    embedding_rows(ids, table, /*first_row=*/0, out, accumulate);
}

void embedding_part(const Tensor& ids, const Tensor& table, int64_t first_row, Tensor& out) {
    embedding_rows(ids, table, first_row, out, /*accumulate=*/false);
}

void assemble_vocab_parts(const Tensor& parts, Tensor& out) {
    require_cuda(parts, "vocabulary parts");
    require_cuda(out, "logits");
    TURBOLM_CHECK(parts.dtype() == DType::kF32 && parts.ndim() == 3 && parts.is_contiguous(), "vocabulary parts ",
                  parts.describe());
    const int64_t world = parts.size(0), rows = parts.size(1), part = parts.size(2), vocab = out.size(1);
    TURBOLM_CHECK(out.dtype() == DType::kF32 && out.size(0) == rows && vocab <= world * part &&
                      vocab > (world - 1) * part,
                  "logits ", out.describe(), " from parts ", parts.describe());
    cuda::launch_assemble_vocab_parts(parts.data<float>(), world, rows, part, out.data<float>(),
                                      rows_of(out, "logits"), vocab, cuda::stream());
}

void qkv_to_cache(const Tensor& qkv, const QkvToCacheArgs& a, const KvLayer& cache, Tensor& q_out) {
    require_cuda(cache.k, "KV cache");
    require_cuda(a.slots, "KV slots");
    require_cuda(a.pos, "positions");
    TURBOLM_CHECK(is_16bit(qkv.dtype()) && q_out.dtype() == qkv.dtype() &&
                      (cache.quantized() || cache.k.dtype() == qkv.dtype()),
                  "qkv_to_cache dtypes: qkv ", qkv.describe(), " q ", q_out.describe(), " cache ", cache.k.describe());
    const int64_t hd = cache.k.size(2);
    cuda::QkvRopeParams p;
    p.n_tokens = qkv.size(0);
    p.n_head = a.n_head;
    p.n_head_kv = a.n_head_kv;
    p.head_dim = hd;
    p.rot_dim = a.inv_freq.defined() ? a.rot_dim : 0;
    p.pos = a.pos.data<int32_t>();
    p.inv_freq = a.inv_freq.defined() ? f32_or_null(a.inv_freq, a.rot_dim / 2, "rope inv_freq") : nullptr;
    p.rope_scale = a.rope_scale;
    p.q_norm = f32_or_null(a.q_norm, hd, "q norm");
    p.k_norm = f32_or_null(a.k_norm, hd, "k norm");
    p.norm_eps = a.norm_eps;
    p.slots = a.slots.data<int64_t>();
    if (cache.quantized()) {
        p.code_dtype = cache.k.dtype();
        p.k_scale = cache.k_scale.data<float>();
        p.v_scale = cache.v_scale.data<float>();
    }
    cuda::launch_qkv_rope(qkv.raw_data(), qkv.stride(0), p, qkv.dtype(), q_out.raw_data(), cache.k.raw_data(),
                          cache.v.raw_data(), cuda::stream());
}

void attention(const Tensor& q, const KvLayer& cache, const AttentionBatch& batch, const AttentionParams& params,
               Tensor& out) {
    require_cuda(cache.k, "KV cache");
    require_cuda(out, "attention output");
    for (const Tensor* t : {&batch.q_start, &batch.kv_len, &batch.q_pos, &batch.block_table}) {
        require_cuda(*t, "attention batch");
        TURBOLM_CHECK(t->dtype() == DType::kI32 && t->is_contiguous(), "attention batch tensor ", t->describe());
    }
    TURBOLM_CHECK(is_16bit(q.dtype()) && (cache.quantized() || cache.k.dtype() == q.dtype()) && out.dtype() == q.dtype(),
                  "attention dtypes: q ", q.describe(), " cache ", cache.k.describe(), " out ", out.describe());
    cuda::PagedKvView kv;
    kv.k = cache.k.raw_data();
    kv.v = cache.v.raw_data();
    if (cache.quantized()) {
        kv.code_dtype = cache.k.dtype();
        kv.k_scale = cache.k_scale.data<float>();
        kv.v_scale = cache.v_scale.data<float>();
    }
    kv.block_table = batch.block_table.data<int32_t>();
    kv.max_blocks = batch.block_table.size(1);
    kv.block_size = batch.block_size;
    cuda::AttentionBatch ab;
    ab.n_seqs = batch.n_seqs();
    ab.n_tokens = q.size(0);
    ab.q_start = batch.q_start.data<int32_t>();
    ab.kv_len = batch.kv_len.data<int32_t>();
    ab.q_pos = batch.q_pos.data<int32_t>();
    ab.max_q_len = batch.max_q_len;
    ab.max_kv_len = batch.max_kv_len;
    ab.n_decode_seqs = batch.n_decode_seqs;
    cuda::AttentionShape shape;
    shape.n_head = q.size(1);
    shape.n_head_kv = cache.k.size(1);
    shape.head_dim = q.size(2);
    shape.scale = params.scale;
    shape.window = params.window;
    const size_t ws_bytes = cuda::attention_workspace_bytes(ab, shape);
    Tensor workspace;
    if (ws_bytes) workspace = Tensor::empty({int64_t(ws_bytes)}, DType::kU8, Device::kCuda);
    cuda::launch_attention(q.raw_data(), q.stride(0), kv, ab, shape, q.dtype(), out.raw_data(), out.stride(0),
                           ws_bytes ? workspace.raw_data() : nullptr, ws_bytes, cuda::stream());
}

void gather_rows(const Tensor& src, const Tensor& rows, Tensor& dst) {
    require_cuda(rows, "gather_rows rows");
    require_cuda(dst, "gather_rows destination");
    TURBOLM_CHECK(rows.dtype() == DType::kI32 && rows.numel() == dst.size(0) && dst.dtype() == src.dtype() &&
                      src.size(1) == dst.size(1),
                  "gather_rows shapes ", src.describe(), " ", rows.describe(), " ", dst.describe());
    const int64_t es = int64_t(dtype_size(src.dtype()));
    cuda::launch_gather_rows(src.raw_data(), rows_of(src, "gather_rows source") * es, rows.data<int32_t>(),
                             rows.numel(), src.size(1) * es, dst.raw_data(), rows_of(dst, "gather_rows destination") * es,
                             cuda::stream());
}

void scatter_add_rows(const Tensor& src, const Tensor& rows, const Tensor& weights, Tensor& dst) {
    require_cuda(rows, "scatter_add_rows rows");
    require_cuda(dst, "scatter_add_rows destination");
    TURBOLM_CHECK(src.dtype() == DType::kF32 && dst.dtype() == DType::kF32 && rows.dtype() == DType::kI32 &&
                      weights.dtype() == DType::kF32 && rows.numel() == src.size(0) && weights.numel() == src.size(0) &&
                      src.size(1) == dst.size(1),
                  "scatter_add_rows shapes");
    cuda::launch_scatter_add_rows(src.data<float>(), rows_of(src, "scatter_add_rows source"), rows.data<int32_t>(),
                                  weights.data<float>(), rows.numel(), src.size(1), dst.data<float>(),
                                  rows_of(dst, "scatter_add_rows destination"), cuda::stream());
}

void add(const Tensor& a, const Tensor& b, Tensor& y) {
    TURBOLM_CHECK(a.shape() == b.shape() && a.shape() == y.shape() && a.is_contiguous() && b.is_contiguous() &&
                      y.is_contiguous() && a.dtype() == DType::kF32 && b.dtype() == DType::kF32 &&
                      y.dtype() == DType::kF32,
                  "add shapes ", a.describe(), " ", b.describe(), " ", y.describe());
    cuda::launch_add(a.data<float>(), b.data<float>(), y.data<float>(), a.numel(), cuda::stream());
}

void fill_uniform(Tensor& t, float lo, float hi, uint64_t seed) {
    cuda::launch_fill_uniform(t.raw_data(), t.dtype(), t.numel(), lo, hi, seed, cuda::stream());
}

void fill_constant(Tensor& t, float value) {
    cuda::launch_fill_constant(t.raw_data(), t.dtype(), t.numel(), value, cuda::stream());
}

void convert(const Tensor& src, Tensor& dst) {
    cuda::launch_convert(src.raw_data(), src.dtype(), dst.raw_data(), dst.dtype(), src.numel(), cuda::stream());
}

void moe_route(const Tensor& logits, int64_t k, bool renormalize, Tensor& ids, Tensor& weights) {
    require_cuda(ids, "expert ids");
    require_cuda(weights, "expert weights");
    cuda::launch_moe_route(logits.data<float>(), logits.size(0), logits.size(1), k, renormalize, ids.data<int32_t>(),
                           weights.data<float>(), cuda::stream());
}

void moe_group(const Tensor& ids, int64_t n_expert, Tensor& order, Tensor& offsets) {
    require_cuda(order, "expert order");
    require_cuda(offsets, "expert offsets");
    cuda::launch_moe_sort(ids.data<int32_t>(), ids.numel(), n_expert, order.data<int32_t>(), offsets.data<int32_t>(),
                          cuda::stream());
}

void moe_linear(const Tensor& x, int64_t x_rows_div, const Tensor& w, const Tensor& ids, const Tensor& order,
                const Tensor& offsets, Tensor& y) {
    require_cuda(w, "expert weights");
    require_cuda(y, "expert output");
    TURBOLM_CHECK(is_16bit(x.dtype()) && w.dtype() == x.dtype() && w.stride(2) == 1 && w.stride(0) == w.size(1) * w.stride(1),
                  "moe_linear dtypes/layout: x ", x.describe(), " w ", w.describe());
    const int64_t P = ids.numel();
    cuda::launch_moe_gemv(x.raw_data(), rows_of(x, "expert input"), x_rows_div, w.raw_data(), w.stride(0), w.stride(1),
                          x.dtype(), order.data<int32_t>(), offsets.data<int32_t>(), ids.data<int32_t>(), P, w.size(0),
                          P, y.raw_data(), rows_of(y, "expert output"), y.dtype(), w.size(1), w.size(2),
                          cuda::stream());
}

void moe_combine(const Tensor& y, const Tensor& weights, Tensor& residual) {
    require_cuda(residual, "residual");
    cuda::launch_moe_combine(y.data<float>(), rows_of(y, "expert output"), weights.data<float>(), weights.size(0),
                             weights.size(1), y.size(1), residual.data<float>(), rows_of(residual, "residual"),
                             cuda::stream());
}

static_assert(sizeof(SamplingRowParams) == sizeof(cuda::SamplingRow) &&
                  offsetof(SamplingRowParams, seed) == offsetof(cuda::SamplingRow, seed) &&
                  offsetof(SamplingRowParams, step) == offsetof(cuda::SamplingRow, step) &&
                  offsetof(SamplingRowParams, frequency_penalty) == offsetof(cuda::SamplingRow, frequency_penalty),
              "ops::SamplingRowParams and cuda::SamplingRow must share one layout");

void sample(Tensor& logits, const Tensor& params, const Tensor& counts, const Tensor& seen, Tensor& ids,
            Tensor& logprobs) {
    require_cuda(params, "sampling parameters");
    require_cuda(ids, "sampled ids");
    const int64_t rows = logits.size(0), vocab = logits.size(1), ld = logits.stride(0);
    const auto* p = static_cast<const cuda::SamplingRow*>(params.raw_data());
    if (counts.defined()) {
        require_cuda(counts, "penalty counts");
        cuda::launch_apply_penalties(logits.data<float>(), ld, rows, vocab, p, counts.data<int32_t>(),
                                     seen.data<uint8_t>(), cuda::stream());
    }
    const size_t ws_bytes = cuda::sample_workspace_bytes(rows, vocab);
    Tensor ws;
    if (ws_bytes) ws = Tensor::empty({int64_t(ws_bytes)}, DType::kU8, Device::kCuda);
    cuda::launch_sample(logits.data<float>(), ld, rows, vocab, p, ids.data<int32_t>(),
                        logprobs.defined() ? logprobs.data<float>() : nullptr, 0, nullptr, nullptr,
                        ws_bytes ? ws.raw_data() : nullptr, ws_bytes, cuda::stream());
}

void record_tokens(const Tensor& ids, Tensor& counts, Tensor& seen) {
    cuda::launch_penalty_state_record(counts.data<int32_t>(), seen.data<uint8_t>(), counts.size(0), counts.size(1),
                                      ids.data<int32_t>(), cuda::stream());
}

void mark_prompts(const Tensor& prompt_ids, const Tensor& offsets, Tensor& counts, Tensor& seen) {
    cuda::launch_penalty_state_init(counts.data<int32_t>(), seen.data<uint8_t>(), counts.size(0), counts.size(1),
                                    prompt_ids.data<int32_t>(), offsets.data<int32_t>(), cuda::stream());
}

}  // namespace turbolm::ops::cuda_ops
