// The INT4 checkpoint layouts against packers written here from the published layout descriptions
// (AutoAWQ's WQLinear_GEMM; AutoGPTQ's QuantLinear, v1 and v2 zeros, act-order g_idx; compressed-tensors'
// pack-quantized, 4 and 8 bits), not from the loader: every unpacked matrix must stand for the same
// dequantized weights as the packed one, and packing what was unpacked (AWQ, GPTQ: the layouts we
// also write) must give the packed bytes back.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/half.h"
#include "quant/awq_layout.h"
#include "quant/compressed_tensors_layout.h"
#include "quant/gptq_layout.h"
#include "unit/quant/int4_hand_packers.h"

namespace turbolm::quant {
namespace {

using test::awq_pack_by_hand;
using test::compressed_pack_by_hand;
using test::dequant;
using test::gptq_pack_by_hand;
using test::Plain;
using test::random_plain;

// What an in-memory matrix stands for, in the stored column order: w[r, in_perm[c]] from column c.
std::vector<std::vector<float>> dequant(const Int4Matrix& m) {
    std::vector<std::vector<float>> w(size_t(m.out()), std::vector<float>(size_t(m.in())));
    const int64_t n_groups = m.in() / m.group;
    for (int64_t r = 0; r < m.out(); ++r) {
        for (int64_t c = 0; c < m.in(); ++c) {
            const uint8_t byte = m.q.data<uint8_t>()[r * (m.in() / 2) + c / 2];
            const int code = c % 2 ? byte >> 4 : byte & 0xF;
            const int64_t g = c / m.group;
            const int zero = m.zero.data<uint8_t>()[r * n_groups + g];
            const float scale = f16_to_f32(m.scale.data<uint16_t>()[r * n_groups + g]);
            const int64_t stored = m.in_perm.defined() ? m.in_perm.data<int32_t>()[c] : c;
            w[size_t(r)][size_t(stored)] = float(code - zero) * scale;
        }
    }
    return w;
}

void expect_same_weights(const Plain& p, const Int4Matrix& m) {
    ASSERT_EQ(m.out(), p.out);
    ASSERT_EQ(m.in(), p.in);
    const auto w = dequant(m);
    int64_t differ = 0;
    for (int64_t r = 0; r < p.out; ++r)
        for (int64_t c = 0; c < p.in; ++c) differ += w[size_t(r)][size_t(c)] != dequant(p, r, c) ? 1 : 0;
    EXPECT_EQ(differ, 0);
}

bool same_bytes(const Tensor& a, const Tensor& b) {
    if (a.defined() != b.defined()) return false;
    if (!a.defined()) return true;
    return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

TEST(AwqLayout, NibbleOrderOfOneWordWorkedByHand) {
    // Rows 0..7 of input column 0 hold codes 1..8. AutoAWQ puts rows 0,2,4,6,1,3,5,7 in nibbles 0..7,
    // so the word reads (from nibble 7 down to 0) 8 6 4 2 7 5 3 1.
    AwqTensors t;
    t.qweight = Tensor::zeros({2, 1}, DType::kI32);
    t.qweight.data<int32_t>()[0] = int32_t(0x86427531u);
    t.qweight.data<int32_t>()[1] = int32_t(0x0000000Fu);  // column 1: row 0 holds 15, the rest 0
    t.qzeros = Tensor::zeros({1, 1}, DType::kI32);
    t.qzeros.data<int32_t>()[0] = int32_t(0x00000030u);  // nibble 1 -> row 2 has zero 3
    t.scales = Tensor::empty({1, 8}, DType::kF16);
    for (int r = 0; r < 8; ++r) t.scales.data<uint16_t>()[r] = f32_to_f16(float(r + 1));
    const Int4Matrix m = unpack_awq(t, /*group=*/2);
    for (int r = 0; r < 8; ++r) {
        const uint8_t byte = m.q.data<uint8_t>()[r];
        EXPECT_EQ(byte & 0xF, r + 1) << "row " << r;
        EXPECT_EQ(byte >> 4, r == 0 ? 15 : 0) << "row " << r;
        EXPECT_EQ(m.zero.data<uint8_t>()[r], r == 2 ? 3 : 0) << "row " << r;
        EXPECT_EQ(f16_to_f32(m.scale.data<uint16_t>()[r]), float(r + 1));
    }
    const AwqTensors back = pack_awq(m);
    EXPECT_TRUE(same_bytes(back.qweight, t.qweight));
    EXPECT_TRUE(same_bytes(back.qzeros, t.qzeros));
}

TEST(AwqLayout, UnpacksTheHandPackedLayoutAndPacksItBack) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    struct Case {
        int64_t out, in, group;
    };
    for (const Case c : {Case{8, 32, 32}, Case{24, 64, 32}, Case{64, 256, 128}, Case{40, 96, 96}}) {
        const Plain p = random_plain(c.out, c.in, c.group, rng, /*act_order=*/false);
        const AwqTensors packed = awq_pack_by_hand(p);
        const Int4Matrix m = unpack_awq(packed, c.group);
        check_int4_matrix(m);
        EXPECT_FALSE(m.in_perm.defined());
        expect_same_weights(p, m);
        const AwqTensors back = pack_awq(m);
        EXPECT_TRUE(same_bytes(back.qweight, packed.qweight));
        EXPECT_TRUE(same_bytes(back.qzeros, packed.qzeros));
        EXPECT_TRUE(same_bytes(back.scales, packed.scales));
    }
}

TEST(AwqLayout, RefusesAnInputPermutation) {
    std::mt19937_64 rng(1);
    Int4Matrix m = unpack_gptq(gptq_pack_by_hand(random_plain(8, 64, 32, rng, true, 1), true), 32, true, "test");
    ASSERT_TRUE(m.in_perm.defined());
    const Status s = catch_status([&] { pack_awq(m); });
    EXPECT_EQ(s.code(), StatusCode::kUnimplemented) << s.to_string();
}

TEST(GptqLayout, UnpacksV1AndV2ZerosWithoutActOrder) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    for (bool v1 : {true, false}) {
        // v1 stores zero - 1 in four bits, so its zeros are 1..16 and a zero of 0 cannot be stored.
        const Plain p = random_plain(16, 128, 64, rng, /*act_order=*/false, v1 ? 1 : 0);
        const GptqTensors packed = gptq_pack_by_hand(p, v1);
        const Int4Matrix m = unpack_gptq(packed, 64, v1, "test");
        EXPECT_FALSE(m.in_perm.defined()) << "a trivial g_idx needs no permutation";
        expect_same_weights(p, m);
        GptqTensors no_gidx = packed;
        no_gidx.g_idx = Tensor();
        expect_same_weights(p, unpack_gptq(no_gidx, 64, v1, "test"));
        const GptqTensors back = pack_gptq(m, v1);
        EXPECT_TRUE(same_bytes(back.qweight, packed.qweight));
        EXPECT_TRUE(same_bytes(back.qzeros, packed.qzeros));
        EXPECT_TRUE(same_bytes(back.scales, packed.scales));
        EXPECT_TRUE(same_bytes(back.g_idx, packed.g_idx));
    }
}

TEST(GptqLayout, ActOrderSortsColumnsByGroup) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    for (int64_t group : {32, 64}) {
        const Plain p = random_plain(24, 192, group, rng, /*act_order=*/true, 1);
        const GptqTensors packed = gptq_pack_by_hand(p, /*v1=*/true);
        const Int4Matrix m = unpack_gptq(packed, group, true, "test");
        ASSERT_TRUE(m.in_perm.defined());
        // Column c of the product is stored column in_perm[c], which belongs to group c / group.
        for (int64_t c = 0; c < p.in; ++c)
            EXPECT_EQ(p.g_idx[size_t(m.in_perm.data<int32_t>()[c])], c / group) << "column " << c;
        expect_same_weights(p, m);
        const GptqTensors back = pack_gptq(m, true);
        EXPECT_TRUE(same_bytes(back.qweight, packed.qweight));
        EXPECT_TRUE(same_bytes(back.qzeros, packed.qzeros));
        EXPECT_TRUE(same_bytes(back.g_idx, packed.g_idx));
        const Int4Matrix again = unpack_gptq(back, group, true, "test");
        EXPECT_TRUE(same_bytes(again.q, m.q) && same_bytes(again.in_perm, m.in_perm));
    }
}

