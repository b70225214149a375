// turbolm bench: static-batch throughput and latency of a model (real or random weights of a real
// shape). Every sequence gets a random prompt of --input-len tokens and generates --output-len
// tokens (end-of-sequence ignored); warm-up runs are discarded, repeats are summarized by medians.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "bench_http.h"
#include "bench_offline.h"
#include "bench_online.h"
#include "bench_stats.h"
#include "cli_common.h"
#include "commands.h"
#include "launched_ranks.h"
#include "core/parallel.h"
#include "engine/batch_decoder.h"
#include "engine/tensor_parallel_group.h"
#include "io/hf_config.h"
#include "server/api/api_service.h"
#include "server/http/http_server.h"
#include "turbolm/engine.h"

namespace turbolm::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }


std::string utc_now() {
    char buf[32];
    const std::time_t t = std::time(nullptr);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

struct RunResult {
    double prefill_s = 0, decode_s = 0;
    std::vector<double> step_s;
};

class BenchCommand final : public Command {
public:
    CLI::App* add_to(CLI::App& app) override {
        CLI::App* sub = app.add_subcommand("bench", "Measure static-batch throughput and latency");
        auto* model = sub->add_option("--model,-m", model_dir_, "Hugging Face model directory");
        auto* config = sub->add_option("--config", config_, "A config.json to build (implies --dummy-weights)");
        model->excludes(config);
        sub->add_flag("--dummy-weights", dummy_weights_, "Random weights of the config's shapes");
        sub->add_option("--device", device_, "cpu or cuda (default: cuda)")->check(CLI::IsMember({"cpu", "cuda"}));
        sub->add_option("--batch,-b", batches_, "Batch sizes, e.g. 1,8,64 (default: 1)")->delimiter(',');
        sub->add_option("--input-len,-i", input_len_, "Prompt tokens per sequence (default: 128)");
        sub->add_option("--output-len,-o", output_len_, "Generated tokens per sequence (default: 128)");
        sub->add_option("--warmup", warmup_,
                        "Runs discarded before measuring: per batch size, or passes of the offline workload (default: 1)");
        sub->add_option("--repeats,-r", repeats_,
                        "Measured runs per batch size, or passes of the offline workload (default: 3)");
        sub->add_flag("--no-graphs", no_graphs_, "Launch decode steps one kernel at a time");
        sub->add_option("--quantize", quantize_, "Quantization of the layers' weights at load: none (default), int8, int4 (weight-only), fp8 (W8A8) or fp8-block (W8A8, 128 x 128 block scales)")
            ->check(CLI::IsMember({"none", "int8", "int4", "fp8", "fp8-block"}));
        sub->add_option("--kv-cache-dtype", kv_cache_dtype_,
                        "What the KV cache stores: auto (default: the activation dtype), int8 or fp8 (E4M3)")
            ->check(CLI::IsMember({"auto", "int8", "fp8"}));
        sub->add_option("--tensor-parallel,--tp", tensor_parallel_,
                        "GPUs to split the model over (one process each, NCCL between them; default: 1)")
            ->check(CLI::Range(1, 64));
        sub->add_option("--threads,-t", threads_, "CPU threads (default: all cores)");
        sub->add_option("--seed", seed_, "Seed of weights and prompts (default: 0)");
        sub->add_option("--json", json_path_, "Write the results to this file");
        sub->add_option("--mode", mode_, "static: fixed batches (default); offline: --num-requests requests at once "
                                         "through the continuous-batching engine; online: Poisson arrivals at --rate "
                                         "through the public engine API")
            ->check(CLI::IsMember({"static", "offline", "online"}));
        sub->add_option("--rate", online_.rate, "online: Poisson arrival rate in requests/s (default: 10)");
        sub->add_flag("--http", http_, "online: then the same load as streaming OpenAI requests through the HTTP server "
                                       "(in this process, over loopback), to compare");
        sub->add_option("--num-requests,-n", offline_.num_requests, "offline: requests (default: 256)");
        sub->add_option("--kv-fraction", offline_.kv_fraction, "offline: share of free GPU memory for the KV cache");
        sub->add_option("--block-size", offline_.block_size, "offline: KV positions per block (default: 16)");
        sub->add_option("--max-batched-tokens", offline_.max_batched_tokens, "offline: tokens per step (default: 8192)");
        sub->add_option("--max-running", offline_.max_running, "offline: sequences at once (default: 256)");
        return sub;
    }

    int run() override {
        return run_guarded([&] { bench(); });
    }

private:
    void bench() {
        launched_ = prepare_launched_rank(tensor_parallel_);
        const std::optional<LaunchedRank>& launched = launched_;
        if (model_dir_.empty() && config_.empty()) fail(StatusCode::kInvalidArgument, "give --model DIR or --config FILE");
        if (input_len_ < 1 || output_len_ < 1 || repeats_ < 1 || warmup_ < 0)
            fail(StatusCode::kInvalidArgument, "--input-len, --output-len and --repeats must be >= 1");
        if (batches_.empty()) batches_ = {1};
        for (int b : batches_)
            if (b < 1) fail(StatusCode::kInvalidArgument, "batch sizes must be >= 1");
        if (threads_) set_num_threads(*threads_);
        const Device device = parse_device(device_);
        std::filesystem::path dir = model_dir_;
        std::optional<std::filesystem::path> temp;
        if (!config_.empty()) {
            // A bare config.json becomes a model directory of its own.
            temp = std::filesystem::temp_directory_path() / ("turbolm-bench-" + std::to_string(::getpid()));
            std::filesystem::create_directories(*temp);
            std::filesystem::copy_file(config_, *temp / "config.json",
                                       std::filesystem::copy_options::overwrite_existing);
            dir = *temp;
            dummy_weights_ = true;
        }
        if (launched && launched->rank != 0) {
            // One of mpirun's other ranks: follow rank 0's runs with this GPU's part of the model.
            const SplitModelSpec spec{dir.string(), dummy_weights_, seed_, quantize_, kv_cache_dtype_};
            if (int rc = run_launched_worker(launched->rank, launched->world, rendezvous_address(), spec); rc != 0)
                fail(StatusCode::kInternal, "rank ", launched->rank, " ended with status ", rc);
            if (temp) std::filesystem::remove_all(*temp);
            return;
        }
        if (mode_ == "online") {
            bench_online(dir, device);
            if (temp) std::filesystem::remove_all(*temp);
            return;
        }
        ModelOptions mo;
        mo.dummy_weights = dummy_weights_;
        mo.seed = seed_;
        mo.device = device;
        mo.precision = ops::MatmulPrecision::kWeightType;
        mo.quantize = parse_weight_quantization(quantize_);
        mo.kv_cache_dtype = parse_kv_cache_dtype(kv_cache_dtype_);
        const auto load_start = Clock::now();
        std::unique_ptr<TensorParallelGroup> group;
        if (tensor_parallel_ > 1) {
            if (device != Device::kCuda && launched)
                fail(StatusCode::kInvalidArgument, "ranks started by a launcher need --device cuda");
            const SplitModelSpec spec{dir.string(), dummy_weights_, seed_, quantize_, kv_cache_dtype_,
                                      device_name(device)};
            group = launched ? TensorParallelGroup::join_launched(tensor_parallel_, rendezvous_address())
                             : TensorParallelGroup::start(tensor_parallel_, spec);
            mo.comm = group->comm();
        }
        auto model = Model::load(dir, mo);
        ops::synchronize(device);
        const double load_s = seconds_since(load_start);
        ops::trim_device_memory(device);
        const ModelConfig& cfg = model->config();

        nlohmann::json out = {{"tool", "turbolm bench"},
                              {"date", utc_now()},
                              {"commit", build_commit()},
                              {"device", device_name(device)},
                              {"device_description", ops::device_description(device)},
                              {"model", config_.empty() ? model_dir_ : config_},
                              {"architecture", cfg.architecture},
                              {"dummy_weights", dummy_weights_},
                              {"dtype", dtype_name(model->activation_dtype())},
                              {"parameters", model->parameter_count()},
                              {"weight_bytes", model->weight_bytes()},
                              {"load_seconds", load_s},
                              {"graphs", !no_graphs_ && device != Device::kCpu},
                              {"quantize", quantize_},
                              {"kv_cache_dtype", dtype_name(model->kv_dtype())},
                              {"tensor_parallel", tensor_parallel_},
                              {"input_len", input_len_},
                              {"output_len", output_len_},
                              {"warmup", warmup_},
                              {"repeats", repeats_},
                              {"command", command_line()}};
        if (device == Device::kCpu) out["threads"] = num_threads();
        std::printf("%s on %s: %s parameters, %s of weights, loaded in %.1f s\n", cfg.architecture.c_str(),
                    ops::device_description(device).c_str(), human_count(double(model->parameter_count())).c_str(),
                    human_bytes(double(model->weight_bytes())).c_str(), load_s);
        if (mode_ == "static")
            std::printf("%6s %10s %10s %12s %12s %10s %10s %10s %12s\n", "batch", "ttft_ms", "prefill/s", "decode/s",
                    "output/s", "tpot_p50", "tpot_p95", "tpot_p99", "peak_mem");
        nlohmann::json runs = nlohmann::json::array();
        if (mode_ == "offline") {
            offline_.input_len = input_len_;
            offline_.output_len = output_len_;
            offline_.seed = seed_;
            offline_.decode_graphs = !no_graphs_;
            offline_.warmup = warmup_;
            offline_.repeats = repeats_;
            out["mode"] = "offline";
            runs.push_back(run_offline_bench(*model, offline_));
        } else {
            for (int b : batches_) runs.push_back(bench_batch(*model, b, device));
        }
        // The other ranks load the model directory too: it goes once they have stopped.
        if (group) group->finish(*model);
        if (temp) std::filesystem::remove_all(*temp);
        out["runs"] = runs;
        write_json(out);
    }

    void bench_online(const std::filesystem::path& dir, Device device) {
        EngineConfig ec;
        ec.model_dir = dir.string();
        ec.device = device_;
        ec.dummy_weights = dummy_weights_;
        ec.max_model_len = input_len_ + output_len_;
        ec.kv_fraction = offline_.kv_fraction;
        ec.block_size = offline_.block_size;
        ec.max_batched_tokens = offline_.max_batched_tokens;
        ec.max_running = offline_.max_running;
        ec.cuda_graphs = !no_graphs_;
        ec.quantize = quantize_;
        ec.kv_cache_dtype = kv_cache_dtype_;
        ec.tensor_parallel = tensor_parallel_;
        if (launched_) ec.tensor_parallel_address = rendezvous_address();
        const auto load_start = Clock::now();
        auto engine = Engine::create(ec);
        if (!engine.has_value()) fail(engine.status().code(), engine.status().message());
        const double load_s = seconds_since(load_start);
        std::printf("%s\n", engine.value()->kv_summary().c_str());
        online_.num_requests = offline_.num_requests;
        online_.input_len = input_len_;
        online_.output_len = output_len_;
        online_.seed = seed_;
        online_.vocab = HfConfig::load(dir).get_int("vocab_size");
        std::shared_ptr<Engine> shared(std::move(engine.value()));
        nlohmann::json runs = nlohmann::json::array({run_online_bench(*shared, online_)});
        if (http_) {
            OnlineBenchOptions o = online_;
            o.prompt_set = 1;
            runs.push_back(run_through_http(shared, o));
            const double api = runs[0]["output_tokens_per_second"], via_http = runs[1]["output_tokens_per_second"];
            std::printf("HTTP / engine API throughput: %.3f\n", via_http / api);
        }
        nlohmann::json out = {{"tool", "turbolm bench"},
                              {"date", utc_now()},
                              {"commit", build_commit()},
                              {"device", device_name(device)},
                              {"device_description", ops::device_description(device)},
                              {"model", config_.empty() ? model_dir_ : config_},
                              {"dummy_weights", dummy_weights_},
                              {"load_seconds", load_s},
                              {"mode", "online"},
                              {"command", command_line()},
                              {"runs", runs}};
        write_json(out);
    }

    static nlohmann::json run_through_http(const std::shared_ptr<Engine>& engine, const OnlineBenchOptions& o) {
        server::ServiceOptions so;
        so.served_model_name = "bench";
        server::ApiService service(so);
        service.set_engine(engine);
        http::ServerOptions ho;
        ho.port = 0;
        ho.threads = 2;
        http::Server server(ho, [&service](const http::Request& req, std::shared_ptr<http::Responder> res) {
            service.handle(req, std::move(res));
        });
        if (Status st = server.start(); !st.is_ok()) fail(st.code(), st.message());
        nlohmann::json run = run_http_online_bench("127.0.0.1", server.port(), "bench", o);
        run["http_threads"] = ho.threads;
        server.stop();
        return run;
    }

    void write_json(const nlohmann::json& out) const {
        if (json_path_.empty()) return;
        std::ofstream f(json_path_);
        f << out.dump(2) << "\n";
        if (!f) fail(StatusCode::kInvalidArgument, "cannot write ", json_path_);
    }

    std::string command_line() const {
        std::string batches;
        for (int b : batches_) batches += (batches.empty() ? "" : ",") + std::to_string(b);
        std::string c = "turbolm bench " + (config_.empty() ? "--model " + model_dir_ : "--config " + config_) +
                        (dummy_weights_ && config_.empty() ? " --dummy-weights" : "") + " --device " + device_ +
                        " -b " + batches + " -i " + std::to_string(input_len_) + " -o " + std::to_string(output_len_) +
                        " --warmup " + std::to_string(warmup_) + " --repeats " + std::to_string(repeats_);
        if (no_graphs_) c += " --no-graphs";
        if (quantize_ != "none") c += " --quantize " + quantize_;
        if (kv_cache_dtype_ != "auto") c += " --kv-cache-dtype " + kv_cache_dtype_;
        if (tensor_parallel_ > 1) c += " --tensor-parallel " + std::to_string(tensor_parallel_);
        if (mode_ == "online") c += " --rate " + std::to_string(online_.rate) + (http_ ? " --http" : "");
        if (mode_ != "static")
            c += " --mode " + mode_ + " -n " + std::to_string(offline_.num_requests) + " --kv-fraction " +
                 std::to_string(offline_.kv_fraction) + " --block-size " + std::to_string(offline_.block_size) +
                 " --max-batched-tokens " + std::to_string(offline_.max_batched_tokens) + " --max-running " +
                 std::to_string(offline_.max_running);
        return c;
    }

    RunResult run_once(const Model& model, int batch, uint64_t prompt_seed, Device device) {
        std::mt19937_64 rng(prompt_seed);
        std::uniform_int_distribution<int32_t> token(0, int32_t(model.config().n_vocab - 1));
        std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(batch), std::vector<int32_t>(static_cast<size_t>(input_len_)));
        for (auto& p : prompts)
            for (auto& t : p) t = token(rng);
        BatchDecoderOptions bo;
        bo.n_seqs = batch;
        bo.capacity = input_len_ + output_len_;
        bo.sampling.temperature = 0.0f;
        bo.use_graph = !no_graphs_;
        BatchDecoder decoder(model, bo);
        ops::synchronize(device);
        RunResult r;
        auto t0 = Clock::now();
        decoder.prefill(prompts);  // returns once the first tokens are on the host
        r.prefill_s = seconds_since(t0);
        auto t1 = Clock::now();
        for (int i = 1; i < output_len_; ++i) {
            auto ts = Clock::now();
            decoder.step();
            r.step_s.push_back(seconds_since(ts));
        }
        r.decode_s = seconds_since(t1);
        return r;
    }

    nlohmann::json bench_batch(const Model& model, int batch, Device device) {
        ops::reset_peak_device_memory(device);
        for (int i = 0; i < warmup_; ++i) run_once(model, batch, seed_ + 1000 + uint64_t(i), device);
        std::vector<double> ttft, prefill_tps, decode_tps, output_tps, steps;
        for (int i = 0; i < repeats_; ++i) {
            RunResult r = run_once(model, batch, seed_ + uint64_t(i), device);
            ttft.push_back(r.prefill_s * 1e3);
            prefill_tps.push_back(double(batch) * double(input_len_) / r.prefill_s);
            if (!r.step_s.empty()) decode_tps.push_back(double(batch) * double(r.step_s.size()) / r.decode_s);
            output_tps.push_back(double(batch) * double(output_len_) / (r.prefill_s + r.decode_s));
            for (double s : r.step_s) steps.push_back(s * 1e3);
        }
        const ops::DeviceMemoryStats mem = ops::device_memory_stats(device);
        const double tpot50 = quantile(steps, 0.5), tpot95 = quantile(steps, 0.95), tpot99 = quantile(steps, 0.99);
        const double device_used = double(mem.device_total - mem.device_free);
        std::printf("%6d %10.2f %10.0f %12.1f %12.1f %10.3f %10.3f %10.3f %12s\n", batch, quantile(ttft, 0.5),
                    quantile(prefill_tps, 0.5), quantile(decode_tps, 0.5), quantile(output_tps, 0.5), tpot50,
                    tpot95, tpot99, human_bytes(device == Device::kCpu ? 0.0 : device_used).c_str());
        std::fflush(stdout);
        return {{"batch", batch},
                {"graphs", !no_graphs_ && device != Device::kCpu && model.graph_capturable(batch)},
                {"ttft_ms", {{"median", quantile(ttft, 0.5)}, {"min", *std::min_element(ttft.begin(), ttft.end())}}},
                {"prefill_tokens_per_second", quantile(prefill_tps, 0.5)},
                {"decode_tokens_per_second", quantile(decode_tps, 0.5)},
                {"output_tokens_per_second", quantile(output_tps, 0.5)},
                {"per_token_latency_ms", {{"p50", tpot50}, {"p95", tpot95}, {"p99", tpot99}}},
                {"memory",
                 {{"peak_allocated_bytes", mem.peak_allocated},
                  {"peak_reserved_bytes", mem.peak_reserved},
                  {"device_used_bytes", mem.device_total - mem.device_free},
                  {"device_total_bytes", mem.device_total}}},
                {"samples", {{"ttft_ms", ttft}, {"decode_tokens_per_second", decode_tps}}}};
    }

    std::string model_dir_, config_, json_path_, device_ = "cuda", mode_ = "static";
    OfflineBenchOptions offline_;
    OnlineBenchOptions online_;
    bool dummy_weights_ = false, no_graphs_ = false, http_ = false;
    std::string quantize_ = "none";
    std::string kv_cache_dtype_ = "auto";
    int tensor_parallel_ = 1;
    std::optional<LaunchedRank> launched_;  // set under mpirun
    std::vector<int> batches_;
    int64_t input_len_ = 128, output_len_ = 128;
    int warmup_ = 1, repeats_ = 3;
    std::optional<int> threads_;
    uint64_t seed_ = 0;
};

}  // namespace

std::unique_ptr<Command> make_bench_command() { return std::make_unique<BenchCommand>(); }

}  // namespace turbolm::cli
