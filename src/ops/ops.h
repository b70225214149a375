// The operations model code is written in. Each takes tensors, checks shapes and dtypes, and
// dispatches on the tensors' device to a kernel (src/ops/cpu, src/ops/cuda). Model code calls only
// these and never names a backend.
//
// Dtypes: on the CPU activations are f32. On the GPU the residual stream is f32 and the inputs of
// matrix products (norm outputs, attention outputs, MLP activations) are 16-bit, the weights' type.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/tensor.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/gemm.h"

namespace turbolm::ops {

using cpu::Activation;
using cpu::MatmulPrecision;

// Prepares the backend of `device` (selects the GPU, creates its stream); throws Error(kUnimplemented)
// when this build or machine has none. device_available never throws.
void init_device(Device device);
bool device_available(Device device);
// Waits for the device's queued work; an asynchronous kernel failure surfaces here as an Error.
void synchronize(Device device);
// Memory a device backend holds (all zero on the CPU).
struct DeviceMemoryStats {
    size_t allocated = 0, reserved = 0, peak_allocated = 0, peak_reserved = 0;
    size_t device_total = 0, device_free = 0;  // as the driver reports them
};
DeviceMemoryStats device_memory_stats(Device device);
void reset_peak_device_memory(Device device);
// Hands cached, unused device memory back to the driver (after loading, before sizing caches).
void trim_device_memory(Device device);
std::string device_description(Device device);  // "NVIDIA H200 (132 SMs, 139.8 GiB)" or the CPU

// The 16-bit type the GPU computes in for a checkpoint of `weight_dtype`: bf16 for bf16, f16 for f16
// and f32 (as vLLM's "auto" does); f32 on the CPU.
DType compute_dtype(Device device, DType weight_dtype);

// y[t, :] (+)= x[t, :] @ w^T + b.   x: [T, in]; w: [out, in]; b: f32 [out] or undefined; y: [T, out].
// CPU: x, y f32, w f32/bf16/f16. GPU: x and w one 16-bit type, y f32 or that type.
// With accumulate, y already holds the residual that is added to.
void linear(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, MatmulPrecision precision,
            bool accumulate = false);

// Weight-only INT8: y[t, :] (+)= x[t, :] @ (q * scale)^T + b, with q int8 [out, in] and one f32
// scale per output row. CPU: x, y f32. GPU: x 16-bit, y f32 or x's type; a few rows stream the int8
// weights once (decode), more dequantize them into a 16-bit scratch matrix for the GEMM.
void linear_int8(const Tensor& x, const Tensor& q, const Tensor& scale, const Tensor& b, Tensor& y,
                 bool accumulate = false);
// Symmetric per-row quantization: scale[r] = max|w[r, :]| / 127, q[r, c] = round(w[r, c] / scale[r])
// (0 for an all-zero row). w: f32/bf16/f16 [out, in]; q: int8 [out, in]; scale: f32 [out]; one device.
void quantize_rows_int8(const Tensor& w, Tensor& q, Tensor& scale);

// Weight-only INT4, asymmetric, in groups of `group` input columns (AWQ's and GPTQ's scheme):
// w[r, c] = (code[r, c] - zero[r, c / group]) * scale[r, c / group], codes and zeros in 0..15.
// q: u8 [out, in/2], code of column 2j in the low nibble of byte j, of 2j+1 in the high nibble;
// scale: f16 [out, in/group]; zero: u8 [out, in/group]; group divides in and is a multiple of 32.
// CPU: x, y f32. GPU: x 16-bit, y f32 or x's type; a few rows read the packed weights once.
void linear_int4(const Tensor& x, const Tensor& q, const Tensor& scale, const Tensor& zero, int64_t group,
                 const Tensor& b, Tensor& y, bool accumulate = false);
// linear_int4 of rms_norm(x, norm_w, eps) in `act` (the activation dtype: f32 on the CPU, 16-bit on
// the GPU), and of act_mul(act, gate, up). The same results as those ops then linear_int4, bit for
// bit; a GPU decode product of up to two rows makes the rows itself instead of a kernel before it
// writing them (RMSNorm from f32 rows with 16-byte aligned rows; silu only). x, norm_w: f32 [m, k], [k].
constexpr int64_t kInt4RowsMadeMax = 2;  // rows up to which a GPU decode product makes them itself
void linear_int4_rms_normed(const Tensor& x, const Tensor& norm_w, float eps, DType act, const Tensor& q,
                            const Tensor& scale, const Tensor& zero, int64_t group, const Tensor& b, Tensor& y,
                            bool accumulate = false);
void linear_int4_act_mul(Activation act, const Tensor& gate, const Tensor& up, const Tensor& q, const Tensor& scale,
                         const Tensor& zero, int64_t group, const Tensor& b, Tensor& y, bool accumulate = false);
// Round-to-nearest INT4 of w f32/bf16/f16 [out, in] into q, scale, zero as above. For each group:
// scale = f16((max(w) - min(w)) / 15) (taken as 1 when that is 0), zero = clamp(rint(-min(w) / scale), 0, 15),
// code = clamp(rint(w / scale) + zero, 0, 15), with rint rounding half to even and the division by
// the f16-rounded scale in f32; CPU and GPU give identical bits.
void quantize_groups_int4(const Tensor& w, int64_t group, Tensor& q, Tensor& scale, Tensor& zero);
// dst[t, c] = src[t, perm[c]].   src, dst: [T, n] of one dtype; perm: i32 [n], trusted.
void gather_columns(const Tensor& src, const Tensor& perm, Tensor& dst);

// FP8 (E4M3) W8A8: each row of x is quantized to e4m3 with scale max|x[t, :]| / 448 (dynamic, per
// token), then y[t, r] (+)= (sum_c xq[t, c] * q[r, c]) * xscale[t] * scale[r] + b[r]. q: f8e4m3
// [out, in]; scale: f32 [out] (a per-tensor scale is the same value in every row). The same
// function at every batch size. CPU: x, y f32. GPU: x 16-bit, y f32 or x's type (cuBLASLt FP8).
void linear_fp8(const Tensor& x, const Tensor& q, const Tensor& scale, const Tensor& b, Tensor& y,
                bool accumulate = false);
// linear_fp8 of activations already quantized: codes f8e4m3 [m, in] and scales f32 [m] as linear_fp8
// quantizes x (rms_norm_fp8, act_mul_fp8). y: f32 (CPU); f32 or 16-bit (GPU).
void linear_fp8_codes(const Tensor& codes, const Tensor& scales, const Tensor& q, const Tensor& scale, const Tensor& b,
                      Tensor& y, bool accumulate = false);
// The FP8 activations of a product made by the kernel that computes them, so that the rows are never
// written and read back: codes f8e4m3 [T, n] and scales f32 [T] are exactly what linear_fp8 makes of
// what rms_norm(x, w, eps) into `dtype` (f32 on the CPU, 16-bit on the GPU), or act_mul(act, gate,
// up), would have written. x: f32 [T, n]; gate, up: [T, n] in the activation dtype.
void rms_norm_fp8(const Tensor& x, const Tensor& w, float eps, DType dtype, Tensor& codes, Tensor& scales);
void act_mul_fp8(Activation act, const Tensor& gate, const Tensor& up, Tensor& codes, Tensor& scales);
// FP8 with block scales (DeepSeek-V3's and Qwen3's FP8 checkpoints): the weight has one scale per
// kFp8Block x kFp8Block block, the activations one per token and kFp8Block columns, each group of x
// quantized as linear_fp8 quantizes a row (scale max|.| / 448, zero for a group of zeros):
// y[t, r] (+)= sum_g (sum_{c in g} xq[t, c] * q[r, c]) * xscale[t, g] * scale[r / kFp8Block, g] + b[r].
// q: f8e4m3 [out, in], out and in multiples of kFp8Block; scale: f32 [out / kFp8Block, in / kFp8Block].
// CPU: x, y f32. GPU: x 16-bit, y f32 or x's type (cuBLASLt's block-scaled FP8 product).
constexpr int64_t kFp8Block = 128;
void linear_fp8_block(const Tensor& x, const Tensor& q, const Tensor& scale, const Tensor& b, Tensor& y,
                      bool accumulate = false);
// Per kFp8Block x kFp8Block block of w: scale = max|block| / 448 (1 for an all-zero block), q = e4m3(w *
// (1 / scale)) rounded to nearest even, saturating. w: f32/bf16/f16 [out, in], both multiples of
// kFp8Block; q: f8e4m3 [out, in]; scale: f32 [out / kFp8Block, in / kFp8Block].
void quantize_blocks_fp8(const Tensor& w, Tensor& q, Tensor& scale);
// Per-row FP8: scale[r] = max|w[r, :]| / 448 (1 for an all-zero row), q = e4m3(w * (1 / scale)) rounded to
// nearest even, saturating. w: f32/bf16/f16 [out, in]; q: f8e4m3 [out, in]; scale: f32 [out].
void quantize_rows_fp8(const Tensor& w, Tensor& q, Tensor& scale);

// SmoothQuant W8A8 INT8: x' = x * inv_smooth (per input column; undefined means 1), each row of x'
// quantized to int8 symmetric with scale max|x'[t, :]| / 127 (rint, half to even), int32 products,
// y[t, r] (+)= acc[t, r] * xscale[t] * scale[r] + b[r]. q: i8 [out, in] (quantize_rows_int8 of the
// smoothed weight); scale f32 [out]. CPU: x, y f32. GPU: x 16-bit, y f32 or x's type (int8 GEMM).
void linear_w8a8_int8(const Tensor& x, const Tensor& inv_smooth, const Tensor& q, const Tensor& scale,
                      const Tensor& b, Tensor& y, bool accumulate = false);

// x: f32 [rows, cols] (last axis contiguous); w, b: f32 [cols]; y: [rows, cols], f32 (may alias x) or,
// on the GPU, 16-bit.
void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y);
void layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y);

