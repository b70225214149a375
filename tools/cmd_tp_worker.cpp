// turbolm tp-worker: one rank (other than 0) of a model split over several GPUs. `serve` and `bench`
// start these with --tensor-parallel; a person never needs to. It joins the NCCL group, loads its
// part of the model on the one GPU it sees, and runs the steps rank 0 announces until rank 0 stops.
#include "cli_common.h"
#include "commands.h"
#include "engine/tensor_parallel_group.h"

namespace turbolm::cli {
namespace {

class TpWorkerCommand final : public Command {
public:
    CLI::App* add_to(CLI::App& app) override {
        CLI::App* sub = app.add_subcommand("tp-worker", "One rank of a tensor-parallel group (started by serve and bench)");
        sub->group("");  // not listed in --help: it is started, not typed
        sub->add_option("--rank", rank_, "This process's rank (1 .. world - 1)")->required();
        sub->add_option("--world", world_, "Ranks in the group")->required();
        sub->add_option("--nccl-id", nccl_id_, "The group's NCCL id, from rank 0")->required();
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
            code = run_tensor_parallel_worker(rank_, world_, nccl_id_, spec_, parent_pid_);
        });
        return rc != 0 ? rc : code;
    }

private:
    int rank_ = 0, world_ = 0, parent_pid_ = 0;
    std::string nccl_id_;
    SplitModelSpec spec_;
};

}  // namespace

std::unique_ptr<Command> make_tp_worker_command() { return std::make_unique<TpWorkerCommand>(); }

}  // namespace turbolm::cli
