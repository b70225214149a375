#include "launched_ranks.h"

#include <cstdlib>

#include "core/error.h"

namespace turbolm::cli {

std::optional<LaunchedRank> prepare_launched_rank(int& tensor_parallel) {
    const std::optional<LaunchedRank> me = launched_rank_from_environment();
    if (!me || me->world == 1) return std::nullopt;
    if (tensor_parallel != 1 && tensor_parallel != me->world)
        fail(StatusCode::kInvalidArgument, "--tensor-parallel ", tensor_parallel, " but the launcher started ",
             me->world, " ranks");
    tensor_parallel = me->world;
    // This rank's GPU: the local_rank-th of the visible ones.
    std::string device = std::to_string(me->local_rank);
    if (const char* env = std::getenv("CUDA_VISIBLE_DEVICES"); env && *env) {
        std::string list = env, item;
        int index = 0;
        bool found = false;
        for (size_t i = 0; i <= list.size(); ++i) {
            if (i == list.size() || list[i] == ',') {
                if (index++ == me->local_rank) {
                    device = item;
                    found = true;
                    break;
                }
                item.clear();
            } else {
                item += list[i];
            }
        }
        if (!found)
            fail(StatusCode::kInvalidArgument, "local rank ", me->local_rank, " has no GPU in CUDA_VISIBLE_DEVICES=", env);
    }
    ::setenv("CUDA_VISIBLE_DEVICES", device.c_str(), 1);
    return me;
}

std::string rendezvous_address() {
    const char* env = std::getenv("TURBOLM_TP_ADDRESS");
    return env && *env ? env : "127.0.0.1:29517";
}

}  // namespace turbolm::cli
