// Sampling on the GPU: penalties over each row's token history, then one token per row (greedy or drawn), so
// that only the chosen ids (and their log-probabilities when asked) cross to the host.
//
// Conventions of every launcher here:
//  - All pointers are device memory, `params` too. Row strides (ld) are in elements.
//  - Launchers only enqueue work on `s`: no allocation, no synchronization, the grid depends on the host
//    arguments only, so they can be captured in a CUDA graph. rows == 0 does nothing.
//  - NaN logits are treated as -inf.
//  - launch_sample needs sm_90 or later: each row is read by a thread-block cluster of up to 8 CTAs (more CTAs
//    per row for small batches); the tokens do not depend on the batch size or a row's place in the batch.
//
// How a sampled row is drawn (launch_sample): the scaled logits v_i = logit_i * (1 / T) are ordered as the CPU
// sampler sorts them (v descending, ties by lower index); top-k keeps the first k, top-p the shortest prefix of
// those whose probability mass reaches top_p, min-p those with exp(v_i - max) >= min_p: the same set as
// Sampler::sample, ties included. The thresholds are found by bisection (over candidates in shared memory when
// they fit, else over the row), never by sorting. The draw is the Gumbel-max trick: argmax over kept i of
// v_i + g_i, where g_i = -log(-log(u_i)) and u_i is a counter-based hash of (seed, step, i), so the same
// (seed, step, logits) always give the same token, whatever the row's place in the batch, and the draw follows
// the renormalized kept probabilities. The CPU draws with its own generator, so the tokens differ while the
// distribution is the same. Probability masses are summed in fixed point (2^-40 per unit of the largest
// probability; this limits vocab to 2^23), so a top-p prefix whose mass is within about 1e-6 of top_p may end
// one token apart from the CPU's double sums.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

namespace turbolm::cuda {

// Per-row sampling parameters, laid out for the device. Same meaning as turbolm::SamplingParams.
struct SamplingRow {
    float temperature = 1.0f;  // <= 0: greedy
    int32_t top_k = 0;         // 0: off
    float top_p = 1.0f;        // 1: off
    float min_p = 0.0f;        // 0: off
    float repetition_penalty = 1.0f, presence_penalty = 0.0f, frequency_penalty = 0.0f;
    uint64_t seed = 0;  // with `step`, the only source of randomness: same (seed, step, logits) -> same token
    uint64_t step = 0;  // index of the token being drawn in its sequence
};

// Token history for the penalties: counts [rows, vocab] i32 = occurrences in the generated output;
// seen [rows, vocab] u8 = 1 when the token occurs in the prompt or output.
// Marks tokens of each row's prompt (seen = 1; counts untouched): row r owns
// prompt_ids[prompt_offsets[r], prompt_offsets[r+1]). Ids outside [0, vocab) are ignored.
// prompt_ids: i32 [prompt_offsets[rows]]; prompt_offsets: i32 [rows + 1]
void launch_penalty_state_init(int32_t* counts, uint8_t* seen, int64_t rows, int64_t vocab, const int32_t* prompt_ids,
                               const int32_t* prompt_offsets, cudaStream_t s);
// After a step: counts[r, ids[r]] += 1, seen[r, ids[r]] = 1 (ids outside [0, vocab) ignored).   ids: i32 [rows]
void launch_penalty_state_record(int32_t* counts, uint8_t* seen, int64_t rows, int64_t vocab, const int32_t* ids,
                                 cudaStream_t s);
// logits [rows, ld] modified in place exactly as Sampler::apply_penalties does (repetition over `seen`,
// presence + frequency over `counts`); rows whose penalties are all neutral are left untouched.
// params: [rows]; counts: i32 [rows, vocab]; seen: u8 [rows, vocab]
void launch_apply_penalties(float* logits, int64_t ld, int64_t rows, int64_t vocab, const SamplingRow* params,
                            const int32_t* counts, const uint8_t* seen, cudaStream_t s);

// Chooses one token per row: greedy rows take the argmax (lowest index among ties); others apply
// temperature, then top-k, top-p, min-p as Sampler::sample does, and draw from what is kept.
// logprobs (optional, may be null): the log-softmax of the logits as given (after penalties, before temperature)
// for the chosen token -> out_logprob[r]; and when n_top > 0 the n_top largest -> top_ids/top_logprobs
// [rows, n_top] (descending, ties lower index first; when n_top > vocab the last slots hold id -1, logprob -inf).
// logits: f32 [rows, ld], ld >= vocab; params: [rows]; out_ids: i32 [rows]; out_logprob: f32 [rows] or null;
// n_top in [0, 64]; workspace: at least sample_workspace_bytes(rows, vocab) bytes, 16-byte aligned.
size_t sample_workspace_bytes(int64_t rows, int64_t vocab);
void launch_sample(const float* logits, int64_t ld, int64_t rows, int64_t vocab, const SamplingRow* params,
                   int32_t* out_ids, float* out_logprob, int32_t n_top, int32_t* top_ids, float* top_logprobs,
                   void* workspace, size_t workspace_bytes, cudaStream_t s);

}  // namespace turbolm::cuda
