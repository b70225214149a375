// The fixture every CUDA kernel test shares: skips without a GPU, draws a fresh seed (printed on
// failure through seed_text), and gives each test its own non-blocking stream.
#pragma once

#include <random>
#include <string>

#include <gtest/gtest.h>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_device.h"

namespace turbolm::test {

class CudaKernelTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (cuda::list_devices().empty()) GTEST_SKIP() << "no CUDA device";
        seed_ = std::random_device{}();
        rng_.seed(seed_);
        TURBOLM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    }
    void TearDown() override {
        if (stream_) cudaStreamDestroy(stream_);
    }
    void sync() { TURBOLM_CUDA_CHECK(cudaStreamSynchronize(stream_)); }
    float normal(float mean = 0.0f, float stddev = 1.0f) { return std::normal_distribution<float>(mean, stddev)(rng_); }
    int64_t uniform_int(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }
    float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng_); }
    std::string seed_text() const { return "seed " + std::to_string(seed_); }

    uint64_t seed_ = 0;
    std::mt19937_64 rng_;
    cudaStream_t stream_ = nullptr;
};

}  // namespace turbolm::test
