// Thousands of random BlockManager operations, with check_invariants after each, against a fake
// KV pool: every block holds the token ids "computed" into it, and every live sequence must read
// back its own tokens through its block table. A wrong prefix hit, a missed copy-on-write or a
// block handed out twice shows up as a sequence reading someone else's tokens.
#include <algorithm>
#include <iostream>
#include <map>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "kv/block_manager.h"
#include "unit/kv/test_seed.h"

namespace turbolm {
namespace {

class RandomDriver {
public:
    RandomDriver(uint64_t seed, const BlockManagerConfig& config)
        : rng_(seed), bm_(config), pool_(size_t(config.n_blocks), std::vector<int32_t>(size_t(config.block_size), -1)) {
        // A few fixed prefixes so that new sequences often share leading blocks.
        for (int p = 0; p < 4; ++p) {
            std::vector<int32_t> prefix(size_t(uniform(1, 24)));
            for (auto& t : prefix) t = int32_t(uniform(0, 5));
            prefixes_.push_back(prefix);
        }
    }

    void step() {
        const int op = int(uniform(0, 99));
        // Keeps a working set of a dozen sequences or so, over a pool they overfill.
        if (seqs_.empty() || (op < 15 && seqs_.size() < 12)) begin();
        else if (op < 45) reserve(pick());
        else if (op < 80) commit(pick());
        else if (op < 86) fork(pick());
        else if (op < 90) release(pick());
        else free(pick());
        bm_.check_invariants();
        verify_contents();
    }

    const BlockManager& bm() const { return bm_; }
    int64_t failed_reserves() const { return failed_reserves_; }
    int64_t copies() const { return copies_; }

private:
    struct Shadow {
        std::vector<int32_t> tokens;  // committed
        std::vector<int32_t> future;  // what the sequence will commit next
        int64_t released = 0;         // positions before this one may have been released
    };

    int64_t uniform(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }
    SeqId pick() {
        auto it = seqs_.begin();
        std::advance(it, uniform(0, int64_t(seqs_.size()) - 1));
        return it->first;
    }

    void begin() {
        std::vector<int32_t> tokens = prefixes_[size_t(uniform(0, 3))];
        tokens.resize(size_t(uniform(1, int64_t(tokens.size()))));
        const int64_t extra = uniform(0, 30);
        for (int64_t i = 0; i < extra; ++i) tokens.push_back(int32_t(uniform(0, 5)));
        const SeqId seq = next_seq_++;
        const int64_t cached = bm_.begin_sequence(seq, tokens);
        const int64_t bs = bm_.block_size();
        ASSERT_EQ(cached % bs, 0);
        ASSERT_LT(cached, int64_t(tokens.size()));
        ASSERT_EQ(int64_t(bm_.block_table(seq).size()), cached / bs);
        Shadow s;
        s.tokens.assign(tokens.begin(), tokens.begin() + cached);
        s.future.assign(tokens.begin() + cached, tokens.end());
        seqs_.emplace(seq, std::move(s));
    }

    void reserve(SeqId seq) {
        const int64_t n = bm_.computed_tokens(seq) + uniform(0, 40);
        const auto before = bm_.block_table(seq);
        const int64_t avail = bm_.available_blocks();
        if (bm_.reserve(seq, n)) {
            EXPECT_GE(int64_t(bm_.block_table(seq).size()), bm_.blocks_for(n));
        } else {
            ++failed_reserves_;
            EXPECT_EQ(bm_.block_table(seq), before);
            EXPECT_EQ(bm_.available_blocks(), avail);
        }
    }

