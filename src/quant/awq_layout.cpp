#include "quant/awq_layout.h"

#include "core/error.h"

namespace turbolm::quant {
namespace {

constexpr int64_t kTile = 64;

}  // namespace

Int4Matrix unpack_awq(const AwqTensors& t, int64_t group) {
    const Tensor qweight = t.qweight.contiguous(), qzeros = t.qzeros.contiguous(), scales = t.scales.contiguous();
    const int64_t in = qweight.size(0), words = qweight.size(1), out = words * 8;
    TURBOLM_CHECK(group > 0 && in % group == 0 && in % 2 == 0, "AWQ group ", group, " for ", in, " input columns");
    const int64_t n_groups = in / group;
    TURBOLM_CHECK(qzeros.shape() == (Shape{n_groups, words}) && scales.shape() == (Shape{n_groups, out}) &&
                      scales.dtype() == DType::kF16,
                  "AWQ tensors ", qweight.describe(), " ", qzeros.describe(), " ", scales.describe());
    Int4Matrix m;
    m.group = group;
    m.q = Tensor::empty({out, in / 2}, DType::kU8);
    m.scale = Tensor::empty({out, n_groups}, DType::kF16);
    m.zero = Tensor::empty({out, n_groups}, DType::kU8);
    const int32_t* qw = qweight.data<int32_t>();
    uint8_t* q = m.q.data<uint8_t>();
    // Rows of m.q against pairs of input columns: a transpose of qweight, tile by tile.
    for_each_tile(out, in / 2, kTile, kTile, [&](int64_t r0, int64_t r1, int64_t j0, int64_t j1) {
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t word = r / 8;
            const int slot = kAwqSlot[r % 8];
            for (int64_t j = j0; j < j1; ++j) {
                const uint32_t lo = nibble(qw[(2 * j) * words + word], slot);
                const uint32_t hi = nibble(qw[(2 * j + 1) * words + word], slot);
                q[r * (in / 2) + j] = uint8_t(lo | (hi << 4));
            }
        }
    });
    const int32_t* qz = qzeros.data<int32_t>();
    const uint16_t* s = scales.data<uint16_t>();
    for (int64_t g = 0; g < n_groups; ++g) {
        for (int64_t r = 0; r < out; ++r) {
            m.zero.data<uint8_t>()[r * n_groups + g] = uint8_t(nibble(qz[g * words + r / 8], kAwqSlot[r % 8]));
            m.scale.data<uint16_t>()[r * n_groups + g] = s[g * out + r];
        }
    }
    return m;
}

AwqTensors pack_awq(const Int4Matrix& m) {
    check_int4_matrix(m);
    if (m.in_perm.defined())
        fail(StatusCode::kUnimplemented,
             "an INT4 projection with an input permutation (GPTQ act-order) has no AWQ layout");
    const int64_t out = m.out(), in = m.in(), n_groups = in / m.group;
    if (out % 8 != 0)
        fail(StatusCode::kUnimplemented, "the AWQ layout packs 8 output rows per word; this projection has ", out);
    const int64_t words = out / 8;
    const Tensor qc = m.q.contiguous(), zc = m.zero.contiguous(), sc = m.scale.contiguous();
    AwqTensors t;
    t.qweight = Tensor::empty({in, words}, DType::kI32);
    t.qzeros = Tensor::empty({n_groups, words}, DType::kI32);
    t.scales = Tensor::empty({n_groups, out}, DType::kF16);
    const uint8_t* q = qc.data<uint8_t>();
    int32_t* qw = t.qweight.data<int32_t>();
    for_each_tile(in, words, kTile, kTile / 8, [&](int64_t c0, int64_t c1, int64_t w0, int64_t w1) {
        for (int64_t c = c0; c < c1; ++c) {
            const int shift = int(c % 2) * 4;
            for (int64_t w = w0; w < w1; ++w) {
                uint32_t word = 0;
                for (int k = 0; k < 8; ++k) {
                    const int64_t r = w * 8 + kAwqOrder[k];
                    word |= uint32_t((q[r * (in / 2) + c / 2] >> shift) & 0xF) << (4 * k);
                }
                qw[c * words + w] = int32_t(word);
            }
        }
    });
    const uint8_t* z = zc.data<uint8_t>();
    const uint16_t* s = sc.data<uint16_t>();
    for (int64_t g = 0; g < n_groups; ++g) {
        for (int64_t w = 0; w < words; ++w) {
            uint32_t word = 0;
            for (int k = 0; k < 8; ++k) word |= uint32_t(z[(w * 8 + kAwqOrder[k]) * n_groups + g] & 0xF) << (4 * k);
            t.qzeros.data<int32_t>()[g * words + w] = int32_t(word);
        }
        for (int64_t r = 0; r < out; ++r) t.scales.data<uint16_t>()[g * out + r] = s[r * n_groups + g];
    }
    return t;
}

}  // namespace turbolm::quant
