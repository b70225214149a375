// Summaries the bench modes share: linear-interpolated quantiles and the p50/p95/p99 triple.
#pragma once

#include <algorithm>
#include <vector>

#include <nlohmann/json.hpp>

namespace turbolm::cli {

inline double quantile(std::vector<double> v, double q) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    const double pos = q * double(v.size() - 1);
    const size_t lo = size_t(pos), hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}

inline nlohmann::json percentiles(const std::vector<double>& v) {
    return {{"p50", quantile(v, 0.5)}, {"p95", quantile(v, 0.95)}, {"p99", quantile(v, 0.99)}};
}

}  // namespace turbolm::cli
