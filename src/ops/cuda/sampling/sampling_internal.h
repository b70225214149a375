// What the sampling kernel hands to the log-probability kernel through the workspace. Internal to
// src/ops/cuda/sampling.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace turbolm::cuda {

// Per-row facts about the raw logits, found by the sampling kernel's first pass.
struct alignas(16) RowStats {
    float max;         // largest logit (NaN counted as -inf)
    float min_finite;  // smallest finite logit (+inf when there is none)
    float lse;         // log(sum(exp(logit)))
    float unused;
};

// Writes out_logprob[r] = logits[r, ids[r]] - lse (when out_logprob is not null) and, when n_top > 0, the
// n_top largest log-probabilities of each row. Arguments as launch_sample's, already checked; stats: [rows]
// written by the sampling kernel on the same stream.
void launch_logprobs(const float* logits, int64_t ld, int64_t rows, int64_t vocab, const int32_t* ids,
                     const RowStats* stats, float* out_logprob, int32_t n_top, int32_t* top_ids, float* top_logprobs,
                     cudaStream_t s);

}  // namespace turbolm::cuda
