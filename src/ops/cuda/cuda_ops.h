// The CUDA side of src/ops/ops.h: the same operations on device tensors, validated here and sent
// to the kernels on the backend's stream. Only ops.cpp calls these.
#pragma once

#include "ops/ops.h"

namespace turbolm::ops::cuda_ops {

void init();
bool available();
void synchronize();
DeviceMemoryStats memory_stats();
void reset_peak_memory();
void trim_memory();
std::string description();

struct Graph;  // an instantiated CUDA graph and the private memory its tensors live in
std::shared_ptr<void> new_graph_memory();  // a private pool, type-erased for ops.cpp
std::shared_ptr<Graph> capture_graph(const std::function<void()>& work, const std::shared_ptr<void>& memory);
void replay_graph(Graph& graph);
bool capturing();  // a graph is being recorded: nothing may wait for the device
// Timing marks for the op profiler (op_profile.cpp): an event recorded on the backend's stream now,
// the device milliseconds between two of them (waits for the later one), and its release.
void* record_time_mark();
float time_between_marks_ms(void* begin, void* end);
void release_time_mark(void* mark);

void linear(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, bool accumulate);
void linear_int8(const Tensor& x, const Tensor& q, const Tensor& scale, const Tensor& b, Tensor& y, bool accumulate);
void quantize_rows_int8(const Tensor& w, Tensor& q, Tensor& scale);
void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y);
void layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y);
void act_mul(Activation act, const Tensor& gate, const Tensor& up, Tensor& out);
void act_inplace(Activation act, Tensor& x);
void embedding(const Tensor& ids, const Tensor& table, Tensor& out, bool accumulate);
void embedding_part(const Tensor& ids, const Tensor& table, int64_t first_row, Tensor& out);
void assemble_vocab_parts(const Tensor& parts, Tensor& out);
void qkv_to_cache(const Tensor& qkv, const QkvToCacheArgs& args, const KvLayer& cache, Tensor& q_out);
void attention(const Tensor& q, const KvLayer& cache, const AttentionBatch& batch, const AttentionParams& params,
               Tensor& out);
void gather_rows(const Tensor& src, const Tensor& rows, Tensor& dst);
void scatter_add_rows(const Tensor& src, const Tensor& rows, const Tensor& weights, Tensor& dst);
void add(const Tensor& a, const Tensor& b, Tensor& y);
void fill_uniform(Tensor& t, float lo, float hi, uint64_t seed);
void fill_constant(Tensor& t, float value);
void convert(const Tensor& src, Tensor& dst);
void moe_route(const Tensor& logits, int64_t k, bool renormalize, Tensor& ids, Tensor& weights);
void moe_group(const Tensor& ids, int64_t n_expert, Tensor& order, Tensor& offsets);
void moe_linear(const Tensor& x, int64_t x_rows_div, const Tensor& w, const Tensor& ids, const Tensor& order,
                const Tensor& offsets, Tensor& y);
void moe_combine(const Tensor& y, const Tensor& weights, Tensor& residual);
void sample(Tensor& logits, const Tensor& params, const Tensor& counts, const Tensor& seen, Tensor& ids,
            Tensor& logprobs);
void record_tokens(const Tensor& ids, Tensor& counts, Tensor& seen);
void mark_prompts(const Tensor& prompt_ids, const Tensor& offsets, Tensor& counts, Tensor& seen);

}  // namespace turbolm::ops::cuda_ops
