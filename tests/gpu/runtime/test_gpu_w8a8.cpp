// W8A8 on the GPU against the CPU reference. The quantizers give the CPU's bits: FP8 weights at load,
// and the per-token activation codes and scales of both products. The products match the CPU for
// decode-sized steps (the weight-streaming tensor-core kernel) and larger ones (cuBLASLt) on
// Llama-3-8B's shapes and odd ones, bf16 and f16 inputs, f32 and 16-bit outputs, with and without bias
// and accumulation; INT8 sums are exact on both sides, so only the f32 epilogue's rounding is allowed.
// Every path of the dispatch is also run on its own, outputs written through strided views leave
// their neighbours alone, and a captured graph replays the same bits (the split-k streaming kernel's
// sums included). FP8 products of few output tiles take a split of k with an epilogue of their own,
// which also matches the CPU and repeats its bits. A last test prints FP8 against bf16 timings.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ops/cpu/cpu_w8a8.h"
#include "ops/cuda/cuda_backend.h"
#include "ops/cuda/cuda_device.h"
#include "ops/cuda/w8a8_gemm.h"
#include "ops/cuda/w8a8_gemv.h"
#include "ops/cuda/w8a8_quant.h"
#include "ops/ops.h"
#include "support/random_tensors.h"

namespace turbolm {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Activations that bf16 and f16 both hold exactly (bf16 values without f16 subnormals), so that one
// CPU reference serves both input types. Token t is scaled by 1 + t % 7, so the tokens' scales differ.
Tensor random_activations(int64_t rows, int64_t cols, std::mt19937_64& rng) {
    Tensor x = random_matrix(rows, cols, rng, 1.0f);
    for (int64_t t = 0; t < rows; ++t)
        for (int64_t c = 0; c < cols; ++c) x.data<float>()[t * cols + c] *= float(1 + t % 7);
    x = x.to(DType::kBF16).to(DType::kF32);
    for (int64_t i = 0; i < x.numel(); ++i)
        if (std::fabs(x.data<float>()[i]) < 0x1p-14f) x.data<float>()[i] = 0.0f;
    return x;
}

Tensor on_gpu(const Tensor& t) {
    return t.to_device(Device::kCuda);
}
Tensor on_cpu_f32(const Tensor& t) {
    return t.to_device(Device::kCpu).to(DType::kF32);
}

bool same_bits(const Tensor& a, const Tensor& b) {
    return a.nbytes() == b.nbytes() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

int sm_major() {
    const auto devices = cuda::list_devices();
    return devices.empty() ? 0 : devices[0].sm_major;
}

// ---- quantizers ----------------------------------------------------------------------------------

TEST(GpuW8a8, Fp8WeightQuantizerMatchesTheCpu) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    // 1000 and 14336 columns are read once (kept in registers), 20000 twice, 100 take the scalar loop.
    for (const int64_t cols : {int64_t(1000), int64_t(14336), int64_t(20000), int64_t(100)}) {
        for (DType dt : {DType::kBF16, DType::kF16, DType::kF32}) {
            SCOPED_TRACE(testing::Message() << dtype_name(dt) << " cols " << cols << " seed " << seed);
            const int64_t rows = 300;
            Tensor w32 = random_matrix(rows, cols, rng, 0.02f);
            for (int64_t c = 0; c < cols; ++c) w32.data<float>()[7 * cols + c] = 0.0f;  // scale 1, codes 0
            w32.data<float>()[11 * cols + 3] = 5.0f;                                    // an outlier
            const Tensor w = w32.to(dt);
            Tensor q = Tensor::empty({rows, cols}, DType::kF8E4M3), s = Tensor::empty({rows}, DType::kF32);
            ops::quantize_rows_fp8(w, q, s);
            Tensor qd = Tensor::empty({rows, cols}, DType::kF8E4M3, Device::kCuda);
            Tensor sd = Tensor::empty({rows}, DType::kF32, Device::kCuda);
            ops::fill_constant(sd, kNaN);
            ops::quantize_rows_fp8(on_gpu(w), qd, sd);
            EXPECT_TRUE(same_bits(q, qd.to_device(Device::kCpu))) << "codes differ";
            EXPECT_TRUE(same_bits(s, sd.to_device(Device::kCpu))) << "scales differ";
        }
    }
}

// FP8 weights in 128 x 128 blocks (--quantize fp8-block): the CPU's scales and codes, bit for bit.
TEST(GpuW8a8, Fp8BlockQuantizerMatchesTheCpu) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t rows = 384, cols = 512, blk = ops::kFp8Block;
    Tensor w = random_matrix(rows, cols, rng, 0.02f);
    for (int64_t r = 0; r < blk; ++r)
        for (int64_t c = 0; c < blk; ++c) w.data<float>()[r * cols + c] = 0.0f;  // an all-zero tile
    for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
        const Tensor wt = w.to(dt);
        Tensor q = Tensor::empty({rows, cols}, DType::kF8E4M3), s = Tensor::empty({rows / blk, cols / blk}, DType::kF32);
        ops::quantize_blocks_fp8(wt, q, s);
        Tensor qg = Tensor::empty({rows, cols}, DType::kF8E4M3, Device::kCuda);
        Tensor sg = Tensor::empty({rows / blk, cols / blk}, DType::kF32, Device::kCuda);
        ops::fill_constant(sg, kNaN);
        ops::quantize_blocks_fp8(on_gpu(wt), qg, sg);
        EXPECT_TRUE(same_bits(qg.to_device(Device::kCpu), q)) << dtype_name(dt) << " seed " << seed;
        EXPECT_TRUE(same_bits(sg.to_device(Device::kCpu), s)) << dtype_name(dt) << " seed " << seed;
    }
}

