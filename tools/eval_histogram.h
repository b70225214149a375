// Quantiles of billions of non-negative values (every logit's error over a long text) in fixed
// memory: a histogram whose bins are the top 20 bits of the value as an f32, i.e. its exponent and
// the first 11 bits of its mantissa. A quantile comes back as the middle of its bin, within a
// relative 2^-12 (0.025%) of the exact value; exact zeros are counted apart and come back as 0.
#pragma once

#include <cstdint>
#include <vector>

namespace turbolm::eval {

class MagnitudeHistogram {
public:
    MagnitudeHistogram();
    void add(double value);  // value >= 0; NaN is counted as +infinity
    int64_t count() const { return count_; }
    // The value of rank floor(q * (count - 1)) in ascending order (q in [0, 1]); 0 when empty.
    double quantile(double q) const;

private:
    std::vector<uint64_t> bins_;
    int64_t zeros_ = 0;
    int64_t count_ = 0;
};

}  // namespace turbolm::eval
