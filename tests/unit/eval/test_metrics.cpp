// The logit comparison on synthetic rows against direct double-precision implementations written
// here from the definitions (softmax as exp / sum, sorted vectors for the quantiles), and the
// windows against a transcription of Hugging Face's perplexity loop.
#include <algorithm>
#include <cmath>
#include <random>
#include <tuple>

#include <gtest/gtest.h>

#include "eval_histogram.h"
#include "eval_metrics.h"
#include "eval_windows.h"

namespace turbolm::eval {
namespace {

using Rows = std::vector<std::vector<float>>;

Rows random_rows(int rows, int vocab, double scale, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    Rows out(size_t(rows), std::vector<float>(size_t(vocab), 0.0f));
    for (auto& r : out)
        for (float& v : r) v = float(scale) * normal(rng);
    return out;
}

std::vector<long double> softmax(const std::vector<float>& x) {
    std::vector<long double> p(x.size());
    long double sum = 0;
    for (size_t i = 0; i < x.size(); ++i) sum += p[i] = std::exp((long double)x[i]);
    for (auto& v : p) v /= sum;
    return p;
}

double lower_median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[(v.size() - 1) / 2];
}

LogitComparisonResult compare(const Rows& base, const Rows& cand) {
    LogitComparison c;
    for (size_t i = 0; i < base.size(); ++i) c.add(base[i], cand[i]);
    return c.result();
}

TEST(LogitComparison, MatchesTheDefinitions) {
    const Rows base = random_rows(101, 300, 4.0, 1);
    Rows cand = random_rows(101, 300, 0.3, 2);
    for (size_t i = 0; i < cand.size(); ++i)
        for (size_t j = 0; j < cand[i].size(); ++j) cand[i][j] += base[i][j];
    // Two rows whose argmax surely changes: the candidate's largest logit moved to another token.
    for (size_t i : {size_t(3), size_t(50)}) cand[i][(std::max_element(base[i].begin(), base[i].end()) - base[i].begin() + 1) % 300] = 100.0f;

    std::vector<double> kld, abs_err, rel_err;
    int agree = 0;
    for (size_t i = 0; i < base.size(); ++i) {
        const auto p = softmax(base[i]), q = softmax(cand[i]);
        long double k = 0;
        for (size_t j = 0; j < p.size(); ++j) k += p[j] * std::log(p[j] / q[j]);
        kld.push_back(double(k));
        agree += std::max_element(base[i].begin(), base[i].end()) - base[i].begin() ==
                 std::max_element(cand[i].begin(), cand[i].end()) - cand[i].begin();
        double scale = 0;
        for (float v : base[i]) scale = std::max(scale, std::fabs(double(v)));
        for (size_t j = 0; j < p.size(); ++j) {
            abs_err.push_back(std::fabs(double(cand[i][j]) - double(base[i][j])));
            rel_err.push_back(abs_err.back() / scale);
        }
    }
    auto mean = [](const std::vector<double>& v) {
        double s = 0;
        for (double x : v) s += x;
        return s / double(v.size());
    };
    std::vector<double> sorted_kld = kld;
    std::sort(sorted_kld.begin(), sorted_kld.end());

    const LogitComparisonResult r = compare(base, cand);
    EXPECT_EQ(r.rows, 101);
    EXPECT_NEAR(r.kld_mean, mean(kld), 1e-12 * mean(kld) + 1e-15);
    EXPECT_NEAR(r.kld_max, sorted_kld.back(), 1e-12 * sorted_kld.back());
    // Nearest rank: the ceil(0.99 * 101) = 100th smallest.
    EXPECT_NEAR(r.kld_p99, sorted_kld[99], 1e-12 * sorted_kld[99]);
    EXPECT_EQ(r.top1_agree, agree);
    EXPECT_LE(agree, 99);
    EXPECT_DOUBLE_EQ(r.top1_agreement, agree / 101.0);
    EXPECT_DOUBLE_EQ(r.abs_error.max, *std::max_element(abs_err.begin(), abs_err.end()));
    EXPECT_NEAR(r.abs_error.mean, mean(abs_err), 1e-12 * mean(abs_err));
    EXPECT_NEAR(r.abs_error.median, lower_median(abs_err), 2.5e-4 * lower_median(abs_err));
    EXPECT_DOUBLE_EQ(r.rel_error.max, *std::max_element(rel_err.begin(), rel_err.end()));
    EXPECT_NEAR(r.rel_error.mean, mean(rel_err), 1e-12 * mean(rel_err));
    EXPECT_NEAR(r.rel_error.median, lower_median(rel_err), 2.5e-4 * lower_median(rel_err));
}

TEST(LogitComparison, IdenticalRowsGiveExactZeros) {
    const Rows rows = random_rows(20, 64, 10.0, 3);
    const LogitComparisonResult r = compare(rows, rows);
    EXPECT_EQ(r.kld_mean, 0.0);
    EXPECT_EQ(r.kld_max, 0.0);
    EXPECT_EQ(r.top1_agreement, 1.0);
    EXPECT_EQ(r.abs_error.max, 0.0);
    EXPECT_EQ(r.abs_error.median, 0.0);
    EXPECT_EQ(r.rel_error.mean, 0.0);
}

TEST(LogitComparison, ShiftedRowsHaveTheSameSoftmax) {
    // Adding a constant to every logit of a row leaves its distribution alone: KL 0 (to rounding),
    // the same argmax, and an absolute error of exactly that constant everywhere.
    Rows base = random_rows(10, 128, 2.0, 4);
    for (auto& r : base)
        for (float& v : r) v = std::round(v * 1024.0f) / 1024.0f;  // so that adding 0.5 is exact
    Rows cand = base;
    for (auto& r : cand)
        for (float& v : r) v += 0.5f;
    const LogitComparisonResult r = compare(base, cand);
    EXPECT_NEAR(r.kld_max, 0.0, 1e-12);
    EXPECT_EQ(r.top1_agreement, 1.0);
    EXPECT_EQ(r.abs_error.max, 0.5);
    EXPECT_EQ(r.abs_error.mean, 0.5);
    EXPECT_NEAR(r.abs_error.median, 0.5, 2.5e-4 * 0.5);  // to the histogram's resolution
}

TEST(LogitComparison, LogSoftmaxAndNll) {
    // Two equal logits: log(1/2) each; a row [0, log 3]: probabilities 1/4, 3/4.
    const std::vector<float> even = {1.0f, 1.0f};
    EXPECT_NEAR(log_softmax(even)[0], std::log(0.5), 1e-15);
    const std::vector<float> row = {0.0f, float(std::log(3.0))};
    EXPECT_NEAR(token_nll(row, 0), std::log(4.0), 1e-7);
    EXPECT_NEAR(token_nll(row, 1), -std::log(0.75), 1e-7);
    EXPECT_EQ(argmax(std::vector<float>{1, 3, 3, 2}), 1u);  // ties: the lowest index
}

TEST(MagnitudeHistogram, QuantilesWithinTheBinWidth) {
    std::mt19937 rng(5);
    std::lognormal_distribution<double> dist(-8.0, 3.0);  // spans many octaves
    MagnitudeHistogram h;
    std::vector<double> values;
    for (int i = 0; i < 20000; ++i) {
        values.push_back(i % 10 == 0 ? 0.0 : dist(rng));
        h.add(values.back());
    }
    std::sort(values.begin(), values.end());
    for (double q : {0.0, 0.05, 0.1, 0.25, 0.5, 0.9, 0.999, 1.0}) {
        const double exact = values[size_t(std::floor(q * double(values.size() - 1)))];
        EXPECT_NEAR(h.quantile(q), exact, 2.5e-4 * exact) << "q " << q;
    }
    EXPECT_EQ(h.quantile(0.05), 0.0);  // the zeros are the lowest tenth
    EXPECT_EQ(MagnitudeHistogram().quantile(0.5), 0.0);
}

// Hugging Face's loop ("Perplexity of fixed-length models"), with labels -100 for the context-only
// tokens and the model's internal shift: the targets each window scores.
std::vector<std::vector<int64_t>> hf_targets(int64_t n, int64_t ctx, int64_t stride) {
    std::vector<std::vector<int64_t>> windows;
    int64_t prev_end = 0;
    for (int64_t begin = 0; begin < n; begin += stride) {
        const int64_t end = std::min(begin + ctx, n);
        const int64_t trg_len = end - prev_end;
        std::vector<int64_t> labels;
        for (int64_t i = begin; i < end; ++i) labels.push_back(i - begin < (end - begin) - trg_len ? -100 : i);
        std::vector<int64_t> targets;
        for (size_t i = 1; i < labels.size(); ++i)  // logits[i - 1] predict labels[i]
            if (labels[i] != -100) targets.push_back(labels[i]);
        if (!targets.empty()) windows.push_back(targets);
        prev_end = end;
        if (end == n) break;
    }
    return windows;
}

TEST(EvalWindows, MatchHuggingFacesLoop) {
    // Worked by hand: 10 tokens, windows of 4 every 2.
    const auto w = eval_windows(10, 4, 2);
    ASSERT_EQ(w.size(), 4u);
    EXPECT_EQ(w[0].begin, 0);
    EXPECT_EQ(w[0].end, 4);
    EXPECT_EQ(w[0].first_target, 1);
    EXPECT_EQ(w[3].begin, 6);
    EXPECT_EQ(w[3].end, 10);
    EXPECT_EQ(w[3].first_target, 8);
    const std::vector<std::tuple<int64_t, int64_t, int64_t>> cases = {
        {10, 4, 2}, {1000, 512, 512}, {1000, 512, 256}, {1000, 100, 33}, {17, 64, 8}, {50, 8, 12}, {2, 2, 1}};
    for (auto [n, ctx, stride] : cases) {
        const auto ours = eval_windows(n, ctx, stride);
        const auto hf = hf_targets(n, ctx, stride);
        ASSERT_EQ(ours.size(), hf.size()) << n << " " << ctx << " " << stride;
        for (size_t i = 0; i < hf.size(); ++i) {
            EXPECT_EQ(ours[i].first_target, hf[i].front());
            EXPECT_EQ(ours[i].end - 1, hf[i].back());
            EXPECT_EQ(ours[i].n_targets(), int64_t(hf[i].size()));
            EXPECT_LE(ours[i].end - ours[i].begin, ctx);
        }
    }
}

}  // namespace
}  // namespace turbolm::eval