// out = act(gate) * up, all [T, n] in the activation dtype (out may alias gate).  act_inplace: x = act(x).
void act_mul(Activation act, const Tensor& gate, const Tensor& up, Tensor& out);
void act_inplace(Activation act, Tensor& x);

// out: f32 [T, n_embd] (+)= rows of table [vocab, n_embd] picked by ids i32 [T]. Ids are trusted
// (the caller checked them against the vocabulary on the host).
void embedding(const Tensor& ids, const Tensor& table, Tensor& out, bool accumulate = false);
// One rank's share of a vocabulary-parallel lookup: table holds rows [first_row, first_row + rows)
// of the full vocabulary; out[t] = table[ids[t] - first_row] for the ids it holds, zeros for the
// others, so that summing every rank's out gives the full lookup. ids: i32 [T], any value.
void embedding_part(const Tensor& ids, const Tensor& table, int64_t first_row, Tensor& out);
// Logits of a vocabulary-parallel LM head, gathered: parts f32 [world, rows, part] holds rank w's
// vocabulary rows [w * part, w * part + part); out f32 [rows, n_vocab] (n_vocab <= world * part)
// gets them in vocabulary order.
void assemble_vocab_parts(const Tensor& parts, Tensor& out);

// One layer's KV cache as qkv_to_cache writes it and attention reads it (views of the pools).
// k, v: [n_slots, n_head_kv, head_dim] in the activation dtype (f32 on the CPU, 16-bit on the GPU),
// or 8-bit codes (i8 or f8e4m3) on either device. With codes, head h of slot s stands for
// k[s, h, :] * k_scale[s, h] (v likewise); k_scale, v_scale: f32 [n_slots, n_head_kv], undefined
// for unquantized pools. Scales of slots never written must be finite (zeroed pools use 0), so that
// kernels that load and mask such slots see no NaN.
struct KvLayer {
    Tensor k, v;
    Tensor k_scale, v_scale;
    bool quantized() const { return k_scale.defined(); }
};

