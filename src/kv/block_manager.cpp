#include "kv/block_manager.h"

#include <algorithm>
#include <list>

#include "core/error.h"

namespace turbolm {

namespace {

constexpr BlockId kNullBlock = 0;
// The key "before" the first block of every sequence. Adapters or image inputs that change the
// cached values for equal token ids would seed this instead.
constexpr uint64_t kRootKey = 0x6a09e667f3bcc908ull;

uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Chains the key of the previous block with this block's ids; every id passes through the full
// mixer so that permutations and single-id changes give unrelated keys.
uint64_t chain_key(uint64_t parent, std::span<const int32_t> ids) {
    uint64_t h = mix64(parent ^ 0x243f6a8885a308d3ull);
    for (int32_t id : ids) h = mix64(h + 0x9e3779b97f4a7c15ull + uint64_t(uint32_t(id)));
    return h;
}

}  // namespace

struct BlockManager::Impl {
    struct Block {
        int32_t ref = 0;
        bool cached = false;  // holds a prefix key (only full blocks do)
        uint64_t key = 0;
        // The parent key and ids behind `key`: a lookup compares them too, so a hash collision can
        // never hand out a block of other contents.
        uint64_t parent = 0;
        std::vector<int32_t> ids;
        bool in_lru = false;
        std::list<BlockId>::iterator lru_pos;
    };
    struct Sequence {
        std::vector<BlockId> table;
        std::vector<int32_t> tokens;  // committed ids, one per computed position
        std::vector<uint64_t> keys;   // chain key of every full block, cached or not
    };

    BlockManagerConfig config;
    BlockManagerStats stats;
    std::vector<Block> blocks;
    std::vector<BlockId> free;                    // refcount 0, no key; used as a stack
    std::list<BlockId> lru;                       // refcount 0 with a key; front is evicted first
    std::unordered_map<uint64_t, BlockId> cache;  // key -> block
    std::unordered_map<SeqId, Sequence> seqs;

    Sequence& seq(SeqId id) {
        auto it = seqs.find(id);
        TURBOLM_REQUIRE(it != seqs.end(), "BlockManager: unknown sequence ", id);
        return it->second;
    }
    const Sequence& seq(SeqId id) const { return const_cast<Impl*>(this)->seq(id); }

    int64_t block_size() const { return config.block_size; }
    int64_t available() const { return int64_t(free.size() + lru.size()); }

    // Takes a block for new contents: a free one if any, else the least recently used cached one,
    // whose key is dropped. The caller has checked available() first.
    BlockId allocate() {
        BlockId b;
        if (!free.empty()) {
            b = free.back();
            free.pop_back();
        } else {
            TURBOLM_CHECK(!lru.empty(), "BlockManager: allocation with no available block");
            b = lru.front();
            lru.pop_front();
            Block& blk = blocks[size_t(b)];
            blk.in_lru = false;
            uncache(b);
            ++stats.evictions;
        }
        blocks[size_t(b)].ref = 1;
        return b;
    }

    void uncache(BlockId b) {
        Block& blk = blocks[size_t(b)];
        if (!blk.cached) return;
        cache.erase(blk.key);
        blk.cached = false;
        blk.key = blk.parent = 0;
        blk.ids.clear();
    }

    void incref(BlockId b) {
        Block& blk = blocks[size_t(b)];
        if (blk.ref == 0) {
            // Only idle cached blocks are ever shared from refcount 0: revive it.
            TURBOLM_CHECK(blk.in_lru, "BlockManager: sharing block ", b, " that is neither used nor cached");
            lru.erase(blk.lru_pos);
            blk.in_lru = false;
        }
        ++blk.ref;
    }

    void decref(BlockId b) {
        Block& blk = blocks[size_t(b)];
        TURBOLM_CHECK(blk.ref > 0, "BlockManager: block ", b, " released more often than taken");
        if (--blk.ref > 0) return;
        if (blk.cached) {
            blk.lru_pos = lru.insert(lru.end(), b);
            blk.in_lru = true;
        } else {
            free.push_back(b);
        }
    }

    // The cached block holding `ids` after the prefix whose key is `parent`, or kNullBlock.
    BlockId lookup(uint64_t parent, uint64_t key, std::span<const int32_t> ids) const {
        auto it = cache.find(key);
        if (it == cache.end()) return kNullBlock;
        const Block& blk = blocks[size_t(it->second)];
        if (blk.parent != parent || !std::equal(ids.begin(), ids.end(), blk.ids.begin(), blk.ids.end()))
            return kNullBlock;
        return it->second;
    }

