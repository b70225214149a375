// The sampling kernel: one thread-block cluster per row chooses the row's token, greedy or drawn after
// temperature, top-k, top-p and min-p; and launch_sample, which also starts the log-probability kernel when
// asked.
//
// Passes over a drawn row, each split over the CTAs of the row's cluster:
//  1. max, argmax and smallest finite logit (and the log-sum-exp when log-probabilities are wanted);
//  without top-k and top-p:
//  2. the Gumbel-max draw over the row, min-p as a filter;
//  with top-k or top-p:
//  2. a histogram of distances from the max (counts; masses too for top-p alone), which gives a cut-off that
//     top-k/top-p cannot go below;
//  3. the elements above the cut-off are copied into the leader CTA's shared memory when they fit; the leader
//     then finds the exact top-k and top-p thresholds over them and draws (Gumbel-max) from what is kept.
//     When they do not fit, the whole cluster searches and draws over the row, one pass per search step.
#include <atomic>
#include <cstdint>

#include "core/error.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/sampling/sampling_device.cuh"
#include "ops/cuda/sampling/sampling_internal.h"
#include "ops/cuda/sampling/sampling_kernels.h"

namespace turbolm::cuda {
namespace {

using namespace smp;

// Sums of mass_fixed weights (each at most 2^40) must stay below 2^63.
constexpr int64_t kMaxVocab = int64_t(1) << 23;
constexpr int32_t kMaxTop = 64;

// The threshold (a rank_key) of what top-k and then top-p keep: the items whose rank_key(value, index) is
// >= threshold, exactly the prefix of the CPU's sorted candidates. total: mass of the whole row (what top-p is a
// fraction of when there is no top-k). Returns false when the items lack the count or mass to decide, which
// happens only for candidates cut too tight.
template <typename Items>
__device__ bool find_threshold(const Items& items, const SamplingRow& p, bool use_k, bool use_p, uint32_t top_key,
                               uint64_t total, uint64_t& threshold, ReduceScratch& scratch) {
    const auto full_key = [](float v, int32_t i) { return rank_key(v, i); };
    uint64_t lo = lowest_rank_bound(items, scratch);  // every item qualifies so far
    uint64_t base = total;                            // the mass top-p takes its fraction of
    if (use_k) {
        const uint64_t k = uint64_t(p.top_k);
        if (weight_from(items, full_key, false, lo, scratch) < k) return false;
        lo = rank_threshold(items, false, lo, top_key, k, scratch);  // the k-th item
        base = weight_from(items, full_key, true, lo, scratch);      // mass of the top-k set
    }
    if (use_p) {
        const uint64_t target = mass_target(base, p.top_p);
        if (weight_from(items, full_key, true, lo, scratch) < target) return false;
        lo = rank_threshold(items, true, lo, top_key, target, scratch);  // the last item of the top-p prefix
    }
    threshold = lo;
    return true;
}

// One cluster of G CTAs per row (G = the launch's cluster size): CTA `rank` reads tiles rank, rank + G, ...
// logits: f32 [rows, ld]; params: [rows]; out_ids: i32 [rows]; stats: [rows], or null when no
// log-probabilities are wanted.
__global__ void __launch_bounds__(kThreads, 1)
    sample_kernel(const float* __restrict__ logits, int64_t ld, int64_t vocab, const SamplingRow* __restrict__ params,
                  int32_t* __restrict__ out_ids, RowStats* __restrict__ stats) {
    extern __shared__ __align__(16) unsigned char dynamic_smem[];  // the candidates (used in the leader)
    __shared__ uint32_t hist_count[kBins], hist_mass_low[kBins], hist_mass_high[kBins];
    __shared__ ReduceScratch scratch;
    __shared__ Cutoff cutoff_slot;
    __shared__ int counter;
    __shared__ bool found_slot;
    __shared__ int32_t chosen_slot;

    cg::cluster_group cluster = cg::this_cluster();
    const unsigned rank = cluster.block_rank(), cluster_size = cluster.num_blocks();
    const bool leader = rank == 0;
    const int64_t r = blockIdx.x / cluster_size;
    const float* row = logits + r * ld;
    const bool aligned = (reinterpret_cast<uintptr_t>(row) & 15) == 0;
    const RowSlice slice{row, vocab, aligned, int(rank), int(cluster_size)};
    const SamplingRow p = params[r];

    // Pass 1.
    const RowSummary a = summarize_row(slice, stats != nullptr, scratch);
    if (leader && stats != nullptr && threadIdx.x == 0) stats[r] = {a.max, a.min_finite, a.lse, 0.0f};

    // Greedy rows take the argmax; so do rows whose scaled max is not finite (all -inf, an +inf logit, or a
    // temperature so small that scaling overflows), where no distribution is defined.
    const bool greedy = !(p.temperature > 0.0f);
    const float inv_t = greedy ? 0.0f : 1.0f / p.temperature;  // as the CPU: logit * (1 / T)
    const float top = __fmul_rn(a.max, inv_t);                  // the largest scaled logit
    if (greedy || !isfinite(top)) {
        if (leader && threadIdx.x == 0) out_ids[r] = a.arg;
        return;
    }

    const bool use_k = p.top_k > 0 && p.top_k < vocab;
    const bool use_p = p.top_p < 1.0f;
    const bool use_min_p = p.min_p > 0.0f;
    const float min_p = p.min_p;
    const uint64_t key = noise_key(p.seed, p.step);
    // min-p keeps the weights exp(v - top) >= min_p, as the CPU compares its float weights.
    const auto kept_by_min_p = [=](float v, int32_t) { return !use_min_p || expf(__fsub_rn(v, top)) >= min_p; };
    const RowItems cluster_row{slice, inv_t, top, false, true};

    int32_t chosen = INT32_MAX;
    if (!use_k && !use_p) {
        // Pass 2: the draw over the whole row.
        chosen = gumbel_argmax(cluster_row, kept_by_min_p, key, scratch);
    } else {
        // Pass 2: histogram of raw distances from the max; with top-p alone also each bin's mass and the row's
        // total mass, which top-p takes its fraction of.
        const float inv_width = hist_inv_width(a.max, a.min_finite);
        const bool by_mass = !use_k;
        const Histogram hist{hist_count, by_mass ? hist_mass_low : nullptr, hist_mass_high};
        hist_count[threadIdx.x] = 0;  // kBins == kThreads
        hist_mass_low[threadIdx.x] = 0;
        hist_mass_high[threadIdx.x] = 0;
        __syncthreads();
        uint64_t total_local = 0;
        for_each_row_element(slice, [&](float raw, int64_t i) {
            const float x = sanitize(raw);
            const uint64_t w = by_mass && i < vocab ? mass_fixed(__fmul_rn(x, inv_t), top) : 0;
            histogram_add(hist, hist_bin(x, a.max, inv_width), w);
            total_local += w;
        });
        __syncthreads();
        const uint64_t total = by_mass ? cluster_reduce(block_reduce(total_local, add_u64, scratch), add_u64, scratch)
                                       : 0;
        uint64_t count = 0, mass = 0;
        cluster_histogram_bin(hist, count, mass);

        // The cut-off: the first bin by which there are k elements (top-p then keeps a subset of them), or by
        // which the mass reaches top_p of the total. The same in every CTA.
        const uint64_t target = use_k ? uint64_t(p.top_k) : mass_target(total, p.top_p);
        const Cutoff cut = choose_cutoff(count, use_k ? count : mass, target, vocab, scratch, cutoff_slot);

        const uint32_t top_key = order_key(top);
        uint64_t threshold = 0;
        if (cut.count <= kCapacity) {
            // Pass 3: every CTA appends its candidates to the leader's shared memory; the leader alone searches.
            const Candidates local = carve_candidates(dynamic_smem);
            if (leader && threadIdx.x == 0) counter = 0;
            cluster.sync();
            compact_candidates(slice, a.max, inv_width, cut.bin, inv_t, top, use_p, candidates_of_rank(local, 0),
                               cluster.map_shared_rank(&counter, 0));
            cluster.sync();  // the leader's candidates are complete; the others are done with its memory
            if (!leader) return;
            const int n = counter < kCapacity ? counter : kCapacity;
            bool found = false;
            if (n <= kWarpSearchMax) {
                // Few candidates: warp 0 searches and draws alone, without barriers.
                if (threadIdx.x < 32) {
                    const WarpCandidateItems cands{local, n};
                    found = find_threshold(cands, p, use_k, use_p, top_key, total, threshold, scratch);
                    if (found) {
                        const auto kept = [=](float v, int32_t i) {
                            return rank_key(v, i) >= threshold && kept_by_min_p(v, i);
                        };
                        chosen = gumbel_argmax(cands, kept, key, scratch);
                    }
                    if (threadIdx.x == 0) found_slot = found, chosen_slot = chosen;
                }
                __syncthreads();
                found = found_slot;
                chosen = chosen_slot;
            } else {
                const CandidateItems cands{local, n};
                found = find_threshold(cands, p, use_k, use_p, top_key, total, threshold, scratch);
                if (found) {
                    const auto kept = [=](float v, int32_t i) { return rank_key(v, i) >= threshold && kept_by_min_p(v, i); };
                    chosen = gumbel_argmax(cands, kept, key, scratch);
                }
            }
            if (!found) {
                // Not expected (the histogram counted exactly what was copied), but never wrong: the leader
                // searches the whole row alone.
                const RowItems whole{{row, vocab, aligned, 0, 1}, inv_t, top, false, false};
                find_threshold(whole, p, use_k, use_p, top_key, total, threshold, scratch);
                const auto kept = [=](float v, int32_t i) { return rank_key(v, i) >= threshold && kept_by_min_p(v, i); };
                chosen = gumbel_argmax(whole, kept, key, scratch);
            }
        } else {
            // Too many candidates: the same search over the whole row, one pass per search step, split over the
            // cluster.
            find_threshold(cluster_row, p, use_k, use_p, top_key, total, threshold, scratch);
            const auto kept = [=](float v, int32_t i) { return rank_key(v, i) >= threshold && kept_by_min_p(v, i); };
            chosen = gumbel_argmax(cluster_row, kept, key, scratch);
        }
    }
    // The max is always kept, so something was drawn; the argmax stands in should that ever fail.
    if (leader && threadIdx.x == 0) out_ids[r] = chosen == INT32_MAX ? a.arg : chosen;
}

}  // namespace

size_t sample_workspace_bytes(int64_t rows, int64_t vocab) {
    (void)vocab;
    return rows > 0 ? size_t(rows) * sizeof(RowStats) : 0;
}

void launch_sample(const float* logits, int64_t ld, int64_t rows, int64_t vocab, const SamplingRow* params,
                   int32_t* out_ids, float* out_logprob, int32_t n_top, int32_t* top_ids, float* top_logprobs,
                   void* workspace, size_t workspace_bytes, cudaStream_t s) {
    if (rows < 0 || rows > INT32_MAX / kMaxCluster)
        fail(StatusCode::kInvalidArgument, "launch_sample: rows ", rows, " out of [0, 2^28)");
    if (vocab <= 0 || vocab > kMaxVocab)
        fail(StatusCode::kInvalidArgument, "launch_sample: vocab ", vocab, " out of [1, ", kMaxVocab, "]");
    if (ld < vocab) fail(StatusCode::kInvalidArgument, "launch_sample: ld ", ld, " < vocab ", vocab);
    if (n_top < 0 || n_top > kMaxTop)
        fail(StatusCode::kInvalidArgument, "launch_sample: n_top ", n_top, " out of [0, ", kMaxTop, "]");
    if (n_top > 0 && (top_ids == nullptr || top_logprobs == nullptr))
        fail(StatusCode::kInvalidArgument, "launch_sample: n_top ", n_top, " needs top_ids and top_logprobs");
    const size_t need = sample_workspace_bytes(rows, vocab);
    if (workspace_bytes < need || (need > 0 && workspace == nullptr))
        fail(StatusCode::kInvalidArgument, "launch_sample: workspace of ", workspace_bytes, " bytes, needs ", need);
    if (reinterpret_cast<uintptr_t>(workspace) % alignof(RowStats) != 0)
        fail(StatusCode::kInvalidArgument, "launch_sample: workspace not ", alignof(RowStats), "-byte aligned");
    if (rows == 0) return;

    const bool want_logprobs = out_logprob != nullptr || n_top > 0;
    RowStats* stats = want_logprobs ? static_cast<RowStats*>(workspace) : nullptr;
    static std::atomic<uint64_t> smem_set{0};
    launch_row_clusters(sample_kernel, smem_set, rows, vocab, s, logits, ld, vocab, params, out_ids, stats);
    TURBOLM_CUDA_CHECK_LAUNCH();
    if (want_logprobs)
        launch_logprobs(logits, ld, rows, vocab, out_ids, stats, out_logprob, n_top, top_ids, top_logprobs, s);
}

}  // namespace turbolm::cuda
