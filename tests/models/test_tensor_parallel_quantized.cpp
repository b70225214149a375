// Quantized models split over tensor-parallel ranks on the CPU: checkpoints stored quantized (INT8,
// FP8, SmoothQuant W8A8) split by their packed layouts and give the whole quantized model's logits;
// INT4 and act-order splits that cut a group or a permutation are refused by name; quantization at
// load splits first and quantizes each rank's part, which stays within the quantization's own error.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include <gtest/gtest.h>

#include "models/model.h"
#include "models/quantized_checkpoint_writer.h"
#include "quantized_checkpoint_fixture.h"
#include "support/golden.h"
#include "support/split_models.h"
#include "support/temp_dir.h"
#include "support/test_paths.h"

namespace turbolm {
namespace {

namespace fs = std::filesystem;

Tensor split_logits(const fs::path& dir, const ModelOptions& mo, int world, const std::vector<int32_t>& ids) {
    return test::model_logits(dir, mo, world, ids);
}

Tensor whole_logits(const fs::path& dir, const ModelOptions& mo, const std::vector<int32_t>& ids) {
    return test::model_logits(dir, mo, 1, ids);
}

// max |a - b| / max |a|, and the share of rows whose top-1 token agrees.
std::pair<double, double> compare(const Tensor& a, const Tensor& b) {
    EXPECT_EQ(a.shape(), b.shape());
    double max_a = 0.0, max_diff = 0.0;
    int64_t same = 0;
    const int64_t rows = a.size(0), V = a.size(1);
    for (int64_t r = 0; r < rows; ++r) {
        const float *pa = a.row<float>(r), *pb = b.row<float>(r);
        for (int64_t v = 0; v < V; ++v) {
            max_a = std::max(max_a, double(std::fabs(pa[v])));
            max_diff = std::max(max_diff, std::fabs(double(pa[v]) - double(pb[v])));
        }
        same += std::max_element(pa, pa + V) - pa == std::max_element(pb, pb + V) - pb;
    }
    return {max_diff / max_a, double(same) / double(rows)};
}

// llama-gqa with its projections quantized in `format` and written as a checkpoint under dir; the
// source (dense) and the written directory.
std::pair<fs::path, fs::path> write_quantized_copy(const fs::path& dir, WeightFormat format, std::mt19937_64& rng,
                                                   int64_t group = 128, bool act_order = false) {
    const fs::path src = dir / "source", out = dir / "quantized";
    test::make_source_dir("llama-gqa", src);
    auto model = Model::load(src);
    ModelWeights w = model->weights();
    test::quantize_projections(w, format, rng, group, act_order);
    write_quantized_checkpoint(model->config(), w, src, out);
    return {src, out};
}

struct StoredCase {
    WeightFormat format;
    bool exact;  // weight-only: the split only reorders f32 sums; W8A8 quantizes each rank's activations
};

class SplitStoredQuantized : public ::testing::TestWithParam<StoredCase> {};

TEST_P(SplitStoredQuantized, GivesTheWholeQuantizedModelsLogits) {
    const StoredCase& c = GetParam();
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    test::TempDir tmp;
    const auto [src, out] = write_quantized_copy(tmp.path(), c.format, rng);
    const auto goldens = test::load_goldens(test::fixtures_dir() / "hf-tiny" / "llama-gqa");
    const std::vector<int32_t>& ids = goldens.at(0).ids;
    const Tensor whole = whole_logits(out, {}, ids);
    // Per-token activation scales of a row-parallel part cover its columns only: W8A8 splits differ
    // from the whole by about what quantizing the activations costs in the first place.
    const double quant_err = compare(whole_logits(src, {}, ids), whole).first;
    for (int world : {2, 4}) {
        const auto [rel, top1] = compare(whole, split_logits(out, {}, world, ids));
        std::printf("[ %s ] %d ranks vs whole: %.2e of max |logit| (quantization alone %.2e), top-1 %.2f\n",
                    weight_format_name(c.format), world, rel, quant_err, top1);
        EXPECT_LE(rel, c.exact ? 1e-5 : 1.5 * quant_err) << world << " ranks; quantization alone: " << quant_err;
        EXPECT_GE(top1, 0.9) << world << " ranks";
    }
}

INSTANTIATE_TEST_SUITE_P(Formats, SplitStoredQuantized,
                         ::testing::Values(StoredCase{WeightFormat::kInt8, true}, StoredCase{WeightFormat::kFp8, false},
                                           StoredCase{WeightFormat::kW8A8Int8, false}),
                         [](const testing::TestParamInfo<StoredCase>& info) {
                             std::string n = weight_format_name(info.param.format);
                             for (char& ch : n)
                                 if (ch == '-') ch = '_';
                             return n;
                         });

// llama-gqa's FFN has 160 units: 80 per rank, which cuts its INT4 groups of 32; act-order cannot be
// cut by columns at all. Both are refused with the reason, on every rank.
TEST(SplitStoredQuantized, SplitsThatCutGroupsOrPermutationsAreRefused) {
    const uint64_t seed = std::random_device{}();
    for (bool act_order : {false, true}) {
        std::mt19937_64 rng(seed);
        test::TempDir tmp;
        const fs::path out = write_quantized_copy(tmp.path(), WeightFormat::kInt4, rng, 32, act_order).second;
        const std::string expected =
            act_order ? "act-order projection (desc_act) cannot be split" : "do not fall on its groups of 32";
        test::run_ranks(2, [&](int, std::shared_ptr<Communicator> comm) {
            ModelOptions opts;
            opts.comm = comm;
            try {
                Model::load(out, opts);
                ADD_FAILURE() << "loaded a split that cuts " << (act_order ? "a permutation" : "a group");
            } catch (const Error& e) {
                EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
            }
        });
    }
}

// --quantize at load on a split model: each rank quantizes its part (row-parallel parts get their
// own per-row scales over their columns), so the logits stay within the quantization's own error of
// the whole quantized model; on the demo model, against its golden prompt.
class SplitQuantizedAtLoad : public ::testing::TestWithParam<WeightQuantization> {};

TEST_P(SplitQuantizedAtLoad, StaysWithinTheQuantizationsError) {
    const fs::path dir = test::source_dir() / "models" / "demo";
    TURBOLM_SKIP_IF_MISSING(dir);
    const auto goldens = test::load_goldens(dir);
    const std::vector<int32_t>& ids = goldens.at(0).ids;
    ModelOptions mo;
    mo.quantize = GetParam();
    const Tensor whole_f32 = whole_logits(dir, {}, ids);
    const Tensor whole = whole_logits(dir, mo, ids);
    const Tensor split = split_logits(dir, mo, 2, ids);
    const auto [quant_err, quant_top1] = compare(whole_f32, whole);
    const auto [split_err, split_top1] = compare(whole, split);
    std::printf("[ %s ] 2 ranks vs whole: %.2e of max |logit| (quantization alone %.2e), top-1 %.2f\n",
                weight_quantization_name(GetParam()), split_err, quant_err, split_top1);
    // The split changes the quantization's grouping, not its precision: its distance from the whole
    // quantized model is within the quantization's own distance from f32.
    EXPECT_LE(split_err, 1.5 * quant_err + 1e-5) << "quantization alone: " << quant_err;
    EXPECT_GE(split_top1, 0.9);
}

INSTANTIATE_TEST_SUITE_P(Modes, SplitQuantizedAtLoad,
                         ::testing::Values(WeightQuantization::kInt8, WeightQuantization::kInt4,
                                           WeightQuantization::kFp8),
                         [](const testing::TestParamInfo<WeightQuantization>& info) {
                             return std::string(weight_quantization_name(info.param));
                         });

}  // namespace
}  // namespace turbolm
