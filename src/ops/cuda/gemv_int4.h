// Weight-only INT4 on the GPU (ops::linear_int4, format in cpu::Int4Weights): a decode step of a
// few rows streams the packed weights once and multiplies them on the tensor cores; larger steps
// dequantize into a 16-bit matrix for cuBLASLt. Also the group quantizer used at load time and the
// column gather of act-order checkpoints.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "core/dtype.h"
#include "ops/cpu/cpu_int4.h"

namespace turbolm::cuda {

constexpr int64_t kGemvInt4MaxRows = 8;

// A decode product of at most kGemvInt4FusedRows rows can also make its activation rows itself
// (Int4RowKind), saving the kernel that would have written them and the launch between:
//   kRmsNormed: rms_norm(res) * norm_w rounded to the activation type, from the f32 residual;
//   kSiluMul:   silu(gate) * up rounded to it (x is the gate).
// The rows are bit for bit those of the unfused ops (norms.cu, activation.cu), so the product is too.
constexpr int kGemvInt4FusedRows = 2;
constexpr int64_t kGemvInt4MadeElems = 16384;  // m * k: the rows a block makes fit 32 KB of shared memory
enum class Int4RowKind { kStored, kRmsNormed, kSiluMul };
struct Int4RowSource {
    Int4RowKind kind = Int4RowKind::kStored;
    const float* res = nullptr;  // kRmsNormed: f32 [m, ldr]
    int64_t ldr = 0;
    const float* norm_w = nullptr;  // kRmsNormed: f32 [k]
    float eps = 0.0f;
    const void* up = nullptr;  // kSiluMul: [m, ldu] in the activation type
    int64_t ldu = 0;
};

// Whether launch_gemv_int4 handles this product: m <= kGemvInt4MaxRows, x and q 16-byte aligned with
// row strides of 16 bytes, k a multiple of the group and the group of 32.
bool gemv_int4_supported(const void* x, int64_t ldx, const cpu::Int4Weights& w, int64_t m, int64_t k);
// y[m, n] (+)= x[m, k] @ dequant(w)[n, k]^T + bias[n].   x: [m, ldx] in x_dtype (bf16/f16);
// y: [m, ldy] in y_dtype (f32 or x_dtype); bias: f32 [n] or null. Products are exact, sums in f32.
void launch_gemv_int4(const void* x, int64_t ldx, DType x_dtype, const cpu::Int4Weights& w, const float* bias, void* y,
                      int64_t ldy, DType y_dtype, int64_t m, int64_t n, int64_t k, bool accumulate,
                      cudaStream_t stream);
// Whether a product of m rows can make them from `src` (its kind other than kStored): m <=
// kGemvInt4FusedRows, m * k <= kGemvInt4MadeElems, weights in groups of a multiple of 128, and the
// sources' rows 16-byte aligned (x, the gate, is checked by gemv_int4_supported).
bool gemv_int4_fusable(const Int4RowSource& src, const cpu::Int4Weights& w, int64_t m, int64_t k);
// launch_gemv_int4 with the rows made from src (x: the gate for kSiluMul, unused for kRmsNormed;
// x_dtype is the activation type either way).
void launch_gemv_int4_fused(const Int4RowSource& src, const void* x, int64_t ldx, DType x_dtype,
                            const cpu::Int4Weights& w, const float* bias, void* y, int64_t ldy, DType y_dtype,
                            int64_t m, int64_t n, int64_t k, bool accumulate, cudaStream_t stream);
// out[n, k] = (code - zero) * scale rounded to out_dtype (bf16/f16).   out: [n, ldo], ldo % 8 == 0, 16-byte aligned
void launch_dequantize_int4(const cpu::Int4Weights& w, void* out, int64_t ldo, DType out_dtype, int64_t n, int64_t k,
                            cudaStream_t stream);
// The quantizer of cpu::quantize_groups_int4, bit for bit.   w: [rows, ldw] in dtype (f32/bf16/f16);
// q: [rows, ldq]; scale (f16 bits): [rows, lds]; zero: [rows, ldz]
void launch_quantize_groups_int4(const void* w, DType dtype, int64_t ldw, int64_t rows, int64_t cols, int64_t group,
                                 uint8_t* q, int64_t ldq, uint16_t* scale, int64_t lds, uint8_t* zero, int64_t ldz,
                                 cudaStream_t stream);
// dst[t, c] = src[t, perm[c]] for elements of elem_size (1, 2, 4 or 8) bytes.   src: [rows, lds];
// dst: [rows, ldd] (strides in elements); perm: i32 [cols], trusted
void launch_gather_columns(const void* src, int64_t lds, const int32_t* perm, void* dst, int64_t ldd, int64_t rows,
                           int64_t cols, size_t elem_size, cudaStream_t stream);

}  // namespace turbolm::cuda
