// A model split over tensor-parallel ranks that are threads of the test (rank_threads.h): rank 0's
// logits at every position of `ids`, the other ranks following its steps; world 1: the whole model.
#pragma once

#include <filesystem>
#include <vector>

#include "models/model.h"
#include "models/split_steps.h"
#include "support/rank_threads.h"

namespace turbolm::test {

inline Tensor model_logits(const std::filesystem::path& dir, const ModelOptions& mo, int world,
                           const std::vector<int32_t>& ids, bool take_turns = false) {
    auto run = [&](const Model& model) {
        KvCache kv = model.new_kv_cache(int64_t(ids.size()));
        return model.forward(ids, kv, /*all_logits=*/true);
    };
    if (world == 1) return run(*Model::load(dir, mo));
    Tensor logits;
    run_ranks(
        world,
        [&](int r, std::shared_ptr<Communicator> comm) {
            ModelOptions opts = mo;
            opts.comm = comm;
            auto model = Model::load(dir, opts);
            if (r != 0) {
                follow_split_steps(*model);
                return;
            }
            logits = run(*model);
            announce_stop(*model);
        },
        take_turns);
    return logits;
}

}  // namespace turbolm::test
