// CUDA kernels against the CPU reference on fresh random input, outputs poisoned before each launch.
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "ops/cpu/cpu_kernels.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_device.h"
#include "ops/cuda/cuda_kernels.h"

namespace turbolm {
namespace {

class Cuda : public ::testing::Test {
protected:
    void SetUp() override {
        if (cuda::list_devices().empty()) GTEST_SKIP() << "no CUDA device";
    }
};

TEST_F(Cuda, RmsNormMatchesCpu) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    for (auto [rows, cols, ld] : {std::tuple{1, 64, 64}, {7, 2048, 2048}, {33, 4096, 4100}, {5, 131, 140}}) {
        const size_t n = static_cast<size_t>(rows) * ld;
        std::vector<float> x(n), w(static_cast<size_t>(cols)), ref(n, 0.0f), got(n);
        for (auto& v : x) v = normal(rng);
        for (auto& v : w) v = 1.0f + 0.1f * normal(rng);
        cpu::rms_norm(x.data(), ld, w.data(), 1e-5f, ref.data(), ld, rows, cols);

        float *dx, *dw, *dy;
        TURBOLM_CUDA_CHECK(cudaMalloc(&dx, x.size() * 4));
        TURBOLM_CUDA_CHECK(cudaMalloc(&dw, w.size() * 4));
        TURBOLM_CUDA_CHECK(cudaMalloc(&dy, x.size() * 4));
        TURBOLM_CUDA_CHECK(cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
        TURBOLM_CUDA_CHECK(cudaMemcpy(dw, w.data(), w.size() * 4, cudaMemcpyHostToDevice));
        TURBOLM_CUDA_CHECK(cudaMemset(dy, 0xff, x.size() * 4));  // NaN poison
        cuda::launch_rms_norm(dx, ld, dw, 1e-5f, dy, ld, rows, cols, nullptr);
        TURBOLM_CUDA_CHECK(cudaDeviceSynchronize());
        TURBOLM_CUDA_CHECK(cudaMemcpy(got.data(), dy, got.size() * 4, cudaMemcpyDeviceToHost));
        cudaFree(dx);
        cudaFree(dw);
        cudaFree(dy);
        for (int r = 0; r < rows; ++r)
            for (int c = 0; c < cols; ++c) {
                const float a = got[size_t(r) * ld + c], b = ref[size_t(r) * ld + c];
                ASSERT_TRUE(std::isfinite(a)) << "unwritten output at " << r << "," << c << " seed " << seed;
                ASSERT_NEAR(a, b, 1e-5f * (1.0f + std::fabs(b))) << r << "," << c << " seed " << seed;
            }
    }
}

}  // namespace
}  // namespace turbolm