TEST(GpuW8a8, ActivationQuantizersMatchTheCpu) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    for (const int64_t cols : {int64_t(4096), int64_t(14336), int64_t(100)}) {
        const int64_t rows = 37;
        Tensor x = random_activations(rows, cols, rng);
        for (int64_t c = 0; c < cols; ++c) x.data<float>()[4 * cols + c] = 0.0f;  // a token of zeros
        Tensor inv_smooth = Tensor::empty({cols}, DType::kF32);
        std::uniform_real_distribution<float> factor(0.5f, 2.0f);
        for (int64_t c = 0; c < cols; ++c) inv_smooth.data<float>()[c] = factor(rng);
        const Tensor inv_d = on_gpu(inv_smooth);
        for (DType dt : {DType::kBF16, DType::kF16}) {
            SCOPED_TRACE(testing::Message() << dtype_name(dt) << " cols " << cols << " seed " << seed);
            const Tensor xd = on_gpu(x.to(dt));
            // FP8
            Tensor q = Tensor::empty({rows, cols}, DType::kF8E4M3), s = Tensor::empty({rows}, DType::kF32);
            cpu::quantize_rows_fp8(x.data<float>(), DType::kF32, cols, q.data<uint8_t>(), s.data<float>(), rows, cols,
                                   0.0f);
            Tensor qd = Tensor::empty({rows, cols}, DType::kF8E4M3, Device::kCuda);
            Tensor sd = Tensor::empty({rows}, DType::kF32, Device::kCuda);
            cuda::launch_quantize_rows_fp8(xd.raw_data(), dt, cols, qd.data<uint8_t>(), sd.data<float>(), rows, cols,
                                           0.0f, cuda::stream());
            EXPECT_TRUE(same_bits(q, qd.to_device(Device::kCpu))) << "FP8 codes differ";
            EXPECT_TRUE(same_bits(s, sd.to_device(Device::kCpu))) << "FP8 scales differ";
            // INT8, with and without smoothing
            for (bool smooth : {false, true}) {
                Tensor q8 = Tensor::empty({rows, cols}, DType::kI8);
                cpu::quantize_rows_int8_smooth(x.data<float>(), cols, smooth ? inv_smooth.data<float>() : nullptr,
                                               q8.data<int8_t>(), s.data<float>(), rows, cols);
                Tensor q8d = Tensor::empty({rows, cols}, DType::kI8, Device::kCuda);
                cuda::launch_quantize_rows_int8_smooth(xd.raw_data(), dt, cols, smooth ? inv_d.data<float>() : nullptr,
                                                       q8d.data<int8_t>(), sd.data<float>(), rows, cols,
                                                       cuda::stream());
                EXPECT_TRUE(same_bits(q8, q8d.to_device(Device::kCpu))) << "INT8 codes differ, smooth " << smooth;
                EXPECT_TRUE(same_bits(s, sd.to_device(Device::kCpu))) << "INT8 scales differ, smooth " << smooth;
            }
        }
    }
}

// ---- products ------------------------------------------------------------------------------------

enum class Op { kFp8, kInt8 };
const char* op_name(Op op) {
    return op == Op::kFp8 ? "fp8" : "w8a8-int8";
}

