// What every op's dispatch file (ops.cpp, ops_int4.cpp, ops_w8a8.cpp) checks before it picks a
// backend: that a call does not mix devices, and the layouts the CPU kernels need.
#pragma once

#include "core/error.h"
#include "core/tensor.h"
#include "ops/cpu/cpu_int4.h"
#include "ops/op_profile.h"

// Sends a call to the CUDA implementation (namespace cuda_ops, declared by the including file's
// cuda_ops*.h) when `t` lives on the GPU.
#ifdef TURBOLM_WITH_CUDA
#define TURBOLM_DISPATCH_CUDA(t, ...)                                           \
    if ((t).device() == Device::kCuda) {                                        \
        const ::turbolm::ops::OpProfileScope turbolm_profile_(#__VA_ARGS__, t); \
        cuda_ops::__VA_ARGS__;                                                  \
        return;                                                                 \
    }
#else
#define TURBOLM_DISPATCH_CUDA(t, ...)   \
    if ((t).device() == Device::kCuda) \
        fail(StatusCode::kUnimplemented, "this build of turbolm has no CUDA backend");
#endif

namespace turbolm::ops {

// Whether `t` is on the GPU (throws in a build without the CUDA backend).
inline bool on_cuda(const Tensor& t) {
    if (t.device() != Device::kCuda) return false;
#ifndef TURBOLM_WITH_CUDA
    fail(StatusCode::kUnimplemented, "this build of turbolm has no CUDA backend");
#endif
    return true;
}

inline void require_cpu(const Tensor& t, const char* what) {
    if (t.defined() && t.device() != Device::kCpu)
        fail(StatusCode::kInvalidArgument, what, ": ", device_name(t.device()), " tensor mixed with CPU tensors");
}

inline void require_f32_rows(const Tensor& t, const char* what) {
    TURBOLM_CHECK(t.dtype() == DType::kF32, what, " must be f32, got ", t.describe());
    TURBOLM_CHECK(t.ndim() >= 1 && t.stride(-1) == 1, what, " must have a contiguous last axis, got ", t.describe());
}

inline bool rows_contiguous(const Tensor& t) { return t.ndim() == 2 && t.stride(1) == 1; }

// The pointers and pitches of checked INT4 weights, on whichever device they are.
inline cpu::Int4Weights int4_weights(const Tensor& q, const Tensor& scale, const Tensor& zero, int64_t group) {
    cpu::Int4Weights w;
    w.q = q.data<uint8_t>();
    w.ldq = q.stride(0);
    w.scale = scale.data<uint16_t>();
    w.lds = scale.stride(0);
    w.zero = zero.data<uint8_t>();
    w.ldz = zero.stride(0);
    w.group = group;
    return w;
}

}  // namespace turbolm::ops
