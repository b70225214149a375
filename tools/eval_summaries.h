// Generation quality of a baseline and a candidate model: each continues every prompt of a JSONL
// file greedily (engine/generate.h), and its text is scored with ROUGE against the line's reference.
// Greedy decoding makes the outputs depend only on the models, so a candidate that matches its
// baseline writes the same texts.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "eval_rouge.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace turbolm::eval {

struct SummaryExample {
    std::string prompt, reference;
};

// One {"prompt": "...", "reference": "..."} object per line; blank lines are skipped. Throws Error
// naming the file and line on anything else.
std::vector<SummaryExample> read_summary_examples(const std::filesystem::path& jsonl);

struct SummaryOptions {
    int max_new_tokens = 128;
    std::vector<int32_t> stop_token_ids;
};

struct GeneratedSummary {
    std::string text;  // special tokens skipped
    int64_t tokens = 0;
    RougeScores scores;  // against the reference
};

struct SummaryComparison {
    GeneratedSummary baseline, candidate;
};

struct SummaryEvalResult {
    std::vector<SummaryComparison> examples;
    RougeScores baseline_mean, candidate_mean;  // the mean of each score over the examples
    int64_t identical = 0;  // examples whose two outputs are the same tokens
};

SummaryEvalResult evaluate_summaries(const Model& baseline, const Model& candidate, const Tokenizer& tokenizer,
                                     const std::vector<SummaryExample>& examples, const SummaryOptions& options);

}  // namespace turbolm::eval
