// BlockManager scenarios: accounting, failed reservations, prefix sharing, LRU eviction, fork with
// copy-on-write, sliding-window release, and the errors of misuse.
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "kv/block_manager.h"

namespace turbolm {
namespace {

std::vector<int32_t> iota_tokens(int n, int32_t first = 100) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    std::iota(t.begin(), t.end(), first);
    return t;
}

BlockManager make(int64_t n_blocks, int64_t block_size = 4, bool prefix_caching = true) {
    return BlockManager(BlockManagerConfig{n_blocks, block_size, prefix_caching});
}

// Begins seq with tokens, reserves and commits all of them (as an engine computing the prompt would).
void run_prompt(BlockManager& bm, SeqId seq, const std::vector<int32_t>& tokens) {
    const int64_t cached = bm.begin_sequence(seq, tokens);
    ASSERT_TRUE(bm.reserve(seq, int64_t(tokens.size())));
    bm.commit(seq, std::span<const int32_t>(tokens).subspan(size_t(cached)));
    bm.check_invariants();
}

TEST(BlockManager, AllocationAndFreeAccounting) {
    auto bm = make(9);
    EXPECT_EQ(bm.n_blocks(), 9);
    EXPECT_EQ(bm.block_size(), 4);
    EXPECT_EQ(bm.available_blocks(), 8);  // block 0 is reserved
    EXPECT_EQ(bm.blocks_for(0), 0);
    EXPECT_EQ(bm.blocks_for(1), 1);
    EXPECT_EQ(bm.blocks_for(4), 1);
    EXPECT_EQ(bm.blocks_for(5), 2);

    auto t = iota_tokens(10);
    EXPECT_EQ(bm.begin_sequence(1, t), 0);
    EXPECT_TRUE(bm.block_table(1).empty());
    EXPECT_TRUE(bm.reserve(1, 10));
    EXPECT_EQ(bm.block_table(1).size(), 3u);
    for (BlockId b : bm.block_table(1)) EXPECT_NE(b, 0);
    EXPECT_EQ(bm.available_blocks(), 5);
    EXPECT_TRUE(bm.reserve(1, 12));  // still 3 blocks
    EXPECT_EQ(bm.available_blocks(), 5);
    EXPECT_TRUE(bm.reserve(1, 5));  // never shrinks
    EXPECT_EQ(bm.block_table(1).size(), 3u);
    bm.commit(1, std::span<const int32_t>(t).first(6));
    EXPECT_EQ(bm.computed_tokens(1), 6);
    bm.check_invariants();

    EXPECT_EQ(bm.begin_sequence(2, iota_tokens(3, 7)), 0);
    EXPECT_TRUE(bm.reserve(2, 20));
    EXPECT_EQ(bm.available_blocks(), 0);
    bm.check_invariants();

    bm.free_sequence(1);
    EXPECT_FALSE(bm.has_sequence(1));
    // Block 0 of seq 1 was full and is cached: still available, but kept for reuse.
    EXPECT_EQ(bm.available_blocks(), 3);
    bm.free_sequence(2);
    EXPECT_EQ(bm.available_blocks(), 8);
    bm.check_invariants();
}

TEST(BlockManager, FailedReserveChangesNothing) {
    auto bm = make(6);
    run_prompt(bm, 1, iota_tokens(9));  // 3 blocks, 2 of them full and cached
    EXPECT_EQ(bm.begin_sequence(2, iota_tokens(1, 5000)), 0);
    const auto table1 = bm.block_table(1);
    const auto stats = bm.stats();
    EXPECT_EQ(bm.available_blocks(), 2);
    EXPECT_FALSE(bm.reserve(2, 9));  // needs 3
    EXPECT_TRUE(bm.block_table(2).empty());
    EXPECT_EQ(bm.block_table(1), table1);
    EXPECT_EQ(bm.available_blocks(), 2);
    EXPECT_EQ(bm.stats().evictions, stats.evictions);
    bm.check_invariants();
    EXPECT_TRUE(bm.reserve(2, 8));
    EXPECT_EQ(bm.available_blocks(), 0);
    EXPECT_FALSE(bm.reserve(2, 9));
    EXPECT_EQ(bm.block_table(2).size(), 2u);
    bm.check_invariants();
}

TEST(BlockManager, CommonPrefixSharesBlocks) {
    auto bm = make(32);
    auto a = iota_tokens(10);  // blocks [100..103] [104..107] + 2 in a partial block
    run_prompt(bm, 1, a);
    EXPECT_EQ(bm.stats().prefix_queries, 10);
    EXPECT_EQ(bm.stats().prefix_hits, 0);

    auto b = a;
    b.resize(8);
    b.insert(b.end(), {1, 2, 3, 4, 5});  // same first 8 tokens, then different
    EXPECT_EQ(bm.match_prefix(b).n_tokens, 8);
    EXPECT_EQ(bm.match_prefix(b).n_idle_blocks, 0);  // seq 1 still uses them
    EXPECT_EQ(bm.begin_sequence(2, b), 8);
    EXPECT_EQ(bm.computed_tokens(2), 8);
    ASSERT_EQ(bm.block_table(2).size(), 2u);
    EXPECT_EQ(bm.block_table(2)[0], bm.block_table(1)[0]);
    EXPECT_EQ(bm.block_table(2)[1], bm.block_table(1)[1]);
    EXPECT_EQ(bm.stats().prefix_queries, 10 + 13);
    EXPECT_EQ(bm.stats().prefix_hits, 8);
    ASSERT_TRUE(bm.reserve(2, 13));
    bm.commit(2, std::span<const int32_t>(b).subspan(8));
    EXPECT_NE(bm.block_table(2)[2], bm.block_table(1)[2]);
    bm.check_invariants();

    // A difference inside block 1 shares block 0 only.
    auto c = a;
    c[5] = -1;
    EXPECT_EQ(bm.begin_sequence(3, c), 4);
    EXPECT_EQ(bm.block_table(3)[0], bm.block_table(1)[0]);
    // A difference in block 0 shares nothing: keys chain, so later equal blocks do not match either.
    auto d = a;
    d[0] = -1;
    EXPECT_EQ(bm.begin_sequence(4, d), 0);
    bm.check_invariants();

    // The matched blocks survive their first owner and are revived from the LRU.
    bm.free_sequence(1);
    bm.free_sequence(2);
    bm.free_sequence(3);
    bm.free_sequence(4);
    bm.check_invariants();
    const int64_t avail = bm.available_blocks();
    EXPECT_EQ(avail, 31);
    auto match = bm.match_prefix(b);
    EXPECT_EQ(match.n_tokens, 12);  // b's third block became full and cached too
    EXPECT_EQ(match.n_idle_blocks, 3);
    EXPECT_EQ(bm.begin_sequence(5, b), 12);
    EXPECT_EQ(bm.available_blocks(), avail - 3);
    bm.check_invariants();
}

TEST(BlockManager, FullyCachedPromptLeavesOneTokenToCompute) {
    auto bm = make(16);
    auto a = iota_tokens(8);  // exactly two full blocks
    run_prompt(bm, 1, a);
    EXPECT_EQ(bm.begin_sequence(2, a), 4);  // the last block is recomputed to produce logits
    EXPECT_EQ(bm.match_prefix(a).n_tokens, 4);
    auto longer = iota_tokens(9);
    EXPECT_EQ(bm.begin_sequence(3, longer), 8);
    EXPECT_EQ(bm.begin_sequence(4, std::vector<int32_t>{100}), 0);
    bm.check_invariants();
}

TEST(BlockManager, PrefixCachingOff) {
    auto bm = make(16, 4, false);
    auto a = iota_tokens(8);
    run_prompt(bm, 1, a);
    EXPECT_EQ(bm.begin_sequence(2, a), 0);
    EXPECT_EQ(bm.match_prefix(a).n_tokens, 0);
    EXPECT_EQ(bm.stats().prefix_queries, 0);
    bm.free_sequence(1);
    EXPECT_EQ(bm.available_blocks(), 15);
    bm.check_invariants();
}

TEST(BlockManager, LruEvictsLeastRecentlyFreedFirst) {
    // 6 usable blocks; three one-block prompts cached, then freed in the order A, B, C.
    auto bm = make(7);
    const auto a = iota_tokens(5, 0), b = iota_tokens(5, 100), c = iota_tokens(5, 200);
    run_prompt(bm, 1, a);  // 2 blocks each: one full (cached), one partial (freed outright)
    run_prompt(bm, 2, b);
    run_prompt(bm, 3, c);
    bm.free_sequence(1);
    bm.free_sequence(2);
    bm.free_sequence(3);
    bm.check_invariants();
    EXPECT_EQ(bm.available_blocks(), 6);

    // A hit on B makes it the most recently used once freed again.
    EXPECT_EQ(bm.begin_sequence(4, b), 4);
    bm.free_sequence(4);

    // Three free blocks are taken before any cached one is evicted.
    EXPECT_EQ(bm.begin_sequence(5, iota_tokens(1, 900)), 0);
    ASSERT_TRUE(bm.reserve(5, 12));
    EXPECT_EQ(bm.stats().evictions, 0);
    // Then A, C, B in that order.
    ASSERT_TRUE(bm.reserve(5, 16));
    EXPECT_EQ(bm.stats().evictions, 1);
    EXPECT_EQ(bm.match_prefix(a).n_tokens, 0);
    EXPECT_EQ(bm.match_prefix(c).n_tokens, 4);
    EXPECT_EQ(bm.match_prefix(b).n_tokens, 4);
    ASSERT_TRUE(bm.reserve(5, 20));
    EXPECT_EQ(bm.match_prefix(c).n_tokens, 0);
    EXPECT_EQ(bm.match_prefix(b).n_tokens, 4);
    ASSERT_TRUE(bm.reserve(5, 24));
    EXPECT_EQ(bm.match_prefix(b).n_tokens, 0);
    EXPECT_EQ(bm.stats().evictions, 3);
    EXPECT_EQ(bm.available_blocks(), 0);
    bm.check_invariants();
}

TEST(BlockManager, TailBlocksOfASequenceAreEvictedBeforeItsHead) {
    auto bm = make(4);
    const auto a = iota_tokens(13);  // 3 full blocks cached, 1 partial
    run_prompt(bm, 1, iota_tokens(12));
    bm.free_sequence(1);
    EXPECT_EQ(bm.match_prefix(a).n_tokens, 12);
    EXPECT_EQ(bm.begin_sequence(2, iota_tokens(1, 900)), 0);
    ASSERT_TRUE(bm.reserve(2, 4));  // evicts the third block
    EXPECT_EQ(bm.match_prefix(a).n_tokens, 8);
    ASSERT_TRUE(bm.reserve(2, 8));
    EXPECT_EQ(bm.match_prefix(a).n_tokens, 4);
    bm.check_invariants();
}

TEST(BlockManager, ForkSharesAndCopiesOnWrite) {
    auto bm = make(16);
    const auto t = iota_tokens(6);  // one full block and a partial one
    run_prompt(bm, 1, t);
    const auto parent = bm.block_table(1);
    bm.fork(1, 2);
    EXPECT_EQ(bm.block_table(2), parent);
    EXPECT_EQ(bm.computed_tokens(2), 6);
    bm.check_invariants();
    const int64_t avail = bm.available_blocks();

    // Writing into the shared partial block needs a private copy; the full block stays shared.
    EXPECT_THROW(bm.commit(2, std::vector<int32_t>{7}), Error);
    auto copies = bm.prepare_write(2, 6, 1);
    ASSERT_EQ(copies.size(), 1u);
    EXPECT_EQ(copies[0].first, parent[1]);
    EXPECT_NE(copies[0].second, parent[1]);
    EXPECT_EQ(bm.block_table(2)[0], parent[0]);
    EXPECT_EQ(bm.block_table(2)[1], copies[0].second);
    EXPECT_EQ(bm.block_table(1), parent);
    EXPECT_EQ(bm.available_blocks(), avail - 1);
    bm.commit(2, std::vector<int32_t>{7});
    bm.check_invariants();
    // The parent now owns its partial block alone: no copy.
    EXPECT_TRUE(bm.prepare_write(1, 6, 2).empty());
    bm.commit(1, std::vector<int32_t>{8, 9});
    bm.check_invariants();

    // Rewriting the shared full block copies it as well.
    copies = bm.prepare_write(2, 0, 8);
    ASSERT_EQ(copies.size(), 1u);
    EXPECT_EQ(copies[0].first, parent[0]);
    bm.check_invariants();
    bm.free_sequence(1);
    bm.free_sequence(2);
    EXPECT_EQ(bm.available_blocks(), 15);
    bm.check_invariants();
}

TEST(BlockManager, PrefixSharedBlockIsCopiedOnWrite) {
    auto bm = make(16);
    const auto t = iota_tokens(9);
    run_prompt(bm, 1, t);
    EXPECT_EQ(bm.begin_sequence(2, t), 8);
    ASSERT_TRUE(bm.reserve(2, 9));
    const auto shared = bm.block_table(1);
    auto copies = bm.prepare_write(2, 2, 4);  // positions 2..5 touch blocks 0 and 1, both shared
    ASSERT_EQ(copies.size(), 2u);
    EXPECT_EQ(copies[0].first, shared[0]);
    EXPECT_EQ(copies[1].first, shared[1]);
    EXPECT_EQ(bm.block_table(1), shared);
    bm.check_invariants();
    // The cache still points at the originals.
    EXPECT_EQ(bm.match_prefix(t).n_tokens, 8);
    EXPECT_EQ(bm.begin_sequence(3, t), 8);
    EXPECT_EQ(bm.block_table(3)[0], shared[0]);
    bm.check_invariants();
}

TEST(BlockManager, CopyOnWriteFailsCleanlyWhenFull) {
    auto bm = make(3);
    run_prompt(bm, 1, iota_tokens(6));
    bm.fork(1, 2);
    EXPECT_EQ(bm.available_blocks(), 0);
    const auto table = bm.block_table(2);
    try {
        bm.prepare_write(2, 5, 1);
        FAIL() << "expected kResourceExhausted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), StatusCode::kResourceExhausted);
    }
    EXPECT_EQ(bm.block_table(2), table);
    bm.check_invariants();
}

TEST(BlockManager, ReleaseBeforeSlidingWindow) {
    auto bm = make(16);
    const auto t = iota_tokens(14);
    run_prompt(bm, 1, t);  // blocks for positions 0-3, 4-7, 8-11, 12-13
    const auto table = bm.block_table(1);
    const int64_t avail = bm.available_blocks();
    bm.release_before(1, 7);  // position 7 is still needed: only block 0 goes
    EXPECT_EQ(bm.block_table(1)[0], 0);
    EXPECT_EQ(bm.block_table(1)[1], table[1]);
    EXPECT_EQ(bm.available_blocks(), avail + 1);
    bm.check_invariants();
    bm.release_before(1, 12);
    EXPECT_EQ(bm.block_table(1)[1], 0);
    EXPECT_EQ(bm.block_table(1)[2], 0);
    EXPECT_EQ(bm.block_table(1)[3], table[3]);
    EXPECT_EQ(bm.block_table(1).size(), table.size());
    bm.release_before(1, 12);  // again: nothing changes
    EXPECT_EQ(bm.available_blocks(), avail + 3);
    bm.check_invariants();

    // The sequence goes on growing past the released blocks.
    ASSERT_TRUE(bm.reserve(1, 20));
    bm.commit(1, iota_tokens(6, 500));
    EXPECT_EQ(bm.computed_tokens(1), 20);
    EXPECT_THROW(bm.prepare_write(1, 0, 1), Error);  // released positions cannot be written
    bm.check_invariants();
    bm.free_sequence(1);
    EXPECT_EQ(bm.available_blocks(), 15);
    bm.check_invariants();
}

TEST(BlockManager, MisuseFailsWithClearErrors) {
    auto bm = make(8);
    const auto t = iota_tokens(5);
    EXPECT_THROW(bm.reserve(1, 4), Error);
    EXPECT_THROW(bm.block_table(1), Error);
    EXPECT_THROW(bm.free_sequence(1), Error);
    EXPECT_THROW(bm.begin_sequence(1, std::vector<int32_t>{}), Error);
    bm.begin_sequence(1, t);
    try {
        bm.begin_sequence(1, t);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), StatusCode::kInvalidArgument);
        EXPECT_NE(std::string(e.what()).find("already begun"), std::string::npos) << e.what();
    }
    ASSERT_TRUE(bm.reserve(1, 4));
    EXPECT_THROW(bm.commit(1, t), Error);  // 5 tokens into 4 reserved positions
    EXPECT_EQ(bm.computed_tokens(1), 0);
    EXPECT_THROW(bm.fork(1, 1), Error);
    EXPECT_THROW(bm.fork(2, 3), Error);
    EXPECT_THROW(bm.prepare_write(1, 2, 4), Error);
    EXPECT_THROW(bm.blocks_for(-1), Error);
    EXPECT_THROW(make(0), Error);
    EXPECT_THROW(make(8, 0), Error);
    bm.check_invariants();
}

}  // namespace
}  // namespace turbolm
