// FP8 activations made by the kernels that compute them (ops::rms_norm_fp8, ops::act_mul_fp8) against
// the unfused path on the same GPU: the op writes its 16-bit rows and the W8A8 quantizer (tested
// against the CPU in test_gpu_w8a8.cpp) turns them into codes. The codes and scales must be the same
// bits, for rows the fused kernel takes and rows it leaves to the fallback (too long, not a multiple
// of 8), bf16 and f16, strided gate/up views as the fused [gate; up] product leaves them. Products
// of those codes (ops::linear_fp8_codes) give linear_fp8's bits on every path of its dispatch.
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "ops/cuda/cuda_backend.h"
#include "ops/cuda/w8a8_quant.h"
#include "ops/ops.h"
#include "support/random_tensors.h"

namespace turbolm {
namespace {

Tensor random_rows(int64_t rows, int64_t cols, std::mt19937_64& rng, float stddev) {
    Tensor t = random_matrix(rows, cols, rng, stddev);
    // Tokens of different sizes, so their scales differ; row 1 (when there is one) all zeros.
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) t.data<float>()[r * cols + c] *= r == 1 ? 0.0f : float(1 + r % 5);
    return t;
}

bool same_bits(const Tensor& a, const Tensor& b) {
    const Tensor x = a.to_device(Device::kCpu), y = b.to_device(Device::kCpu);
    return x.nbytes() == y.nbytes() && std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) == 0;
}

// Codes and scales poisoned, so that anything the kernels leave unwritten shows.
struct Codes {
    Tensor q, s;
    Codes(int64_t rows, int64_t cols)
        : q(Tensor::empty({rows, cols}, DType::kF8E4M3, Device::kCuda)),
          s(Tensor::empty({rows}, DType::kF32, Device::kCuda)) {
        ops::fill_constant(s, std::numeric_limits<float>::quiet_NaN());
        Tensor poison = Tensor::empty({rows, cols}, DType::kF8E4M3);
        std::memset(poison.raw_data(), 0x7f, size_t(poison.nbytes()));  // e4m3 0x7f is NaN
        q.copy_from(poison);
    }
};

// What linear_fp8 makes of the 16-bit rows y.
Codes quantized(const Tensor& y) {
    Codes c(y.size(0), y.size(1));
    cuda::launch_quantize_rows_fp8(y.raw_data(), y.dtype(), y.stride(0), c.q.data<uint8_t>(), c.s.data<float>(),
                                   y.size(0), y.size(1), 0.0f, cuda::stream());
    return c;
}

// 1000, 4096 and 14336 columns take the fused kernels (one to eight chunks a thread), 20000 and 1004
// the fallback (too long; not a multiple of 8).
const int64_t kWidths[] = {4096, 14336, 1000, 20000, 1004};

TEST(GpuFp8Activations, RmsNormCodesAreTheNormsRowsQuantized) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    for (const int64_t cols : kWidths) {
        for (const int64_t rows : {int64_t(1), int64_t(6), int64_t(300)}) {
            const Tensor x = random_rows(rows, cols, rng, 3.0f).to_device(Device::kCuda);
            Tensor w = random_rows(1, cols, rng, 1.0f).view({cols});
            for (int64_t c = 0; c < cols; ++c) w.data<float>()[c] += 1.0f;
            const Tensor wd = w.to_device(Device::kCuda);
            for (DType dt : {DType::kBF16, DType::kF16}) {
                SCOPED_TRACE(testing::Message() << dtype_name(dt) << " " << rows << " x " << cols << " seed " << seed);
                Tensor y = Tensor::empty({rows, cols}, dt, Device::kCuda);
                ops::rms_norm(x, wd, 1e-5f, y);
                const Codes want = quantized(y);
                Codes got(rows, cols);
                ops::rms_norm_fp8(x, wd, 1e-5f, dt, got.q, got.s);
                EXPECT_TRUE(same_bits(want.q, got.q)) << "codes differ";
                EXPECT_TRUE(same_bits(want.s, got.s)) << "scales differ";
            }
        }
    }
}

