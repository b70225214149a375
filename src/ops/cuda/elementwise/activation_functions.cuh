// The activation functions of the GPU kernels (act_mul, act_inplace and the FP8 activation
// quantization that computes act(gate) * up itself), with the formulas of the CPU kernels in
// cpu_elementwise.cpp, and the dispatch from cpu::Activation to their functors.
#pragma once

#include "core/error.h"
#include "ops/cpu/cpu_kernels.h"

namespace turbolm::cuda::elt {

// The gelus use the accurate libm-style functions (erff, tanhf): their 1 + erf(.) cancels for negative
// x. Silu's 1 + exp(-x) does not cancel, and its result is rounded to 16 bits (or quantized to 8)
// afterwards, so the fast exponential and division (a few f32 ulps) cost nothing visible there and
// keep the activation kernels bound by memory rather than by the libm and IEEE division sequences.
struct Silu {
    __device__ static float apply(float x) { return __fdividef(x, 1.0f + __expf(-x)); }
};
struct GeluErf {
    __device__ static float apply(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
};
struct GeluTanh {
    __device__ static float apply(float x) {
        const float kBeta = 0.7978845608028654f;  // sqrt(2 / pi)
        return 0.5f * x * (1.0f + tanhf(kBeta * (x + 0.044715f * x * x * x)));
    }
};
struct Relu {
    __device__ static float apply(float x) { return x > 0.0f ? x : 0.0f; }
};

// Calls fn(Act{}) for the activation's functor.
template <typename Fn>
void dispatch_act(cpu::Activation act, const char* op, Fn&& fn) {
    switch (act) {
        case cpu::Activation::kSilu:
            fn(Silu{});
            return;
        case cpu::Activation::kGeluErf:
            fn(GeluErf{});
            return;
        case cpu::Activation::kGeluTanh:
            fn(GeluTanh{});
            return;
        case cpu::Activation::kRelu:
            fn(Relu{});
            return;
    }
    fail(StatusCode::kInvalidArgument, op, ": unknown activation ", int(act));
}

}  // namespace turbolm::cuda::elt
