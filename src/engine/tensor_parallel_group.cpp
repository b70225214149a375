#include "engine/tensor_parallel_group.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/logging.h"
#include "core/parallel.h"
#include "models/split_steps.h"
#include "parallel/nccl_communicator.h"
#include "parallel/rendezvous.h"
#include "parallel/socket_communicator.h"

namespace turbolm {
namespace {

// The GPU of `rank` as CUDA_VISIBLE_DEVICES names it: the rank-th entry of this process's list, or
// the rank-th GPU of the machine.
std::string visible_device_of(int rank) {
    const char* env = std::getenv("CUDA_VISIBLE_DEVICES");
    if (!env || !*env) return std::to_string(rank);
    std::vector<std::string> ids;
    std::string cur;
    for (const char* p = env;; ++p) {
        if (*p == ',' || *p == '\0') {
            if (!cur.empty()) ids.push_back(cur);
            cur.clear();
            if (*p == '\0') break;
        } else {
            cur += *p;
        }
    }
    if (rank >= int(ids.size()))
        fail(StatusCode::kInvalidArgument, "tensor parallelism over more ranks than CUDA_VISIBLE_DEVICES=", env,
             " lists");
    return ids[size_t(rank)];
}

// `device`: the CUDA_VISIBLE_DEVICES of the child; empty for a CPU rank.
pid_t spawn_worker(const std::string& exe, const std::vector<std::string>& args, const std::string& device) {
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(exe.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) fail(StatusCode::kInternal, "fork for a tensor-parallel rank: ", std::strerror(errno));
    if (pid == 0) {
        // The child sees only its own GPU. It watches for rank 0's end itself (run_tensor_parallel_worker
        // with --parent-pid): PR_SET_PDEATHSIG would fire when the forking thread ends, and `serve`
        // loads the model on a thread that ends once loading is done.
        if (!device.empty()) ::setenv("CUDA_VISIBLE_DEVICES", device.c_str(), 1);
        ::execv(exe.c_str(), argv.data());
        ::_exit(127);
    }
    return pid;
}

}  // namespace

std::vector<std::string> SplitModelSpec::worker_args() const {
    std::vector<std::string> a = {
        "--model",      model_dir,  "--seed", std::to_string(seed), "--quantize", quantize, "--kv-cache-dtype",
        kv_cache_dtype, "--device", device,   "--matmul-precision", precision};
    if (dummy_weights) a.push_back("--dummy-weights");
    return a;
}

ModelOptions split_model_options(const SplitModelSpec& spec, std::shared_ptr<Communicator> comm) {
    ModelOptions mo;
    mo.dummy_weights = spec.dummy_weights;
    mo.seed = spec.seed;
    mo.device = spec.device == "cpu" ? Device::kCpu : Device::kCuda;
    mo.precision = spec.precision == "f32" ? ops::MatmulPrecision::kF32 : ops::MatmulPrecision::kWeightType;
    mo.quantize = parse_weight_quantization(spec.quantize);
    mo.kv_cache_dtype = parse_kv_cache_dtype(spec.kv_cache_dtype);
    mo.comm = std::move(comm);
    return mo;
}

// A thread that waits for the workers: one that exits before finish() ends the whole process.
struct TensorParallelGroup::Watch {
    std::atomic<bool> finishing{false};
    std::thread thread;
};

std::unique_ptr<TensorParallelGroup> TensorParallelGroup::start(int world, const SplitModelSpec& spec,
                                                                const std::string& worker_exe) {
    TURBOLM_REQUIRE(world >= 2, "a tensor-parallel group of ", world, " ranks");
    TURBOLM_REQUIRE(spec.device == "cuda" || spec.device == "cpu", "tensor parallelism on device '", spec.device, "'");
    const bool cpu = spec.device == "cpu";
    std::string why;
    if (!cpu && !nccl_available(&why)) fail(StatusCode::kUnimplemented, "tensor parallelism needs NCCL: ", why);
    const std::string exe = worker_exe.empty() ? "/proc/self/exe" : worker_exe;
    // GPU ranks find each other through NCCL's id; CPU ranks connect to rank 0, which listens before
    // they start.
    std::unique_ptr<SocketGroupRoot> root;
    std::string group;
    if (cpu) {
        root = std::make_unique<SocketGroupRoot>();
        group = root->address();
        // The ranks share this machine's cores: each takes its share (the workers likewise).
        set_num_threads(std::max(1, num_threads() / world));
    } else {
        group = nccl_unique_id();
    }
    std::unique_ptr<TensorParallelGroup> g(new TensorParallelGroup());
    for (int r = 1; r < world; ++r) {
        std::vector<std::string> args = {"tp-worker",
                                         "--rank",
                                         std::to_string(r),
                                         "--world",
                                         std::to_string(world),
                                         cpu ? "--group-address" : "--nccl-id",
                                         group,
                                         "--parent-pid",
                                         std::to_string(::getpid())};
        for (auto& a : spec.worker_args()) args.push_back(a);
        g->workers_.push_back(spawn_worker(exe, args, cpu ? std::string() : visible_device_of(r)));
    }
    g->watch();
    log::info("tensor parallel: waiting for ", world - 1, " more rank(s) to join");
    g->comm_ = cpu ? root->accept(world) : nccl_communicator(0, world, group);
    return g;
}

std::unique_ptr<TensorParallelGroup> TensorParallelGroup::join_launched(int world, const std::string& address) {
    TURBOLM_REQUIRE(world >= 2, "a tensor-parallel group of ", world, " ranks");
    std::string why;
    if (!nccl_available(&why)) fail(StatusCode::kUnimplemented, "tensor parallelism needs NCCL: ", why);
    const std::string id = nccl_unique_id();
    log::info("tensor parallel: rank 0 of ", world, ", handing the group id out at ", address);
    exchange_group_id(0, world, address, id);
    std::unique_ptr<TensorParallelGroup> g(new TensorParallelGroup());
    g->comm_ = nccl_communicator(0, world, id);
    return g;
}

int run_launched_worker(int rank, int world, const std::string& address, const SplitModelSpec& spec) {
    const std::string id = exchange_group_id(rank, world, address, "");
    return run_tensor_parallel_worker(rank, world, id, spec);
}

void TensorParallelGroup::watch() {
    watch_ = std::make_unique<Watch>();
    watch_->thread = std::thread([this, w = watch_.get()] {
        for (size_t left = workers_.size(); left > 0;) {
            int status = 0;
            const pid_t pid = ::waitpid(-1, &status, 0);
            if (pid < 0) return;
            if (std::find(workers_.begin(), workers_.end(), pid) == workers_.end()) continue;
            --left;
            if (w->finishing.load()) continue;
            const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            log::error("tensor parallel: rank process ", pid, " ended (status ", code,
                       ") while the group was running; stopping");
            std::_Exit(code == 0 ? 1 : code);
        }
    });
}

void TensorParallelGroup::finish(const Model& model) {
    if (finished_) return;
    finished_ = true;
    if (watch_) watch_->finishing = true;
    announce_stop(model);
    ops::synchronize(model.device());
    if (!watch_) return;  // ranks a launcher started end on their own
    watch_->thread.join();
    watch_.reset();
    workers_.clear();
}

TensorParallelGroup::~TensorParallelGroup() {
    if (!watch_) return;
    watch_->finishing = true;
    for (pid_t p : workers_) ::kill(p, SIGTERM);
    watch_->thread.join();
}

int run_tensor_parallel_worker(int rank, int world, const std::string& group, const SplitModelSpec& spec,
                               int parent_pid) {
    if (parent_pid > 0) {
        // No rank outlives rank 0: a collective would wait for it forever.
        std::thread([parent_pid] {
            for (;;) {
                if (::getppid() != parent_pid) ::_exit(1);
                std::this_thread::sleep_for(std::chrono::milliseconds(500));
            }
        }).detach();
    }
    const bool cpu = spec.device == "cpu";
    if (cpu) set_num_threads(std::max(1, num_threads() / world));  // as rank 0 does
    auto comm = cpu ? socket_communicator_member(rank, world, group) : nccl_communicator(rank, world, group);
    auto model = Model::load(spec.model_dir, split_model_options(spec, comm));
    if (!cpu) ops::trim_device_memory(Device::kCuda);
    const int64_t steps = follow_split_steps(*model);
    log::debug("tensor parallel rank ", rank, ": ", steps, " steps");
    return 0;
}

}  // namespace turbolm
