// The engine thread: takes submitted and cancelled requests, runs EngineCore steps, and turns
// tokens into streamed text (incremental detokenizer, then stop strings).
#include "turbolm/engine.h"

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "core/error.h"
#include "core/logging.h"
#include "engine/beam_search.h"
#include "engine/chat_prompt.h"
#include "engine/engine_core.h"
#include "engine/kv_sizing.h"
#include "engine/stop_strings.h"
#include "engine/tensor_parallel_group.h"
#include "io/generation_config.h"
#include "tokenizer/tokenizer.h"

namespace turbolm {

struct Engine::Impl {
    struct Pending {
        uint64_t id = 0;
        GenerationRequest request;
        OutputCallback callback;
    };
    // One completion: a request with n of them has n entries, keyed by their engine-core ids.
    struct Live {
        uint64_t request_id = 0;
        int index = 0;
        bool logprobs = false;
        OutputCallback callback;
        std::optional<IncrementalDetokenizer> detok;
        StopStringMatcher stops;
        int64_t prompt_tokens = 0, completion_tokens = 0;
    };

    EngineConfig config;
    std::unique_ptr<TensorParallelGroup> group;  // the other ranks of a split model
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tokenizer;
    std::optional<ChatTemplate> chat_template;  // parsed once; rendering is thread-safe
    Status chat_template_status;                 // why there is none
    std::vector<int32_t> eos_ids;
    int64_t max_model_len = 0;
    KvSizing kv;
    std::string description;
    std::unique_ptr<EngineCore> core;

    std::mutex mu;
    std::condition_variable wake;
    bool stopping = false;
    uint64_t next_id = 1;
    std::deque<Pending> incoming;
    std::vector<uint64_t> cancels;

    EngineStats stats;  // guarded by mu
    std::unordered_map<uint64_t, Live> live;  // by core id; the engine thread's own
    std::unordered_map<uint64_t, std::vector<uint64_t>> completions;  // request id -> core ids
    // Beam search: each round asks the core for the top alternatives after every live beam, as
    // one-token requests whose prompts share the cached prefix blocks.
    struct Beam {
        OutputCallback callback;
        std::vector<int32_t> prompt;
        BeamSearch search;
        int width = 1;
        std::vector<uint64_t> outstanding;  // core ids of the round in flight
    };
    std::unordered_map<uint64_t, Beam> beams;                                // by request id
    std::unordered_map<uint64_t, std::pair<uint64_t, size_t>> beam_cores;   // core id -> (request, beam)
    uint64_t next_core_id = 1;
    std::thread thread;

