#include "models/calibration.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "models/linear_observer.h"
#include "models/model.h"

namespace turbolm {
namespace {

// splitmix64: a row's reservoir draw from (seed, row index) alone.
uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

class StatsObserver final : public LinearObserver {
public:
    StatsObserver(CalibrationStats& stats, const CalibrationOptions& options) : stats_(stats), options_(options) {}

    void observe(const Linear& l, const Tensor& x) override {
        TURBOLM_CHECK(x.device() == Device::kCpu && x.dtype() == DType::kF32 && x.ndim() == 2 && x.stride(1) == 1,
                      "calibration needs f32 activations on the CPU, got ", x.describe());
        LinearInputStats& s = stats_[&l];
        const int64_t in = x.size(1);
        if (s.in == 0) {
            s.in = in;
            s.abs_max.assign(size_t(in), 0.0f);
            s.abs_sum.assign(size_t(in), 0.0);
            s.samples.assign(size_t(options_.max_samples * in), 0.0f);
        }
        TURBOLM_CHECK(s.in == in, "a projection saw inputs of two widths");
        for (int64_t t = 0; t < x.size(0); ++t) {
            const float* row = x.data<float>() + t * x.stride(0);
            for (int64_t c = 0; c < in; ++c) {
                const float a = std::fabs(row[c]);
                s.abs_max[size_t(c)] = std::max(s.abs_max[size_t(c)], a);
                s.abs_sum[size_t(c)] += a;
            }
            keep(s, row);
            ++s.rows_seen;
        }
    }

private:
    void keep(LinearInputStats& s, const float* row) const {
        int64_t slot = s.kept;
        if (s.kept == options_.max_samples) {
            slot = int64_t(mix(options_.seed ^ mix(uint64_t(s.rows_seen))) % uint64_t(s.rows_seen + 1));
            if (slot >= options_.max_samples) return;
        } else {
            ++s.kept;
        }
        std::memcpy(s.samples.data() + slot * s.in, row, size_t(s.in) * sizeof(float));
    }

    CalibrationStats& stats_;
    const CalibrationOptions& options_;
};

}  // namespace

std::vector<float> LinearInputStats::abs_mean() const {
    std::vector<float> mean(size_t(in), 0.0f);
    if (rows_seen == 0) return mean;
    for (int64_t c = 0; c < in; ++c) mean[size_t(c)] = float(abs_sum[size_t(c)] / double(rows_seen));
    return mean;
}

Tensor LinearInputStats::sample_tensor() const {
    Tensor t = Tensor::empty({kept, in}, DType::kF32);
    if (kept > 0) std::memcpy(t.data<float>(), samples.data(), size_t(kept * in) * sizeof(float));
    return t;
}

CalibrationStats calibrate(const Model& model, std::span<const int32_t> tokens, const CalibrationOptions& options) {
    TURBOLM_REQUIRE(model.device() == Device::kCpu && model.activation_dtype() == DType::kF32,
                    "calibration runs the model on the CPU in f32");
    TURBOLM_REQUIRE(!tokens.empty(), "calibration needs a non-empty text");
    TURBOLM_REQUIRE(options.max_samples > 0 && options.window > 1, "calibration window and sample count must be positive");
    const int64_t body = options.bos >= 0 ? options.window - 1 : options.window;
    CalibrationStats stats;
    StatsObserver observer(stats, options);
    ScopedLinearObserver scope(&observer);
    std::vector<int32_t> window;
    for (size_t start = 0; start < tokens.size(); start += size_t(body)) {
        const size_t n = std::min(tokens.size() - start, size_t(body));
        window.clear();
        if (options.bos >= 0) window.push_back(options.bos);
        window.insert(window.end(), tokens.begin() + std::ptrdiff_t(start), tokens.begin() + std::ptrdiff_t(start + n));
        KvCache kv = model.new_kv_cache(int64_t(window.size()));
        (void)model.forward(window, kv, /*all_logits=*/false);
    }
    return stats;
}

}  // namespace turbolm
