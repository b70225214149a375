// Packers for the INT4 checkpoint layouts written from their published descriptions (AutoAWQ's
// WQLinear_GEMM; AutoGPTQ's QuantLinear with v1 or v2 zeros and act-order g_idx), independent of the
// loader's code, so that tests can make checkpoints as the Hub's quantizers would.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "quant/awq_layout.h"
#include "quant/compressed_tensors_layout.h"
#include "quant/gptq_layout.h"

namespace turbolm::quant::test {

// Codes, zeros and scales of an INT4 matrix in plain arrays: codes[r][c], zeros[g][r], scales[g][r].
struct Plain {
    int64_t out = 0, in = 0, group = 0;
    std::vector<std::vector<int>> codes;
    std::vector<std::vector<int>> zeros;
    std::vector<std::vector<uint16_t>> scales;  // f16 bits
    std::vector<int32_t> g_idx;                 // the group of input column c
};

// Random codes and zeros (zeros from min_zero), scales uniform in [scale_lo, scale_hi]; with act_order
// the columns were quantized in a random order, `group` at a time (g_idx is not c / group).
Plain random_plain(int64_t out, int64_t in, int64_t group, std::mt19937_64& rng, bool act_order, int min_zero = 0,
                   float scale_lo = 1e-3f, float scale_hi = 0.1f);
// w[r, c] = (code - zero[g_idx[c]]) * scale[g_idx[c]]
float dequant(const Plain& p, int64_t r, int64_t c);

// AutoAWQ GEMM: qweight [in, out/8], word j of input column c holds output row 8j + order[k] in bits
// 4k, order = 0 2 4 6 1 3 5 7; qzeros [groups, out/8] the same way; scales [groups, out].
AwqTensors awq_pack_by_hand(const Plain& p);
// AutoGPTQ: qweight [in/8, out], word i of output row r holds input column 8i + k in bits 4k; qzeros
// [groups, out/8], word j holds row 8j + k in bits 4k, minus one in v1; scales [groups, out]; g_idx [in].
GptqTensors gptq_pack_by_hand(const Plain& p, bool v1);
// compressed-tensors pack-quantized, 4 bits: weight_packed [out, in/8], word j of row r holds input
// columns 8j..8j+7, column 8j + k in bits 4k, each the signed code (code - 8) plus 8; weight_scale
// [out, groups] (f16); asymmetric only: weight_zero_point [ceil(out/8), groups], word [j, g] holds
// rows 8j..8j+7, row 8j + k in bits 4k, the signed zero (zero - 8) plus 8; weight_g_idx [in].
// Symmetric needs every zero of p to be 8 (a signed zero point of 0).
CompressedInt4Tensors compressed_pack_by_hand(const Plain& p, bool symmetric);
// compressed-tensors pack-quantized, 8 bits: codes [out][in] to i32 [out, ceil(in/4)], word j of row r
// holding columns 4j..4j+3, column 4j + k in bits 8k as code + 128 (zero bytes past in).
Tensor compressed_pack_int8_by_hand(const std::vector<std::vector<int>>& codes);

}  // namespace turbolm::quant::test
