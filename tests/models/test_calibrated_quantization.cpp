// The calibrated methods on the demo model: calibrated on models/demo/calibration.txt (training
// chapters), measured on the held-out books. AWQ INT4 must stay within KL 0.05 of the unquantized
// model and below round-to-nearest INT4 of the same group size; SmoothQuant W8A8 within 0.01.
// Either written with write_quantized_checkpoint (what `turbolm quantize` does) reloads to a model
// whose logits are bit-identical to the one quantized in memory.
#include <cstdio>
#include <cstring>

#include <gtest/gtest.h>

#include "models/calibrated_quantization.h"
#include "models/demo_divergence.h"
#include "models/model.h"
#include "models/quantized_checkpoint_writer.h"
#include "support/temp_dir.h"

namespace turbolm {
namespace {

CalibrationStats demo_calibration(const Model& model) {
    CalibrationOptions o;
    o.bos = 0;  // the demo tokenizer's BOS
    o.max_samples = 512;
    return calibrate(model, test::demo_calibration_ids(8192), o);
}

// Writes `model`, loads the directory back and compares logits over `ids` bit for bit.
void expect_reload_identical(const Model& model, const std::vector<int32_t>& ids) {
    test::TempDir dir;
    write_quantized_checkpoint(model, test::demo_model_dir(), dir.path() / "quantized");
    const auto reloaded = Model::load(dir.path() / "quantized");
    KvCache ka = model.new_kv_cache(int64_t(ids.size())), kb = reloaded->new_kv_cache(int64_t(ids.size()));
    const Tensor a = model.forward(ids, ka, true), b = reloaded->forward(ids, kb, true);
    ASSERT_EQ(a.shape(), b.shape());
    EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0) << "logits differ after the reload";
    // The same bytes up to side vectors the reload no longer shares between projections
    // (SmoothQuant's inv_smooth of q, k and v is one tensor in memory and three in the file).
    EXPECT_NEAR(double(reloaded->weight_bytes()), double(model.weight_bytes()), 0.01 * double(model.weight_bytes()));
}

TEST(CalibratedQuantization, AwqInt4BeatsRoundToNearestAndStaysWithinItsBound) {
    const std::vector<int32_t> ids = test::demo_heldout_ids(1024);
    const auto base = Model::load(test::demo_model_dir());
    ModelOptions rtn_options;
    rtn_options.quantize = WeightQuantization::kInt4;
    const auto rtn = Model::load(test::demo_model_dir(), rtn_options);
    auto awq = Model::load(test::demo_model_dir());
    const CalibratedQuantizationReport report = quantize_int4_awq(*awq, demo_calibration(*awq));
    int scaled = 0;
    for (const ScaleSearchReport& s : report.searches) {
        EXPECT_LE(s.error_after, s.error_before) << s.where;
        scaled += s.folded && s.parameter > 0.0 ? 1 : 0;
    }
    EXPECT_GT(scaled, 0) << "no projection was scaled";

    const test::Divergence d_rtn = test::divergence(*base, *rtn, ids, 512);
    const test::Divergence d_awq = test::divergence(*base, *awq, ids, 512);
    std::printf("INT4 round-to-nearest: KL %.4g, top-1 %.4f; AWQ: KL %.4g, top-1 %.4f (%d of %zu inputs scaled, "
                "mean clipping %.3f)\n",
                d_rtn.kl_mean, d_rtn.top1_agreement, d_awq.kl_mean, d_awq.top1_agreement, scaled,
                report.searches.size(), report.mean_clip_shrink);
    EXPECT_LT(d_awq.kl_mean, 0.05);
    EXPECT_LT(d_awq.kl_mean, d_rtn.kl_mean);
    EXPECT_LT(awq->weight_bytes(), base->weight_bytes());
    expect_reload_identical(*awq, std::vector<int32_t>(ids.begin(), ids.begin() + 256));
}

TEST(CalibratedQuantization, SmoothQuantW8A8StaysWithinItsBound) {
    const std::vector<int32_t> ids = test::demo_heldout_ids(1024);
    const auto base = Model::load(test::demo_model_dir());
    auto sq = Model::load(test::demo_model_dir());
    const CalibratedQuantizationReport report = quantize_smoothquant(*sq, demo_calibration(*sq));
    for (const ScaleSearchReport& s : report.searches) EXPECT_LE(s.error_after, s.error_before) << s.where;
    const test::Divergence d = test::divergence(*base, *sq, ids, 512);
    std::printf("SmoothQuant W8A8: KL %.4g, top-1 %.4f\n", d.kl_mean, d.top1_agreement);
    EXPECT_GT(d.kl_mean, 0.0);
    EXPECT_LT(d.kl_mean, 0.01);
    expect_reload_identical(*sq, std::vector<int32_t>(ids.begin(), ids.begin() + 256));
}

}  // namespace
}  // namespace turbolm
