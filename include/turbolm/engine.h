// The public C++ API of the serving engine: submit requests (token ids or text) with their sampling
// parameters, receive each request's output as a stream of pieces on the engine's thread, cancel.
// One engine thread runs continuous batching over a paged KV cache; a bad request fails alone.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "turbolm/status.h"

namespace turbolm {

struct EngineConfig {
    std::string model_dir;        // a Hugging Face model directory
    std::string device = "cuda";  // "cuda" or "cpu"
    bool dummy_weights = false;   // random weights of config.json's shapes
    int64_t max_model_len = 0;    // prompt + output tokens of one request; 0: the model's, at most 8192
    double kv_fraction = 0.9;     // share of the memory left after loading that the KV cache may take
    int64_t block_size = 16;      // KV positions per block
    int64_t max_batched_tokens = 8192;  // tokens computed per step
    int64_t max_running = 256;          // requests decoding at once
    bool cuda_graphs = true;            // replay decode steps from CUDA graphs (off: every step eager)
    std::string quantize = "none";      // quantization at load: "none", "int8", "int4" (weight-only) or "fp8" (W8A8)
    // What the KV cache stores: "auto" (f32 on the CPU, the compute dtype on the GPU), or "int8" /
    // "fp8" (E4M3): 8-bit codes with a scale per token and head, about twice the tokens per byte.
    std::string kv_cache_dtype = "auto";
    // GPUs to split the model over (Megatron-style tensor parallelism through NCCL): this process
    // drives the first and starts one helper process per other GPU (`turbolm tp-worker`). 1: no split.
    int tensor_parallel = 1;
    // "host:port" when a launcher such as mpirun started every rank (this process being rank 0): the
    // others run `turbolm serve` too and fetch the group's id there. Empty: this process starts them.
    std::string tensor_parallel_address;
    // Loading progress in [0, 1] as the weights reach the device (called on the loading thread).
    std::function<void(double)> on_load_progress;
};

struct GenerationParams {
    int64_t max_tokens = 16;
    float temperature = 1.0f;  // 0: greedy
    int top_k = 0;
    float top_p = 1.0f;
    float min_p = 0.0f;
    float repetition_penalty = 1.0f;
    float presence_penalty = 0.0f;
    float frequency_penalty = 0.0f;
    std::optional<uint64_t> seed;
    std::vector<std::string> stop;           // stop strings (may span tokens)
    std::vector<int32_t> stop_token_ids;     // besides the model's end-of-sequence ids
    bool include_stop_str_in_output = false;
    bool ignore_eos = false;
    int priority = 0;  // lower runs first
    int n = 1;         // independent completions of the prompt (seeds seed, seed+1, ...); prompt blocks shared
    // Log-probabilities (of the logits after penalties, before temperature) of each chosen token and
    // of the `logprobs` most likely ones; unset: none.
    std::optional<int> logprobs;
    // Beam search of this width (> 1; sampling parameters and n are then ignored): the output is
    // the best beam by summed log-probability / length^length_penalty, delivered in one piece.
    int beam_width = 1;
    float length_penalty = 1.0f;
};

struct GenerationRequest {
    std::vector<int32_t> prompt_ids;  // used when not empty
    std::string prompt;               // otherwise, tokenized with the model's tokenizer
    GenerationParams params;
};

struct TokenLogprobs {
    int32_t token = 0;
    float logprob = 0.0f;
    std::vector<std::pair<int32_t, float>> top;  // most likely first
};

// One piece of one completion of a request. Pieces of a completion arrive in order; its last has
// `finished` set (a request with n completions finishes when all n have).
struct GenerationOutput {
    uint64_t request_id = 0;
    int index = 0;                    // which of the request's n completions
    std::string text;                 // text new in this piece (held back while a stop string may form)
    std::vector<int32_t> token_ids;   // token ids new in this piece
    std::vector<TokenLogprobs> logprobs;  // one per token id, when asked for
    bool finished = false;
    std::string finish_reason;        // with finished: "stop", "length", "abort" or "error"
    Status status;                    // with finish_reason "error": what went wrong
    int64_t prompt_tokens = 0;
    int64_t completion_tokens = 0;    // so far
};

// A snapshot of the engine's state, for metrics.
struct EngineStats {
    int64_t running = 0, waiting = 0;
    int64_t kv_blocks_total = 0, kv_blocks_used = 0;
    int64_t prefix_cache_queries = 0, prefix_cache_hits = 0;  // prompt tokens
    int64_t preemptions = 0;
    int64_t steps = 0;
};

class Engine {
public:
    using OutputCallback = std::function<void(const GenerationOutput&)>;

    // Loads the model and starts the engine thread; prints nothing. log_line() tells the KV sizing.
    static Expected<std::unique_ptr<Engine>> create(const EngineConfig& config);
    ~Engine();  // stops the thread; unfinished requests end with "abort"
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Queues a request. Its outputs are delivered on the engine thread; an invalid request (empty or
    // over-long prompt, ids outside the vocabulary, bad parameters) gets one finished output with
    // finish_reason "error". Fails only when the engine has stopped.
    Expected<uint64_t> submit(GenerationRequest request, OutputCallback on_output);
    // Ends a request early ("abort"); unknown or finished ids are ignored.
    void cancel(uint64_t request_id);

    int64_t max_model_len() const;
    EngineStats stats() const;  // as of the last step; safe from any thread
    const std::string& kv_summary() const;  // "KV cache: N blocks of 16 tokens (...)"
    // What was loaded: "LlamaForCausalLM, 8.03 B parameters, 14.96 GiB of bf16 weights on NVIDIA H200 (...)".
    const std::string& description() const;

    // Text helpers for front ends (servers), safe from any thread. Without a tokenizer they fail
    // with kNotFound (and token_text gives "").
    bool has_tokenizer() const;
    int64_t vocab_size() const;
    Expected<std::vector<int32_t>> tokenize(const std::string& text) const;  // as a prompt is encoded
    std::string token_text(int32_t id) const;  // what one token decodes to, for logprobs
    // The model's chat template applied to `messages_json` (an array of {"role", "content", ...}
    // objects, as in OpenAI's API) and encoded as HF's apply_chat_template(tokenize=True) does.
    // kInvalidArgument when the conversation is malformed or the template rejects it; kNotFound
    // when the model has no chat template.
    Expected<std::vector<int32_t>> encode_chat(const std::string& messages_json, bool add_generation_prompt = true) const;

private:
    struct Impl;
    explicit Engine(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace turbolm
