// What `turbolm eval` prints and writes: a table for people and a JSON record (date, commit,
// command, model, options, results) for files beside the benchmark results.
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "eval_summaries.h"
#include "eval_text.h"
#include "eval_variant.h"

namespace turbolm::cli {

struct EvalReport {
    std::string model_dir;
    std::string candidate_model_dir;  // model_dir unless --candidate-model
    ModelVariant baseline, candidate;
    std::string text_path;
    int64_t ctx = 0, stride = 0, max_tokens = 0;  // max_tokens 0: the whole text
    std::optional<eval::TextEvalResult> text;
    std::string summaries_path;
    int max_new_tokens = 0;
    std::optional<eval::SummaryEvalResult> summaries;
};

void print_report(const EvalReport& report, std::FILE* out);
nlohmann::ordered_json report_json(const EvalReport& report);

}  // namespace turbolm::cli
