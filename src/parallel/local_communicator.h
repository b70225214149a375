// Ranks that are threads of one process: the tests' stand-in for NCCL, so that split models are
// proven on machines without GPUs (and several ranks share one GPU). Sums run in rank order on
// every rank, so the results are bit-identical across ranks, as NCCL's are. Device tensors go
// through host copies, which synchronize: no CUDA graph can record these collectives.
#pragma once

#include <memory>
#include <vector>

#include "parallel/communicator.h"

namespace turbolm {

// `world` communicators of one group, rank i at index i; each must be used by one thread only, and
// every rank must join every collective (a rank that stops waits forever, as with NCCL).
std::vector<std::shared_ptr<Communicator>> local_communicators(int world);

}  // namespace turbolm