struct Weights {
    Tensor q, scale, inv_smooth;  // inv_smooth: INT8 only
    Weights to_gpu() const { return {on_gpu(q), on_gpu(scale), inv_smooth.defined() ? on_gpu(inv_smooth) : Tensor()}; }
};

Weights make_weights(Op op, const Tensor& w, std::mt19937_64& rng) {
    const int64_t n = w.size(0), k = w.size(1);
    Weights out;
    out.scale = Tensor::empty({n}, DType::kF32);
    if (op == Op::kFp8) {
        out.q = Tensor::empty({n, k}, DType::kF8E4M3);
        ops::quantize_rows_fp8(w, out.q, out.scale);
    } else {
        out.q = Tensor::empty({n, k}, DType::kI8);
        ops::quantize_rows_int8(w, out.q, out.scale);
        out.inv_smooth = Tensor::empty({k}, DType::kF32);
        std::uniform_real_distribution<float> factor(0.5f, 2.0f);
        for (int64_t c = 0; c < k; ++c) out.inv_smooth.data<float>()[c] = factor(rng);
    }
    return out;
}

void call(Op op, const Tensor& x, const Weights& w, const Tensor& b, Tensor& y, bool accumulate) {
    if (op == Op::kFp8)
        ops::linear_fp8(x, w.q, w.scale, b, y, accumulate);
    else
        ops::linear_w8a8_int8(x, w.inv_smooth, w.q, w.scale, b, y, accumulate);
}

// The allowed difference from the CPU: of_max times the largest |product| of the block (the f32 sums
// of FP8 products run in another order, and the tensor cores round partial sums coarser: with
// cuBLASLt's fast accumulation, on by default, the running sums keep ~14 bits over all of k, which
// w8a8_gemm.cu bounds at ~0.2-0.4% of the largest output for k = 14336 and these magnitudes; 1% leaves
// a margin without hiding a wrong scale or a lost k-block, which are off by far more), plus
// of_element times the element's own terms (f32 epilogue rounding), plus up to three roundings of a
// 16-bit output, each at most half a bf16 unit of the terms: the product, its sum with the
// accumulated values, and the bias a separate pass may add (with two, a block-scaled product of bf16
// output with bias and accumulation was once off by 1.03 times the allowance).
struct Tolerance {
    double of_max, of_element;
};
Tolerance tolerance(Op op) {
    return op == Op::kFp8 ? Tolerance{1e-2, 1e-5} : Tolerance{0.0, 1e-5};
}

// got: f32 [T, N]; product: the CPU's product without bias [>= T, N]; bias: [N] or undefined;
// start: f32 [T, N] (the accumulated values) or undefined.
void expect_matches(const Tensor& got, const Tensor& product, const Tensor& bias, const Tensor& start, DType out,
                    Tolerance tol, const std::string& what) {
    const int64_t T = got.size(0), n = got.size(1);
    double max_product = 0.0;
    for (int64_t i = 0; i < T * n; ++i)
        max_product = std::max(max_product, std::fabs(double(product.data<float>()[i])));
    const double out_rounding = out == DType::kF32 ? 0.0 : 3 * 0x1p-8;
    double worst = 0.0;
    int64_t worst_at = -1;
    for (int64_t t = 0; t < T; ++t) {
        for (int64_t r = 0; r < n; ++r) {
            const double p = product.data<float>()[t * n + r];
            const double b = bias.defined() ? double(bias.data<float>()[r]) : 0.0;
            const double s = start.defined() ? double(start.data<float>()[t * n + r]) : 0.0;
            const double want = p + b + s, terms = std::fabs(p) + std::fabs(b) + std::fabs(s);
            const double allowed = tol.of_max * max_product + (tol.of_element + out_rounding) * terms + 1e-30;
            const double d = std::fabs(double(got.data<float>()[t * n + r]) - want);
            const double excess = std::isnan(d) ? std::numeric_limits<double>::infinity() : d / allowed;
            if (excess > worst) worst = excess, worst_at = t * n + r;
        }
    }
    EXPECT_LE(worst, 1.0) << what << ": worst element " << worst_at << " (token " << worst_at / n << ", row "
                          << worst_at % n << ") is off by " << worst << " times the tolerance; got "
                          << got.data<float>()[worst_at];
}

struct Shape {
    int64_t n, k;
};

