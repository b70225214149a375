// Repetition, presence and frequency penalties on the GPU, over a dense per-row token history (counts of
// each token in the output, and whether it occurs in the prompt or output) that the engine keeps on the
// device and updates after every step.
#include <algorithm>
#include <cstdint>

#include "core/error.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/sampling/sampling_kernels.h"

namespace turbolm::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxGridY = 65535;

// One block per row: seen[r, t] = 1 for every prompt token t of row r.
// prompt_ids: i32 [prompt_offsets[rows]]; prompt_offsets: i32 [rows + 1]; seen: u8 [rows, vocab]
__global__ void penalty_state_init_kernel(uint8_t* __restrict__ seen, int64_t vocab,
                                          const int32_t* __restrict__ prompt_ids,
                                          const int32_t* __restrict__ prompt_offsets) {
    const int64_t r = blockIdx.x;
    const int64_t begin = prompt_offsets[r], end = prompt_offsets[r + 1];
    for (int64_t j = begin + threadIdx.x; j < end; j += kThreads) {
        const int32_t t = prompt_ids[j];
        if (t >= 0 && t < vocab) seen[r * vocab + t] = 1;  // several threads may store the same 1: harmless
    }
}

// One thread per row.   ids: i32 [rows]; counts: i32 [rows, vocab]; seen: u8 [rows, vocab]
__global__ void penalty_state_record_kernel(int32_t* __restrict__ counts, uint8_t* __restrict__ seen, int64_t rows,
                                            int64_t vocab, const int32_t* __restrict__ ids) {
    const int64_t r = int64_t(blockIdx.x) * kThreads + threadIdx.x;
    if (r >= rows) return;
    const int32_t t = ids[r];
    if (t < 0 || t >= vocab) return;
    counts[r * vocab + t] += 1;
    seen[r * vocab + t] = 1;
}

// Grid (x: blocks along the row, y: rows, strided when rows > 65535); each thread strides along its row.
// The arithmetic is spelled with explicit roundings (no fused multiply-add) so that it matches the CPU
// sampler's float expressions bit for bit.
// logits: f32 [rows, ld]; params: [rows]; counts: i32 [rows, vocab]; seen: u8 [rows, vocab]
__global__ void apply_penalties_kernel(float* __restrict__ logits, int64_t ld, int64_t rows, int64_t vocab,
                                       const SamplingRow* __restrict__ params, const int32_t* __restrict__ counts,
                                       const uint8_t* __restrict__ seen) {
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        const float rep = params[r].repetition_penalty;
        const float presence = params[r].presence_penalty;
        const float frequency = params[r].frequency_penalty;
        const bool use_rep = rep != 1.0f;
        const bool use_counts = presence != 0.0f || frequency != 0.0f;
        if (!use_rep && !use_counts) continue;  // neutral row: not even read
        float* row = logits + r * ld;
        const int32_t* row_counts = counts + r * vocab;
        const uint8_t* row_seen = seen + r * vocab;
        for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < vocab; i += int64_t(gridDim.x) * kThreads) {
            const bool repeat = use_rep && row_seen[i] != 0;
            const int32_t c = use_counts ? row_counts[i] : 0;
            if (!repeat && c <= 0) continue;
            float l = row[i];
            if (repeat) l = l > 0.0f ? __fdiv_rn(l, rep) : __fmul_rn(l, rep);
            if (c > 0) l = __fsub_rn(l, __fadd_rn(presence, __fmul_rn(frequency, float(c))));
            row[i] = l;
        }
    }
}

void check_shape(const char* op, int64_t rows, int64_t vocab) {
    if (rows < 0 || vocab <= 0 || vocab > INT32_MAX)
        fail(StatusCode::kInvalidArgument, op, ": bad shape rows=", rows, " vocab=", vocab);
}

}  // namespace

void launch_penalty_state_init(int32_t* counts, uint8_t* seen, int64_t rows, int64_t vocab, const int32_t* prompt_ids,
                               const int32_t* prompt_offsets, cudaStream_t s) {
    (void)counts;  // the prompt only feeds the repetition penalty
    check_shape("launch_penalty_state_init", rows, vocab);
    if (rows == 0) return;
    if (rows > INT32_MAX) fail(StatusCode::kInvalidArgument, "launch_penalty_state_init: too many rows: ", rows);
    penalty_state_init_kernel<<<unsigned(rows), kThreads, 0, s>>>(seen, vocab, prompt_ids, prompt_offsets);
    TURBOLM_CUDA_CHECK_LAUNCH();
}

void launch_penalty_state_record(int32_t* counts, uint8_t* seen, int64_t rows, int64_t vocab, const int32_t* ids,
                                 cudaStream_t s) {
    check_shape("launch_penalty_state_record", rows, vocab);
    if (rows == 0) return;
    penalty_state_record_kernel<<<unsigned((rows + kThreads - 1) / kThreads), kThreads, 0, s>>>(counts, seen, rows,
                                                                                                 vocab, ids);
    TURBOLM_CUDA_CHECK_LAUNCH();
}

void launch_apply_penalties(float* logits, int64_t ld, int64_t rows, int64_t vocab, const SamplingRow* params,
                            const int32_t* counts, const uint8_t* seen, cudaStream_t s) {
    check_shape("launch_apply_penalties", rows, vocab);
    if (ld < vocab) fail(StatusCode::kInvalidArgument, "launch_apply_penalties: ld ", ld, " < vocab ", vocab);
    if (rows == 0) return;
    // About 8 elements per thread along a row, at most 64 blocks per row.
    const int64_t blocks_x = std::min<int64_t>((vocab + kThreads * 8 - 1) / (kThreads * 8), 64);
    const dim3 grid(unsigned(blocks_x), unsigned(std::min(rows, kMaxGridY)));
    apply_penalties_kernel<<<grid, kThreads, 0, s>>>(logits, ld, rows, vocab, params, counts, seen);
    TURBOLM_CUDA_CHECK_LAUNCH();
}

}  // namespace turbolm::cuda
