// turbolm generate: run a model on a prompt and print what it generates.
#include <cstdio>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "core/logging.h"
#include "core/parallel.h"
#include "engine/generate.h"
#include "io/generation_config.h"

namespace turbolm::cli {
namespace {

class GenerateCommand final : public Command {
public:
    CLI::App* add_to(CLI::App& app) override {
        CLI::App* sub = app.add_subcommand("generate", "Generate tokens from a prompt");
        sub->add_option("--model,-m", model_dir_, "Hugging Face model directory")->required();
        sub->add_option("--prompt-ids", prompt_ids_, "Prompt as comma-separated token ids, e.g. 1,2,3")->required();
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
        sub->add_option("--matmul-precision", precision_,
                        "f32: activations stay f32 (reference); weight: multiply in the weights' 16-bit type")
            ->check(CLI::IsMember({"f32", "weight"}));
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

    void generate_and_print() {
        if (threads_) set_num_threads(*threads_);
        const std::vector<int32_t> prompt = parse_id_list(prompt_ids_);
        ModelOptions mo;
        mo.dummy_weights = dummy_weights_;
        mo.seed = seed_.value_or(0);
        mo.precision = precision_ == "weight" ? ops::MatmulPrecision::kWeightType : ops::MatmulPrecision::kF32;
        auto model = Model::load(model_dir_, mo);
        const GenerationConfig gen = GenerationConfig::load(model_dir_);

        GenerateOptions opts;
        opts.max_new_tokens = max_new_tokens_.value_or(64);
        opts.sampling = sampling(gen);
        opts.stop_token_ids = gen.eos_token_ids.empty() ? model->config().eos_token_ids : gen.eos_token_ids;
        opts.ignore_eos = ignore_eos_;
        const bool stream = !json_;
        GenerateResult r = generate(*model, prompt, opts, [&](int32_t id) {
            if (stream) {
                static bool first = true;
                std::printf(first ? "%d" : ",%d", id);
                first = false;
                std::fflush(stdout);
            }
            return true;
        });
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
            std::printf("%s\n", out.dump().c_str());
        } else {
            std::printf("\n");
            std::fprintf(stderr, "prompt %lld tokens, prefill %.1f tokens/s; generated %zu tokens (%s), decode %.2f tokens/s; seed %llu\n",
                         (long long)r.prompt_tokens, prefill_tps, r.tokens.size(), r.finish_reason.c_str(),
                         decode_tps, (unsigned long long)r.seed);
        }
    }

    std::string model_dir_;
    std::string prompt_ids_;
    std::optional<int> max_new_tokens_;
    std::optional<float> temperature_, top_p_, min_p_, repetition_penalty_, presence_penalty_, frequency_penalty_;
    std::optional<int> top_k_;
    std::optional<uint64_t> seed_;
    std::optional<int> threads_;
    bool ignore_eos_ = false;
    bool dummy_weights_ = false;
    bool json_ = false;
    std::string precision_ = "f32";
};

}  // namespace

std::unique_ptr<Command> make_generate_command() { return std::make_unique<GenerateCommand>(); }

}  // namespace turbolm::cli
