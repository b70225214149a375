// What the elementwise kernel tests share: dtype lists, rounding to a device dtype, device
// buffers, mismatch collection, and the fixture. Included by test_cuda_elementwise*.cpp only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/half.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_device.h"
#include "gpu/cuda_kernel_test.h"
#include "ops/cuda/elementwise/elementwise_kernels.h"

namespace turbolm::elementwise_test {


using cpu::Activation;

constexpr DType kFloatTypes[] = {DType::kF32, DType::kBF16, DType::kF16};
constexpr DType k16BitTypes[] = {DType::kBF16, DType::kF16};
constexpr Activation kActivations[] = {Activation::kSilu, Activation::kGeluErf, Activation::kGeluTanh,
                                       Activation::kRelu};

inline const char* act_name(Activation a) {
    switch (a) {
        case Activation::kSilu:
            return "silu";
        case Activation::kGeluErf:
            return "gelu_erf";
        case Activation::kGeluTanh:
            return "gelu_tanh";
        case Activation::kRelu:
            return "relu";
    }
    return "?";
}

// ---- host values in a device dtype -------------------------------------------------------------

inline float round_to(float v, DType dt) {
    switch (dt) {
        case DType::kBF16:
            return bf16_to_f32(f32_to_bf16(v));
        case DType::kF16:
            return f16_to_f32(f32_to_f16(v));
        default:
            return v;
    }
}

// One unit in the last place of a 16-bit value near v (0 for f32): the most a correctly computed result
// may differ from the exact one after its single rounding, with margin for a binade crossing.
inline float ulp16(float v, DType dt) {
    if (dt == DType::kF32) return 0.0f;
    const int mant_bits = dt == DType::kBF16 ? 7 : 10;
    const float min_ulp = dt == DType::kBF16 ? std::ldexp(1.0f, -133) : std::ldexp(1.0f, -24);
    if (v == 0.0f || !std::isfinite(v)) return min_ulp;
    int e;
    std::frexp(std::fabs(v), &e);  // |v| = m * 2^e, m in [0.5, 1)
    return std::max(std::ldexp(1.0f, e - 1 - mant_bits), min_ulp);
}

// Tolerance of a result whose f32 computation may differ from the reference by a few f32 roundings
// (relative to `scale`, the magnitude of the terms that produced it) and is then rounded to dt.
inline float tolerance(float ref, DType dt, float scale) {
    return ulp16(ref, dt) + 1e-5f * (std::fabs(ref) + scale);
}

// A host array of n elements stored exactly as the device stores them.
struct HostArray {
    DType dtype;
    size_t n;
    std::vector<uint8_t> bytes;

    HostArray(DType dt, size_t count, uint8_t fill = 0) : dtype(dt), n(count), bytes(count * dtype_size(dt), fill) {}
    size_t esize() const { return dtype_size(dtype); }
    float get(size_t i) const {
        if (dtype == DType::kF32) {
            float f;
            std::memcpy(&f, &bytes[i * 4], 4);
            return f;
        }
        uint16_t h;
        std::memcpy(&h, &bytes[i * 2], 2);
        return dtype == DType::kBF16 ? bf16_to_f32(h) : f16_to_f32(h);
    }
    // Stores v rounded to the dtype (to nearest even, as the device does).
    void set(size_t i, float v) {
        if (dtype == DType::kF32) {
            std::memcpy(&bytes[i * 4], &v, 4);
            return;
        }
        const uint16_t h = dtype == DType::kBF16 ? f32_to_bf16(v) : f32_to_f16(v);
        std::memcpy(&bytes[i * 2], &h, 2);
    }
    bool poisoned(size_t i) const {
        for (size_t k = 0; k < esize(); ++k)
            if (bytes[i * esize() + k] != 0xff) return false;
        return true;
    }
    bool same_bits(size_t i, const HostArray& other, size_t j) const {
        return std::memcmp(&bytes[i * esize()], &other.bytes[j * other.esize()], esize()) == 0;
    }
};

// ---- device memory -----------------------------------------------------------------------------

class DeviceBuffer {
  public:
    explicit DeviceBuffer(size_t bytes) : bytes_(bytes) { TURBOLM_CUDA_CHECK(cudaMalloc(&ptr_, bytes ? bytes : 1)); }
    explicit DeviceBuffer(const HostArray& a) : DeviceBuffer(a.bytes.size()) { upload(a.bytes.data(), a.bytes.size()); }
    template <typename T>
    explicit DeviceBuffer(const std::vector<T>& v) : DeviceBuffer(v.size() * sizeof(T)) {
        upload(v.data(), v.size() * sizeof(T));
    }
    ~DeviceBuffer() { cudaFree(ptr_); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;

    template <typename T = void>
    T* as() const {
        return static_cast<T*>(ptr_);
    }
    // Pointer `elements` elements of `dt` into the buffer (to make unaligned starts).
    void* at(size_t elements, DType dt) const { return static_cast<uint8_t*>(ptr_) + elements * dtype_size(dt); }
    void upload(const void* src, size_t bytes) {
        TURBOLM_CUDA_CHECK(cudaMemcpy(ptr_, src, bytes, cudaMemcpyHostToDevice));
    }
    void poison() { TURBOLM_CUDA_CHECK(cudaMemset(ptr_, 0xff, bytes_)); }
    HostArray download(DType dt) const {
        HostArray a(dt, bytes_ / dtype_size(dt));
        TURBOLM_CUDA_CHECK(cudaMemcpy(a.bytes.data(), ptr_, a.bytes.size(), cudaMemcpyDeviceToHost));
        return a;
    }

  private:
    void* ptr_ = nullptr;
    size_t bytes_;
};

// Collects mismatches and reports the first few with their position.
struct Mismatches {
    int64_t count = 0;
    std::string first;
    void add(const std::string& what) {
        if (count++ < 5) first += what + "\n";
    }
};

inline std::string describe(const char* what, size_t i, float got, float ref) {
    std::ostringstream s;
    s.precision(9);
    s << what << " at " << i << ": got " << got << ", want " << ref;
    return s.str();
}

// Checks an element that must be finite and within tol of ref.
inline void check_value(Mismatches& m, const char* what, size_t i, float got, float ref, float tol) {
    if (!std::isfinite(got) || !(std::fabs(got - ref) <= tol)) m.add(describe(what, i, got, ref));
}

class CudaElementwise : public test::CudaKernelTest {};

}  // namespace turbolm::elementwise_test
