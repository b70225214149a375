#include "models/demo_divergence.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <span>
#include <sstream>

#include "models/model.h"
#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"

namespace turbolm::test {
namespace {

std::vector<double> log_softmax(const float* row, int64_t n) {
    double mx = -1e300;
    for (int64_t i = 0; i < n; ++i) mx = std::max(mx, double(row[i]));
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += std::exp(double(row[i]) - mx);
    std::vector<double> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out[size_t(i)] = double(row[i]) - mx - std::log(sum);
    return out;
}

std::string read(const std::filesystem::path& path) {
    std::ifstream f(path);
    std::stringstream text;
    text << f.rdbuf();
    return text.str();
}

}  // namespace

std::filesystem::path demo_model_dir() { return source_dir() / "models" / "demo"; }

std::vector<int32_t> demo_heldout_ids(size_t n) {
    std::vector<int32_t> ids = Tokenizer::load(demo_model_dir())->encode(read(demo_model_dir() / "heldout.txt"));
    ids.resize(std::min(ids.size(), n));
    return ids;
}

std::vector<int32_t> demo_calibration_ids(size_t n) {
    std::vector<int32_t> ids =
        Tokenizer::load(demo_model_dir())->encode(read(demo_model_dir() / "calibration.txt"), false);
    ids.resize(std::min(ids.size(), n));
    return ids;
}

Divergence divergence(const Model& base, const Model& candidate, const std::vector<int32_t>& ids, int64_t window,
                      int64_t chunks) {
    double kl = 0.0;
    int64_t same_top = 0, positions = 0;
    for (size_t start = 0; start < ids.size(); start += size_t(window)) {
        const size_t len = std::min(ids.size() - start, size_t(window));
        KvCache kb = base.new_kv_cache(int64_t(len)), kc = candidate.new_kv_cache(int64_t(len));
        const size_t step = (len + size_t(chunks) - 1) / size_t(chunks);
        for (size_t at = start; at < start + len; at += step) {
            const std::span<const int32_t> chunk(ids.data() + at, std::min(start + len - at, step));
            const Tensor a = base.forward(chunk, kb, true), b = candidate.forward(chunk, kc, true);
            const int64_t vocab = a.size(1);
            for (int64_t t = 0; t < a.size(0); ++t) {
                const auto p = log_softmax(a.row<float>(t), vocab), q = log_softmax(b.row<float>(t), vocab);
                int64_t ap = 0, bq = 0;
                for (int64_t i = 0; i < vocab; ++i) {
                    kl += std::exp(p[size_t(i)]) * (p[size_t(i)] - q[size_t(i)]);
                    if (p[size_t(i)] > p[size_t(ap)]) ap = i;
                    if (q[size_t(i)] > q[size_t(bq)]) bq = i;
                }
                same_top += ap == bq ? 1 : 0;
                ++positions;
            }
        }
    }
    return {kl / double(positions), double(same_top) / double(positions)};
}

}  // namespace turbolm::test
