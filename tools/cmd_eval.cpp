// turbolm eval: how far a candidate model configuration is from a baseline on the same tokens:
// perplexity over a text, KL divergence, top-1 agreement and logit errors at every scored position,
// and ROUGE of greedy generations (docs/eval.md).
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>

#include <unistd.h>

#include "cli_common.h"
#include "commands.h"
#include "core/parallel.h"
#include "eval_report.h"
#include "eval_variant.h"
#include "io/generation_config.h"
#include "tokenizer/tokenizer.h"

namespace turbolm::cli {
namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(StatusCode::kNotFound, path, ": cannot open the text file");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class EvalCommand final : public Command {
public:
    CLI::App* add_to(CLI::App& app) override {
        CLI::App* sub = app.add_subcommand("eval", "Compare a candidate model configuration against a baseline");
        sub->add_option("--model,-m", model_dir_, "Hugging Face model directory")->required();
        sub->add_option("--candidate-model", candidate_dir_,
                        "The candidate's directory (default: --model), e.g. one written by turbolm quantize; it must "
                        "share the baseline's tokenizer");
        CLI::Option* text = sub->add_option("--text", text_path_, "Text to score (perplexity, KL divergence, logit errors)");
        sub->add_option("--token-ids", ids_path_,
                        "Token ids to score instead of a text: whitespace-separated integers, one document (for a "
                        "model without its tokenizer)")
            ->excludes(text);
        sub->add_option("--ctx", ctx_, "Tokens per window (default: 512)")->check(CLI::Range(2, 1 << 30));
        sub->add_option("--stride", stride_, "Tokens between window starts (default: 512)")->check(CLI::PositiveNumber);
        sub->add_option("--max-tokens", max_tokens_, "Score only the first N tokens of the text (default: all)")
            ->check(CLI::Range(2, 1 << 30));
        sub->add_option("--summaries", summaries_path_, "JSONL of {\"prompt\", \"reference\"}: ROUGE of greedy outputs");
        sub->add_option("--max-new-tokens", max_new_tokens_, "Tokens generated per prompt (default: 128)")
            ->check(CLI::PositiveNumber);
        sub->add_option("--threads,-t", threads_, "CPU threads (default: all cores)");
        sub->add_option("--json", json_path_, "Write the results to this file");
        variants_.add_to(sub);
        return sub;
    }

    int run() override {
        return run_guarded([&] { evaluate(); });
    }

private:
    void evaluate() {
        if (text_path_.empty() && ids_path_.empty() && summaries_path_.empty())
            fail(StatusCode::kInvalidArgument,
                 "give something to evaluate on: --text FILE or --token-ids FILE, and/or --summaries FILE.jsonl");
        if (threads_) set_num_threads(*threads_);
        EvalReport report;
        report.model_dir = model_dir_;
        report.candidate_model_dir = candidate_dir_.empty() ? model_dir_ : candidate_dir_;
        report.baseline = variants_.baseline();
        report.candidate = variants_.candidate();
        // Inputs are read before the models load, so that a bad path fails at once. Token ids need no
        // tokenizer.
        std::unique_ptr<Tokenizer> tokenizer;
        if (!text_path_.empty() || !summaries_path_.empty()) tokenizer = Tokenizer::load(model_dir_);
        std::vector<int32_t> tokens;
        if (!text_path_.empty()) tokens = scored(tokenizer->encode(read_file(text_path_)), text_path_);
        if (!ids_path_.empty()) tokens = scored(read_token_ids(ids_path_), ids_path_);
        std::vector<eval::SummaryExample> examples;
        if (!summaries_path_.empty()) examples = eval::read_summary_examples(summaries_path_);

        std::fprintf(stderr, "loading the baseline (%s) and the candidate (%s)\n", describe(report.baseline).c_str(),
                     describe(report.candidate).c_str());
        const auto baseline = Model::load(model_dir_, model_options(report.baseline));
        const auto candidate = Model::load(report.candidate_model_dir, model_options(report.candidate));
        if (!tokens.empty()) {
            const int64_t vocab = baseline->config().n_vocab;
            for (size_t i = 0; i < tokens.size(); ++i)
                if (tokens[i] >= vocab)
                    fail(StatusCode::kInvalidArgument, ids_path_, ": token id ", tokens[i], " at position ", i,
                         " is outside the model's vocabulary of ", vocab);
            report.text_path = text_path_.empty() ? ids_path_ : text_path_;
            report.ctx = ctx_;
            report.stride = stride_;
            report.max_tokens = max_tokens_.value_or(0);
            eval::TextEvalOptions o;
            o.ctx = ctx_;
            o.stride = stride_;
            // A counter on a terminal; logs get no carriage returns.
            if (isatty(fileno(stderr)))
                o.on_window = [](int64_t done, int64_t all) {
                    std::fprintf(stderr, "\rscoring windows: %lld / %lld", (long long)done, (long long)all);
                    if (done == all) std::fprintf(stderr, "\n");
                };
            report.text = eval::evaluate_text(*baseline, *candidate, tokens, o);
        }
        if (!examples.empty()) {
            report.summaries_path = summaries_path_;
            report.max_new_tokens = max_new_tokens_;
            eval::SummaryOptions o;
            o.max_new_tokens = max_new_tokens_;
            o.stop_token_ids = stop_tokens(*baseline, *tokenizer);
            std::fprintf(stderr, "generating for %zu prompts with each model\n", examples.size());
            report.summaries = eval::evaluate_summaries(*baseline, *candidate, *tokenizer, examples, o);
        }
        print_report(report, stdout);
        if (!json_path_.empty()) write_json(report_json(report));
    }

    // The tokens of one document (a text is tokenized whole, with what the tokenizer adds, BOS for
    // Llama, as HF's perplexity guide does), cut to --max-tokens.
    std::vector<int32_t> scored(std::vector<int32_t> tokens, const std::string& path) const {
        if (max_tokens_ && int64_t(tokens.size()) > *max_tokens_) tokens.resize(size_t(*max_tokens_));
        if (tokens.size() < 2)
            fail(StatusCode::kInvalidArgument, path, ": ", tokens.size(), " tokens; scoring needs at least 2");
        return tokens;
    }

    static std::vector<int32_t> read_token_ids(const std::string& path) {
        std::ifstream in(path);
        if (!in) fail(StatusCode::kNotFound, path, ": cannot open the token ids");
        std::vector<int32_t> ids;
        std::string word;
        while (in >> word) {
            char* end = nullptr;
            errno = 0;
            const long long v = std::strtoll(word.c_str(), &end, 10);
            if (end == word.c_str() || *end != '\0' || errno == ERANGE || v < 0 || v > INT32_MAX)
                fail(StatusCode::kInvalidArgument, path, ": '", word, "' at position ", ids.size(),
                     " is not a token id");
            ids.push_back(int32_t(v));
        }
        return ids;
    }

    std::vector<int32_t> stop_tokens(const Model& model, const Tokenizer& tokenizer) const {
        const GenerationConfig gen = GenerationConfig::load(model_dir_);
        std::vector<int32_t> ids = gen.eos_token_ids.empty() ? model.config().eos_token_ids : gen.eos_token_ids;
        if (ids.empty() && tokenizer.eos_id()) ids.push_back(*tokenizer.eos_id());
        return ids;
    }

    void write_json(const nlohmann::ordered_json& j) const {
        std::ofstream f(json_path_);
        f << j.dump(2) << "\n";
        if (!f) fail(StatusCode::kInvalidArgument, "cannot write ", json_path_);
        std::fprintf(stderr, "wrote %s\n", json_path_.c_str());
    }

    std::string model_dir_, candidate_dir_, text_path_, ids_path_, summaries_path_, json_path_;
    int64_t ctx_ = 512, stride_ = 512;
    std::optional<int64_t> max_tokens_;
    int max_new_tokens_ = 128;
    std::optional<int> threads_;
    VariantFlags variants_;
};

}  // namespace

std::unique_ptr<Command> make_eval_command() { return std::make_unique<EvalCommand>(); }

}  // namespace turbolm::cli
