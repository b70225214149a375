#include "eval_histogram.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace turbolm::eval {

namespace {

constexpr int kDroppedBits = 12;  // of the 23 mantissa bits; 11 stay
constexpr uint32_t kBins = 1u << (31 - kDroppedBits);  // sign bit is always 0

float float_of(uint32_t bits) {
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

}  // namespace

MagnitudeHistogram::MagnitudeHistogram() : bins_(kBins, 0) {}

void MagnitudeHistogram::add(double value) {
    ++count_;
    if (value == 0.0) {
        ++zeros_;
        return;
    }
    const float f = std::isnan(value) ? std::numeric_limits<float>::infinity() : float(std::fabs(value));
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    ++bins_[bits >> kDroppedBits];
}

double MagnitudeHistogram::quantile(double q) const {
    if (count_ == 0) return 0.0;
    const int64_t rank = int64_t(std::floor(q * double(count_ - 1)));
    if (rank < zeros_) return 0.0;
    int64_t seen = zeros_;
    for (uint32_t b = 0; b < kBins; ++b) {
        seen += int64_t(bins_[b]);
        if (seen > rank) {
            const double lo = float_of(b << kDroppedBits), hi = float_of((b + 1) << kDroppedBits);
            return std::isinf(lo) ? lo : 0.5 * (lo + hi);
        }
    }
    return std::numeric_limits<double>::infinity();
}

}  // namespace turbolm::eval
