// The collectives tensor parallelism needs, over whatever joins the ranks: NCCL between GPUs
// (nccl_communicator.h), or threads of one process on the CPU (local_communicator.h), which the
// tests use to prove sharded models on machines without GPUs. Model code sees only this interface.
#pragma once

#include <memory>

#include "core/tensor.h"

namespace turbolm {

class Communicator {
  public:
    virtual ~Communicator() = default;
    virtual int rank() const = 0;
    virtual int world() const = 0;
    // Every rank calls each collective in the same order with tensors of the same shape and dtype
    // (contiguous, on the communicator's device). Results are bit-identical on every rank.

    // x = the elementwise sum of x over the ranks, in place (f32, bf16 or f16).
    virtual void all_reduce_sum(Tensor& x) = 0;
    // out [world, ...in's shape] = every rank's `in`, in rank order.
    virtual void all_gather(const Tensor& in, Tensor& out) = 0;
    // x = root's x on every rank.
    virtual void broadcast(Tensor& x, int root) = 0;
};

// The communicator of a model that is not split: rank 0 of 1, every collective a no-op.
std::shared_ptr<Communicator> single_process_communicator();

}  // namespace turbolm
