// The CUDA runtime pieces: tensors on the device, copies both ways (strided too), the caching pool,
// and cuBLASLt products against the CPU's.
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/half.h"
#include "ops/ops.h"

namespace turbolm {
namespace {

class GpuRuntime : public ::testing::Test {
protected:
    void SetUp() override {
        if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
        ops::init_device(Device::kCuda);
    }
};

TEST_F(GpuRuntime, CopiesRoundTripIncludingRowSlices) {
    std::mt19937 rng(std::random_device{}());
    Tensor host = Tensor::empty({37, 53}, DType::kF32);
    for (int64_t i = 0; i < host.numel(); ++i) host.data<float>()[i] = float(rng() % 1000) - 500.0f;
    Tensor dev = host.to_device(Device::kCuda);
    EXPECT_EQ(dev.device(), Device::kCuda);
    Tensor back = dev.to_device(Device::kCpu);
    for (int64_t i = 0; i < host.numel(); ++i) ASSERT_EQ(back.data<float>()[i], host.data<float>()[i]);
    // A column slice of the device tensor comes back row by row.
    Tensor cols = Tensor::empty({37, 20}, DType::kF32);
    cols.copy_from(dev.slice(1, 10, 30));
    for (int64_t r = 0; r < 37; ++r)
        for (int64_t c = 0; c < 20; ++c) ASSERT_EQ(cols.row<float>(r)[c], host.row<float>(r)[10 + c]);
}

TEST_F(GpuRuntime, PoolReusesFreedBlocks) {
    ops::trim_device_memory(Device::kCuda);
    const auto before = ops::device_memory_stats(Device::kCuda);
    for (int i = 0; i < 100; ++i) {
        Tensor t = Tensor::empty({1 << 20}, DType::kF32, Device::kCuda);
        (void)t;
    }
    const auto after = ops::device_memory_stats(Device::kCuda);
    // One 4 MiB block, taken and returned a hundred times.
    EXPECT_LE(after.reserved - before.reserved, size_t(8) << 20);
    EXPECT_EQ(after.allocated, before.allocated);
}

TEST_F(GpuRuntime, LinearMatchesCpuInBf16) {
    const uint64_t seed = std::random_device{}();
    std::mt19937 rng(static_cast<uint32_t>(seed));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (auto [m, n, k] : {std::tuple{1, 4096, 4096}, {7, 300, 64}, {128, 512, 1024}, {3, 1000, 200}}) {
        Tensor x = Tensor::empty({m, k}, DType::kF32), w = Tensor::empty({n, k}, DType::kF32);
        Tensor b = Tensor::empty({n}, DType::kF32), res = Tensor::empty({m, n}, DType::kF32);
        for (Tensor* t : {&x, &w, &b, &res})
            for (int64_t i = 0; i < t->numel(); ++i) t->data<float>()[i] = normal(rng);
        // The CPU reference sees the same bf16-rounded inputs.
        Tensor x16 = x.to(DType::kBF16), w16 = w.to(DType::kBF16);
        Tensor ref = res.contiguous();
        Tensor ref_copy = Tensor::empty(ref.shape(), DType::kF32);
        ref_copy.copy_from(ref);
        ops::linear(x16.to(DType::kF32), w16, b, ref_copy, ops::MatmulPrecision::kF32, /*accumulate=*/true);

        Tensor y = res.to_device(Device::kCuda);
        Tensor xd = x16.to_device(Device::kCuda), wd = w16.to_device(Device::kCuda), bd = b.to_device(Device::kCuda);
        ops::linear(xd, wd, bd, y, ops::MatmulPrecision::kWeightType, /*accumulate=*/true);
        Tensor got = y.to_device(Device::kCpu);
        for (int64_t i = 0; i < got.numel(); ++i) {
            const float a = got.data<float>()[i], r = ref_copy.data<float>()[i];
            ASSERT_TRUE(std::isfinite(a));
            ASSERT_NEAR(a, r, 1e-3f * std::sqrt(float(k)) + 1e-3f * std::fabs(r))
                << m << "x" << n << "x" << k << " at " << i << " seed " << seed;
        }
    }
}

}  // namespace
}  // namespace turbolm