// Splits a fused projection qkv [T, (n_head + 2 n_head_kv) * head_dim] into q_out [T, n_head, head_dim]
// and the cache: optional per-head RMSNorm of q and k (q_norm, k_norm f32 [head_dim]), rotary
// embedding of the first rot_dim dims (rotate_half form; skipped when inv_freq is undefined), then
// k and v of token t stored at slot slots[t] (skipped when negative) of the cache. An 8-bit cache
// stores each (token, kv head) vector x of k and of v as codes with scale max|x| / 127 (int8, codes
// rint(x / scale) half to even) or max|x| / 448 (e4m3, round to nearest even, saturating), scale 1
// for an all-zero vector (ops/cpu/cpu_kv_quant.h); the GPU quantizes its f32 values before they
// are rounded to 16 bits.
struct QkvToCacheArgs {
    int64_t n_head = 0, n_head_kv = 0;
    Tensor pos;       // i32 [T]
    Tensor inv_freq;  // f32 [rot_dim / 2], or undefined for no rotation
    int64_t rot_dim = 0;
    float rope_scale = 1.0f;
    Tensor q_norm, k_norm;  // f32 [head_dim] or undefined
    float norm_eps = 1e-6f;
    Tensor slots;  // i64 [T]
};
void qkv_to_cache(const Tensor& qkv, const QkvToCacheArgs& args, const KvLayer& cache, Tensor& q_out);

