// serve and bench under mpirun (or another launcher that starts one process per GPU): each process
// learns its rank from the environment; rank 0 serves or measures, the others become the split
// model's followers. Outside such a launcher, --tensor-parallel N starts the other ranks itself.
#pragma once

#include <optional>
#include <string>

#include "engine/tensor_parallel_group.h"
#include "parallel/rendezvous.h"

namespace turbolm::cli {

// Under a launcher of several ranks: picks this rank's GPU (CUDA_VISIBLE_DEVICES, before CUDA starts)
// and takes --tensor-parallel from the launcher (refusing a different number). Call it first.
std::optional<LaunchedRank> prepare_launched_rank(int& tensor_parallel);

// Where rank 0 hands out the group id: $TURBOLM_TP_ADDRESS, else 127.0.0.1:29517 (one machine).
std::string rendezvous_address();

}  // namespace turbolm::cli
