// Several sequences in one forward step over a paged KV cache (small blocks, shuffled block
// tables, chunked prompts mixed with decodes) against each sequence run alone in one pass; shared
// by the CPU (tests/models) and GPU (tests/gpu) suites.
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>

#include <gtest/gtest.h>

#include "models/model.h"

namespace turbolm::test {

struct Seq {
    std::vector<int32_t> tokens;   // everything the sequence will have seen
    std::vector<int32_t> blocks;   // its block table
    int64_t done = 0;              // positions already in the cache
    Tensor reference;              // logits at every position from one pass alone
};

// Runs the check on `device`; logits may differ from the single-sequence pass by rel_tolerance of
// the largest logit (products of different row counts round differently in 16 bits).
inline void check_paged_forward(const std::filesystem::path& dir, Device device, double rel_tolerance) {
    ModelOptions mo;
    mo.device = device;
    auto model = Model::load(dir, mo);
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t vocab = model->config().n_vocab, block_size = 3;
    std::uniform_int_distribution<int32_t> token(0, int32_t(vocab - 1));

    // Three sequences; their blocks are drawn from one shuffled pool (block 0 stays the null block).
    std::vector<Seq> seqs(3);
    const std::vector<int64_t> lengths = {9, 23, 30};
    int64_t n_blocks = 1;
    for (size_t s = 0; s < seqs.size(); ++s) n_blocks += (lengths[s] + block_size - 1) / block_size;
    std::vector<int32_t> pool(size_t(n_blocks - 1));
    std::iota(pool.begin(), pool.end(), 1);
    std::shuffle(pool.begin(), pool.end(), rng);
    size_t next_block = 0;
    for (size_t s = 0; s < seqs.size(); ++s) {
        for (int64_t i = 0; i < lengths[s]; ++i) seqs[s].tokens.push_back(token(rng));
        for (int64_t b = 0; b < (lengths[s] + block_size - 1) / block_size; ++b) seqs[s].blocks.push_back(pool[next_block++]);
        KvCache alone = model->new_kv_cache(lengths[s]);
        seqs[s].reference = model->forward(seqs[s].tokens, alone, /*all_logits=*/true);
    }

    KvCache kv = model->new_kv_cache(block_size, n_blocks);
    // Steps: (sequence, tokens) pairs. Prompts in uneven chunks, then single-token decodes.
    const std::vector<std::vector<std::pair<int, int64_t>>> steps = {
        {{0, 6}, {1, 10}},
        {{1, 7}, {2, 12}, {0, 1}},
        {{0, 1}, {1, 1}, {2, 15}},
        {{0, 1}, {1, 2}, {2, 1}},
        {{1, 3}, {2, 2}},
    };
    for (size_t st = 0; st < steps.size(); ++st) {
        std::vector<PagedChunk> chunks;
        for (auto [s, n] : steps[st]) {
            Seq& q = seqs[size_t(s)];
            chunks.push_back({std::span<const int32_t>(q.tokens.data() + q.done, size_t(n)), q.done, q.blocks, true});
        }
        Tensor logits = model->forward_paged(chunks, kv).to_device(Device::kCpu);
        int64_t row = 0;
        for (auto [s, n] : steps[st]) {
            Seq& q = seqs[size_t(s)];
            for (int64_t i = 0; i < n; ++i, ++row) {
                const float* got = logits.row<float>(row);
                const float* ref = q.reference.row<float>(q.done + i);
                double max_ref = 0, max_diff = 0;
                for (int64_t v = 0; v < vocab; ++v) {
                    max_ref = std::max(max_ref, double(std::fabs(ref[v])));
                    max_diff = std::max(max_diff, double(std::fabs(got[v] - ref[v])));
                }
                ASSERT_LE(max_diff, rel_tolerance * max_ref + 1e-6)
                    << "step " << st << " sequence " << s << " position " << q.done + i << " seed " << seed;
            }
            q.done += n;
        }
    }
    for (size_t s = 0; s < seqs.size(); ++s) EXPECT_EQ(seqs[s].done, lengths[s]);
}

}  // namespace turbolm::test