// Every (T, input type, output type, bias, accumulation) of one weight shape against one CPU product.
void check_products(Op op, Shape shape, std::mt19937_64& rng, uint64_t seed) {
    const int64_t t_max = 300, n = shape.n, k = shape.k;
    const Tensor x = random_activations(t_max, k, rng), w = random_matrix(n, k, rng, 0.02f);
    const Tensor b = random_matrix(1, n, rng, 1.0f).view({n});
    const Weights wc = make_weights(op, w, rng), wg = wc.to_gpu();
    Tensor product = Tensor::empty({t_max, n}, DType::kF32);
    call(op, x, wc, Tensor(), product, false);  // the CPU; tokens are independent, so row t serves every T
    const Tensor bg = on_gpu(b);
    // What accumulation adds to, in each output type's values, for the largest T (smaller ones take rows).
    const Tensor start_f32 = random_matrix(t_max, n, rng, 1.0f);
    const Tensor start_bf16 = start_f32.to(DType::kBF16).to(DType::kF32),
                 start_f16 = start_f32.to(DType::kF16).to(DType::kF32);
    for (const int64_t T : {1, 2, 5, 8, 9, 64, 300}) {
        const Tensor xt = x.slice(0, 0, T);
        for (DType in : {DType::kBF16, DType::kF16}) {
            const Tensor xg = on_gpu(xt.to(in));
            for (DType out : {DType::kF32, in}) {
                for (const bool with_bias : {false, true}) {
                    for (const bool accumulate : {false, true}) {
                        const std::string what =
                            str_cat(op_name(op), " n ", n, " k ", k, " T ", T, " ", dtype_name(in), " -> ",
                                    dtype_name(out), " bias ", with_bias, " accumulate ", accumulate, " seed ", seed);
                        Tensor start;
                        Tensor y = Tensor::empty({T, n}, out, Device::kCuda);
                        if (accumulate) {
                            start = (out == DType::kF32    ? start_f32
                                     : out == DType::kBF16 ? start_bf16
                                                           : start_f16)
                                        .slice(0, 0, T);
                            y.copy_from(start.to(out).to_device(Device::kCuda));
                        } else {
                            ops::fill_constant(y, kNaN);
                        }
                        call(op, xg, wg, with_bias ? bg : Tensor(), y, accumulate);
                        expect_matches(on_cpu_f32(y), product, with_bias ? b : Tensor(), start, out, tolerance(op),
                                       what);
                    }
                }
            }
        }
    }
}

// Llama-3-8B's projections (4096 -> 4096, 4096 -> 14336, 14336 -> 4096) and row counts that are not a
// multiple of 16 (136) or of 4 (130, whose unpadded rows cuBLASLt's 8-bit products decline: the
// streaming kernel then takes every INT8 token, 8 per pass, and FP8 ones where the split of k, which
// pads its rows, is declined too).
const Shape kShapes[] = {{4096, 4096}, {14336, 4096}, {4096, 14336}, {136, 4096}, {130, 256}};

TEST(GpuW8a8, Fp8ProductsMatchTheCpu) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    for (const Shape s : kShapes) check_products(Op::kFp8, s, rng, seed);
}

