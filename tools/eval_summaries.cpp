#include "eval_summaries.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/generate.h"

namespace turbolm::eval {

namespace {

struct Generated {
    std::vector<int32_t> ids;
    GeneratedSummary summary;
};

Generated generate_greedy(const Model& model, const Tokenizer& tokenizer, const SummaryExample& example,
                          const SummaryOptions& options) {
    GenerateOptions g;
    g.max_new_tokens = options.max_new_tokens;
    g.sampling.temperature = 0.0f;
    g.stop_token_ids = options.stop_token_ids;
    const std::vector<int32_t> prompt = tokenizer.encode(example.prompt);
    Generated out;
    out.ids = generate(model, prompt, g).tokens;
    out.summary.tokens = int64_t(out.ids.size());
    out.summary.text = tokenizer.decode(out.ids, /*skip_special_tokens=*/true);
    out.summary.scores = rouge(out.summary.text, example.reference);
    return out;
}

void add_scaled(RougeScore& sum, const RougeScore& s, double w) {
    sum.precision += w * s.precision;
    sum.recall += w * s.recall;
    sum.f1 += w * s.f1;
}

void add_scaled(RougeScores& sum, const RougeScores& s, double w) {
    add_scaled(sum.rouge1, s.rouge1, w);
    add_scaled(sum.rouge2, s.rouge2, w);
    add_scaled(sum.rougeL, s.rougeL, w);
}

}  // namespace

std::vector<SummaryExample> read_summary_examples(const std::filesystem::path& jsonl) {
    std::ifstream in(jsonl);
    if (!in) fail(StatusCode::kNotFound, jsonl.string(), ": cannot open the summaries file");
    std::vector<SummaryExample> examples;
    std::string line;
    for (int64_t n = 1; std::getline(in, line); ++n) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (!j.is_object() || !j.contains("prompt") || !j["prompt"].is_string() || !j.contains("reference") ||
            !j["reference"].is_string())
            fail(StatusCode::kInvalidArgument, jsonl.string(), ":", n,
                 ": expected a JSON object with string fields \"prompt\" and \"reference\"");
        examples.push_back({j["prompt"].get<std::string>(), j["reference"].get<std::string>()});
    }
    if (examples.empty()) fail(StatusCode::kInvalidArgument, jsonl.string(), ": no examples");
    return examples;
}

SummaryEvalResult evaluate_summaries(const Model& baseline, const Model& candidate, const Tokenizer& tokenizer,
                                     const std::vector<SummaryExample>& examples, const SummaryOptions& options) {
    SummaryEvalResult r;
    const double w = examples.empty() ? 0.0 : 1.0 / double(examples.size());
    for (const SummaryExample& ex : examples) {
        Generated base = generate_greedy(baseline, tokenizer, ex, options);
        Generated cand = generate_greedy(candidate, tokenizer, ex, options);
        r.identical += base.ids == cand.ids;
        add_scaled(r.baseline_mean, base.summary.scores, w);
        add_scaled(r.candidate_mean, cand.summary.scores, w);
        r.examples.push_back({std::move(base.summary), std::move(cand.summary)});
    }
    return r;
}

}  // namespace turbolm::eval