TEST(GpuFp8Activations, ActMulCodesAreTheActivationsRowsQuantized) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    for (const int64_t cols : kWidths) {
        for (const int64_t rows : {int64_t(1), int64_t(7), int64_t(257)}) {
            // gate and up as the fused [gate; up] product leaves them: halves of one row.
            const Tensor both_f32 = random_rows(rows, 2 * cols, rng, 2.0f);
            for (DType dt : {DType::kBF16, DType::kF16}) {
                const Tensor both = both_f32.to(dt).to_device(Device::kCuda);
                const Tensor gate = both.slice(1, 0, cols), up = both.slice(1, cols, 2 * cols);
                for (ops::Activation act : {ops::Activation::kSilu, ops::Activation::kGeluTanh}) {
                    SCOPED_TRACE(testing::Message() << dtype_name(dt) << " " << rows << " x " << cols << " act "
                                                    << int(act) << " seed " << seed);
                    Tensor h = Tensor::empty({rows, cols}, dt, Device::kCuda);
                    ops::act_mul(act, gate, up, h);
                    const Codes want = quantized(h);
                    Codes got(rows, cols);
                    ops::act_mul_fp8(act, gate, up, got.q, got.s);
                    EXPECT_TRUE(same_bits(want.q, got.q)) << "codes differ";
                    EXPECT_TRUE(same_bits(want.s, got.s)) << "scales differ";
                }
            }
        }
    }
}

TEST(GpuFp8Activations, ProductsOfCodesAreLinearFp8s) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t k = 4096, n = 1024;
    Tensor wq = Tensor::empty({n, k}, DType::kF8E4M3, Device::kCuda);
    Tensor ws = Tensor::empty({n}, DType::kF32, Device::kCuda);
    ops::quantize_rows_fp8(random_rows(n, k, rng, 0.02f).to_device(Device::kCuda), wq, ws);
    const Tensor bias = random_rows(1, n, rng, 1.0f).view({n}).to_device(Device::kCuda);
    // 3 rows: the weight-streaming kernel; 64: the split-k product; 2000: cuBLASLt's scaled one.
    for (const int64_t m : {int64_t(3), int64_t(64), int64_t(2000)}) {
        SCOPED_TRACE(testing::Message() << "m " << m << " seed " << seed);
        const Tensor x = random_rows(m, k, rng, 1.0f).to(DType::kBF16).to_device(Device::kCuda);
        const Tensor y0 = random_rows(m, n, rng, 1.0f).to(DType::kBF16).to_device(Device::kCuda);
        Tensor want = Tensor::empty(y0.shape(), y0.dtype(), Device::kCuda);
        Tensor got = Tensor::empty(y0.shape(), y0.dtype(), Device::kCuda);
        want.copy_from(y0);
        got.copy_from(y0);
        ops::linear_fp8(x, wq, ws, bias, want, /*accumulate=*/true);
        const Codes c = quantized(x);
        ops::linear_fp8_codes(c.q, c.s, wq, ws, bias, got, /*accumulate=*/true);
        EXPECT_TRUE(same_bits(want, got));
    }
}

TEST(GpuFp8Activations, RejectsCodesOfTheWrongShape) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const Tensor x = Tensor::zeros({4, 64}, DType::kF32, Device::kCuda);
    const Tensor w = Tensor::zeros({64}, DType::kF32, Device::kCuda);
    Codes short_rows(4, 32);
    EXPECT_THROW(ops::rms_norm_fp8(x, w, 1e-5f, DType::kBF16, short_rows.q, short_rows.s), Error);
    Codes fine(4, 64);
    EXPECT_THROW(ops::rms_norm_fp8(x, w, 1e-5f, DType::kF32, fine.q, fine.s), Error);  // 16-bit rows only
}

}  // namespace
}  // namespace turbolm
