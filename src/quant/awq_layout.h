// AutoAWQ's GEMM layout (WQLinear_GEMM), which quant_method "awq" / version "gemm" checkpoints on the
// Hub use and vLLM, TGI and transformers read:
//   qweight i32 [in, out/8]   word [c, j] holds input column c of output rows 8j..8j+7: the code of row
//                             8j + kAwqOrder[k] in bits 4k..4k+3 (so rows 0,2,4,6,1,3,5,7 from the bottom)
//   qzeros  i32 [in/group, out/8]  the zero points (integers 0..15, not minus one), packed like qweight
//   scales  f16 [in/group, out]
//   w[r, c] = (code[c, r] - zero[c / group, r]) * scales[c / group, r]
// The order is the interleaving AutoAWQ's packer applies (order_map [0, 2, 4, 6, 1, 3, 5, 7]) so that
// its GEMM kernel can widen 8 codes with a few shifts; vLLM undoes it with the inverse [0, 4, 1, 5, 2, 6, 3, 7].
#pragma once

#include "quant/int4_matrix.h"

namespace turbolm::quant {

// Nibble k of a word holds row 8j + kAwqOrder[k]; row 8j + i sits in nibble kAwqSlot[i].
inline constexpr int kAwqOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};
inline constexpr int kAwqSlot[8] = {0, 4, 1, 5, 2, 6, 3, 7};

struct AwqTensors {
    Tensor qweight;  // i32 [in, out/8]
    Tensor qzeros;   // i32 [in/group, out/8]
    Tensor scales;   // f16 [in/group, out]
};

// The in-memory layout of AWQ tensors whose shapes and dtypes the caller has checked.
Int4Matrix unpack_awq(const AwqTensors& t, int64_t group);
// The AWQ tensors of m. m.in_perm must be undefined (AWQ has no act-order) and out a multiple of 8.
AwqTensors pack_awq(const Int4Matrix& m);

}  // namespace turbolm::quant
