// turbolm generate: run a model on a prompt and print what it generates.
#include <cstdio>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "core/logging.h"
#include "core/parallel.h"
#include "engine/chat_prompt.h"
#include "engine/generate.h"
#include "engine/tensor_parallel_group.h"
#include "io/generation_config.h"
#include "tokenizer/tokenizer.h"

namespace turbolm::cli {
namespace {

class GenerateCommand final : public Command {
  public:
    CLI::App* add_to(CLI::App& app) override {
        CLI::App* sub = app.add_subcommand("generate", "Generate tokens from a prompt");
        sub->add_option("--model,-m", model_dir_, "Hugging Face model directory")->required();
        auto* ids = sub->add_option("--prompt-ids", prompt_ids_, "Prompt as comma-separated token ids, e.g. 1,2,3");
        auto* text = sub->add_option("--prompt,-p", prompt_, "Prompt text (tokenized with the model's tokenizer)");
        ids->excludes(text);
        sub->add_flag("--chat", chat_, "Send the prompt as a user message through the model's chat template");
        sub->add_option("--system", system_, "With --chat: a system message before the user's");
        sub->add_option("--max-new-tokens,-n", max_new_tokens_, "Tokens to generate (default: 64)");
        sub->add_option("--temperature", temperature_, "Sampling temperature; 0 = greedy");
        sub->add_option("--top-k", top_k_, "Keep the k most likely tokens (0 = off)");
        sub->add_option("--top-p", top_p_, "Nucleus sampling mass in (0, 1]");
        sub->add_option("--min-p", min_p_, "Drop tokens less likely than min-p times the most likely");
        sub->add_option("--repetition-penalty", repetition_penalty_, "Penalty > 1 for tokens already seen");
        sub->add_option("--presence-penalty", presence_penalty_, "Subtracted from generated tokens' logits");
        sub->add_option("--frequency-penalty", frequency_penalty_, "Subtracted per occurrence in the output");
        sub->add_option("--seed", seed_, "Random seed: the same seed gives the same output");
        sub->add_flag("--ignore-eos", ignore_eos_, "Keep generating past end-of-sequence tokens");
        sub->add_flag("--dummy-weights", dummy_weights_, "Random weights of the config's shapes (no weight files)");
        sub->add_option("--threads,-t", threads_, "CPU threads (default: all cores)");
        sub->add_option("--device", device_, "cpu or cuda (default: cpu)")->check(CLI::IsMember({"cpu", "cuda"}));
        sub->add_option("--matmul-precision", precision_,
                        "f32: activations stay f32 (reference); weight: multiply in the weights' 16-bit type")
            ->check(CLI::IsMember({"f32", "weight"}));
        sub->add_option(
               "--quantize", quantize_,
               "Quantization of the layers' weights at load: none (default), int8, int4 (weight-only), fp8 (W8A8) or fp8-block (W8A8, 128 x 128 block scales)")
            ->check(CLI::IsMember({"none", "int8", "int4", "fp8", "fp8-block"}));
        sub->add_option("--kv-cache-dtype", kv_cache_dtype_,
                        "What the KV cache stores: auto (default: the activation dtype), int8 or fp8 (E4M3)")
            ->check(CLI::IsMember({"auto", "int8", "fp8"}));
        sub->add_option("--tensor-parallel,--tp", tensor_parallel_,
                        "Split the model over N ranks: GPUs with --device cuda, processes with --device cpu")
            ->check(CLI::Range(1, 64));
        sub->add_flag("--json", json_, "Print the result as JSON");
        return sub;
    }

    int run() override {
        return run_guarded([&] { generate_and_print(); });
    }

  private:
    SamplingParams sampling(const GenerationConfig& gen) const {
        SamplingParams p;
        // HF semantics: without do_sample the model decodes greedily; with it, the shipped defaults apply.
        p.temperature = gen.do_sample.value_or(false) ? gen.temperature.value_or(1.0f) : 0.0f;
        if (gen.do_sample.value_or(false)) {
            p.top_k = gen.top_k.value_or(0);
            p.top_p = gen.top_p.value_or(1.0f);
            p.min_p = gen.min_p.value_or(0.0f);
        }
        p.repetition_penalty = gen.repetition_penalty.value_or(1.0f);
        if (temperature_) p.temperature = *temperature_;
        if (top_k_) p.top_k = *top_k_;
        if (top_p_) p.top_p = *top_p_;
        if (min_p_) p.min_p = *min_p_;
        if (repetition_penalty_) p.repetition_penalty = *repetition_penalty_;
        if (presence_penalty_) p.presence_penalty = *presence_penalty_;
        if (frequency_penalty_) p.frequency_penalty = *frequency_penalty_;
        if (seed_) p.seed = *seed_;
        return p;
    }

    std::vector<int32_t> prompt_tokens(const Tokenizer* tok) const {
        if (prompt_ids_.empty() && prompt_.empty())
            fail(StatusCode::kInvalidArgument, "give a prompt: --prompt TEXT or --prompt-ids 1,2,3");
        if (!prompt_ids_.empty()) return parse_id_list(prompt_ids_);
        if (!chat_) return tok->encode(prompt_);
        nlohmann::ordered_json messages = nlohmann::ordered_json::array();
        if (!system_.empty()) messages.push_back({{"role", "system"}, {"content", system_}});
        messages.push_back({{"role", "user"}, {"content", prompt_}});
        return encode_chat(*tok, chat_template_of(*tok), messages, /*add_generation_prompt=*/true);
    }

