#include "quant/gptq_layout.h"

#include <numeric>

#include "core/error.h"

namespace turbolm::quant {
namespace {

constexpr int64_t kTile = 64;

}  // namespace

Int4Matrix unpack_gptq(const GptqTensors& t, int64_t group, bool zeros_minus_one, const std::string& what) {
    const Tensor qweight = t.qweight.contiguous(), qzeros = t.qzeros.contiguous(), scales = t.scales.contiguous();
    const int64_t in = qweight.size(0) * 8, out = qweight.size(1);
    TURBOLM_CHECK(group > 0 && in % group == 0 && out % 8 == 0, "GPTQ group ", group, " for ", in, " x ", out);
    const int64_t n_groups = in / group, words = out / 8;
    TURBOLM_CHECK(qzeros.shape() == (Shape{n_groups, words}) && scales.shape() == (Shape{n_groups, out}) &&
                      scales.dtype() == DType::kF16,
                  "GPTQ tensors ", qweight.describe(), " ", qzeros.describe(), " ", scales.describe());
    const std::vector<int32_t> perm = columns_sorted_by_g_idx(t.g_idx, in, group, what);
    Int4Matrix m;
    m.group = group;
    m.scale = Tensor::empty({out, n_groups}, DType::kF16);
    m.zero = Tensor::empty({out, n_groups}, DType::kU8);
    const int32_t* qw = qweight.data<int32_t>();
    const int32_t* order = perm.empty() ? nullptr : perm.data();
    m.q = pack_nibbles(out, in, [&](int64_t r, int64_t c) {
        const int64_t o = order ? order[c] : c;  // the stored column the product's column c comes from
        return nibble(qw[(o / 8) * out + r], int(o % 8));
    });
    const int32_t* qz = qzeros.data<int32_t>();
    const uint16_t* s = scales.data<uint16_t>();
    const uint32_t offset = zeros_minus_one ? 1 : 0;
    for (int64_t g = 0; g < n_groups; ++g) {
        for (int64_t r = 0; r < out; ++r) {
            const uint32_t z = nibble(qz[g * words + r / 8], int(r % 8)) + offset;
            if (z > 15)
                fail(StatusCode::kUnimplemented, what, ": qzeros of group ", g, ", row ", r,
                     " stores 15, a zero point of 16 in the v1 format, which INT4 zeros (0..15) cannot hold");
            m.zero.data<uint8_t>()[r * n_groups + g] = uint8_t(z);
            m.scale.data<uint16_t>()[r * n_groups + g] = s[g * out + r];
        }
    }
    if (!perm.empty()) {
        m.in_perm = Tensor::empty({in}, DType::kI32);
        std::copy(perm.begin(), perm.end(), m.in_perm.data<int32_t>());
    }
    return m;
}

bool gptq_v1_can_hold(const Int4Matrix& m) {
    const Tensor z = m.zero.contiguous();
    for (int64_t i = 0; i < z.numel(); ++i)
        if (z.data<uint8_t>()[i] == 0) return false;
    return true;
}

GptqTensors pack_gptq(const Int4Matrix& m, bool zeros_minus_one) {
    check_int4_matrix(m);
    const int64_t out = m.out(), in = m.in(), n_groups = in / m.group;
    if (out % 8 != 0 || in % 8 != 0)
        fail(StatusCode::kUnimplemented, "the GPTQ layout packs 8 rows and 8 columns per word; this projection is ",
             out, " x ", in);
    if (zeros_minus_one && !gptq_v1_can_hold(m))
        fail(StatusCode::kUnimplemented, "a zero point of 0 has no GPTQ v1 encoding (zero - 1); use gptq_v2");
    const int64_t words = out / 8;
    // stored column o is the product's column inv[o]
    std::vector<int32_t> inv(static_cast<size_t>(in));
    std::iota(inv.begin(), inv.end(), 0);
    if (m.in_perm.defined()) {
        const Tensor perm = m.in_perm.contiguous();
        std::vector<bool> seen(size_t(in), false);
        for (int64_t c = 0; c < in; ++c) {
            const int32_t o = perm.data<int32_t>()[c];
            TURBOLM_CHECK(o >= 0 && o < in && !seen[size_t(o)], "in_perm is not a permutation at ", c);
            seen[size_t(o)] = true;
            inv[size_t(o)] = int32_t(c);
        }
    }
    GptqTensors t;
    t.qweight = Tensor::empty({in / 8, out}, DType::kI32);
    t.qzeros = Tensor::empty({n_groups, words}, DType::kI32);
    t.scales = Tensor::empty({n_groups, out}, DType::kF16);
    t.g_idx = Tensor::empty({in}, DType::kI32);
    for (int64_t o = 0; o < in; ++o) t.g_idx.data<int32_t>()[o] = int32_t(inv[size_t(o)] / m.group);
    const Tensor qc = m.q.contiguous();
    const uint8_t* q = qc.data<uint8_t>();
    int32_t* qw = t.qweight.data<int32_t>();
    for_each_tile(in / 8, out, kTile / 8, kTile, [&](int64_t i0, int64_t i1, int64_t r0, int64_t r1) {
        for (int64_t i = i0; i < i1; ++i) {
            for (int64_t r = r0; r < r1; ++r) {
                uint32_t word = 0;
                for (int k = 0; k < 8; ++k) {
                    const int64_t c = inv[size_t(i * 8 + k)];
                    word |= uint32_t((q[r * (in / 2) + c / 2] >> ((c % 2) * 4)) & 0xF) << (4 * k);
                }
                qw[i * out + r] = int32_t(word);
            }
        }
    });
    const Tensor zc = m.zero.contiguous(), sc = m.scale.contiguous();
    const uint32_t offset = zeros_minus_one ? 1 : 0;
    for (int64_t g = 0; g < n_groups; ++g) {
        for (int64_t w = 0; w < words; ++w) {
            uint32_t word = 0;
            for (int k = 0; k < 8; ++k)
                word |= ((uint32_t(zc.data<uint8_t>()[(w * 8 + k) * n_groups + g]) - offset) & 0xF) << (4 * k);
            t.qzeros.data<int32_t>()[g * words + w] = int32_t(word);
        }
        for (int64_t r = 0; r < out; ++r)
            t.scales.data<uint16_t>()[g * out + r] = sc.data<uint16_t>()[r * n_groups + g];
    }
    return t;
}

}  // namespace turbolm::quant
