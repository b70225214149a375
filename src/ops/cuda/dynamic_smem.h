// A kernel's dynamic shared-memory limit (48 KB unless raised), raised once per device. Setting it
// is not a stream operation, so launches after it stay capturable in CUDA graphs.
#pragma once

#include <atomic>

#include <cuda_runtime.h>

#include "ops/cuda/cuda_check.h"

namespace turbolm::cuda {

// kKernel: the kernel itself, so that each kernel keeps its own record of the devices done.
template <auto kKernel>
void allow_dynamic_smem(int bytes) {
    constexpr int kMaxDevices = 64;
    static std::atomic<bool> done[kMaxDevices] = {};
    int device = 0;
    TURBOLM_CUDA_CHECK(cudaGetDevice(&device));
    if (device < kMaxDevices && done[device].load(std::memory_order_acquire)) return;
    TURBOLM_CUDA_CHECK(cudaFuncSetAttribute(kKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
    if (device < kMaxDevices) done[device].store(true, std::memory_order_release);
}

}  // namespace turbolm::cuda
