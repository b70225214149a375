#include "quant/int4_matrix.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"

namespace turbolm::quant {

void check_int4_matrix(const Int4Matrix& m) {
    TURBOLM_CHECK(m.q.defined() && m.q.dtype() == DType::kU8 && m.q.ndim() == 2, "int4 codes ",
                  m.q.defined() ? m.q.describe() : "undefined");
    const int64_t out = m.out(), in = m.in();
    TURBOLM_CHECK(m.group > 0 && in % m.group == 0, "int4 group ", m.group, " for ", in, " input columns");
    const Shape groups{out, in / m.group};
    TURBOLM_CHECK(m.scale.dtype() == DType::kF16 && m.scale.shape() == groups, "int4 scale ", m.scale.describe(),
                  " for ", groups.to_string());
    TURBOLM_CHECK(m.zero.dtype() == DType::kU8 && m.zero.shape() == groups, "int4 zero ", m.zero.describe(), " for ",
                  groups.to_string());
    TURBOLM_CHECK(!m.in_perm.defined() || (m.in_perm.dtype() == DType::kI32 && m.in_perm.shape() == Shape{in}),
                  "int4 in_perm ", m.in_perm.describe());
}

std::vector<int32_t> columns_sorted_by_g_idx(const Tensor& g_idx, int64_t in, int64_t group, const std::string& what) {
    if (!g_idx.defined()) return {};
    const Tensor c = g_idx.contiguous();
    TURBOLM_CHECK(c.dtype() == DType::kI32 && c.shape() == Shape{in}, "g_idx ", c.describe(), " for ", in, " columns");
    return columns_sorted_by_group(c.data<int32_t>(), in, group, what);
}

std::vector<int32_t> columns_sorted_by_group(const int32_t* groups, int64_t in, int64_t group,
                                             const std::string& what) {
    const int64_t n_groups = in / group;
    std::vector<int64_t> count(size_t(n_groups), 0);
    bool trivial = true;
    for (int64_t c = 0; c < in; ++c) {
        const int32_t g = groups[c];
        if (g < 0 || g >= n_groups)
            fail(StatusCode::kInvalidArgument, what, ": g_idx[", c, "] = ", g, " is outside the ", n_groups, " groups");
        ++count[size_t(g)];
        trivial = trivial && g == c / group;
    }
    for (int64_t g = 0; g < n_groups; ++g)
        if (count[size_t(g)] != group)
            fail(StatusCode::kInvalidArgument, what, ": g_idx gives group ", g, " ", count[size_t(g)],
                 " columns but the group size is ", group);
    if (trivial) return {};
    std::vector<int32_t> perm(static_cast<size_t>(in));
    std::iota(perm.begin(), perm.end(), 0);
    std::stable_sort(perm.begin(), perm.end(), [&](int32_t a, int32_t b) { return groups[a] < groups[b]; });
    return perm;
}

}  // namespace turbolm::quant
