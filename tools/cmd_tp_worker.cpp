// turbolm tp-worker: one rank (other than 0) of a model split over several GPUs (or CPU processes).
// `serve`, `bench` and `generate` start these with --tensor-parallel; a person never needs to. It
// joins the group (NCCL, or rank 0's socket on the CPU), loads its part of the model on the one GPU
// it sees, and runs the steps rank 0 announces until rank 0 stops.
#include "cli_common.h"
#include "commands.h"
#include "engine/tensor_parallel_group.h"

namespace turbolm::cli {
namespace {

class TpWorkerCommand final : public Command {
  public:
    CLI::App* add_to(CLI::App& app) override {
        CLI::App* sub =
            app.add_subcommand("tp-worker", "One rank of a tensor-parallel group (started by serve and bench)");
        sub->group("");  // not listed in --help: it is started, not typed
        sub->add_option("--rank", rank_, "This process's rank (1 .. world - 1)")->required();
        sub->add_option("--world", world_, "Ranks in the group")->required();
        auto* nccl = sub->add_option("--nccl-id", group_, "The group's NCCL id, from rank 0 (GPU ranks)");
        auto* address = sub->add_option("--group-address", group_, "Rank 0's host:port (CPU ranks)");
        nccl->excludes(address);
        sub->add_option("--device", spec_.device, "cuda (default) or cpu")->check(CLI::IsMember({"cpu", "cuda"}));
        sub->add_option("--matmul-precision", spec_.precision, "weight (default) or f32, as rank 0's")
            ->check(CLI::IsMember({"weight", "f32"}));
        sub->add_option("--parent-pid", parent_pid_, "End when this process (rank 0) ends");
        sub->add_option("--model,-m", spec_.model_dir, "Hugging Face model directory")->required();
        sub->add_flag("--dummy-weights", spec_.dummy_weights, "Random weights of the config's shapes");
        sub->add_option("--seed", spec_.seed, "Seed of random weights");
        sub->add_option("--quantize", spec_.quantize, "Quantization at load (as rank 0's)");
        sub->add_option("--kv-cache-dtype", spec_.kv_cache_dtype, "KV cache dtype (as rank 0's)");
        return sub;
    }

    int run() override {
        int code = 1;
        const int rc = run_guarded([&] {
            if (rank_ < 1 || rank_ >= world_) fail(StatusCode::kInvalidArgument, "rank ", rank_, " of ", world_);
            if (group_.empty())
                fail(StatusCode::kInvalidArgument, "give --nccl-id (GPU ranks) or --group-address (CPU ranks)");
            code = run_tensor_parallel_worker(rank_, world_, group_, spec_, parent_pid_);
        });
        return rc != 0 ? rc : code;
    }

  private:
    int rank_ = 0, world_ = 0, parent_pid_ = 0;
    std::string group_;
    SplitModelSpec spec_;
};

}  // namespace

std::unique_ptr<Command> make_tp_worker_command() {
    return std::make_unique<TpWorkerCommand>();
}

}  // namespace turbolm::cli