// The block-scaled product against the CPU's: activations quantized per token and 128 columns give
// the CPU's codes, so only the sums' order and precision and the 16-bit output differ. cuBLASLt's
// block-scaled kernels promote their sums to f32 at every 128 columns (no fast accumulation), hence a
// tolerance ten times tighter than the per-channel product's. Token counts that are not a multiple of
// 4 take the padded scratch path (with the accumulated rows copied in and out).
TEST(GpuW8a8, Fp8BlockProductsMatchTheCpu) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    if (sm_major() != 9) GTEST_SKIP() << "cuBLASLt's block-scaled FP8 product is Hopper's";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> spread(0.5f, 1.5f);
    // 384 and 640 columns: 3 and 5 scales a row of blocks, which cuBLASLt reads in rows of 4.
    for (const Shape shape : {Shape{256, 384}, Shape{384, 640}, Shape{512, 1024}, Shape{4096, 4096}}) {
        const int64_t t_max = 300, n = shape.n, k = shape.k, blk = ops::kFp8Block;
        const Tensor x = random_activations(t_max, k, rng), w = random_matrix(n, k, rng, 0.02f);
        const Tensor b = random_matrix(1, n, rng, 1.0f).view({n});
        Tensor q = Tensor::empty({n, k}, DType::kF8E4M3), row_scale = Tensor::empty({n}, DType::kF32);
        ops::quantize_rows_fp8(w, q, row_scale);
        Tensor scale = Tensor::empty({n / blk, k / blk}, DType::kF32);
        for (int64_t i = 0; i < scale.numel(); ++i) scale.data<float>()[i] = 0.02f / 448.0f * spread(rng);
        Tensor product = Tensor::empty({t_max, n}, DType::kF32);
        ops::linear_fp8_block(x, q, scale, Tensor(), product, false);
        const Tensor qg = on_gpu(q), sg = on_gpu(scale), bg = on_gpu(b);
        const Tensor start_f32 = random_matrix(t_max, n, rng, 1.0f);
        for (const int64_t T : {1, 2, 3, 4, 5, 17, 64, 300}) {
            for (DType dt : {DType::kBF16, DType::kF16}) {
                const Tensor xg = on_gpu(x.slice(0, 0, T).to(dt));
                for (DType out : {dt, DType::kF32}) {
                    const Tensor start = start_f32.slice(0, 0, T).to(out).to(DType::kF32);
                    for (const bool with_bias : {false, true}) {
                        for (const bool accumulate : {false, true}) {
                            Tensor y = Tensor::empty({T, n}, out, Device::kCuda);
                            if (accumulate)
                                y.copy_from(start.to(out).to_device(Device::kCuda));
                            else
                                ops::fill_constant(y, kNaN);
                            ops::linear_fp8_block(xg, qg, sg, with_bias ? bg : Tensor(), y, accumulate);
                            expect_matches(on_cpu_f32(y), product, with_bias ? b : Tensor(),
                                           accumulate ? start : Tensor(), out, Tolerance{1e-3, 1e-5},
                                           str_cat("fp8 block n ", n, " k ", k, " T ", T, " ", dtype_name(dt), " -> ",
                                                   dtype_name(out), " bias ", with_bias, " accumulate ", accumulate,
                                                   " seed ", seed));
                        }
                    }
                }
            }
        }
    }
}

TEST(GpuW8a8, Int8ProductsMatchTheCpu) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    for (const Shape s : kShapes) check_products(Op::kInt8, s, rng, seed);
}

