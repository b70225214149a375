// The processes of a model split over several GPUs (or CPU processes) of this machine: this process
// is rank 0 (it schedules, samples and serves); each other rank is a child process running
// `turbolm tp-worker`, which loads its part of the same model on its own GPU and runs the steps
// rank 0 announces (models/split_steps.h). GPU ranks talk through NCCL, CPU ranks over loopback TCP
// (parallel/socket_communicator.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

#include "models/model.h"
#include "parallel/communicator.h"

namespace turbolm {

// What every rank needs to load the same model: the flags `tp-worker` takes.
struct SplitModelSpec {
    std::string model_dir;
    bool dummy_weights = false;
    uint64_t seed = 0;
    std::string quantize = "none";
    std::string kv_cache_dtype = "auto";
    std::string device = "cuda";       // "cuda" or "cpu"
    std::string precision = "weight";  // matmul precision: "weight" (the weights' type) or "f32"
    std::vector<std::string> worker_args() const;
};

class TensorParallelGroup {
  public:
    // Starts ranks 1..world-1 as child processes (on GPUs 1..world-1 of CUDA_VISIBLE_DEVICES, or of
    // the machine; on the CPU with spec.device "cpu") and joins them as rank 0 (on the first GPU).
    // `worker_exe`: the turbolm binary (default: this executable). A rank that dies ends this
    // process with its exit status, rather than leaving the others waiting in a collective forever.
    static std::unique_ptr<TensorParallelGroup> start(int world, const SplitModelSpec& spec,
                                                      const std::string& worker_exe = "");
    // Joins ranks that a launcher such as mpirun started (each one process on one GPU): this process
    // is rank 0 of `world` and hands NCCL's group id to the others over TCP at `address`
    // (parallel/rendezvous.h); they run run_launched_worker.
    static std::unique_ptr<TensorParallelGroup> join_launched(int world, const std::string& address);
    ~TensorParallelGroup();

    const std::shared_ptr<Communicator>& comm() const { return comm_; }
    // Tells the other ranks to stop (they follow `model`) and waits for them to exit.
    void finish(const Model& model);

  private:
    TensorParallelGroup() = default;
    void watch();

    std::shared_ptr<Communicator> comm_;
    std::vector<pid_t> workers_;
    struct Watch;
    std::unique_ptr<Watch> watch_;
    bool finished_ = false;
};

// `turbolm tp-worker`: joins the group as `rank` of `world`, loads its part of the model (on the
// current GPU, or the CPU) and follows rank 0 until it stops. `group`: NCCL's group id for GPU ranks,
// rank 0's "host:port" for CPU ranks. Returns the process exit code. With parent_pid (a rank that
// rank 0 started), the process ends when rank 0's does.
int run_tensor_parallel_worker(int rank, int world, const std::string& group, const SplitModelSpec& spec,
                               int parent_pid = 0);

// A rank other than 0 that a launcher started: fetches the group id from rank 0 at `address`, then
// as run_tensor_parallel_worker.
int run_launched_worker(int rank, int world, const std::string& address, const SplitModelSpec& spec);

// ModelOptions for a rank of `spec`.
ModelOptions split_model_options(const SplitModelSpec& spec, std::shared_ptr<Communicator> comm);

}  // namespace turbolm