struct AttentionParams {
    float scale = 1.0f;
    int64_t window = 0;  // sliding window in tokens; 0 = unlimited
};
// Which query tokens belong to which sequence and where each sequence's keys live in the cache.
// The tensors are on the device of q; the bounds are host values (fixed while a graph is replayed).
struct AttentionBatch {
    Tensor q_start;      // i32 [n_seqs + 1]: sequence s owns query rows [q_start[s], q_start[s+1])
    Tensor kv_len;       // i32 [n_seqs]: keys at positions [0, kv_len[s]) are valid
    Tensor q_pos;        // i32 [T]
    Tensor block_table;  // i32 [n_seqs, max_blocks]: position p of sequence s is at slot
                         //   block_table[s, p / block_size] * block_size + p % block_size
    int64_t block_size = 0;
    int64_t max_q_len = 0, max_kv_len = 0;
    // Sequences [0, n_decode_seqs) have exactly one query token each (0 when not known): a backend
    // may run them as a decode batch apart from the longer chunks.
    int64_t n_decode_seqs = 0;
    int64_t n_seqs() const { return kv_len.numel(); }
};
// Causal attention: token t attends to the keys p <= q_pos[t] of its sequence (and p > q_pos[t] - window).
// q, out: [T, n_head, head_dim]; cache: pools [n_slots, n_head_kv, head_dim] (8-bit codes are
// dequantized as they are read; the math stays in f32).
void attention(const Tensor& q, const KvLayer& cache, const AttentionBatch& batch, const AttentionParams& params,
               Tensor& out);

// Mixture-of-experts routing (CPU tensors): softmax over each row of logits f32 [T, E], then the k
// most probable experts (ties to the lower index) into ids i32 [T, k] and their probabilities into
// weights f32 [T, k], rescaled to sum to 1 when renormalize is set.
void moe_route(const Tensor& logits, int64_t k, bool renormalize, Tensor& ids, Tensor& weights);
// dst[i, :] = src[rows[i], :]                      src, dst: [*, D] of one dtype; rows: i32 [n]
void gather_rows(const Tensor& src, const Tensor& rows, Tensor& dst);
// dst[rows[i], :] += weights[i] * src[i, :]        src, dst: f32 [n, D]; rows: i32 [n]; weights: f32 [n]
void scatter_add_rows(const Tensor& src, const Tensor& rows, const Tensor& weights, Tensor& dst);

