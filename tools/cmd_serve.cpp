// turbolm serve: the OpenAI-compatible and KServe-v2 HTTP server. The port opens first (health
// checks answer, inference says 503 while the model loads), then the engine loads on its own
// thread. SIGTERM or SIGINT stops accepting, lets running requests finish (up to
// --drain-timeout) and exits 0.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>

#include <unistd.h>

#include "cli_common.h"
#include "commands.h"
#include "launched_ranks.h"
#include "core/error.h"
#include "ops/ops.h"
#include "server/api/api_service.h"
#include "server/http/http_server.h"
#include "server/web/web_page.h"
#include "turbolm/engine.h"

namespace turbolm::cli {
namespace {

namespace fs = std::filesystem;

// The bundled demo model: beside the working directory, the executable, or the source tree.
std::string find_demo_model() {
    std::vector<fs::path> candidates;
    if (const char* env = std::getenv("TURBOLM_DEMO_MODEL")) candidates.emplace_back(env);
    candidates.emplace_back(fs::path("models") / "demo");
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        candidates.push_back(exe.parent_path() / "models" / "demo");
        candidates.push_back(exe.parent_path().parent_path() / "models" / "demo");
    }
#ifdef TURBOLM_SOURCE_DIR
    candidates.push_back(fs::path(TURBOLM_SOURCE_DIR) / "models" / "demo");
#endif
    for (const auto& c : candidates)
        if (fs::exists(c / "config.json")) return c.string();
    fail(StatusCode::kNotFound, "no --model given and the demo model (models/demo) was not found; pass --model DIR");
}

class ServeCommand final : public Command {
public:
    CLI::App* add_to(CLI::App& app) override {
        CLI::App* sub = app.add_subcommand("serve", "Serve a model over HTTP (OpenAI and KServe v2 APIs, metrics, web page)");
        sub->add_option("--model,-m", model_dir_, "Hugging Face model directory (default: the bundled demo model)");
        sub->add_option("--served-model-name", served_name_, "Name clients use as \"model\" (default: the directory name)");
        sub->add_option("--device", device_, "cpu or cuda (default: cuda when a GPU is present)")
            ->check(CLI::IsMember({"cpu", "cuda"}));
        sub->add_option("--host", http_.host, "Address to listen on (default: 127.0.0.1; 0.0.0.0 for all)");
        sub->add_option("--port,-p", http_.port, "Port (default: 8000; 0 picks a free one)");
        sub->add_option("--api-key", api_key_, "Require \"Authorization: Bearer KEY\" on /v1 and /v2 (also $TURBOLM_API_KEY)");
        sub->add_option("--http-threads", http_.threads, "Threads serving connections (default: 2)");
        sub->add_option("--max-body-mb", max_body_mb_, "Largest request body in MiB (default: 8)");
        sub->add_option("--drain-timeout", drain_timeout_s_, "Seconds to let running requests finish on SIGTERM (default: 30)");
        sub->add_option("--max-waiting", max_waiting_, "Queued requests beyond which new ones get 503 (default: 4096)");
        sub->add_option("--max-model-len", engine_.max_model_len, "Prompt + output tokens per request (default: the model's, at most 8192)");
        sub->add_option("--kv-fraction", engine_.kv_fraction, "Share of free GPU memory for the KV cache (default: 0.9)");
        sub->add_option("--block-size", engine_.block_size, "KV positions per block (default: 16)");
        sub->add_option("--max-batched-tokens", engine_.max_batched_tokens, "Tokens computed per step (default: 8192)");
        sub->add_option("--max-running", engine_.max_running, "Requests decoding at once (default: 256)");
        sub->add_flag("--no-graphs", no_graphs_, "Launch every step one kernel at a time (no CUDA graphs)");
        sub->add_option("--quantize", engine_.quantize, "Quantization of the layers' weights at load: none (default), int8, int4 (weight-only), fp8 (W8A8) or fp8-block (W8A8, 128 x 128 block scales)")
            ->check(CLI::IsMember({"none", "int8", "int4", "fp8", "fp8-block"}));
        sub->add_option("--kv-cache-dtype", engine_.kv_cache_dtype,
                        "What the KV cache stores: auto (default: the compute dtype), int8 or fp8 (E4M3): 8-bit "
                        "codes with a scale per token and head, about twice the tokens in the same memory")
            ->check(CLI::IsMember({"auto", "int8", "fp8"}));
        sub->add_flag("--dummy-weights", engine_.dummy_weights, "Random weights of the config's shapes (no weight files)");
        sub->add_option("--tensor-parallel,--tp", engine_.tensor_parallel,
                        "GPUs to split the model over (one process each, NCCL between them; default: 1)")
            ->check(CLI::Range(1, 64));
        return sub;
    }