// The dispatch's paths one by one on the same quantized activations: the streaming kernel for many
// tokens (8 per pass), cuBLASLt with outer-vector scales (FP8), and cuBLASLt's unscaled product with
// the epilogue. Hopper's cuBLASLt has the scaled FP8 product; without it linear_fp8 pays an extra pass.
TEST(GpuW8a8, EveryPathMatchesTheCpu) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t m = 77, n = 520, k = 1024;
    const Tensor x = random_activations(m, k, rng), w = random_matrix(n, k, rng, 0.02f);
    const Tensor b = random_matrix(1, n, rng, 1.0f).view({n}), bg = on_gpu(b);
    const cudaStream_t stream = cuda::stream();
    for (Op op : {Op::kFp8, Op::kInt8}) {
        const DType qtype = op == Op::kFp8 ? DType::kF8E4M3 : DType::kI8;
        const Weights wc = make_weights(op, w, rng), wg = wc.to_gpu();
        Tensor product = Tensor::empty({m, n}, DType::kF32);
        call(op, x, wc, Tensor(), product, false);
        const Tensor xg = on_gpu(x.to(DType::kBF16));
        Tensor xq = Tensor::empty({m, k}, qtype, Device::kCuda), xs = Tensor::empty({m}, DType::kF32, Device::kCuda);
        if (op == Op::kFp8)
            cuda::launch_quantize_rows_fp8(xg.raw_data(), DType::kBF16, k, static_cast<uint8_t*>(xq.raw_data()),
                                           xs.data<float>(), m, k, 0.0f, stream);
        else
            cuda::launch_quantize_rows_int8_smooth(xg.raw_data(), DType::kBF16, k, wg.inv_smooth.data<float>(),
                                                   static_cast<int8_t*>(xq.raw_data()), xs.data<float>(), m, k, stream);
        for (DType out : {DType::kF32, DType::kBF16}) {
            for (const bool accumulate : {false, true}) {
                const Tensor start = random_matrix(m, n, rng, 1.0f).to(out).to(DType::kF32);
                auto fresh_output = [&] {
                    Tensor y = Tensor::empty({m, n}, out, Device::kCuda);
                    if (accumulate)
                        y.copy_from(start.to(out).to_device(Device::kCuda));
                    else
                        ops::fill_constant(y, kNaN);
                    return y;
                };
                const std::string what =
                    str_cat(op_name(op), " -> ", dtype_name(out), " accumulate ", accumulate, " seed ", seed);
                const Tensor no_start = accumulate ? start : Tensor();
                // Streaming, 10 groups of 8 tokens: whole rows per warp, then k split across warps.
                Tensor y = fresh_output();
                cuda::launch_gemv_w8a8(qtype, xq.raw_data(), k, xs.data<float>(), wg.q.raw_data(), k,
                                       wg.scale.data<float>(), bg.data<float>(), y.raw_data(), n, out, m, n, k,
                                       accumulate, stream);
                expect_matches(on_cpu_f32(y), product, b, no_start, out, tolerance(op), "streaming " + what);
                const int64_t ws_bytes = cuda::gemv_w8a8_workspace_bytes(m, n, k);  // > 0 on GPUs of 21+ SMs
                Tensor ws = Tensor::empty({std::max<int64_t>(ws_bytes, 16)}, DType::kU8, Device::kCuda);
                y = fresh_output();
                cuda::launch_gemv_w8a8(qtype, xq.raw_data(), k, xs.data<float>(), wg.q.raw_data(), k,
                                       wg.scale.data<float>(), bg.data<float>(), y.raw_data(), n, out, m, n, k,
                                       accumulate, stream, ws.raw_data());
                expect_matches(on_cpu_f32(y), product, b, no_start, out, tolerance(op), "split streaming " + what);
                // cuBLASLt, unscaled, then the epilogue.
                Tensor p = Tensor::empty({m, n}, op == Op::kFp8 ? DType::kF32 : DType::kI32, Device::kCuda);
                y = fresh_output();
                const bool unscaled =
                    cuda::gemm_8bit(qtype, xq.raw_data(), k, wg.q.raw_data(), k, p.raw_data(), n, m, n, k, stream);
                if (unscaled) {
                    cuda::launch_w8a8_epilogue(qtype, p.raw_data(), n, xs.data<float>(), wg.scale.data<float>(),
                                               bg.data<float>(), y.raw_data(), n, out, m, n, accumulate, stream);
                    expect_matches(on_cpu_f32(y), product, b, no_start, out, tolerance(op), "epilogue " + what);
                }
                if (sm_major() >= 9 || op == Op::kInt8) {
                    EXPECT_TRUE(unscaled) << "cuBLASLt declined " << what;
                }
                if (op != Op::kFp8) continue;
                // gemm_fp8_scaled: cuBLASLt with the scales (and the bias, where it takes it) in its
                // epilogue, or, for this shape of few output tiles, the split of k and its epilogue.
                bool scaled = true;
                for (const bool with_bias : {false, true}) {
                    y = fresh_output();
                    const bool ok = cuda::gemm_fp8_scaled(
                        xq.raw_data(), k, xs.data<float>(), wg.q.raw_data(), k, wg.scale.data<float>(),
                        with_bias ? bg.data<float>() : nullptr, y.raw_data(), n, out, m, n, k, accumulate, stream);
                    scaled = scaled && ok;
                    if (ok)
                        expect_matches(on_cpu_f32(y), product, with_bias ? b : Tensor(), no_start, out, tolerance(op),
                                       str_cat("scaled, bias ", with_bias, " ", what));
                }
                if (sm_major() == 9) {
                    EXPECT_TRUE(scaled) << "no outer-vector scaling on Hopper: " << what;
                }
                if (!scaled) RecordProperty("fp8_outer_vector_scaling", "no");
            }
        }
    }
}