    // Writes as an engine does: copy-on-write first, then the new tokens into the pool, then commit.
    void commit(SeqId seq) {
        Shadow& s = seqs_.at(seq);
        const int64_t bs = bm_.block_size();
        const int64_t start = int64_t(s.tokens.size());
        const int64_t room = int64_t(bm_.block_table(seq).size()) * bs - start;
        if (room <= 0) return;
        if (s.future.empty())
            for (int i = 0; i < 8; ++i) s.future.push_back(int32_t(uniform(0, 5)));
        const int64_t n = std::min<int64_t>({room, int64_t(s.future.size()), uniform(1, 12)});
        std::vector<std::pair<BlockId, BlockId>> pairs;
        try {
            pairs = bm_.prepare_write(seq, start, n);
        } catch (const Error& e) {
            ASSERT_EQ(e.code(), StatusCode::kResourceExhausted) << e.what();
            return;
        }
        copies_ += int64_t(pairs.size());
        for (auto [src, dst] : pairs) pool_[size_t(dst)] = pool_[size_t(src)];
        const auto& table = bm_.block_table(seq);
        std::vector<int32_t> chunk(s.future.begin(), s.future.begin() + n);
        for (int64_t i = 0; i < n; ++i) {
            const int64_t pos = start + i;
            pool_[size_t(table[size_t(pos / bs)])][size_t(pos % bs)] = chunk[size_t(i)];
        }
        bm_.commit(seq, chunk);
        s.tokens.insert(s.tokens.end(), chunk.begin(), chunk.end());
        s.future.erase(s.future.begin(), s.future.begin() + n);
        ASSERT_EQ(bm_.computed_tokens(seq), int64_t(s.tokens.size()));
    }

    void fork(SeqId parent) {
        const SeqId child = next_seq_++;
        bm_.fork(parent, child);
        Shadow s = seqs_.at(parent);
        s.future.clear();
        seqs_.emplace(child, std::move(s));
    }

    void release(SeqId seq) {
        Shadow& s = seqs_.at(seq);
        const int64_t pos = uniform(0, int64_t(s.tokens.size()));
        bm_.release_before(seq, pos);
        s.released = std::max(s.released, pos);
    }

    void free(SeqId seq) {
        bm_.free_sequence(seq);
        seqs_.erase(seq);
    }

    void verify_contents() {
        const int64_t bs = bm_.block_size();
        for (const auto& [seq, s] : seqs_) {
            const auto& table = bm_.block_table(seq);
            for (int64_t pos = 0; pos < int64_t(s.tokens.size()); ++pos) {
                const BlockId b = table[size_t(pos / bs)];
                if (b == 0) {
                    ASSERT_LT(pos, s.released) << "sequence " << seq << " lost position " << pos;
                    continue;
                }
                ASSERT_EQ(pool_[size_t(b)][size_t(pos % bs)], s.tokens[size_t(pos)])
                    << "sequence " << seq << " position " << pos << " block " << b;
            }
        }
    }

    std::mt19937_64 rng_;
    BlockManager bm_;
    std::vector<std::vector<int32_t>> pool_;  // [block][slot] -> token id held there
    std::vector<std::vector<int32_t>> prefixes_;
    std::map<SeqId, Shadow> seqs_;
    SeqId next_seq_ = 1;
    int64_t failed_reserves_ = 0;
    int64_t copies_ = 0;
};

TEST(BlockManagerRandom, InvariantsHoldUnderRandomOperations) {
    for (int64_t block_size : {1, 4, 16}) {
        for (bool prefix_caching : {true, false}) {
            const uint64_t seed = test::fresh_seed();
            SCOPED_TRACE(test::seed_note(seed) + ", block_size " + std::to_string(block_size) +
                         (prefix_caching ? ", prefix caching" : ", no prefix caching"));
            RandomDriver driver(seed, BlockManagerConfig{40, block_size, prefix_caching});
            for (int i = 0; i < 3000 && !::testing::Test::HasFatalFailure(); ++i) driver.step();
            const auto& st = driver.bm().stats();
            EXPECT_GT(driver.failed_reserves(), 0);
            EXPECT_GT(driver.copies(), 0);
            if (prefix_caching && block_size < 16) {
                EXPECT_GT(st.prefix_hits, 0);
                EXPECT_GT(st.evictions, 0);
            }
            std::cout << "block_size " << block_size << (prefix_caching ? " cached" : " uncached") << ": prefix hits "
                      << st.prefix_hits << "/" << st.prefix_queries << " tokens, evictions " << st.evictions
                      << ", failed reserves " << driver.failed_reserves() << ", copies " << driver.copies() << "\n";
        }
    }
}

}  // namespace
}  // namespace turbolm
