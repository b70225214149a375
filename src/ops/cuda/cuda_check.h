// Error checking for CUDA runtime calls: every call's status is checked and turned into a
// turbolm::Error that names the call, and every kernel launch is checked by the launcher, whose
// name goes into the message. With TURBOLM_CUDA_SYNC=1 each launch is also waited for, so that a
// kernel that faults is named instead of surfacing at the next synchronisation (slow; for debugging).
#pragma once

#include <atomic>
#include <cstdlib>

#include <cuda_runtime.h>

#include "core/error.h"

#define TURBOLM_CUDA_CHECK(call)                                                                       \
    do {                                                                                               \
        cudaError_t turbolm_err_ = (call);                                                             \
        if (turbolm_err_ != cudaSuccess)                                                               \
            ::turbolm::fail(::turbolm::StatusCode::kInternal, #call " failed: ", cudaGetErrorString(turbolm_err_)); \
    } while (0)

// After a launch: catches bad launch configurations immediately, naming the launching function.
#define TURBOLM_CUDA_CHECK_LAUNCH() ::turbolm::cuda::check_launch(__func__)

namespace turbolm::cuda {

// Set while a CUDA graph is being recorded: nothing may wait for the device then.
inline std::atomic<bool> g_capturing{false};

inline bool sync_after_launch() {
    static const bool on = [] {
        const char* v = std::getenv("TURBOLM_CUDA_SYNC");
        return v && *v && !(v[0] == '0' && v[1] == '\0');
    }();
    return on;
}

inline void check_launch(const char* op) {
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) fail(StatusCode::kInternal, op, ": kernel launch failed: ", cudaGetErrorString(err));
    if (sync_after_launch() && !g_capturing.load()) {
        err = cudaDeviceSynchronize();
        if (err != cudaSuccess) fail(StatusCode::kInternal, op, ": kernel failed: ", cudaGetErrorString(err));
    }
}

}  // namespace turbolm::cuda
