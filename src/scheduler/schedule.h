// What one iteration of the scheduler hands the engine (Schedule) and what the engine hands back
// after its forward step (SampledToken).
#pragma once

#include <cstdint>
#include <vector>

#include "kv/block_manager.h"

namespace turbolm {

// Positions [start, start + n_tokens) of one request, computed in this step.
struct ScheduledChunk {
    uint64_t request_id = 0;
    int64_t start = 0;
    int64_t n_tokens = 0;
    std::vector<int32_t> tokens;       // ids at those positions
    std::vector<BlockId> block_table;  // the request's table, covering at least start + n_tokens
    // The chunk ends at the request's last known token: the engine samples the next token for it.
    bool samples = false;
};

struct Schedule {
    uint64_t step = 0;  // pairs this schedule with its update()
    std::vector<ScheduledChunk> chunks;
    std::vector<uint64_t> admitted;   // requests that got KV blocks this step (new, or recomputed after preemption)
    std::vector<uint64_t> preempted;  // requests whose blocks were taken back; they wait to be recomputed

    bool empty() const { return chunks.empty(); }
    int64_t n_tokens() const {
        int64_t n = 0;
        for (const auto& c : chunks) n += c.n_tokens;
        return n;
    }
};

// The token the engine sampled for a chunk with `samples` set.
struct SampledToken {
    uint64_t request_id = 0;
    int32_t token = 0;
    // The engine ends the request with this token (a stop token or stop string matched); the token
    // is kept in the request's outputs.
    bool stop = false;
};

}  // namespace turbolm
