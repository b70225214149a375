// Log-probabilities of the sampled tokens and of each row's most likely tokens, from the log-sum-exp the
// sampling kernel left in the workspace. One thread-block cluster per row. The n largest are found as the sampling kernel finds
// top-k (distance histogram, candidates in shared memory, bisection over the order (logit descending, index
// ascending)), so ties go to the lower index.
#include <atomic>
#include <cstdint>

#include "core/error.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/sampling/sampling_device.cuh"
#include "ops/cuda/sampling/sampling_internal.h"

namespace turbolm::cuda {
namespace {

using namespace smp;

constexpr int kMaxTop = 64;

struct Picks {  // the chosen items, unordered: [kMaxTop] each
    uint64_t key[kMaxTop];
    float v[kMaxTop];
    int32_t idx[kMaxTop];
};

// Appends the items with rank_key >= fk to *to (possibly in another CTA's shared memory); *counter counts them.
// The caller synchronizes.
template <typename Items>
__device__ void gather_picks(const Items& items, uint64_t fk, Picks* to, int* counter) {
    for_each_item(items, [&](float v, int32_t i, uint64_t) {
        const uint64_t k = rank_key(v, i);
        if (k < fk) return;
        const int slot = atomicAdd(counter, 1);
        if (slot < kMaxTop) {
            to->key[slot] = k;
            to->v[slot] = v;
            to->idx[slot] = i;
        }
    });
}

// Writes the picks in order (descending rank_key): each finds its place by counting the larger ones.
__device__ void write_picks(const Picks& picks, int picked, float lse, int32_t* __restrict__ ids_out,
                            float* __restrict__ lp_out) {
    if (int(threadIdx.x) >= picked) return;
    const uint64_t mine = picks.key[threadIdx.x];
    int place = 0;
    for (int j = 0; j < picked; ++j) place += picks.key[j] > mine ? 1 : 0;
    ids_out[place] = picks.idx[threadIdx.x];
    lp_out[place] = picks.v[threadIdx.x] - lse;
}

// One cluster of G CTAs per row, as the sampling kernel (CTA `rank` reads tiles rank, rank + G, ...).
// logits: f32 [rows, ld]; ids: i32 [rows]; stats: [rows]; out_logprob: f32 [rows] or null;
// top_ids: i32 [rows, n_top]; top_logprobs: f32 [rows, n_top]
__global__ void __launch_bounds__(kThreads, 1)
    logprobs_kernel(const float* __restrict__ logits, int64_t ld, int64_t vocab, const int32_t* __restrict__ ids,
                    const RowStats* __restrict__ stats, float* __restrict__ out_logprob, int32_t n_top,
                    int32_t* __restrict__ top_ids, float* __restrict__ top_logprobs) {
    extern __shared__ __align__(16) unsigned char dynamic_smem[];  // the candidates (used in the leader)
    __shared__ uint32_t hist_count[kBins];
    __shared__ ReduceScratch scratch;
    __shared__ Cutoff cutoff_slot;
    __shared__ int counter;
    __shared__ uint64_t threshold_slot;
    __shared__ Picks picks;

    cg::cluster_group cluster = cg::this_cluster();
    const unsigned rank = cluster.block_rank(), cluster_size = cluster.num_blocks();
    const bool leader = rank == 0;
    const int64_t r = blockIdx.x / cluster_size;
    const float* row = logits + r * ld;
    const bool aligned = (reinterpret_cast<uintptr_t>(row) & 15) == 0;
    const RowSlice slice{row, vocab, aligned, int(rank), int(cluster_size)};
    const RowStats st = stats[r];

    if (leader && out_logprob != nullptr && threadIdx.x == 0) {
        const int32_t id = ids[r];
        out_logprob[r] = id >= 0 && id < vocab ? sanitize(row[id]) - st.lse : NAN;
    }
    if (n_top <= 0) return;

    int32_t* row_ids = top_ids + r * n_top;
    float* row_lps = top_logprobs + r * n_top;
    const int n_want = vocab < n_top ? int(vocab) : n_top;
    if (leader)
        for (int j = n_want + int(threadIdx.x); j < n_top; j += kThreads) {  // slots past the vocabulary
            row_ids[j] = -1;
            row_lps[j] = -INFINITY;
        }

    // Histogram of raw distances from the max; the cut-off is the first bin by which there are n_want elements.
    const float inv_width = hist_inv_width(st.max, st.min_finite);
    hist_count[threadIdx.x] = 0;  // kBins == kThreads
    __syncthreads();
    const Histogram hist{hist_count, nullptr, nullptr};
    for_each_row_element(slice, [&](float raw, int64_t) {
        histogram_add(hist, hist_bin(sanitize(raw), st.max, inv_width), 0);
    });
    __syncthreads();
    uint64_t count = 0, unused_mass = 0;
    cluster_histogram_bin(hist, count, unused_mass);
    const Cutoff cut = choose_cutoff(count, count, uint64_t(n_want), vocab, scratch, cutoff_slot);
    const uint32_t top_key = order_key(st.max);

    if (cut.count <= kCapacity) {
        // Every CTA appends its candidates to the leader's shared memory; the leader alone searches.
        const Candidates local = carve_candidates(dynamic_smem);
        if (leader && threadIdx.x == 0) counter = 0;
        cluster.sync();
        compact_candidates(slice, st.max, inv_width, cut.bin, 1.0f, 0.0f, false, candidates_of_rank(local, 0),
                           cluster.map_shared_rank(&counter, 0));
        cluster.sync();  // the leader's candidates are complete; the others are done with its memory
        if (!leader) return;
        const CandidateItems cands{local, counter < kCapacity ? counter : kCapacity};
        uint64_t fk;
        if (cands.n <= kWarpSearchMax) {
            // Few candidates: warp 0 searches alone, without barriers.
            if (threadIdx.x < 32) {
                const WarpCandidateItems few{local, cands.n};
                const uint64_t k = rank_threshold(few, false, lowest_rank_bound(few, scratch), top_key,
                                                  uint64_t(n_want), scratch);
                if (threadIdx.x == 0) threshold_slot = k;
            }
            __syncthreads();
            fk = threshold_slot;
        } else {
            fk = rank_threshold(cands, false, lowest_rank_bound(cands, scratch), top_key, uint64_t(n_want), scratch);
        }
        __syncthreads();  // everyone has read `counter`
        if (threadIdx.x == 0) counter = 0;
        __syncthreads();
        gather_picks(cands, fk, &picks, &counter);
        __syncthreads();
    } else {
        // Too many candidates (a tie larger than the candidates' room): the search over the whole row, split
        // over the cluster, then every CTA sends its share of the n_want to the leader.
        const RowItems cluster_row{slice, 1.0f, 0.0f, false, true};
        const uint64_t fk = rank_threshold(cluster_row, false, 0, top_key, uint64_t(n_want), scratch);
        if (leader && threadIdx.x == 0) counter = 0;
        cluster.sync();
        gather_picks(cluster_row, fk, cluster.map_shared_rank(&picks, 0), cluster.map_shared_rank(&counter, 0));
        cluster.sync();
        if (!leader) return;
    }
    // Exactly n_want items have rank_key >= fk.
    write_picks(picks, counter < n_want ? counter : n_want, st.lse, row_ids, row_lps);
}

}  // namespace

void launch_logprobs(const float* logits, int64_t ld, int64_t rows, int64_t vocab, const int32_t* ids,
                     const RowStats* stats, float* out_logprob, int32_t n_top, int32_t* top_ids, float* top_logprobs,
                     cudaStream_t s) {
    if (rows == 0) return;
    static std::atomic<uint64_t> smem_set{0};
    launch_row_clusters(logprobs_kernel, smem_set, rows, vocab, s, logits, ld, vocab, ids, stats, out_logprob, n_top,
                        top_ids, top_logprobs);
    TURBOLM_CUDA_CHECK_LAUNCH();
}

}  // namespace turbolm::cuda
