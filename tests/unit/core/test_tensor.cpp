#include <gtest/gtest.h>

#include "core/half.h"
#include "core/tensor.h"

namespace turbolm {
namespace {

Tensor iota(const Shape& shape) {
    Tensor t = Tensor::empty(shape, DType::kF32);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = float(i);
    return t;
}

TEST(Tensor, ViewsShareMemoryAndKeepStrides) {
    Tensor t = iota({2, 3, 4});
    EXPECT_TRUE(t.is_contiguous());
    EXPECT_EQ(t.stride(0), 12);
    Tensor s = t.slice(2, 1, 3);  // [2, 3, 2]
    EXPECT_FALSE(s.is_contiguous());
    EXPECT_EQ(s.data<float>()[0], 1.0f);
    Tensor sel = t.select(1, 2);  // [2, 4]
    EXPECT_EQ(sel.shape(), Shape({2, 4}));
    EXPECT_EQ(tensor_get_float(sel, 5), 21.0f);  // t[1, 2, 1]
    Tensor tr = t.transpose(0, 2);                // [4, 3, 2]
    EXPECT_EQ(tensor_get_float(tr, 1), 12.0f);    // t[1, 0, 0]
    Tensor c = tr.contiguous();
    EXPECT_TRUE(c.is_contiguous());
    for (int64_t i = 0; i < c.numel(); ++i) EXPECT_EQ(c.data<float>()[i], tensor_get_float(tr, i));
    t.data<float>()[0] = 100.0f;
    EXPECT_EQ(t.view({6, 4}).data<float>()[0], 100.0f);
    EXPECT_EQ(t.view({-1, 8}).shape(), Shape({3, 8}));
}

TEST(Tensor, ConvertsBetweenFloatTypes) {
    Tensor t = iota({5, 7});
    Tensor b = t.to(DType::kBF16);
    Tensor h = t.to(DType::kF16);
    for (int64_t i = 0; i < t.numel(); ++i) {
        EXPECT_EQ(bf16_to_f32(b.data<uint16_t>()[i]), float(i));
        EXPECT_EQ(f16_to_f32(h.data<uint16_t>()[i]), float(i));
    }
    Tensor back = b.transpose(0, 1).to(DType::kF32);
    EXPECT_EQ(back.shape(), Shape({7, 5}));
    EXPECT_EQ(back.data<float>()[1], 7.0f);
}

TEST(Tensor, MisuseIsAnErrorNotACrash) {
    Tensor t = iota({2, 3});
    EXPECT_THROW(t.slice(0, 1, 3), Error);
    EXPECT_THROW(t.view({4, 2}), Error);
    EXPECT_THROW(t.data<uint16_t>(), Error);
    EXPECT_THROW(t.select(5, 0), Error);
}

}  // namespace
}  // namespace turbolm
