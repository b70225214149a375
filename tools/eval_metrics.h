// How far a candidate model's logits are from a baseline's, row by row (one row per scored text
// position), all in double precision:
//   KL(baseline || candidate) = sum_i p_i (log p_i - log q_i), p and q the softmaxes of the rows;
//   top-1 agreement: the rows whose argmax (lowest index on ties) is the same;
//   absolute error |c_ij - b_ij| over every logit;
//   relative error |c_ij - b_ij| / max_j |b_ij|: the error against the scale of its row's logits
//   (a row of zero baseline logits divides by 1).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "eval_histogram.h"

namespace turbolm::eval {

// log softmax of one row, computed in double.
std::vector<double> log_softmax(std::span<const float> logits);
// -log softmax(logits)[target], in double.
double token_nll(std::span<const float> logits, int32_t target);
size_t argmax(std::span<const float> logits);  // lowest index among equal maxima

struct ErrorSummary {
    double max = 0, median = 0, mean = 0;  // median to within 0.025% (MagnitudeHistogram)
};

struct LogitComparisonResult {
    int64_t rows = 0;
    double kld_mean = 0, kld_p99 = 0, kld_max = 0;  // p99: nearest rank, the ceil(0.99 n)-th smallest
    int64_t top1_agree = 0;
    double top1_agreement = 0;  // top1_agree / rows
    ErrorSummary abs_error, rel_error;
};

class LogitComparison {
public:
    // One position: the two models' logits over the same vocabulary.
    void add(std::span<const float> baseline, std::span<const float> candidate);
    LogitComparisonResult result() const;

private:
    std::vector<double> kld_;  // per row; one double per scored token is small beside the logits
    int64_t top1_agree_ = 0;
    int64_t n_logits_ = 0;
    double abs_sum_ = 0, abs_max_ = 0, rel_sum_ = 0, rel_max_ = 0;
    MagnitudeHistogram abs_hist_, rel_hist_;
};

}  // namespace turbolm::eval
