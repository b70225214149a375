#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "core/half.h"
#include "core/rng.h"

namespace turbolm {
namespace {

// The hardware conversions (F16C) are the reference for f16; every x86-64 CPU that runs the CI has them.
__attribute__((target("f16c"))) uint16_t hw_f32_to_f16(float f) {
    return uint16_t(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}
__attribute__((target("f16c"))) float hw_f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }

TEST(Half, F16RoundTripsEveryValue) {
    if (!__builtin_cpu_supports("f16c")) GTEST_SKIP() << "no F16C";
    for (uint32_t h = 0; h < 0x10000; ++h) {
        float ref = hw_f16_to_f32(uint16_t(h));
        float got = f16_to_f32(uint16_t(h));
        if (std::isnan(ref)) {
            EXPECT_TRUE(std::isnan(got)) << h;
        } else {
            ASSERT_EQ(std::memcmp(&ref, &got, 4), 0) << "f16 bits " << h;
        }
    }
}

TEST(Half, F32ToF16MatchesHardwareOnRandomBits) {
    if (!__builtin_cpu_supports("f16c")) GTEST_SKIP() << "no F16C";
    Rng rng(std::random_device{}());
    for (int i = 0; i < 2'000'000; ++i) {
        uint32_t bits = uint32_t(rng.next_u64());
        float f;
        std::memcpy(&f, &bits, 4);
        if (std::isnan(f)) continue;
        ASSERT_EQ(f32_to_f16(f), hw_f32_to_f16(f)) << "f32 bits " << std::hex << bits;
    }
}

TEST(Half, Bf16RoundsToNearestEven) {
    EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
    // 1 + 2^-8 is exactly halfway between two bf16 values: ties to even (down).
    EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3f80);
    // 1 + 3 * 2^-8 is halfway again: ties to even (up).
    EXPECT_EQ(f32_to_bf16(1.01171875f), 0x3f82);
    EXPECT_EQ(bf16_to_f32(0xc000), -2.0f);
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
}

TEST(Half, F8E4M3DecodesKnownValues) {
    EXPECT_EQ(f8e4m3_to_f32(0x38), 1.0f);
    EXPECT_EQ(f8e4m3_to_f32(0x7e), 448.0f);
    EXPECT_EQ(f8e4m3_to_f32(0x01), std::ldexp(1.0f, -9));
    EXPECT_EQ(f8e4m3_to_f32(0xb8), -1.0f);
    EXPECT_TRUE(std::isnan(f8e4m3_to_f32(0x7f)));
}

}  // namespace
}  // namespace turbolm
