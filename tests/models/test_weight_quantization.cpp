// Weight-only INT8 on the demo model, on its held-out text: the quantized model's next-token
// distributions stay within the KL divergence the quantization work promises (<= 0.002 against
// the unquantized model) and pick the same top token almost everywhere.
#include <cmath>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "models/model.h"
#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"

namespace turbolm {
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

TEST(WeightQuantization, Int8StaysCloseToTheUnquantizedModel) {
    const auto dir = test::source_dir() / "models" / "demo";
    std::ifstream f(dir / "heldout.txt");
    std::stringstream text;
    text << f.rdbuf();
    auto tok = Tokenizer::load(dir);
    std::vector<int32_t> ids = tok->encode(text.str().substr(0, 4000));
    ids.resize(std::min<size_t>(ids.size(), 256));
    ModelOptions mo;
    auto base = Model::load(dir, mo);
    mo.quantize = WeightQuantization::kInt8;
    auto quant = Model::load(dir, mo);
    KvCache kb = base->new_kv_cache(int64_t(ids.size())), kq = quant->new_kv_cache(int64_t(ids.size()));
    const Tensor a = base->forward(ids, kb, true), b = quant->forward(ids, kq, true);
    const int64_t vocab = a.size(1);
    double kl = 0.0;
    int64_t same_top = 0;
    for (int64_t t = 0; t < a.size(0); ++t) {
        const auto p = log_softmax(a.row<float>(t), vocab), q = log_softmax(b.row<float>(t), vocab);
        int64_t ap = 0, bq = 0;
        for (int64_t i = 0; i < vocab; ++i) {
            kl += std::exp(p[size_t(i)]) * (p[size_t(i)] - q[size_t(i)]);
            if (p[size_t(i)] > p[size_t(ap)]) ap = i;
            if (q[size_t(i)] > q[size_t(bq)]) bq = i;
        }
        same_top += ap == bq ? 1 : 0;
    }
    kl /= double(a.size(0));
    EXPECT_GT(kl, 0.0);  // the weights did change
    EXPECT_LT(kl, 0.002);
    EXPECT_GE(double(same_top) / double(a.size(0)), 0.95);
    EXPECT_LT(quant->weight_bytes(), base->weight_bytes());
}

}  // namespace
}  // namespace turbolm