TEST(GptqLayout, RefusesAV1ZeroOfSixteenAndABadGIdx) {
    std::mt19937_64 rng(2);
    const Plain p = random_plain(8, 64, 32, rng, false, 1);
    GptqTensors t = gptq_pack_by_hand(p, true);
    t.qzeros.data<int32_t>()[0] |= 0xF;  // stored 15: zero 16
    Status s = catch_status([&] { unpack_gptq(t, 32, true, "layer.q_proj"); });
    EXPECT_EQ(s.code(), StatusCode::kUnimplemented) << s.to_string();
    EXPECT_NE(s.message().find("layer.q_proj"), std::string::npos) << s.to_string();

    GptqTensors u = gptq_pack_by_hand(p, true);
    u.g_idx.data<int32_t>()[0] = 1;  // group 1 now has 33 columns, group 0 31
    s = catch_status([&] { unpack_gptq(u, 32, true, "layer.q_proj"); });
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
    EXPECT_NE(s.message().find("g_idx"), std::string::npos) << s.to_string();
    u.g_idx.data<int32_t>()[0] = 7;
    s = catch_status([&] { unpack_gptq(u, 32, true, "layer.q_proj"); });
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
}

TEST(CompressedTensorsLayout, OneWordWorkedByHand) {
    // Row 0 holds the signed codes -8..-1 in columns 0..7: stored plus 8 they are 0..7, column k in
    // bits 4k, so the word reads (from nibble 7 down to 0) 7 6 5 4 3 2 1 0. Symmetric: zero 8.
    CompressedInt4Tensors t;
    t.weight_packed = Tensor::zeros({1, 4}, DType::kI32);
    t.weight_packed.data<int32_t>()[0] = int32_t(0x76543210u);
    t.weight_packed.data<int32_t>()[1] = int32_t(0xF0000000u);  // column 15 holds signed 7
    t.weight_scale = Tensor::empty({1, 1}, DType::kF16);
    t.weight_scale.data<uint16_t>()[0] = f32_to_f16(0.5f);
    const Int4Matrix m = unpack_compressed_int4(t, 1, 32, 32, "test");
    check_int4_matrix(m);
    const auto w = dequant(m);
    for (int c = 0; c < 8; ++c) EXPECT_EQ(w[0][size_t(c)], 0.5f * float(c - 8)) << "column " << c;
    EXPECT_EQ(w[0][15], 3.5f);
    EXPECT_EQ(w[0][16], -4.0f);  // an all-zero word: signed -8
}