// y as a column slice of a wider buffer (and x as one, which the activation quantizer reads with
// scalar loads): the products write their columns and nothing else.
// Few output tiles: gemm_fp8_scaled sums k in two slices (k = 8192) or one (k = 4096) in an epilogue of
// its own. Both match the CPU with every output type and accumulation, and a second call gives the
// same bits. n = 1002 leaves a partial group of four columns.
TEST(GpuW8a8, Fp8SplitProductsMatchTheCpuAndRepeatTheirBits) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const char* env = std::getenv("TURBOLM_FP8_SPLIT");
    const bool split_on = !(env && std::string(env) == "0");
    const int64_t m = 64, n = 1002;
    for (const int64_t k : {int64_t(8192), int64_t(4096)}) {
        EXPECT_EQ(cuda::fp8_split_parts(m, n, k), split_on ? (k == 8192 ? 2 : 1) : 0) << "k " << k;
        const Tensor x = random_activations(m, k, rng), w = random_matrix(n, k, rng, 0.02f);
        const Tensor b = random_matrix(1, n, rng, 1.0f).view({n}), bg = on_gpu(b);
        const Weights wc = make_weights(Op::kFp8, w, rng), wg = wc.to_gpu();
        Tensor product = Tensor::empty({m, n}, DType::kF32);
        call(Op::kFp8, x, wc, Tensor(), product, false);
        const Tensor xg = on_gpu(x.to(DType::kBF16));
        for (DType out : {DType::kF32, DType::kBF16}) {
            for (const bool accumulate : {false, true}) {
                const std::string what =
                    str_cat("split fp8 k ", k, " -> ", dtype_name(out), " accumulate ", accumulate, " seed ", seed);
                const Tensor start = random_matrix(m, n, rng, 1.0f).to(out).to(DType::kF32);
                Tensor first;
                for (int call_index = 0; call_index < 2; ++call_index) {
                    Tensor y = Tensor::empty({m, n}, out, Device::kCuda);
                    if (accumulate)
                        y.copy_from(start.to(out).to_device(Device::kCuda));
                    else
                        ops::fill_constant(y, kNaN);
                    call(Op::kFp8, xg, wg, bg, y, accumulate);
                    const Tensor got = y.to_device(Device::kCpu);
                    if (call_index == 0) {
                        expect_matches(on_cpu_f32(y), product, b, accumulate ? start : Tensor(), out,
                                       tolerance(Op::kFp8), what);
                        first = got;
                    } else {
                        EXPECT_TRUE(same_bits(first, got)) << what << ": a second call gave other bits";
                    }
                }
            }
        }
    }
}

TEST(GpuW8a8, StridedOperandsTouchOnlyTheirColumns) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t n = 136, k = 4096, pad = 24, offset = 8;
    const Tensor w = random_matrix(n, k, rng, 0.02f), b = random_matrix(1, n, rng, 1.0f).view({n});
    for (Op op : {Op::kFp8, Op::kInt8}) {
        const Weights wc = make_weights(op, w, rng), wg = wc.to_gpu();
        for (const int64_t T : {5, 64}) {
            const Tensor x = random_activations(T, k, rng);
            Tensor product = Tensor::empty({T, n}, DType::kF32);
            call(op, x, wc, Tensor(), product, false);
            // x in columns [0, k) of rows k + 4 wide: not 16-byte aligned rows.
            Tensor x_wide = Tensor::zeros({T, k + 4}, DType::kF32);
            for (int64_t t = 0; t < T; ++t) std::copy_n(x.data<float>() + t * k, k, x_wide.data<float>() + t * (k + 4));
            const Tensor xg_wide = on_gpu(x_wide.to(DType::kBF16)), xg = xg_wide.slice(1, 0, k);
            for (DType out : {DType::kF32, DType::kBF16}) {
                Tensor y_wide = Tensor::empty({T, n + pad}, out, Device::kCuda);
                ops::fill_constant(y_wide, 7.0f);
                Tensor y = y_wide.slice(1, offset, offset + n);
                call(op, xg, wg, on_gpu(b), y, false);
                const Tensor got = on_cpu_f32(y_wide);
                const std::string what = str_cat(op_name(op), " T ", T, " -> ", dtype_name(out), " seed ", seed);
                Tensor inside = Tensor::empty({T, n}, DType::kF32);
                for (int64_t t = 0; t < T; ++t) {
                    for (int64_t c = 0; c < n + pad; ++c) {
                        const float v = got.data<float>()[t * (n + pad) + c];
                        if (c >= offset && c < offset + n)
                            inside.data<float>()[t * n + c - offset] = v;
                        else
                            ASSERT_EQ(v, 7.0f) << what << ": column " << c << " of token " << t << " was written";
                    }
                }
                expect_matches(inside, product, b, Tensor(), out, tolerance(op), what);
            }
        }
    }
}

