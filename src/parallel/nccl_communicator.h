// Collectives between GPUs through NCCL, one rank per process and GPU, on the stream the CUDA
// kernels run on (so they are ordered with the model's work and can be recorded in CUDA graphs).
// NCCL is loaded when first used (libnccl.so.2 from the CUDA installation): a build or a machine
// without it runs everything else and refuses tensor parallelism with a clear message.
#pragma once

#include <memory>
#include <string>

#include "parallel/communicator.h"

namespace turbolm {

// Whether NCCL can be used here; when not, `why` says what is missing.
bool nccl_available(std::string* why = nullptr);
// A fresh group id (hex text): rank 0 makes it and hands it to the other ranks (environment,
// pipe, MPI broadcast) before they all call nccl_communicator with it.
std::string nccl_unique_id();
// Joins the group `id` as `rank` of `world` on the current CUDA device. Blocks until every rank
// has joined.
std::shared_ptr<Communicator> nccl_communicator(int rank, int world, const std::string& id);

}  // namespace turbolm
