// compressed-tensors' "pack-quantized" layout (its PackedQuantizationCompressor, the format of
// llm-compressor's W4A16 and W8A16 checkpoints, read by vLLM and transformers):
//   weight_packed     i32 [out, ceil(in * bits / 32)]  word [r, j] holds input columns j*f .. j*f + f-1
//                     of row r (f = 32 / bits), column j*f + k in bits k*bits, each stored as the signed
//                     code plus 2^(bits-1) (so 0..15 for 4 bits, 0..255 for 8)
//   weight_scale      [out, in/group] (per group), [out, 1] (per channel) or [1]; any float type
//   weight_zero_point i32 [ceil(out * bits / 32), in/group], asymmetric only: packed the same way along
//                     the output (word [j, g] holds rows j*f .. j*f + f-1 of group g)
//   weight_g_idx      i32 [in], activation ordering only: the group of each input column
//   weight_shape      i64 [2] = [out, in]
//   w[r, c] = (code[r, c] - zero[r, g(c)]) * scale[r, g(c)], the zero 0 when symmetric.
// With the offsets both codes and zeros are the stored unsigned values: w = (u - u_zero) * scale,
// u_zero = 2^(bits-1) when symmetric.
#pragma once

#include <string>

#include "quant/int4_matrix.h"

namespace turbolm::quant {

struct CompressedInt4Tensors {
    Tensor weight_packed;      // i32 [out, in/8]
    Tensor weight_scale;       // f16 [out, in/group]
    Tensor weight_zero_point;  // i32 [ceil(out/8), in/group], or undefined when symmetric
    Tensor weight_g_idx;       // i32 [in], or undefined for c / group
};

// The in-memory layout of 4-bit pack-quantized tensors whose shapes and dtypes the caller has
// checked (in a multiple of 8 and of group). `what` names the projection in messages.
Int4Matrix unpack_compressed_int4(const CompressedInt4Tensors& t, int64_t out, int64_t in, int64_t group,
                                  const std::string& what);

// 8-bit pack-quantized codes: i32 [out, ceil(in/4)] to the signed codes, i8 [out, in].
Tensor unpack_compressed_int8(const Tensor& weight_packed, int64_t out, int64_t in);

}  // namespace turbolm::quant
