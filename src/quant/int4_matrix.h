// A projection's INT4 weights in the layout ops::linear_int4 multiplies (see ops.h), the form every
// INT4 checkpoint layout is converted to and from, plus the nibble and tiling helpers the layouts share.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"

namespace turbolm::quant {

struct Int4Matrix {
    Tensor q;        // u8 [out, in/2]: the code of column 2j in the low nibble of byte j, of 2j+1 in the high one
    Tensor scale;    // f16 [out, in/group]
    Tensor zero;     // u8 [out, in/group], 0..15
    Tensor in_perm;  // i32 [in] or undefined: the product sees x[:, in_perm[c]] as column c
    int64_t group = 0;

    int64_t out() const { return q.size(0); }
    int64_t in() const { return q.size(1) * 2; }
};

// Checks shapes and dtypes (an internal error: callers validate what they read from files).
void check_int4_matrix(const Int4Matrix& m);

// Bits 4k..4k+3 of a packed 32-bit word.
inline uint32_t nibble(int32_t word, int k) {
    return (uint32_t(word) >> (4 * k)) & 0xFu;
}

// Calls fn(r0, r1, c0, c1) over tiles of a [rows, cols] index space, tiles of rows spread over
// threads. Converting between layouts packed along different axes is a transpose; tiles keep both
// sides in cache.
template <typename Fn>
void for_each_tile(int64_t rows, int64_t cols, int64_t tile_rows, int64_t tile_cols, Fn&& fn);

// Int4Matrix::q of an [out, in] matrix whose code at (r, c) is code(r, c) (0..15), filled tile by tile
// (the stored layouts pack along other axes: keeping both sides of the transpose in cache).
template <typename Code>
Tensor pack_nibbles(int64_t out, int64_t in, Code&& code);

// The permutation that sorts columns by group, stable (so columns of one group keep their order):
// empty when groups[c] == c / group already. Fails (kInvalidArgument, `what` in the message) when a
// group index is out of range or a group does not hold exactly `group` columns.
std::vector<int32_t> columns_sorted_by_group(const int32_t* groups, int64_t in, int64_t group, const std::string& what);
// The same of a g_idx tensor (i32 [in], which the caller has checked), or empty when it is undefined.
std::vector<int32_t> columns_sorted_by_g_idx(const Tensor& g_idx, int64_t in, int64_t group, const std::string& what);

template <typename Code>
Tensor pack_nibbles(int64_t out, int64_t in, Code&& code) {
    constexpr int64_t kTile = 64;
    Tensor q = Tensor::empty({out, in / 2}, DType::kU8);
    uint8_t* dst = q.data<uint8_t>();
    for_each_tile(out, in / 2, kTile, kTile, [&](int64_t r0, int64_t r1, int64_t j0, int64_t j1) {
        for (int64_t r = r0; r < r1; ++r)
            for (int64_t j = j0; j < j1; ++j) dst[r * (in / 2) + j] = uint8_t(code(r, 2 * j) | (code(r, 2 * j + 1) << 4));
    });
    return q;
}

template <typename Fn>
void for_each_tile(int64_t rows, int64_t cols, int64_t tile_rows, int64_t tile_cols, Fn&& fn) {
    const int64_t row_tiles = (rows + tile_rows - 1) / tile_rows;
    parallel_for(row_tiles, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t r0 = t * tile_rows, r1 = std::min(rows, r0 + tile_rows);
            for (int64_t c0 = 0; c0 < cols; c0 += tile_cols) fn(r0, r1, c0, std::min(cols, c0 + tile_cols));
        }
    });
}

}  // namespace turbolm::quant