    void generate_and_print() {
        if (threads_) set_num_threads(*threads_);
        if (chat_ && prompt_.empty()) fail(StatusCode::kInvalidArgument, "--chat needs --prompt TEXT");
        // Text in or out needs the tokenizer; an ids-only run works without one.
        std::unique_ptr<Tokenizer> tok;
        if (!prompt_.empty()) tok = Tokenizer::load(model_dir_);
        const std::vector<int32_t> prompt = prompt_tokens(tok.get());
        ModelOptions mo;
        mo.dummy_weights = dummy_weights_;
        mo.seed = seed_.value_or(0);
        mo.precision = precision_ == "weight" ? ops::MatmulPrecision::kWeightType : ops::MatmulPrecision::kF32;
        mo.device = parse_device(device_);
        mo.quantize = parse_weight_quantization(quantize_);
        mo.kv_cache_dtype = parse_kv_cache_dtype(kv_cache_dtype_);
        std::unique_ptr<TensorParallelGroup> group;
        if (tensor_parallel_ > 1) {
            const SplitModelSpec spec{model_dir_,      dummy_weights_, mo.seed,   quantize_,
                                      kv_cache_dtype_, device_,        precision_};
            group = TensorParallelGroup::start(tensor_parallel_, spec);
            mo.comm = group->comm();
        }
        auto model = Model::load(model_dir_, mo);
        const GenerationConfig gen = GenerationConfig::load(model_dir_);

        GenerateOptions opts;
        opts.max_new_tokens = max_new_tokens_.value_or(64);
        opts.sampling = sampling(gen);
        opts.stop_token_ids = gen.eos_token_ids.empty() ? model->config().eos_token_ids : gen.eos_token_ids;
        if (opts.stop_token_ids.empty() && tok && tok->eos_id()) opts.stop_token_ids.push_back(*tok->eos_id());
        opts.ignore_eos = ignore_eos_;
        const bool stream = !json_;
        // Text streams as it becomes final; an end-of-sequence token is not printed.
        std::optional<IncrementalDetokenizer> detok;
        if (tok) detok.emplace(*tok, /*skip_special_tokens=*/true);
        bool first = true;
        // A plain text prompt is echoed so that the output reads as one text (as llama.cpp prints it).
        if (stream && detok && !chat_) std::fputs(prompt_.c_str(), stdout);
        GenerateResult r = generate(*model, prompt, opts, [&](int32_t id) {
            if (!stream) return true;
            if (detok) {
                std::fputs(detok->push(id).c_str(), stdout);
            } else {
                std::printf(first ? "%d" : ",%d", id);
            }
            first = false;
            std::fflush(stdout);
            return true;
        });
        if (group) group->finish(*model);  // the other ranks stop following
        if (stream && detok) std::fputs(detok->flush().c_str(), stdout);
        const double prefill_tps = r.prefill_seconds > 0 ? double(r.prompt_tokens) / r.prefill_seconds : 0.0;
        const double decode_tps =
            r.tokens.size() > 1 && r.decode_seconds > 0 ? double(r.tokens.size() - 1) / r.decode_seconds : 0.0;
        if (json_) {
            nlohmann::json out = {{"tokens", r.tokens},
                                  {"finish_reason", r.finish_reason},
                                  {"seed", r.seed},
                                  {"prompt_tokens", r.prompt_tokens},
                                  {"prefill_seconds", r.prefill_seconds},
                                  {"decode_seconds", r.decode_seconds},
                                  {"prefill_tokens_per_second", prefill_tps},
                                  {"decode_tokens_per_second", decode_tps},
                                  {"threads", num_threads()}};
            if (tok) out["text"] = tok->decode(r.tokens, /*skip_special_tokens=*/true);
            std::printf("%s\n", out.dump().c_str());
        } else {
            std::printf("\n");
            std::fflush(stdout);
            std::fprintf(stderr,
                         "prompt %lld tokens, prefill %.1f tokens/s; generated %zu tokens (%s), decode %.2f tokens/s; "
                         "seed %llu\n",
                         (long long)r.prompt_tokens, prefill_tps, r.tokens.size(), r.finish_reason.c_str(), decode_tps,
                         (unsigned long long)r.seed);
        }
    }

    std::string model_dir_;
    std::string prompt_ids_;
    std::string prompt_;
    std::string system_;
    bool chat_ = false;
    std::optional<int> max_new_tokens_;
    std::optional<float> temperature_, top_p_, min_p_, repetition_penalty_, presence_penalty_, frequency_penalty_;
    std::optional<int> top_k_;
    std::optional<uint64_t> seed_;
    std::optional<int> threads_;
    bool ignore_eos_ = false;
    bool dummy_weights_ = false;
    bool json_ = false;
    std::string device_ = "cpu";
    std::string precision_ = "f32";
    std::string quantize_ = "none";
    std::string kv_cache_dtype_ = "auto";
    int tensor_parallel_ = 1;
};

}  // namespace

std::unique_ptr<Command> make_generate_command() {
    return std::make_unique<GenerateCommand>();
}

}  // namespace turbolm::cli
