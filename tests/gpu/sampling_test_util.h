// What the GPU sampling tests share: device arrays, the CPU references of the sampler's
// formulas, and the fixture. Included by test_cuda_sampling*.cpp only.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_device.h"
#include "gpu/cuda_kernel_test.h"
#include "ops/cuda/sampling/sampling_kernels.h"
#include "sampling/sampler.h"

namespace turbolm::sampling_test {


using cuda::SamplingRow;

constexpr float kInf = std::numeric_limits<float>::infinity();

template <typename T>
class DeviceArray {
  public:
    explicit DeviceArray(size_t n) : n_(n) { TURBOLM_CUDA_CHECK(cudaMalloc(&ptr_, std::max<size_t>(n, 1) * sizeof(T))); }
    explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) { upload(host); }
    ~DeviceArray() { cudaFree(ptr_); }
    DeviceArray(const DeviceArray&) = delete;
    DeviceArray& operator=(const DeviceArray&) = delete;

    T* get() const { return ptr_; }
    size_t size() const { return n_; }
    void upload(const std::vector<T>& host) {
        ASSERT_LE(host.size(), n_);
        TURBOLM_CUDA_CHECK(cudaMemcpy(ptr_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
    }
    void fill_bytes(int byte) { TURBOLM_CUDA_CHECK(cudaMemset(ptr_, byte, std::max<size_t>(n_, 1) * sizeof(T))); }
    void poison() { fill_bytes(0xff); }
    std::vector<T> download() const {
        std::vector<T> host(n_);
        TURBOLM_CUDA_CHECK(cudaMemcpy(host.data(), ptr_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
        return host;
    }

  private:
    T* ptr_ = nullptr;
    size_t n_;
};

inline SamplingRow make_row(float temperature, int32_t top_k = 0, float top_p = 1.0f, float min_p = 0.0f) {
    SamplingRow p;
    p.temperature = temperature;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    return p;
}

// ---- CPU references ------------------------------------------------------------------------------

// Sampler::apply_penalties' formula, spelled out: repetition over the distinct tokens of prompt and output,
// then presence + frequency over the distinct tokens of the output.
inline void cpu_penalize(std::span<float> logits, const SamplingRow& p, const std::vector<int32_t>& prompt,
                  const std::vector<int32_t>& generated) {
    const int64_t vocab = int64_t(logits.size());
    auto in_vocab = [&](int32_t t) { return t >= 0 && t < vocab; };
    if (p.repetition_penalty != 1.0f) {
        std::set<int32_t> seen(prompt.begin(), prompt.end());
        seen.insert(generated.begin(), generated.end());
        for (int32_t t : seen) {
            if (!in_vocab(t)) continue;
            float& l = logits[size_t(t)];
            l = l > 0.0f ? l / p.repetition_penalty : l * p.repetition_penalty;
        }
    }
    if (p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
        std::vector<int32_t> counts(static_cast<size_t>(vocab), 0);
        for (int32_t t : generated)
            if (in_vocab(t)) ++counts[size_t(t)];
        for (int64_t t = 0; t < vocab; ++t) {
            if (counts[size_t(t)] == 0) continue;
            const float sub = p.presence_penalty + p.frequency_penalty * float(counts[size_t(t)]);
            logits[size_t(t)] -= sub;
        }
    }
}

// Exact log-softmax in double.
inline std::vector<double> log_softmax(std::span<const float> row) {
    double m = -std::numeric_limits<double>::infinity();
    for (float x : row) m = std::max(m, double(x));
    double sum = 0.0;
    for (float x : row) sum += std::exp(double(x) - m);
    const double lse = m + std::log(sum);
    std::vector<double> out(row.size());
    for (size_t i = 0; i < row.size(); ++i) out[i] = double(row[i]) - lse;
    return out;
}

// Indices in the CPU sampler's order: value descending, ties by lower index.
inline std::vector<int32_t> rank_order(std::span<const float> values) {
    std::vector<int32_t> order(values.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return values[size_t(a)] > values[size_t(b)]; });
    return order;
}

// The probabilities Sampler::sample draws from (0 outside the kept set), in double: scaled logits as the CPU
// computes them, top-k prefix, shortest top-p prefix of the top-k mass, min-p filter. top_p_scale and
// min_p_scale nudge the parameters to detect rows whose kept set sits on a rounding edge.
inline std::vector<double> kept_probs(std::span<const float> row, const SamplingRow& p, double top_p_scale = 1.0,
                               double min_p_scale = 1.0) {
    const int64_t vocab = int64_t(row.size());
    const float inv_t = 1.0f / p.temperature;
    std::vector<float> s(row.size());
    for (size_t i = 0; i < row.size(); ++i) s[i] = row[i] * inv_t;
    const std::vector<int32_t> order = rank_order(s);
    int64_t n = p.top_k > 0 && p.top_k < vocab ? p.top_k : vocab;
    const double top = double(s[size_t(order[0])]);
    std::vector<double> w(static_cast<size_t>(n));
    double total = 0.0;
    for (int64_t j = 0; j < n; ++j) total += w[size_t(j)] = std::exp(double(s[size_t(order[size_t(j)])]) - top);
    const double top_p = std::min(1.0, double(p.top_p) * top_p_scale);
    if (p.top_p < 1.0f) {
        double cum = 0.0;
        int64_t keep = 0;
        while (keep < n) {
            cum += w[size_t(keep)] / total;
            ++keep;
            if (cum >= top_p) break;
        }
        n = keep;
    }
    if (p.min_p > 0.0f) {
        const double min_p = double(p.min_p) * min_p_scale;
        int64_t keep = 0;
        while (keep < n && w[size_t(keep)] >= min_p) ++keep;
        n = std::max<int64_t>(keep, 1);
    }
    std::vector<double> probs(row.size(), 0.0);
    double mass = 0.0;
    for (int64_t j = 0; j < n; ++j) mass += w[size_t(j)];
    for (int64_t j = 0; j < n; ++j) probs[size_t(order[size_t(j)])] = w[size_t(j)] / mass;
    return probs;
}

// Kept set under nudged parameters: a row is "clear" when nudging top_p and min_p by 1e-4 does not change it.
inline bool kept_set_is_clear(std::span<const float> row, const SamplingRow& p) {
    const std::vector<double> base = kept_probs(row, p);
    for (double tp : {1.0 - 1e-4, 1.0 + 1e-4})
        for (double mp : {1.0 - 1e-4, 1.0 + 1e-4}) {
            const std::vector<double> other = kept_probs(row, p, tp, mp);
            for (size_t i = 0; i < row.size(); ++i)
                if ((base[i] > 0.0) != (other[i] > 0.0)) return false;
        }
    return true;
}

inline double total_variation(const std::vector<double>& probs, const std::vector<int64_t>& counts, int64_t draws) {
    double tv = 0.0;
    for (size_t i = 0; i < probs.size(); ++i) tv += std::fabs(probs[i] - double(counts[i]) / double(draws));
    return tv / 2.0;
}

// Total variation over groups of about equal reference mass (for kept sets too large to resolve token by token).
inline double grouped_total_variation(const std::vector<double>& probs, const std::vector<int64_t>& counts, int64_t draws,
                               int groups) {
    std::vector<int32_t> order = rank_order(std::vector<float>(probs.begin(), probs.end()));
    std::vector<double> ref(static_cast<size_t>(groups), 0.0), got(static_cast<size_t>(groups), 0.0);
    double cum = 0.0;
    for (int32_t i : order) {
        if (probs[size_t(i)] <= 0.0) break;
        const int g = std::min(groups - 1, int(cum * groups));
        cum += probs[size_t(i)];
        ref[size_t(g)] += probs[size_t(i)];
        got[size_t(g)] += double(counts[size_t(i)]) / double(draws);
    }
    double tv = 0.0;
    for (int g = 0; g < groups; ++g) tv += std::fabs(ref[size_t(g)] - got[size_t(g)]);
    return tv / 2.0;
}

struct SampleOut {
    std::vector<int32_t> ids;
    std::vector<float> logprob;       // [rows] when asked
    std::vector<int32_t> top_ids;     // [rows, n_top]
    std::vector<float> top_logprobs;  // [rows, n_top]
};

class CudaSampling : public test::CudaKernelTest {
  protected:
    // launch_sample on logits already on the device; outputs poisoned first.
    SampleOut sample_on_device(const float* logits, int64_t ld, int64_t rows, int64_t vocab,
                               const std::vector<SamplingRow>& params, bool want_logprob, int32_t n_top) {
        DeviceArray<SamplingRow> d_params(params);
        DeviceArray<int32_t> ids(static_cast<size_t>(rows)), top_ids(static_cast<size_t>(rows * std::max(n_top, 1)));
        DeviceArray<float> logprob(static_cast<size_t>(rows)), top_lps(static_cast<size_t>(rows * std::max(n_top, 1)));
        const size_t ws_bytes = cuda::sample_workspace_bytes(rows, vocab);
        DeviceArray<uint8_t> workspace(ws_bytes);
        ids.poison(), logprob.poison(), top_ids.poison(), top_lps.poison(), workspace.poison();
        cuda::launch_sample(logits, ld, rows, vocab, d_params.get(), ids.get(), want_logprob ? logprob.get() : nullptr,
                            n_top, n_top > 0 ? top_ids.get() : nullptr, n_top > 0 ? top_lps.get() : nullptr,
                            workspace.get(), ws_bytes, stream_);
        sync();
        SampleOut out;
        out.ids = ids.download();
        if (want_logprob) out.logprob = logprob.download();
        if (n_top > 0) {
            out.top_ids = top_ids.download();
            out.top_logprobs = top_lps.download();
        }
        return out;
    }
    SampleOut sample(const std::vector<float>& logits, int64_t ld, int64_t rows, int64_t vocab,
                     const std::vector<SamplingRow>& params, bool want_logprob = false, int32_t n_top = 0) {
        DeviceArray<float> d_logits(logits);
        return sample_on_device(d_logits.get(), ld, rows, vocab, params, want_logprob, n_top);
    }

    // Random normal logits (rounded to multiples of `grid` when > 0, to make ties) whose kept set under p is
    // clear of rounding edges.
    std::vector<float> clear_row(int64_t vocab, const SamplingRow& p, float stddev, float grid = 0.0f) {
        for (int attempt = 0;; ++attempt) {
            std::vector<float> row(static_cast<size_t>(vocab));
            for (float& x : row) {
                x = normal(0.0f, stddev);
                if (grid > 0.0f) x = std::round(x / grid) * grid;
            }
            if (kept_set_is_clear(row, p) || attempt > 100) return row;
        }
    }

};

}  // namespace turbolm::sampling_test