    int run() override {
        int code = 1;
        run_guarded([&] { code = serve(); });
        return code;
    }

private:
    int serve() {
        const std::optional<LaunchedRank> launched = prepare_launched_rank(engine_.tensor_parallel);
        if (model_dir_.empty()) model_dir_ = find_demo_model();
        if (launched && launched->rank != 0) {
            // One of mpirun's other ranks: follow rank 0's serve with this GPU's part of the model.
            const SplitModelSpec spec{model_dir_, engine_.dummy_weights, 0, engine_.quantize, engine_.kv_cache_dtype};
            return run_launched_worker(launched->rank, launched->world, rendezvous_address(), spec);
        }
        if (launched) engine_.tensor_parallel_address = rendezvous_address();
        if (!fs::exists(fs::path(model_dir_) / "config.json"))
            fail(StatusCode::kNotFound, model_dir_, ": not a model directory (no config.json)");
        if (served_name_.empty()) served_name_ = fs::path(model_dir_).lexically_normal().filename().string();
        if (served_name_.empty()) served_name_ = fs::path(model_dir_).lexically_normal().parent_path().filename().string();
        if (api_key_.empty())
            if (const char* env = std::getenv("TURBOLM_API_KEY")) api_key_ = env;
        if (max_body_mb_ < 1) fail(StatusCode::kInvalidArgument, "--max-body-mb must be >= 1");
        http_.max_body_bytes = size_t(max_body_mb_) << 20;
        engine_.model_dir = model_dir_;
        engine_.device = device_.empty() ? (cuda_present() ? "cuda" : "cpu") : device_;
        engine_.cuda_graphs = !no_graphs_;

        // Signals are taken by sigwait on this thread only: block them before any thread starts.
        sigset_t signals;
        sigemptyset(&signals);
        sigaddset(&signals, SIGTERM);
        sigaddset(&signals, SIGINT);
        pthread_sigmask(SIG_BLOCK, &signals, nullptr);
        std::signal(SIGPIPE, SIG_IGN);

        server::ServiceOptions so;
        so.served_model_name = served_name_;
        so.api_key = api_key_;
        so.max_waiting = max_waiting_;
        so.static_files["/"] = {"text/html; charset=utf-8", std::string(server::web_page_html())};
        server::ApiService service(so);
        http::Server http(http_, [&service](const http::Request& req, std::shared_ptr<http::Responder> res) {
            service.handle(req, std::move(res));
        });
        if (Status st = http.start(); !st.is_ok()) fail(st.code(), st.message());
        std::printf("turbolm: listening on http://%s:%d (model %s loading from %s on %s)\n", http_.host.c_str(),
                    http.port(), served_name_.c_str(), model_dir_.c_str(), engine_.device.c_str());
        std::fflush(stdout);

        // Loading runs beside the signal wait, so that SIGTERM during a long load still exits.
        std::atomic<int> load_state{0};  // 0 loading, 1 ready, 2 failed
        engine_.on_load_progress = [last = -1](double f) mutable {
            const int pct = int(f * 100.0);
            if (pct / 10 == last / 10 && pct != 100) return;
            last = pct;
            std::printf("turbolm: loading weights %d%%\n", pct);
            std::fflush(stdout);
        };
        std::thread loader([&] {
            auto engine = Engine::create(engine_);
            if (!engine.has_value()) {
                std::fprintf(stderr, "error: %s\n", engine.status().to_string().c_str());
                service.set_load_error(engine.status());
                load_state = 2;
                return;
            }
            std::shared_ptr<Engine> shared(std::move(engine.value()));
            std::printf("turbolm: loaded %s\n", shared->description().c_str());
            std::printf("turbolm: %s\n", shared->kv_summary().c_str());
            service.set_engine(std::move(shared));
            std::printf("turbolm: ready: http://%s:%d/ (OpenAI API at /v1, KServe v2 at /v2, metrics at /metrics)\n",
                        http_.host.c_str(), http.port());
            std::fflush(stdout);
            load_state = 1;
        });

        int exit_code = 0;
        for (;;) {
            const timespec tick{0, 200'000'000};
            const int sig = sigtimedwait(&signals, nullptr, &tick);
            if (sig == SIGTERM || sig == SIGINT) {
                std::printf("turbolm: %s: draining\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
                std::fflush(stdout);
                break;
            }
            if (load_state == 2) {
                exit_code = 1;
                break;
            }
        }
        http.stop_accepting();
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(drain_timeout_s_);
        while (std::chrono::steady_clock::now() < deadline &&
               (service.requests_in_flight() > 0 || http.replies_in_progress() > 0))
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        const bool drained = service.requests_in_flight() == 0 && http.replies_in_progress() == 0;
        http.stop();
        loader.join();  // a load in progress finishes first: the engine cannot be stopped halfway
        std::printf("turbolm: stopped%s\n", drained ? "" : " (the drain timeout cut off running requests)");
        return exit_code;
    }

    static bool cuda_present() { return ops::device_available(Device::kCuda); }

    std::string model_dir_, served_name_, device_, api_key_;
    http::ServerOptions http_;
    EngineConfig engine_;
    int64_t max_body_mb_ = 8, drain_timeout_s_ = 30, max_waiting_ = 4096;
    bool no_graphs_ = false;
};

}  // namespace

std::unique_ptr<Command> make_serve_command() { return std::make_unique<ServeCommand>(); }

}  // namespace turbolm::cli