// Mixture of experts without the host, for the few tokens of a decode step (graph-capturable).
// Whether x's device routes on the device (else the model routes on the host, expert by expert).
bool routes_on_device(const Tensor& x);
// moe_route on the device: logits f32 [T, E] -> ids i32 [T, k], weights f32 [T, k].
void moe_route_device(const Tensor& logits, int64_t k, bool renormalize, Tensor& ids, Tensor& weights);
// Groups the T*k routed pairs by expert: order i32 [P] (pair indices, stable), offsets i32 [E + 1].
void moe_group(const Tensor& ids, int64_t n_expert, Tensor& order, Tensor& offsets);
// y[p, :] = x[p / x_rows_div, :] @ w[ids[p]]^T for every pair p.   w: [E, N, K] (experts stacked);
// x: [*, K]; y: [P, N] (f32 or x's dtype). x_rows_div is k when x holds one row per token, 1 per pair.
void moe_linear(const Tensor& x, int64_t x_rows_div, const Tensor& w, const Tensor& ids, const Tensor& order,
                const Tensor& offsets, Tensor& y);
// residual[t, :] += sum_j weights[t, j] * y[t * k + j, :]          y: f32 [T * k, D]; weights f32 [T, k]
void moe_combine(const Tensor& y, const Tensor& weights, Tensor& residual);

// y = a + b, all f32 of one shape.
void add(const Tensor& a, const Tensor& b, Tensor& y);

// Fills (for random weights): uniform on [lo, hi) from (seed, index), or a constant. Any float dtype.
void fill_uniform(Tensor& t, float lo, float hi, uint64_t seed);
void fill_constant(Tensor& t, float value);
// dst = src converted between float dtypes (same shape, contiguous, same device).
void convert(const Tensor& src, Tensor& dst);

// Token choice on the device, so that only the chosen ids cross to the host. Each row has its own
// parameters (the same meaning as turbolm::SamplingParams); randomness comes from (seed, step) only.
struct SamplingRowParams {
    float temperature = 0.0f;  // <= 0: greedy
    int32_t top_k = 0;
    float top_p = 1.0f;
    float min_p = 0.0f;
    float repetition_penalty = 1.0f, presence_penalty = 0.0f, frequency_penalty = 0.0f;
    uint64_t seed = 0;
    uint64_t step = 0;
};
// logits: f32 [rows, vocab] (penalties are applied to it in place); params: the rows' parameters as
// raw bytes (u8 [rows * sizeof(SamplingRowParams)]) on the logits' device; counts i32 / seen u8
// [rows, vocab]: the penalty state (undefined when no row uses penalties); ids: i32 [rows];
// logprobs: f32 [rows] or undefined (log-softmax of the penalized logits at the chosen id).
void sample(Tensor& logits, const Tensor& params, const Tensor& counts, const Tensor& seen, Tensor& ids,
            Tensor& logprobs);
// After a step: counts[r, ids[r]] += 1 and seen[r, ids[r]] = 1.
void record_tokens(const Tensor& ids, Tensor& counts, Tensor& seen);
// Marks each row's prompt tokens as seen: row r's prompt is ids[offsets[r], offsets[r+1]).
void mark_prompts(const Tensor& prompt_ids, const Tensor& offsets, Tensor& counts, Tensor& seen);

// A recorded sequence of device work replayed with one launch (CUDA graphs), for decode steps whose
// shapes repeat. On the CPU capture simply runs the work and replay runs it again.
class DeviceGraph {
public:
    explicit DeviceGraph(Device device);
    // Graphs that never replay at the same time and pass no tensor from one replay to the next may
    // share one private pool: a later capture then reuses the scratch memory of earlier ones.
    DeviceGraph(Device device, const DeviceGraph& share_memory_with);
    ~DeviceGraph();
    DeviceGraph(const DeviceGraph&) = delete;
    DeviceGraph& operator=(const DeviceGraph&) = delete;
    // Runs `work` once while recording it. Tensors it allocates come from memory private to this
    // graph, so their addresses stay valid for every replay.
    void capture(const std::function<void()>& work);
    void replay();

private:
    Device device_;
    std::function<void()> work_;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace turbolm::ops