TEST(CompressedTensorsLayout, UnpacksTheHandPackedLayout) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    struct Case {
        int64_t out, in, group;
        bool symmetric, act_order;
    };
    // 20 rows: the zero points' last word is half padding.
    for (const Case c : {Case{16, 128, 32, true, false}, Case{20, 64, 32, false, false}, Case{24, 192, 64, false, true},
                         Case{8, 96, 32, true, true}, Case{8, 96, 96, false, false}}) {
        SCOPED_TRACE(testing::Message() << c.out << " x " << c.in << " group " << c.group << " sym " << c.symmetric
                                        << " act-order " << c.act_order);
        Plain p = random_plain(c.out, c.in, c.group, rng, c.act_order);
        if (c.symmetric)
            for (auto& zeros : p.zeros) std::fill(zeros.begin(), zeros.end(), 8);
        CompressedInt4Tensors t = compressed_pack_by_hand(p, c.symmetric);
        if (!c.act_order) t.weight_g_idx = Tensor();  // the quantizer writes none without activation ordering
        const Int4Matrix m = unpack_compressed_int4(t, c.out, c.in, c.group, "test");
        check_int4_matrix(m);
        EXPECT_EQ(m.in_perm.defined(), c.act_order);
        expect_same_weights(p, m);
    }
}

TEST(CompressedTensorsLayout, UnpacksEightBitCodes) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    std::uniform_int_distribution<int> code(-128, 127);
    for (const int64_t in : {64, 70}) {  // 70: the last word of each row is half padding
        std::vector<std::vector<int>> codes(5, std::vector<int>(size_t(in)));
        for (auto& row : codes)
            for (int& v : row) v = code(rng);
        const Tensor q = unpack_compressed_int8(test::compressed_pack_int8_by_hand(codes), 5, in);
        ASSERT_EQ(q.shape(), (Shape{5, in}));
        int64_t differ = 0;
        for (int64_t r = 0; r < 5; ++r)
            for (int64_t c = 0; c < in; ++c) differ += q.data<int8_t>()[r * in + c] != codes[size_t(r)][size_t(c)];
        EXPECT_EQ(differ, 0);
    }
}

}  // namespace
}  // namespace turbolm::quant