    // Walks the cached full blocks of tokens' prefix, at most max_blocks of them, calling
    // fn(block, key) for each hit.
    template <typename Fn>
    void walk_prefix(std::span<const int32_t> tokens, int64_t max_blocks, Fn&& fn) const {
        uint64_t parent = kRootKey;
        const int64_t bs = block_size();
        for (int64_t i = 0; i < max_blocks; ++i) {
            auto ids = tokens.subspan(size_t(i * bs), size_t(bs));
            uint64_t key = chain_key(parent, ids);
            BlockId b = lookup(parent, key, ids);
            if (b == kNullBlock) return;
            fn(b, key);
            parent = key;
        }
    }

    // Full blocks a sequence of these tokens may share: all but the last token must stay computable.
    int64_t shareable_blocks(std::span<const int32_t> tokens) const {
        if (!config.prefix_caching || tokens.empty()) return 0;
        return int64_t(tokens.size() - 1) / block_size();
    }

    void release_table(Sequence& s) {
        // Tail blocks first: they enter the LRU ahead of the head blocks and are evicted sooner, since
        // a long shared head is worth more to later requests than one sequence's private tail.
        for (auto it = s.table.rbegin(); it != s.table.rend(); ++it)
            if (*it != kNullBlock) decref(*it);
        s.table.clear();
    }
};

BlockManager::BlockManager(const BlockManagerConfig& config) : impl_(std::make_shared<Impl>()) {
    TURBOLM_REQUIRE(config.n_blocks >= 1, "BlockManager: n_blocks must be >= 1 (block 0 is reserved), got ",
                    config.n_blocks);
    TURBOLM_REQUIRE(config.block_size >= 1, "BlockManager: block_size must be >= 1, got ", config.block_size);
    impl_->config = config;
    impl_->blocks.resize(size_t(config.n_blocks));
    // Stack order: block 1 is handed out first.
    for (int64_t b = config.n_blocks - 1; b >= 1; --b) impl_->free.push_back(BlockId(b));
}

int64_t BlockManager::block_size() const { return impl_->config.block_size; }
int64_t BlockManager::n_blocks() const { return impl_->config.n_blocks; }
int64_t BlockManager::available_blocks() const { return impl_->available(); }

int64_t BlockManager::blocks_for(int64_t n_tokens) const {
    TURBOLM_REQUIRE(n_tokens >= 0, "BlockManager: negative token count ", n_tokens);
    return (n_tokens + block_size() - 1) / block_size();
}

BlockManager::PrefixMatch BlockManager::match_prefix(std::span<const int32_t> tokens) const {
    PrefixMatch match;
    impl_->walk_prefix(tokens, impl_->shareable_blocks(tokens), [&](BlockId b, uint64_t) {
        match.n_tokens += block_size();
        if (impl_->blocks[size_t(b)].ref == 0) ++match.n_idle_blocks;
    });
    return match;
}

int64_t BlockManager::begin_sequence(SeqId seq, std::span<const int32_t> tokens) {
    Impl& m = *impl_;
    TURBOLM_REQUIRE(!m.seqs.contains(seq), "BlockManager: sequence ", seq, " already begun");
    TURBOLM_REQUIRE(!tokens.empty(), "BlockManager: sequence ", seq, " begins with no tokens");
    Impl::Sequence s;
    m.walk_prefix(tokens, m.shareable_blocks(tokens), [&](BlockId b, uint64_t key) {
        m.incref(b);
        s.table.push_back(b);
        s.keys.push_back(key);
    });
    const int64_t hit = int64_t(s.table.size()) * block_size();
    s.tokens.assign(tokens.begin(), tokens.begin() + hit);
    if (m.config.prefix_caching) {
        m.stats.prefix_queries += int64_t(tokens.size());
        m.stats.prefix_hits += hit;
    }
    m.seqs.emplace(seq, std::move(s));
    return hit;
}

bool BlockManager::reserve(SeqId seq, int64_t n_tokens) {
    Impl& m = *impl_;
    Impl::Sequence& s = m.seq(seq);
    const int64_t need = blocks_for(n_tokens) - int64_t(s.table.size());
    if (need <= 0) return true;
    if (need > m.available()) return false;
    for (int64_t i = 0; i < need; ++i) s.table.push_back(m.allocate());
    return true;
}

void BlockManager::commit(SeqId seq, std::span<const int32_t> tokens) {
    Impl& m = *impl_;
    Impl::Sequence& s = m.seq(seq);
    const int64_t bs = block_size();
    const int64_t start = int64_t(s.tokens.size());
    const int64_t end = start + int64_t(tokens.size());
    TURBOLM_REQUIRE(end <= int64_t(s.table.size()) * bs, "BlockManager: commit of positions [", start, ", ", end,
                    ") of sequence ", seq, " beyond its ", s.table.size(), " reserved blocks");
    for (int64_t i = start / bs; i < blocks_for(end); ++i) {
        BlockId b = s.table[size_t(i)];
        TURBOLM_REQUIRE(b != kNullBlock, "BlockManager: commit into released block ", i, " of sequence ", seq);
        TURBOLM_REQUIRE(m.blocks[size_t(b)].ref == 1, "BlockManager: commit into block ", b,
                        " shared by other sequences; call prepare_write first");
    }
    s.tokens.insert(s.tokens.end(), tokens.begin(), tokens.end());
    for (int64_t i = int64_t(s.keys.size()); (i + 1) * bs <= end; ++i) {
        auto ids = std::span<const int32_t>(s.tokens).subspan(size_t(i * bs), size_t(bs));
        const uint64_t parent = i == 0 ? kRootKey : s.keys[size_t(i - 1)];
        const uint64_t key = chain_key(parent, ids);
        s.keys.push_back(key);
        // A block computed while an equal one was already cached stays private: the cache keeps
        // one block per key, and this one is freed with its sequence.
        if (!m.config.prefix_caching || m.cache.contains(key)) continue;
        BlockId b = s.table[size_t(i)];
        Impl::Block& blk = m.blocks[size_t(b)];
        blk.cached = true;
        blk.key = key;
        blk.parent = parent;
        blk.ids.assign(ids.begin(), ids.end());
        m.cache.emplace(key, b);
    }
}

void BlockManager::fork(SeqId parent, SeqId child) {
    Impl& m = *impl_;
    TURBOLM_REQUIRE(!m.seqs.contains(child), "BlockManager: fork into existing sequence ", child);
    Impl::Sequence copy = m.seq(parent);
    for (BlockId b : copy.table)
        if (b != kNullBlock) m.incref(b);
    m.seqs.emplace(child, std::move(copy));
}

std::vector<std::pair<BlockId, BlockId>> BlockManager::prepare_write(SeqId seq, int64_t start, int64_t n) {
    Impl& m = *impl_;
    Impl::Sequence& s = m.seq(seq);
    TURBOLM_REQUIRE(start >= 0 && n >= 0, "BlockManager: bad write range [", start, ", +", n, ")");
    std::vector<std::pair<BlockId, BlockId>> copies;
    if (n == 0) return copies;
    const int64_t first = start / block_size();
    const int64_t last = blocks_for(start + n);
    TURBOLM_REQUIRE(last <= int64_t(s.table.size()), "BlockManager: write to positions [", start, ", ", start + n,
                    ") of sequence ", seq, " beyond its ", s.table.size(), " reserved blocks");
    int64_t shared = 0;
    for (int64_t i = first; i < last; ++i) {
        BlockId b = s.table[size_t(i)];
        TURBOLM_REQUIRE(b != kNullBlock, "BlockManager: write into released block ", i, " of sequence ", seq);
        if (m.blocks[size_t(b)].ref > 1) ++shared;
    }
    if (shared > m.available())
        fail(StatusCode::kResourceExhausted, "BlockManager: copy-on-write of sequence ", seq, " needs ", shared,
             " blocks, ", m.available(), " available");
    for (int64_t i = first; i < last; ++i) {
        BlockId& b = s.table[size_t(i)];
        if (m.blocks[size_t(b)].ref > 1) {
            BlockId copy = m.allocate();
            copies.emplace_back(b, copy);
            m.decref(b);
            b = copy;
        } else {
            // Sole owner rewriting a cached block: its contents will no longer match its key.
            m.uncache(b);
        }
    }
    return copies;
}

void BlockManager::release_before(SeqId seq, int64_t first_needed_pos) {
    Impl& m = *impl_;
    Impl::Sequence& s = m.seq(seq);
    TURBOLM_REQUIRE(first_needed_pos >= 0, "BlockManager: negative position ", first_needed_pos);
    const int64_t n = std::min<int64_t>(first_needed_pos / block_size(), int64_t(s.table.size()));
    for (int64_t i = 0; i < n; ++i) {
        BlockId& b = s.table[size_t(i)];
        if (b == kNullBlock) continue;
        m.decref(b);
        b = kNullBlock;
    }
}

void BlockManager::free_sequence(SeqId seq) {
    Impl& m = *impl_;
    m.release_table(m.seq(seq));
    m.seqs.erase(seq);
}

bool BlockManager::has_sequence(SeqId seq) const { return impl_->seqs.contains(seq); }
const std::vector<BlockId>& BlockManager::block_table(SeqId seq) const { return impl_->seq(seq).table; }
int64_t BlockManager::computed_tokens(SeqId seq) const { return int64_t(impl_->seq(seq).tokens.size()); }
const BlockManagerStats& BlockManager::stats() const { return impl_->stats; }

void BlockManager::check_invariants() const {
    const Impl& m = *impl_;
    const int64_t bs = block_size();
    const size_t nb = m.blocks.size();
    const Impl::Block& null_blk = m.blocks[0];
    TURBOLM_CHECK(null_blk.ref == 0 && !null_blk.cached && !null_blk.in_lru, "null block 0 is in use");

    // Reference counts equal the number of table entries naming each block.
    std::vector<int32_t> refs(nb, 0);
    for (const auto& [id, s] : m.seqs) {
        TURBOLM_CHECK(int64_t(s.table.size()) >= blocks_for(int64_t(s.tokens.size())), "sequence ", id,
                      " has fewer blocks than computed positions");
        TURBOLM_CHECK(int64_t(s.keys.size()) == int64_t(s.tokens.size()) / bs, "sequence ", id,
                      " has a key count that does not match its full blocks");
        std::vector<BlockId> seen;
        for (size_t i = 0; i < s.table.size(); ++i) {
            BlockId b = s.table[i];
            TURBOLM_CHECK(b >= 0 && size_t(b) < nb, "sequence ", id, " names block ", b, " outside the pool");
            if (b == kNullBlock) continue;
            ++refs[size_t(b)];
            seen.push_back(b);
            const Impl::Block& blk = m.blocks[size_t(b)];
            if (!blk.cached) continue;
            // A cached block in a table is one of the sequence's full, computed blocks, with its key.
            TURBOLM_CHECK(i < s.keys.size() && s.keys[i] == blk.key, "sequence ", id, " holds cached block ", b,
                          " at index ", i, " under another key");
            TURBOLM_CHECK(std::equal(blk.ids.begin(), blk.ids.end(), s.tokens.begin() + int64_t(i) * bs),
                          "cached block ", b, " ids differ from sequence ", id, "'s tokens");
        }
        std::sort(seen.begin(), seen.end());
        TURBOLM_CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end(), "sequence ", id,
                      " names one block twice");
    }
    for (size_t b = 1; b < nb; ++b)
        TURBOLM_CHECK(refs[b] == m.blocks[b].ref, "block ", b, " has refcount ", m.blocks[b].ref, " but ", refs[b],
                      " table entries");

