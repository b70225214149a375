#include "quant/compressed_tensors_layout.h"

#include <algorithm>

#include "core/error.h"

namespace turbolm::quant {
namespace {

constexpr int64_t kTile = 64;

}  // namespace

Int4Matrix unpack_compressed_int4(const CompressedInt4Tensors& t, int64_t out, int64_t in, int64_t group,
                                  const std::string& what) {
    TURBOLM_CHECK(group > 0 && in % group == 0 && in % 8 == 0, "pack-quantized group ", group, " for ", in, " columns");
    const int64_t n_groups = in / group, words = in / 8;
    const Tensor packed = t.weight_packed.contiguous(), scales = t.weight_scale.contiguous();
    TURBOLM_CHECK(packed.dtype() == DType::kI32 && packed.shape() == (Shape{out, words}) &&
                      scales.dtype() == DType::kF16 && scales.shape() == (Shape{out, n_groups}),
                  "pack-quantized tensors ", packed.describe(), " ", scales.describe());
    const std::vector<int32_t> perm = columns_sorted_by_g_idx(t.weight_g_idx, in, group, what);
    Int4Matrix m;
    m.group = group;
    m.scale = scales.to(DType::kF16);  // a copy: the tensors may be views of a mapped file
    m.zero = Tensor::empty({out, n_groups}, DType::kU8);
    const int32_t* pw = packed.data<int32_t>();
    const int32_t* order = perm.empty() ? nullptr : perm.data();
    m.q = pack_nibbles(out, in, [&](int64_t r, int64_t c) {
        const int64_t o = order ? order[c] : c;  // the stored column the product's column c comes from
        return nibble(pw[r * words + o / 8], int(o % 8));
    });
    uint8_t* z = m.zero.data<uint8_t>();
    if (!t.weight_zero_point.defined()) {
        std::fill(z, z + out * n_groups, uint8_t(8));  // symmetric: the signed code is u - 8
    } else {
        const Tensor zp = t.weight_zero_point.contiguous();
        TURBOLM_CHECK(zp.dtype() == DType::kI32 && zp.shape() == (Shape{(out + 7) / 8, n_groups}),
                      "pack-quantized zero points ", zp.describe());
        const int32_t* zw = zp.data<int32_t>();
        for (int64_t r = 0; r < out; ++r)
            for (int64_t g = 0; g < n_groups; ++g)
                z[r * n_groups + g] = uint8_t(nibble(zw[(r / 8) * n_groups + g], int(r % 8)));
    }
    if (!perm.empty()) {
        m.in_perm = Tensor::empty({in}, DType::kI32);
        std::copy(perm.begin(), perm.end(), m.in_perm.data<int32_t>());
    }
    return m;
}

Tensor unpack_compressed_int8(const Tensor& weight_packed, int64_t out, int64_t in) {
    const int64_t words = (in + 3) / 4;
    const Tensor packed = weight_packed.contiguous();
    TURBOLM_CHECK(packed.dtype() == DType::kI32 && packed.shape() == (Shape{out, words}), "pack-quantized 8-bit ",
                  packed.describe());
    Tensor q = Tensor::empty({out, in}, DType::kI8);
    const int32_t* pw = packed.data<int32_t>();
    int8_t* dst = q.data<int8_t>();
    for_each_tile(out, in, kTile, kTile * 4, [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
        for (int64_t r = r0; r < r1; ++r)
            for (int64_t c = c0; c < c1; ++c) {
                const uint32_t u = (uint32_t(pw[r * words + c / 4]) >> (8 * (c % 4))) & 0xFFu;
                dst[r * in + c] = int8_t(int32_t(u) - 128);
            }
    });
    return q;
}

}  // namespace turbolm::quant