TEST(GpuW8a8, CapturedGraphsReplayTheSameBits) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const int64_t n = 1024, k = 2048;
    const Tensor w = random_matrix(n, k, rng, 0.02f), b = random_matrix(1, n, rng, 1.0f).view({n});
    const Tensor bg = on_gpu(b);
    for (Op op : {Op::kFp8, Op::kInt8}) {
        const Weights wg = make_weights(op, w, rng).to_gpu();
        for (const int64_t T : {4, 64}) {
            const Tensor xg = on_gpu(random_activations(T, k, rng).to(DType::kBF16));
            Tensor direct = Tensor::empty({T, n}, DType::kF32, Device::kCuda);
            call(op, xg, wg, bg, direct, false);
            Tensor y = Tensor::empty({T, n}, DType::kF32, Device::kCuda);
            ops::DeviceGraph graph(Device::kCuda);
            graph.capture([&] { call(op, xg, wg, bg, y, false); });
            ops::fill_constant(y, kNaN);
            graph.replay();
            ops::synchronize(Device::kCuda);
            EXPECT_TRUE(same_bits(direct.to_device(Device::kCpu), y.to_device(Device::kCpu)))
                << op_name(op) << " T " << T << " seed " << seed;
        }
    }
}

// Graph replays of linear_fp8 against the bf16 GEMM (ops::linear) on Llama-3-8B's shapes, from decode
// to prefill sizes; the times and the speedup are printed (no assertion: the numbers are for whoever
// reads the log on a GPU machine). FP8's time includes quantizing the activations.
TEST(GpuW8a8, Fp8AgainstBf16Timings) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    if (sm_major() < 9) GTEST_SKIP() << "FP8 products are timed on Hopper";
    for (const Shape s : {Shape{4096, 4096}, Shape{28672, 4096}, Shape{4096, 14336}}) {
        Tensor w = Tensor::empty({s.n, s.k}, DType::kBF16, Device::kCuda);
        ops::fill_uniform(w, -0.05f, 0.05f, 7);
        Tensor q = Tensor::empty({s.n, s.k}, DType::kF8E4M3, Device::kCuda);
        Tensor scale = Tensor::empty({s.n}, DType::kF32, Device::kCuda);
        ops::quantize_rows_fp8(w, q, scale);
        for (const int64_t m : {1, 8, 64, 256, 2048}) {
            Tensor x = Tensor::empty({m, s.k}, DType::kBF16, Device::kCuda);
            ops::fill_uniform(x, -1.0f, 1.0f, 8);
            Tensor y = Tensor::empty({m, s.n}, DType::kBF16, Device::kCuda);
            // Enough calls per graph that a replay takes a few milliseconds.
            const double flops = 2.0 * double(m) * double(s.n) * double(s.k);
            const int calls = int(std::clamp(2e12 * 3e-3 / std::max(flops, 1.0), 5.0, 200.0));
            auto time_us = [&](const std::function<void()>& product) {
                product();  // plans and scratch outside the capture
                ops::DeviceGraph graph(Device::kCuda);
                graph.capture([&] {
                    for (int i = 0; i < calls; ++i) product();
                });
                graph.replay();
                ops::synchronize(Device::kCuda);
                constexpr int kReplays = 10;
                const auto t0 = std::chrono::steady_clock::now();
                for (int i = 0; i < kReplays; ++i) graph.replay();
                ops::synchronize(Device::kCuda);
                return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
                       (double(calls) * kReplays);
            };
            const double fp8 = time_us([&] { ops::linear_fp8(x, q, scale, Tensor(), y); });
            const double bf16 = time_us([&] { ops::linear(x, w, Tensor(), y, ops::MatmulPrecision::kWeightType); });
            const double weight_bytes = double(q.nbytes());
            std::printf(
                "w8a8 timing n=%lld k=%lld m=%lld: fp8 %.2f us (%.0f GB/s of weights, %.0f TFLOP/s), "
                "bf16 %.2f us, bf16/fp8 %.2fx\n",
                (long long)s.n, (long long)s.k, (long long)m, fp8, weight_bytes / fp8 * 1e-3, flops / fp8 * 1e-6, bf16,
                bf16 / fp8);
        }
    }
}

TEST(GpuW8a8, RejectsInputWidthsTheTensorCoresCannotLoad) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    const int64_t n = 32, k = 100;
    const Tensor x = Tensor::zeros({4, k}, DType::kBF16, Device::kCuda);
    const Tensor scale = Tensor::zeros({n}, DType::kF32, Device::kCuda);
    Tensor y = Tensor::zeros({4, n}, DType::kF32, Device::kCuda);
    EXPECT_THROW(ops::linear_fp8(x, Tensor::zeros({n, k}, DType::kF8E4M3, Device::kCuda), scale, Tensor(), y), Error);
    EXPECT_THROW(
        ops::linear_w8a8_int8(x, Tensor(), Tensor::zeros({n, k}, DType::kI8, Device::kCuda), scale, Tensor(), y),
        Error);
}

}  // namespace
}  // namespace turbolm
