#include "eval_metrics.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace turbolm::eval {

namespace {

double log_sum_exp(std::span<const float> x) {
    double m = -INFINITY;
    for (float v : x) m = std::max(m, double(v));
    double s = 0;
    for (float v : x) s += std::exp(double(v) - m);
    return m + std::log(s);
}

}  // namespace

std::vector<double> log_softmax(std::span<const float> logits) {
    const double lse = log_sum_exp(logits);
    std::vector<double> out(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) out[i] = double(logits[i]) - lse;
    return out;
}

double token_nll(std::span<const float> logits, int32_t target) {
    TURBOLM_REQUIRE(target >= 0 && size_t(target) < logits.size(), "target token ", target, " outside a row of ",
                    logits.size(), " logits");
    return log_sum_exp(logits) - double(logits[size_t(target)]);
}

size_t argmax(std::span<const float> logits) {
    return size_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

void LogitComparison::add(std::span<const float> baseline, std::span<const float> candidate) {
    TURBOLM_REQUIRE(baseline.size() == candidate.size() && !baseline.empty(), "comparing rows of ", baseline.size(),
                    " and ", candidate.size(), " logits");
    const std::vector<double> lp = log_softmax(baseline), lq = log_softmax(candidate);
    double kld = 0, scale = 0;
    for (size_t i = 0; i < lp.size(); ++i) {
        const double p = std::exp(lp[i]);
        if (p > 0) kld += p * (lp[i] - lq[i]);  // 0 log 0 = 0
        scale = std::max(scale, std::fabs(double(baseline[i])));
    }
    kld_.push_back(kld);
    top1_agree_ += argmax(baseline) == argmax(candidate);
    if (scale == 0) scale = 1;
    for (size_t i = 0; i < lp.size(); ++i) {
        const double abs = std::fabs(double(candidate[i]) - double(baseline[i])), rel = abs / scale;
        abs_sum_ += abs;
        rel_sum_ += rel;
        abs_max_ = std::max(abs_max_, abs);
        rel_max_ = std::max(rel_max_, rel);
        abs_hist_.add(abs);
        rel_hist_.add(rel);
    }
    n_logits_ += int64_t(lp.size());
}

LogitComparisonResult LogitComparison::result() const {
    LogitComparisonResult r;
    r.rows = int64_t(kld_.size());
    if (r.rows == 0) return r;
    std::vector<double> sorted = kld_;
    std::sort(sorted.begin(), sorted.end());
    double sum = 0;
    for (double k : sorted) sum += k;
    r.kld_mean = sum / double(r.rows);
    r.kld_max = sorted.back();
    r.kld_p99 = sorted[size_t(std::max<int64_t>(int64_t(std::ceil(0.99 * double(r.rows))) - 1, 0))];
    r.top1_agree = top1_agree_;
    r.top1_agreement = double(top1_agree_) / double(r.rows);
    r.abs_error = {abs_max_, abs_hist_.quantile(0.5), abs_sum_ / double(n_logits_)};
    r.rel_error = {rel_max_, rel_hist_.quantile(0.5), rel_sum_ / double(n_logits_)};
    return r;
}

}  // namespace turbolm::eval
