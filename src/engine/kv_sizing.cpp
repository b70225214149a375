#include "engine/kv_sizing.h"

#include <algorithm>

#include "core/error.h"
#include "kv/kv_cache_dtype.h"
#include "ops/ops.h"

namespace turbolm {

namespace {
constexpr size_t kCpuKvBudget = size_t(4) << 30;  // the CPU has no "free device memory" to size from
}

size_t activation_reserve_bytes(const Model& model, int64_t max_batched_tokens, int64_t max_running) {
    // Per token the fused gate/up and qkv outputs and a few hidden-size buffers; per running
    // sequence a row of f32 logits (twice: the logits and the sampler's copy); plus 1 GiB of slack.
    const ModelConfig& c = model.config();
    const size_t act = dtype_size(model.activation_dtype());
    const size_t per_token = act * size_t(2 * c.n_ff + (c.n_head + 2 * c.n_head_kv) * c.head_dim) + 16 * size_t(c.n_embd);
    return size_t(max_batched_tokens) * per_token + size_t(max_running) * size_t(c.n_vocab) * 8 + (size_t(1) << 30);
}

KvSizing size_kv_cache(const Model& model, int64_t block_size, double memory_fraction, int64_t max_model_len,
                       size_t activation_reserve_bytes) {
    TURBOLM_REQUIRE(block_size > 0 && memory_fraction > 0.0 && memory_fraction <= 1.0,
                    "KV sizing needs a positive block size and a memory fraction in (0, 1]");
    const ModelConfig& c = model.config();
    // 8-bit pools take half the bytes of 16-bit ones (plus a scale per head), so the same budget holds
    // about twice the blocks.
    const size_t per_block =
        size_t(c.n_layer) * size_t(block_size) * kv_bytes_per_position(c.n_head_kv, c.head_dim, model.kv_dtype());
    size_t budget;
    if (model.device() == Device::kCpu) {
        budget = size_t(double(kCpuKvBudget) * memory_fraction);
    } else {
        ops::trim_device_memory(model.device());
        const ops::DeviceMemoryStats m = ops::device_memory_stats(model.device());
        const double usable = double(m.device_free) * memory_fraction;
        budget = usable > double(activation_reserve_bytes) ? size_t(usable) - activation_reserve_bytes : 0;
    }
    KvSizing s;
    s.n_blocks = int64_t(budget / per_block);
    const int64_t per_sequence = (max_model_len + block_size - 1) / block_size;
    if (s.n_blocks - 1 < per_sequence)
        fail(StatusCode::kResourceExhausted, "the KV cache holds ", std::max<int64_t>(s.n_blocks - 1, 0) * block_size,
             " tokens, less than one sequence of --max-model-len ", max_model_len,
             ": lower --max-model-len or raise --kv-fraction (now ", memory_fraction, ")");
    s.tokens = (s.n_blocks - 1) * block_size;
    s.full_sequences = (s.n_blocks - 1) / per_sequence;
    s.bytes = size_t(s.n_blocks) * per_block;
    s.summary = str_cat("KV cache: ", s.n_blocks - 1, " blocks of ", block_size, " tokens (", s.tokens, " tokens, ",
                        s.bytes >> 20, " MiB of ", dtype_name(model.kv_dtype()), "); ", s.full_sequences,
                        " sequences of ", max_model_len, " tokens fit");
    return s;
}

}  // namespace turbolm
