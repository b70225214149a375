#include "eval_report.h"

#include <ctime>
#include <fstream>
#include <iterator>

#include "cli_common.h"
#include "core/parallel.h"

namespace turbolm::cli {

namespace {

std::string utc_now() {
    char buf[32];
    const std::time_t t = std::time(nullptr);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

// The command as it was typed, from the kernel's copy of argv (Linux); "" elsewhere.
std::string command_line() {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string out;
    size_t start = 0;
    while (start < raw.size()) {
        size_t end = raw.find('\0', start);
        if (end == std::string::npos) end = raw.size();
        const std::string arg = raw.substr(start, end - start);
        if (!out.empty()) out += ' ';
        out += arg.find_first_of(" \t\"'") == std::string::npos ? arg : "'" + arg + "'";
        start = end + 1;
    }
    return out;
}

nlohmann::ordered_json rouge_json(const eval::RougeScores& s) {
    return {{"rouge1_f1", s.rouge1.f1}, {"rouge2_f1", s.rouge2.f1}, {"rougeL_f1", s.rougeL.f1}};
}

nlohmann::ordered_json error_json(const eval::ErrorSummary& e) {
    return {{"max", e.max}, {"median", e.median}, {"mean", e.mean}};
}

nlohmann::ordered_json perplexity_json(const eval::PerplexityResult& p) {
    return {{"perplexity", p.perplexity()}, {"mean_nll", p.mean_nll()}, {"tokens_scored", p.tokens},
            {"forward_seconds", p.seconds}};
}

nlohmann::ordered_json text_json(const eval::TextEvalResult& t) {
    const auto& c = t.comparison;
    return {{"text_tokens", t.text_tokens},
            {"windows", t.windows},
            {"baseline", perplexity_json(t.baseline)},
            {"candidate", perplexity_json(t.candidate)},
            {"perplexity_delta", t.candidate.perplexity() - t.baseline.perplexity()},
            {"comparison",
             {{"positions", c.rows},
              {"kld_mean", c.kld_mean},
              {"kld_p99", c.kld_p99},
              {"kld_max", c.kld_max},
              {"top1_agreement", c.top1_agreement},
              {"abs_error", error_json(c.abs_error)},
              {"rel_error", error_json(c.rel_error)}}}};
}

nlohmann::ordered_json summaries_json(const eval::SummaryEvalResult& s) {
    nlohmann::ordered_json examples = nlohmann::ordered_json::array();
    for (const auto& ex : s.examples) {
        auto one = [](const eval::GeneratedSummary& g) {
            nlohmann::ordered_json j = rouge_json(g.scores);
            j["tokens"] = g.tokens;
            j["text"] = g.text;
            return j;
        };
        examples.push_back({{"baseline", one(ex.baseline)}, {"candidate", one(ex.candidate)}});
    }
    return {{"examples", int64_t(s.examples.size())},
            {"baseline", rouge_json(s.baseline_mean)},
            {"candidate", rouge_json(s.candidate_mean)},
            {"identical_outputs", s.identical},
            {"per_example", examples}};
}

void print_text(const EvalReport& r, std::FILE* out) {
    const eval::TextEvalResult& t = *r.text;
    const auto &b = t.baseline, &c = t.candidate;
    std::fprintf(out, "\nperplexity of %s: %lld tokens, %lld scored in %lld windows of up to %lld (stride %lld)\n",
                 r.text_path.c_str(), (long long)t.text_tokens, (long long)b.tokens, (long long)t.windows,
                 (long long)r.ctx, (long long)r.stride);
    std::fprintf(out, "  %-20s %14s %14s %14s\n", "", "baseline", "candidate", "delta");
    const double dp = c.perplexity() - b.perplexity();
    std::fprintf(out, "  %-20s %14.6f %14.6f %+14.3e (%+.4f%%)\n", "perplexity", b.perplexity(), c.perplexity(), dp,
                 100.0 * dp / b.perplexity());
    std::fprintf(out, "  %-20s %14.8f %14.8f %+14.3e\n", "mean NLL (nats)", b.mean_nll(), c.mean_nll(),
                 c.mean_nll() - b.mean_nll());
    std::fprintf(out, "  %-20s %12.2f s %12.2f s\n", "forward time", b.seconds, c.seconds);
    const auto& m = t.comparison;
    std::fprintf(out, "\ncandidate against baseline at %lld positions\n", (long long)m.rows);
    std::fprintf(out, "  %-20s mean %.3e   p99 %.3e   max %.3e\n", "KL(base || cand)", m.kld_mean, m.kld_p99,
                 m.kld_max);
    std::fprintf(out, "  %-20s %.4f%% (%lld of %lld)\n", "top-1 agreement", 100.0 * m.top1_agreement,
                 (long long)m.top1_agree, (long long)m.rows);
    std::fprintf(out, "  %-20s %14s %14s %14s\n", "logit error", "max", "median", "mean");
    std::fprintf(out, "  %-20s %14.3e %14.3e %14.3e\n", "  absolute", m.abs_error.max, m.abs_error.median,
                 m.abs_error.mean);
    std::fprintf(out, "  %-20s %14.3e %14.3e %14.3e\n", "  relative (row max)", m.rel_error.max,
                 m.rel_error.median, m.rel_error.mean);
}

void print_summaries(const EvalReport& r, std::FILE* out) {
    const eval::SummaryEvalResult& s = *r.summaries;
    std::fprintf(out, "\ngreedy generations for %s: %zu prompts, up to %d new tokens, ROUGE F1 against the references\n",
                 r.summaries_path.c_str(), s.examples.size(), r.max_new_tokens);
    std::fprintf(out, "  %-20s %14s %14s\n", "", "baseline", "candidate");
    std::fprintf(out, "  %-20s %14.4f %14.4f\n", "ROUGE-1", s.baseline_mean.rouge1.f1, s.candidate_mean.rouge1.f1);
    std::fprintf(out, "  %-20s %14.4f %14.4f\n", "ROUGE-2", s.baseline_mean.rouge2.f1, s.candidate_mean.rouge2.f1);
    std::fprintf(out, "  %-20s %14.4f %14.4f\n", "ROUGE-L", s.baseline_mean.rougeL.f1, s.candidate_mean.rougeL.f1);
    std::fprintf(out, "  identical outputs    %lld of %zu\n", (long long)s.identical, s.examples.size());
}

}  // namespace

void print_report(const EvalReport& r, std::FILE* out) {
    std::fprintf(out, "turbolm eval of %s\n", r.model_dir.c_str());
    std::fprintf(out, "  baseline    %s\n", describe(r.baseline).c_str());
    std::fprintf(out, "  candidate   %s\n", describe(r.candidate).c_str());
    if (r.candidate_model_dir != r.model_dir)
        std::fprintf(out, "  candidate model  %s\n", r.candidate_model_dir.c_str());
    if (r.text) print_text(r, out);
    if (r.summaries) print_summaries(r, out);
}

nlohmann::ordered_json report_json(const EvalReport& r) {
    nlohmann::ordered_json options = {
        {"baseline", to_json(r.baseline)}, {"candidate", to_json(r.candidate)}, {"threads", num_threads()}};
    if (r.text) {
        options["text"] = r.text_path;
        options["ctx"] = r.ctx;
        options["stride"] = r.stride;
        options["max_tokens"] = r.max_tokens;
    }
    if (r.summaries) {
        options["summaries"] = r.summaries_path;
        options["max_new_tokens"] = r.max_new_tokens;
    }
    nlohmann::ordered_json results = nlohmann::ordered_json::object();
    if (r.text) results["text"] = text_json(*r.text);
    if (r.summaries) results["summaries"] = summaries_json(*r.summaries);
    return {{"tool", "turbolm eval"}, {"date", utc_now()},         {"commit", build_commit()},
            {"command", command_line()}, {"model", r.model_dir}, {"candidate_model", r.candidate_model_dir},
            {"options", options},
            {"results", results}};
}

}  // namespace turbolm::cli