    void loop();
    void publish_stats(bool stepped);
    void admit(Pending& p);
    void admit_beam(Pending& p);
    void launch_round(uint64_t request_id, Beam& b);
    void on_beam_token(const TokenEvent& e);
    void end_beam(uint64_t request_id, std::string reason, Status status);
    void on_token(const TokenEvent& e);
    void finish(uint64_t core_id, Live& l, std::string reason, std::string text, std::vector<int32_t> ids,
                Status status, std::vector<TokenLogprobs> logprobs = {});
    static std::vector<TokenLogprobs> logprobs_of(const Live& l, const TokenEvent& e);
};

namespace {

CoreRequest core_request(uint64_t id, std::vector<int32_t> prompt, const GenerationParams& p,
                         const std::vector<int32_t>& eos_ids) {
    CoreRequest r;
    r.id = id;
    r.prompt = std::move(prompt);
    r.max_tokens = p.max_tokens;
    r.sampling.temperature = p.temperature;
    r.sampling.top_k = p.top_k;
    r.sampling.top_p = p.top_p;
    r.sampling.min_p = p.min_p;
    r.sampling.repetition_penalty = p.repetition_penalty;
    r.sampling.presence_penalty = p.presence_penalty;
    r.sampling.frequency_penalty = p.frequency_penalty;
    r.sampling.seed = p.seed;
    r.stop_token_ids = p.stop_token_ids;
    if (!p.ignore_eos) r.stop_token_ids.insert(r.stop_token_ids.end(), eos_ids.begin(), eos_ids.end());
    r.ignore_eos = false;  // the list above already leaves the end-of-sequence ids out when asked
    r.priority = p.priority;
    return r;
}

std::string describe(const Model& m) {
    char size[96];
    const double params = double(m.parameter_count()), gib = double(m.weight_bytes()) / double(1ull << 30);
    if (params >= 1e9) std::snprintf(size, sizeof size, "%.2f B parameters", params / 1e9);
    else std::snprintf(size, sizeof size, "%.1f M parameters", params / 1e6);
    char bytes[64];
    if (gib >= 1.0) std::snprintf(bytes, sizeof bytes, "%.2f GiB", gib);
    else std::snprintf(bytes, sizeof bytes, "%.1f MiB", gib * 1024.0);
    // From the weights themselves: a checkpoint may arrive quantized without --quantize.
    const std::string formats = quantized_formats(m.weights());
    const std::string form = formats.empty() ? str_cat(dtype_name(m.config().dtype), " weights")
                                             : str_cat("weights (", formats, " layers, ", dtype_name(m.config().dtype),
                                                       " elsewhere)");
    const auto& tp = m.config().tp;
    if (tp.split())  // this rank's part: every rank holds about as much
        return str_cat(m.config().architecture, " split over ", tp.world, " GPUs (tensor parallel), ", size, " and ",
                       bytes, " of ", form, " per GPU on ", ops::device_description(m.device()));
    return str_cat(m.config().architecture, ", ", size, ", ", bytes, " of ", form, " on ", ops::device_description(m.device()));
}

}  // namespace

void Engine::Impl::finish(uint64_t core_id, Live& l, std::string reason, std::string text, std::vector<int32_t> ids,
                          Status status, std::vector<TokenLogprobs> logprobs) {
    GenerationOutput out;
    out.request_id = l.request_id;
    out.index = l.index;
    out.logprobs = std::move(logprobs);
    out.text = std::move(text);
    out.token_ids = std::move(ids);
    out.finished = true;
    out.finish_reason = std::move(reason);
    out.status = std::move(status);
    out.prompt_tokens = l.prompt_tokens;
    out.completion_tokens = l.completion_tokens;
    const uint64_t request_id = l.request_id;
    l.callback(out);
    live.erase(core_id);
    auto& ids_left = completions[request_id];
    std::erase(ids_left, core_id);
    if (ids_left.empty()) completions.erase(request_id);
}

std::vector<TokenLogprobs> Engine::Impl::logprobs_of(const Live& l, const TokenEvent& e) {
    if (!l.logprobs) return {};
    return {TokenLogprobs{e.token, e.logprob, e.top_logprobs}};
}

void Engine::Impl::launch_round(uint64_t request_id, Beam& b) {
    const auto& pending = b.search.pending();
    for (size_t i = 0; i < pending.size(); ++i) {
        CoreRequest r;
        r.id = next_core_id++;
        r.prompt = b.prompt;
        r.prompt.insert(r.prompt.end(), pending[i].begin(), pending[i].end());
        r.max_tokens = 1;
        r.sampling.temperature = 0.0f;
        r.ignore_eos = true;
        r.logprobs = 2 * b.width;  // enough alternatives to refill the beam past end-of-sequence ids
        core->add(std::move(r));
        b.outstanding.push_back(next_core_id - 1);
        beam_cores[next_core_id - 1] = {request_id, i};
    }
}

void Engine::Impl::end_beam(uint64_t request_id, std::string reason, Status status) {
    Beam& b = beams.at(request_id);
    for (uint64_t id : b.outstanding) {
        core->abort(id);
        beam_cores.erase(id);
    }
    GenerationOutput out;
    out.request_id = request_id;
    out.finished = true;
    out.prompt_tokens = int64_t(b.prompt.size());
    if (status.is_ok() && reason != "abort") {
        const BeamSearch::Result best = b.search.best();
        out.token_ids = best.tokens;
        if (tokenizer) out.text = tokenizer->decode(best.tokens, /*skip_special_tokens=*/true);
        out.completion_tokens = int64_t(best.tokens.size());
        reason = best.ended_with_eos ? "stop" : "length";
    }
    out.finish_reason = std::move(reason);
    out.status = std::move(status);
    const OutputCallback cb = std::move(b.callback);
    beams.erase(request_id);
    cb(out);
}

void Engine::Impl::on_beam_token(const TokenEvent& e) {
    auto node = beam_cores.extract(e.id);
    const auto [request_id, index] = node.mapped();
    Beam& b = beams.at(request_id);
    std::erase(b.outstanding, e.id);
    b.search.give(index, e.top_logprobs);
    if (b.search.done()) {
        end_beam(request_id, "", Status::ok());
    } else if (b.outstanding.empty()) {
        launch_round(request_id, b);
    }
}

void Engine::Impl::admit_beam(Pending& p) {
    const GenerationParams& params = p.request.params;
    Status st = catch_status([&] {
        if (params.beam_width > 16) fail(StatusCode::kInvalidArgument, "beam_width must be at most 16");
        std::vector<int32_t> prompt = std::move(p.request.prompt_ids);
        if (prompt.empty() && !p.request.prompt.empty()) {
            if (!tokenizer) fail(StatusCode::kInvalidArgument, "this model has no tokenizer: send prompt token ids");
            prompt = tokenizer->encode(p.request.prompt);
        }
        if (prompt.empty()) fail(StatusCode::kInvalidArgument, "the prompt is empty");
        if (int64_t(prompt.size()) + params.max_tokens > max_model_len)
            fail(StatusCode::kOutOfRange, "prompt of ", prompt.size(), " tokens plus max_tokens ", params.max_tokens,
                 " exceeds the context of ", max_model_len, " tokens");
        std::vector<int32_t> eos = params.stop_token_ids;
        if (!params.ignore_eos) eos.insert(eos.end(), eos_ids.begin(), eos_ids.end());
        Beam b{p.callback, std::move(prompt), BeamSearch(params.beam_width, params.max_tokens, eos, params.length_penalty),
               params.beam_width, {}};
        auto it = beams.emplace(p.id, std::move(b)).first;
        launch_round(p.id, it->second);
    });
    if (!st.is_ok()) {
        if (beams.contains(p.id)) {
            end_beam(p.id, "error", st);
        } else {
            GenerationOutput out;
            out.request_id = p.id;
            out.finished = true;
            out.finish_reason = "error";
            out.status = st;
            p.callback(out);
        }
    }
}

void Engine::Impl::admit(Pending& p) {
    const GenerationParams& params = p.request.params;
    if (params.beam_width > 1) return admit_beam(p);
    const int n = params.n;
    std::vector<uint64_t> core_ids;
    Status st = catch_status([&] {
        if (n < 1 || n > 64) fail(StatusCode::kInvalidArgument, "n must be in [1, 64], got ", n);
        if (params.logprobs && (*params.logprobs < 0 || *params.logprobs > 20))
            fail(StatusCode::kInvalidArgument, "logprobs must be in [0, 20], got ", *params.logprobs);
        std::vector<int32_t> prompt = std::move(p.request.prompt_ids);
        if (prompt.empty() && !p.request.prompt.empty()) {
            if (!tokenizer) fail(StatusCode::kInvalidArgument, "this model has no tokenizer: send prompt token ids");
            prompt = tokenizer->encode(p.request.prompt);
        }
        if (int64_t(prompt.size()) + params.max_tokens > max_model_len)
            fail(StatusCode::kOutOfRange, "prompt of ", prompt.size(), " tokens plus max_tokens ", params.max_tokens,
                 " exceeds the context of ", max_model_len, " tokens");
        for (int i = 0; i < n; ++i) {
            GenerationParams pi = params;
            if (pi.seed) *pi.seed += uint64_t(i);
            CoreRequest r = core_request(next_core_id, prompt, pi, eos_ids);
            r.logprobs = params.logprobs ? *params.logprobs : -1;
            core->add(std::move(r));  // throws before queuing anything when the request is invalid
            core_ids.push_back(next_core_id++);
        }
    });
    for (size_t i = 0; i < core_ids.size(); ++i) {
        Live l;
        l.request_id = p.id;
        l.index = int(i);
        l.logprobs = params.logprobs.has_value();
        l.callback = p.callback;
        if (tokenizer) l.detok.emplace(*tokenizer, /*skip_special_tokens=*/true);
        l.stops = StopStringMatcher(params.stop, params.include_stop_str_in_output);
        l.prompt_tokens = 0;
        live.emplace(core_ids[i], std::move(l));
        completions[p.id].push_back(core_ids[i]);
    }
    if (!st.is_ok()) {
        // Completions already queued (a later one failed) end too: the request fails as a whole.
        for (uint64_t id : core_ids) {
            core->abort(id);
            finish(id, live.at(id), "error", "", {}, st);
        }
        if (core_ids.empty()) {
            Live l;
            l.request_id = p.id;
            l.callback = p.callback;
            live.emplace(0, std::move(l));
            completions[p.id].push_back(0);
            finish(0, live.at(0), "error", "", {}, st);
        }
        return;
    }
    const int64_t n_prompt = core->scheduler().tokens(core_ids[0]).size();
    for (uint64_t id : core_ids) live.at(id).prompt_tokens = n_prompt;
}

void Engine::Impl::on_token(const TokenEvent& e) {
    if (beam_cores.contains(e.id)) return on_beam_token(e);
    auto it = live.find(e.id);
    if (it == live.end()) return;
    Live& l = it->second;
    ++l.completion_tokens;
    std::string text = l.detok ? l.detok->push(e.token) : std::string();
    std::string out_text = l.stops.push(text);
    if (l.stops.stopped()) {
        if (!e.finished) core->abort(e.id);
        finish(e.id, l, "stop", std::move(out_text), {e.token}, Status::ok(), logprobs_of(l, e));
        return;
    }
    if (e.finished) {
        if (l.detok) out_text += l.stops.push(l.detok->flush());
        if (!l.stops.stopped()) out_text += l.stops.flush();
        const bool stopped = l.stops.stopped() || e.reason == FinishReason::kStop;
        finish(e.id, l, stopped ? "stop" : "length", std::move(out_text), {e.token}, Status::ok(), logprobs_of(l, e));
        return;
    }
    GenerationOutput out;
    out.request_id = l.request_id;
    out.index = l.index;
    out.text = std::move(out_text);
    out.token_ids = {e.token};
    out.logprobs = logprobs_of(l, e);
    out.prompt_tokens = l.prompt_tokens;
    out.completion_tokens = l.completion_tokens;
    l.callback(out);
}

void Engine::Impl::publish_stats(bool stepped) {
    const Scheduler& sch = core->scheduler();
    const BlockManager& bm = sch.block_manager();
    std::lock_guard<std::mutex> lock(mu);
    stats.running = sch.num_running();
    stats.waiting = sch.num_waiting();
    stats.kv_blocks_total = bm.n_blocks() - 1;
    stats.kv_blocks_used = stats.kv_blocks_total - bm.available_blocks();
    stats.prefix_cache_queries = bm.stats().prefix_queries;
    stats.prefix_cache_hits = bm.stats().prefix_hits;
    stats.preemptions = sch.num_preemptions();
    if (stepped) ++stats.steps;
}

void Engine::Impl::loop() {
    for (;;) {
        std::deque<Pending> batch;
        std::vector<uint64_t> cancelled;
        {
            std::unique_lock<std::mutex> lock(mu);
            wake.wait(lock, [&] { return stopping || !incoming.empty() || !cancels.empty() || core->has_unfinished(); });
            if (stopping) break;
            batch.swap(incoming);
            cancelled.swap(cancels);
        }
        for (Pending& p : batch) admit(p);
        for (uint64_t request_id : cancelled) {
            if (beams.contains(request_id)) {
                end_beam(request_id, "abort", Status::ok());
                continue;
            }
            auto it = completions.find(request_id);
            if (it == completions.end()) continue;
            const std::vector<uint64_t> ids = it->second;
            for (uint64_t id : ids) {
                core->abort(id);
                finish(id, live.at(id), "abort", "", {}, Status::ok());
            }
        }
        if (!core->has_unfinished()) {
            publish_stats(/*stepped=*/false);  // cancellations freed blocks: let the gauges show it
            continue;
        }
        // The step in flight finishes, the next one is queued on the device, and only then are the
        // finished step's tokens detokenized and streamed: that host work overlaps the device's.
        std::vector<TokenEvent> events;
        Status st = catch_status([&] {
            if (core->in_flight()) events = core->complete();
            core->launch();
        });
        if (!st.is_ok()) {
            // A failed step (device error) fails the requests that were in it, and only those.
            log::error("engine step failed: ", st.message());
            std::vector<uint64_t> ids;
            for (const auto& [id, l] : live) ids.push_back(id);
            for (uint64_t id : ids) {
                core->abort(id);
                finish(id, live.at(id), "error", "", {}, st);
            }
            std::vector<uint64_t> beam_ids;
            for (const auto& [id, b] : beams) beam_ids.push_back(id);
            for (uint64_t id : beam_ids) end_beam(id, "error", st);
            continue;
        }
        for (const TokenEvent& e : events) on_token(e);
        publish_stats(/*stepped=*/true);
    }
    std::vector<uint64_t> ids;
    for (const auto& [id, l] : live) ids.push_back(id);
    for (uint64_t id : ids) finish(id, live.at(id), "abort", "", {}, Status::ok());
    std::vector<uint64_t> beam_ids;
    for (const auto& [id, b] : beams) beam_ids.push_back(id);
    for (uint64_t id : beam_ids) end_beam(id, "abort", Status::ok());
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() {
    {
        std::lock_guard<std::mutex> lock(impl_->mu);
        impl_->stopping = true;
    }
    impl_->wake.notify_all();
    if (impl_->thread.joinable()) impl_->thread.join();
    if (impl_->group && impl_->model) {
        impl_->core.reset();
        impl_->group->finish(*impl_->model);
    }
}

Expected<std::unique_ptr<Engine>> Engine::create(const EngineConfig& config) {
    auto impl = std::make_unique<Impl>();
    impl->config = config;
    Status st = catch_status([&] {
        ModelOptions mo;
        mo.dummy_weights = config.dummy_weights;
        mo.quantize = parse_weight_quantization(config.quantize);
        mo.kv_cache_dtype = parse_kv_cache_dtype(config.kv_cache_dtype);
        if (config.on_load_progress)
            mo.on_progress = [cb = config.on_load_progress](int64_t done, int64_t total) { cb(double(done) / double(total)); };
        mo.device = config.device == "cpu" ? Device::kCpu : Device::kCuda;
        if (config.device != "cpu" && config.device != "cuda")
            fail(StatusCode::kInvalidArgument, "unknown device '", config.device, "' (cpu or cuda)");
        if (mo.device == Device::kCpu) mo.precision = ops::MatmulPrecision::kWeightType;
        if (config.tensor_parallel < 1)
            fail(StatusCode::kInvalidArgument, "tensor_parallel must be >= 1, not ", config.tensor_parallel);
        if (config.tensor_parallel > 1) {
            if (mo.device != Device::kCuda && !config.tensor_parallel_address.empty())
                fail(StatusCode::kInvalidArgument, "ranks started by a launcher run on CUDA devices, not ",
                     config.device);
            const SplitModelSpec spec{config.model_dir, config.dummy_weights, 0, config.quantize,
                                      config.kv_cache_dtype, config.device};
            impl->group = config.tensor_parallel_address.empty()
                              ? TensorParallelGroup::start(config.tensor_parallel, spec)
                              : TensorParallelGroup::join_launched(config.tensor_parallel,
                                                                   config.tensor_parallel_address);
            mo.comm = impl->group->comm();
        }
        impl->model = Model::load(config.model_dir, mo);
        impl->description = describe(*impl->model);
        // Text needs the tokenizer; a model without one still serves token ids.
        if (catch_status([&] { impl->tokenizer = Tokenizer::load(config.model_dir); }).is_ok() == false)
            impl->tokenizer.reset();
        if (impl->tokenizer) {
            impl->chat_template_status =
                catch_status([&] { impl->chat_template.emplace(chat_template_of(*impl->tokenizer)); });
        } else {
            impl->chat_template_status = Status(StatusCode::kNotFound, "this model has no tokenizer");
        }
        const GenerationConfig gen = GenerationConfig::load(config.model_dir);
        impl->eos_ids = gen.eos_token_ids.empty() ? impl->model->config().eos_token_ids : gen.eos_token_ids;
        if (impl->eos_ids.empty() && impl->tokenizer && impl->tokenizer->eos_id())
            impl->eos_ids.push_back(*impl->tokenizer->eos_id());
        impl->max_model_len = config.max_model_len > 0 ? config.max_model_len
                                                       : std::min<int64_t>(impl->model->config().n_ctx_train, 8192);
        impl->kv = size_kv_cache(*impl->model, config.block_size, config.kv_fraction, impl->max_model_len,
                                 activation_reserve_bytes(*impl->model, config.max_batched_tokens, config.max_running));
        EngineCoreOptions eo;
        eo.scheduler.max_batched_tokens = config.max_batched_tokens;
        eo.scheduler.max_running = config.max_running;
        eo.scheduler.max_model_len = impl->max_model_len;
        eo.scheduler.chunked_prefill = true;
        eo.kv.n_blocks = impl->kv.n_blocks;
        eo.kv.block_size = config.block_size;
        eo.kv.prefix_caching = true;
        eo.decode_graphs = config.cuda_graphs;
        impl->core = std::make_unique<EngineCore>(*impl->model, eo);
    });
    if (!st.is_ok()) return st;
    Impl* raw = impl.get();
    raw->thread = std::thread([raw] { raw->loop(); });
    return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Expected<uint64_t> Engine::submit(GenerationRequest request, OutputCallback on_output) {
    if (!on_output) return Status(StatusCode::kInvalidArgument, "submit needs an output callback");
    uint64_t id;
    {
        std::lock_guard<std::mutex> lock(impl_->mu);
        if (impl_->stopping) return Status(StatusCode::kCancelled, "the engine has stopped");
        id = impl_->next_id++;
        impl_->incoming.push_back({id, std::move(request), std::move(on_output)});
    }
    impl_->wake.notify_one();
    return id;
}

void Engine::cancel(uint64_t request_id) {
    {
        std::lock_guard<std::mutex> lock(impl_->mu);
        impl_->cancels.push_back(request_id);
    }
    impl_->wake.notify_one();
}

int64_t Engine::max_model_len() const { return impl_->max_model_len; }

EngineStats Engine::stats() const {
    std::lock_guard<std::mutex> lock(impl_->mu);
    return impl_->stats;
}
const std::string& Engine::kv_summary() const { return impl_->kv.summary; }
const std::string& Engine::description() const { return impl_->description; }

bool Engine::has_tokenizer() const { return impl_->tokenizer != nullptr; }

int64_t Engine::vocab_size() const { return impl_->model->config().n_vocab; }

Expected<std::vector<int32_t>> Engine::tokenize(const std::string& text) const {
    if (!impl_->tokenizer) return Status(StatusCode::kNotFound, "this model has no tokenizer");
    std::vector<int32_t> ids;
    Status st = catch_status([&] { ids = impl_->tokenizer->encode(text); });
    if (!st.is_ok()) return st;
    return ids;
}

std::string Engine::token_text(int32_t id) const {
    if (!impl_->tokenizer) return {};
    const int32_t one[1] = {id};
    return impl_->tokenizer->decode(one, /*skip_special_tokens=*/false);
}

Expected<std::vector<int32_t>> Engine::encode_chat(const std::string& messages_json, bool add_generation_prompt) const {
    if (!impl_->chat_template) return impl_->chat_template_status;
    std::vector<int32_t> ids;
    Status st = catch_status([&] {
        nlohmann::ordered_json messages = nlohmann::ordered_json::parse(messages_json, nullptr, /*allow_exceptions=*/false);
        if (messages.is_discarded()) fail(StatusCode::kInvalidArgument, "messages are not valid JSON");
        ids = turbolm::encode_chat(*impl_->tokenizer, *impl_->chat_template, messages, add_generation_prompt);
    });
    if (!st.is_ok()) return st;
    return ids;
}

}  // namespace turbolm
