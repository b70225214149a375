// Keeping the ranks of a split model in step. The collectives inside a split model's forward pass
// pair up across ranks, so every rank must run the same work in the same order: rank 0 (which
// schedules and samples) announces each forward pass with its inputs before running it, and the
// other ranks run what it announces, on their own KV caches and graphs, until it announces stop.
// A cache is named by its shape (capacity, sequences): the others keep one cache per shape.
#pragma once

#include "models/model.h"

namespace turbolm {

enum class SplitStep : int64_t {
    kRun = 1,      // run the inputs now
    kCapture = 2,  // record running the inputs as graph `graph_key` (not run)
    kReplay = 3,   // refresh graph `graph_key`'s inputs to these and replay it
    kStop = 4,
};

// Rank 0 of a split model: tells the others what it is about to do. A no-op for models that are
// not split and on the other ranks, so callers announce unconditionally.
void announce_step(const Model& model, SplitStep what, const KvCache& kv, const StepInputs& in,
                   int64_t graph_key = 0);
void announce_stop(const Model& model);
// Ranks other than 0: runs what rank 0 announces until it announces stop; returns the number of
// steps run (graph captures included).
int64_t follow_split_steps(const Model& model);

}  // namespace turbolm
