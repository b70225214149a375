#include "unit/quant/int4_hand_packers.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "core/half.h"

namespace turbolm::quant::test {

Plain random_plain(int64_t out, int64_t in, int64_t group, std::mt19937_64& rng, bool act_order, int min_zero,
                   float scale_lo, float scale_hi) {
    Plain p;
    p.out = out;
    p.in = in;
    p.group = group;
    std::uniform_int_distribution<int> code(0, 15), zero(min_zero, 15);
    std::uniform_real_distribution<float> scale(scale_lo, scale_hi);
    p.codes.assign(size_t(out), std::vector<int>(size_t(in)));
    for (auto& row : p.codes)
        for (int& v : row) v = code(rng);
    p.zeros.assign(size_t(in / group), std::vector<int>(size_t(out)));
    p.scales.assign(size_t(in / group), std::vector<uint16_t>(size_t(out)));
    for (int64_t g = 0; g < in / group; ++g) {
        for (int64_t r = 0; r < out; ++r) {
            p.zeros[size_t(g)][size_t(r)] = zero(rng);
            p.scales[size_t(g)][size_t(r)] = f32_to_f16(scale(rng));
        }
    }
    // Act-order: the columns were quantized in a random order, `group` at a time.
    std::vector<int32_t> order(static_cast<size_t>(in));
    std::iota(order.begin(), order.end(), 0);
    if (act_order) std::shuffle(order.begin(), order.end(), rng);
    p.g_idx.assign(size_t(in), 0);
    for (int64_t i = 0; i < in; ++i) p.g_idx[size_t(order[size_t(i)])] = int32_t(i / group);
    return p;
}

float dequant(const Plain& p, int64_t r, int64_t c) {
    const size_t g = size_t(p.g_idx[size_t(c)]);
    return float(p.codes[size_t(r)][size_t(c)] - p.zeros[g][size_t(r)]) * f16_to_f32(p.scales[g][size_t(r)]);
}

AwqTensors awq_pack_by_hand(const Plain& p) {
    static const int order[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    const int64_t words = p.out / 8, n_groups = p.in / p.group;
    AwqTensors t;
    t.qweight = Tensor::zeros({p.in, words}, DType::kI32);
    t.qzeros = Tensor::zeros({n_groups, words}, DType::kI32);
    t.scales = Tensor::empty({n_groups, p.out}, DType::kF16);
    for (int64_t c = 0; c < p.in; ++c)
        for (int64_t j = 0; j < words; ++j) {
            uint32_t word = 0;
            for (int k = 0; k < 8; ++k) word |= uint32_t(p.codes[size_t(8 * j + order[k])][size_t(c)]) << (4 * k);
            t.qweight.data<int32_t>()[c * words + j] = int32_t(word);
        }
    for (int64_t g = 0; g < n_groups; ++g) {
        for (int64_t j = 0; j < words; ++j) {
            uint32_t word = 0;
            for (int k = 0; k < 8; ++k) word |= uint32_t(p.zeros[size_t(g)][size_t(8 * j + order[k])]) << (4 * k);
            t.qzeros.data<int32_t>()[g * words + j] = int32_t(word);
        }
        for (int64_t r = 0; r < p.out; ++r) t.scales.data<uint16_t>()[g * p.out + r] = p.scales[size_t(g)][size_t(r)];
    }
    return t;
}

GptqTensors gptq_pack_by_hand(const Plain& p, bool v1) {
    const int64_t words = p.out / 8, n_groups = p.in / p.group;
    GptqTensors t;
    t.qweight = Tensor::zeros({p.in / 8, p.out}, DType::kI32);
    t.qzeros = Tensor::zeros({n_groups, words}, DType::kI32);
    t.scales = Tensor::empty({n_groups, p.out}, DType::kF16);
    t.g_idx = Tensor::empty({p.in}, DType::kI32);
    for (int64_t i = 0; i < p.in / 8; ++i)
        for (int64_t r = 0; r < p.out; ++r) {
            uint32_t word = 0;
            for (int k = 0; k < 8; ++k) word |= uint32_t(p.codes[size_t(r)][size_t(8 * i + k)]) << (4 * k);
            t.qweight.data<int32_t>()[i * p.out + r] = int32_t(word);
        }
    for (int64_t g = 0; g < n_groups; ++g) {
        for (int64_t j = 0; j < words; ++j) {
            uint32_t word = 0;
            for (int k = 0; k < 8; ++k)
                word |= (uint32_t(p.zeros[size_t(g)][size_t(8 * j + k)] - (v1 ? 1 : 0)) & 0xF) << (4 * k);
            t.qzeros.data<int32_t>()[g * words + j] = int32_t(word);
        }
        for (int64_t r = 0; r < p.out; ++r) t.scales.data<uint16_t>()[g * p.out + r] = p.scales[size_t(g)][size_t(r)];
    }
    std::copy(p.g_idx.begin(), p.g_idx.end(), t.g_idx.data<int32_t>());
    return t;
}

CompressedInt4Tensors compressed_pack_by_hand(const Plain& p, bool symmetric) {
    const int64_t n_groups = p.in / p.group, zero_words = (p.out + 7) / 8;
    CompressedInt4Tensors t;
    t.weight_packed = Tensor::zeros({p.out, p.in / 8}, DType::kI32);
    t.weight_scale = Tensor::empty({p.out, n_groups}, DType::kF16);
    for (int64_t r = 0; r < p.out; ++r)
        for (int64_t j = 0; j < p.in / 8; ++j) {
            uint32_t word = 0;
            for (int k = 0; k < 8; ++k) {
                const int signed_code = p.codes[size_t(r)][size_t(8 * j + k)] - 8;
                word |= uint32_t(signed_code + 8) << (4 * k);
            }
            t.weight_packed.data<int32_t>()[r * (p.in / 8) + j] = int32_t(word);
        }
    for (int64_t r = 0; r < p.out; ++r)
        for (int64_t g = 0; g < n_groups; ++g) t.weight_scale.data<uint16_t>()[r * n_groups + g] = p.scales[size_t(g)][size_t(r)];
    if (symmetric) {
        for (const auto& zeros : p.zeros)
            for (int z : zeros) TURBOLM_CHECK(z == 8, "a symmetric matrix has zero points of 8, got ", z);
    } else {
        t.weight_zero_point = Tensor::zeros({zero_words, n_groups}, DType::kI32);
        for (int64_t j = 0; j < zero_words; ++j)
            for (int64_t g = 0; g < n_groups; ++g) {
                uint32_t word = 0;
                for (int k = 0; k < 8 && 8 * j + k < p.out; ++k) {
                    const int signed_zero = p.zeros[size_t(g)][size_t(8 * j + k)] - 8;
                    word |= uint32_t(signed_zero + 8) << (4 * k);
                }
                t.weight_zero_point.data<int32_t>()[j * n_groups + g] = int32_t(word);
            }
    }
    t.weight_g_idx = Tensor::empty({p.in}, DType::kI32);
    std::copy(p.g_idx.begin(), p.g_idx.end(), t.weight_g_idx.data<int32_t>());
    return t;
}

Tensor compressed_pack_int8_by_hand(const std::vector<std::vector<int>>& codes) {
    const int64_t out = int64_t(codes.size()), in = int64_t(codes[0].size()), words = (in + 3) / 4;
    Tensor t = Tensor::zeros({out, words}, DType::kI32);
    for (int64_t r = 0; r < out; ++r)
        for (int64_t j = 0; j < words; ++j) {
            uint32_t word = 0;
            for (int k = 0; k < 4 && 4 * j + k < in; ++k)
                word |= uint32_t(codes[size_t(r)][size_t(4 * j + k)] + 128) << (8 * k);
            t.data<int32_t>()[r * words + j] = int32_t(word);
        }
    return t;
}

}  // namespace turbolm::quant::test
