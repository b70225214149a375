// Bookkeeping of a paged KV cache: which fixed-size blocks of the cache pools each sequence owns
// (its block table), which are free, and which hold a cached prefix that a later request with the
// same leading tokens can reuse. Pure host state: the device pools themselves live in KvPool.
//
// Prefix caching: a block is cacheable once full; its key chains the key of the block before it
// with its own token ids, so equal keys mean equal prefixes. Blocks whose last user finished stay
// cached (in LRU order) until their memory is needed. Block 0 is reserved as the null block that
// stands in for blocks a sliding window no longer needs.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

namespace turbolm {

using BlockId = int32_t;
using SeqId = int64_t;

struct BlockManagerConfig {
    int64_t n_blocks = 0;    // including the reserved null block 0
    int64_t block_size = 16; // positions per block
    bool prefix_caching = true;
};

struct BlockManagerStats {
    int64_t prefix_queries = 0;  // prompt tokens looked up in the prefix cache
    int64_t prefix_hits = 0;     // of those, tokens whose KV was found
    int64_t evictions = 0;       // cached blocks reused for other contents
};

class BlockManager {
public:
    explicit BlockManager(const BlockManagerConfig& config);

    int64_t block_size() const;
    int64_t n_blocks() const;
    // Blocks a new allocation can take: free ones plus cached ones no sequence uses.
    int64_t available_blocks() const;
    // Blocks needed to hold n_tokens positions.
    int64_t blocks_for(int64_t n_tokens) const;

    // Starts a sequence with its known tokens (prompt, or prompt + output when a preempted request
    // is recomputed): shares every cached full block of the longest cached prefix and returns how
    // many leading tokens need no computation (a multiple of block_size, and less than
    // tokens.size() so that at least one token is computed to produce logits). Allocates nothing else.
    int64_t begin_sequence(SeqId seq, std::span<const int32_t> tokens);
    // Makes room for positions [0, n_tokens) of seq. False, changing nothing, when there are not
    // enough available blocks.
    bool reserve(SeqId seq, int64_t n_tokens);
    // Records that positions [computed, computed + tokens.size()) of seq now hold these tokens' keys
    // and values; blocks that become full get their prefix key and become shareable.
    void commit(SeqId seq, std::span<const int32_t> tokens);
    // A copy of parent's table for child (n > 1, beam search): blocks are shared, reference-counted.
    void fork(SeqId parent, SeqId child);
    // Before seq writes positions [start, start + n): shared blocks in that range are replaced by
    // private copies. Returns the (source, destination) pairs whose contents the caller must copy.
    std::vector<std::pair<BlockId, BlockId>> prepare_write(SeqId seq, int64_t start, int64_t n);
    // Sliding window: blocks wholly before first_needed_pos are released and become the null block.
    void release_before(SeqId seq, int64_t first_needed_pos);
    // Drops the sequence; its cacheable blocks stay cached, the rest become free.
    void free_sequence(SeqId seq);

    bool has_sequence(SeqId seq) const;
    const std::vector<BlockId>& block_table(SeqId seq) const;
    int64_t computed_tokens(SeqId seq) const;  // positions committed so far
    const BlockManagerStats& stats() const;

    // What begin_sequence would share for these tokens, without sharing it or counting it in the
    // stats: the leading cached tokens, and how many of their blocks are idle (cached, unused), which
    // leave available_blocks() once shared. A scheduler decides admission with it and never has to
    // undo a begin_sequence that then fails to reserve.
    struct PrefixMatch {
        int64_t n_tokens = 0;
        int64_t n_idle_blocks = 0;
    };
    PrefixMatch match_prefix(std::span<const int32_t> tokens) const;

    // Checks every invariant (reference counts match the tables, no block both free and used,
    // cached keys unique, ...); throws Error(kInternal) naming the broken one. For tests.
    void check_invariants() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace turbolm