    // Every block other than 0 is in exactly one place: used, free, or idle in the LRU.
    std::vector<int> place(nb, 0);
    for (BlockId b : m.free) {
        TURBOLM_CHECK(b > 0 && size_t(b) < nb, "free list names block ", b);
        const Impl::Block& blk = m.blocks[size_t(b)];
        TURBOLM_CHECK(blk.ref == 0 && !blk.cached && !blk.in_lru, "free block ", b, " is used or cached");
        ++place[size_t(b)];
    }
    for (BlockId b : m.lru) {
        TURBOLM_CHECK(b > 0 && size_t(b) < nb, "LRU names block ", b);
        const Impl::Block& blk = m.blocks[size_t(b)];
        TURBOLM_CHECK(blk.ref == 0 && blk.cached && blk.in_lru && *blk.lru_pos == b, "LRU block ", b,
                      " is used, uncached or misplaced");
        ++place[size_t(b)];
    }
    int64_t n_cached = 0;
    for (size_t b = 1; b < nb; ++b) {
        const Impl::Block& blk = m.blocks[b];
        TURBOLM_CHECK(blk.ref >= 0, "block ", b, " has a negative refcount");
        if (blk.ref > 0) ++place[b];
        TURBOLM_CHECK(place[b] == 1, "block ", b, " is in ", place[b], " of {used, free, LRU}");
        TURBOLM_CHECK(blk.in_lru == (blk.ref == 0 && blk.cached), "block ", b, " LRU membership is wrong");
        if (!blk.cached) continue;
        ++n_cached;
        TURBOLM_CHECK(int64_t(blk.ids.size()) == bs, "cached block ", b, " is not full");
        TURBOLM_CHECK(chain_key(blk.parent, blk.ids) == blk.key, "cached block ", b, " key does not match its ids");
        auto it = m.cache.find(blk.key);
        TURBOLM_CHECK(it != m.cache.end() && it->second == BlockId(b), "cached block ", b,
                      " is not the cache's block for its key");
    }
    TURBOLM_CHECK(n_cached == int64_t(m.cache.size()), "cache holds ", m.cache.size(), " keys but ", n_cached,
                  " blocks are cached");
    TURBOLM_CHECK(m.config.prefix_caching || n_cached == 0, "blocks cached with prefix caching off");
}

}  // namespace turbolm
