// How many KV blocks to give the paged cache: on a GPU a fraction of the memory left free after
// loading the weights, minus room for activations; on the CPU a fraction of a fixed budget. Refuses
// (Error kResourceExhausted naming the flags to change) when not even one sequence of
// max_model_len tokens fits.
#pragma once

#include <cstdint>
#include <string>

#include "models/model.h"

namespace turbolm {

struct KvSizing {
    int64_t n_blocks = 0;        // including the reserved null block
    int64_t tokens = 0;          // positions the blocks hold
    int64_t full_sequences = 0;  // sequences of max_model_len that fit at once
    size_t bytes = 0;
    std::string summary;         // the one line to log
};

// Device memory to leave for the activations of one step of max_batched_tokens tokens and
// max_running logits rows.
size_t activation_reserve_bytes(const Model& model, int64_t max_batched_tokens, int64_t max_running);

KvSizing size_kv_cache(const Model& model, int64_t block_size, double memory_fraction, int64_t max_model_len,
                       size_t activation_reserve_bytes);

}  // namespace turbolm
