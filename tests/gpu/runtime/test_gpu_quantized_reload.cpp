// A directory written from a model quantized on the CPU (what `turbolm quantize` does), loaded on
// the GPU, gives logits bit-identical to the same checkpoint quantized on the GPU at load time: the
// GPU quantizers round exactly as the CPU ones, and fusing quantized parts equals quantizing the
// fused matrix, so nothing is recomputed differently.
#include <cstring>

#include <gtest/gtest.h>

#include "models/model.h"
#include "models/quantized_checkpoint_writer.h"
#include "ops/ops.h"
#include "support/temp_dir.h"
#include "support/test_paths.h"

namespace turbolm {
namespace {

class GpuQuantizedReload : public ::testing::TestWithParam<WeightQuantization> {};

TEST_P(GpuQuantizedReload, GivesTheLogitsOfLoadTimeQuantization) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const auto demo = test::source_dir() / "models" / "demo";
    ModelOptions cpu;
    cpu.quantize = GetParam();
    test::TempDir dir;
    write_quantized_checkpoint(*Model::load(demo, cpu), demo, dir.path() / "q");

    ModelOptions gpu;
    gpu.device = Device::kCuda;
    const auto reloaded = Model::load(dir.path() / "q", gpu);
    gpu.quantize = GetParam();
    const auto in_memory = Model::load(demo, gpu);
    std::vector<int32_t> ids;
    for (int32_t i = 0; i < 200; ++i) ids.push_back((i * 7919 + 13) % 4096);
    KvCache ka = in_memory->new_kv_cache(200), kb = reloaded->new_kv_cache(200);
    const Tensor a = in_memory->forward(ids, ka, true), b = reloaded->forward(ids, kb, true);
    ASSERT_EQ(a.shape(), b.shape());
    EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0)
        << weight_quantization_name(GetParam()) << ": logits differ between the reload and load-time quantization";
}

INSTANTIATE_TEST_SUITE_P(Formats, GpuQuantizedReload,
                         ::testing::Values(WeightQuantization::kInt8, WeightQuantization::kInt4,
                                           WeightQuantization::kFp8),
                         [](const auto& info) { return std::string(weight_quantization_name(info.param)); });

}  // namespace
}  // namespace turbolm
