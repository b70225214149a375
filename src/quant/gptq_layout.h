// GPTQ's layout (AutoGPTQ's QuantLinear, the format quant_method "gptq" checkpoints on the Hub use,
// read by vLLM, TGI and transformers; GPTQModel's "gptq_v2" differs only in the zeros):
//   qweight i32 [in/8, out]         word [i, r] holds input columns 8i..8i+7 of output row r: column
//                                   8i + k in bits 4k..4k+3 (packed along the input, in order)
//   qzeros  i32 [n_groups, out/8]   word [g, j] holds rows 8j..8j+7 of group g, row 8j + k in bits 4k;
//                                   checkpoint_format "gptq" (v1) stores zero - 1, "gptq_v2" the zero
//   scales  f16 [n_groups, out]
//   g_idx   i32 [in]                the group of input column c: c / group, except with act-order
//                                   (desc_act), where columns were quantized in another order and
//                                   each group holds the `group` columns quantized together
//   w[r, c] = (code[c, r] - zero[g_idx[c], r]) * scales[g_idx[c], r]
// In memory the columns are sorted by group (stably) and Linear::in_perm gathers the input to match.
#pragma once

#include <string>

#include "quant/int4_matrix.h"

namespace turbolm::quant {

struct GptqTensors {
    Tensor qweight;  // i32 [in/8, out]
    Tensor qzeros;   // i32 [in/group, out/8]
    Tensor scales;   // f16 [in/group, out]
    Tensor g_idx;    // i32 [in], or undefined for c / group
};

// The in-memory layout of GPTQ tensors whose shapes and dtypes the caller has checked. `what` names
// the projection in messages: kInvalidArgument for a g_idx that does not give each group `group`
// columns; kUnimplemented for a v1 zero point of 16 (stored 15: AutoGPTQ's v1 cannot hold a zero of 0
// and wraps it), which the 0..15 zeros of the in-memory layout cannot hold.
Int4Matrix unpack_gptq(const GptqTensors& t, int64_t group, bool zeros_minus_one, const std::string& what);
// The GPTQ tensors of m (g_idx always written). With zeros_minus_one (v1) every zero must be >= 1:
// kUnimplemented otherwise (write gptq_v2 then: gptq_v1_can_hold() says which).
GptqTensors pack_gptq(const Int4Matrix& m, bool zeros_minus_one);
bool gptq_v1_can_hold(const Int4Matrix& m);

}  // namespace turbolm::quant
