// Ranks that are threads of one process: the tests' stand-in for NCCL, so that split models are
// proven on machines without GPUs (and several ranks share one GPU). Sums run in rank order on
// every rank, so the results are bit-identical across ranks, as NCCL's are. Device tensors go
// through host copies, which synchronize: no CUDA graph can record these collectives.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "parallel/communicator.h"

namespace turbolm {

// `world` communicators of one group, rank i at index i; each must be used by one thread only, and
// every rank must join every collective (a rank that stops waits forever, as with NCCL).
//
// Ranks that share one GPU share its stream and the scratch buffers of its kernels, so their work
// must not interleave: with `turn`, each rank's thread holds *turn while it runs (its caller locks it)
// and the collectives give it up only while they wait for the other ranks.
std::vector<std::shared_ptr<Communicator>> local_communicators(int world, std::mutex* turn = nullptr);

}  // namespace turbolm
