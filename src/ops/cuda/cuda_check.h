// Error checking for CUDA runtime calls: every call's status is checked and turned into a
// turbolm::Error that names the call, so a failing kernel launch never goes unnoticed.
#pragma once

#include <cuda_runtime.h>

#include "core/error.h"

#define TURBOLM_CUDA_CHECK(call)                                                                       \
    do {                                                                                               \
        cudaError_t turbolm_err_ = (call);                                                             \
        if (turbolm_err_ != cudaSuccess)                                                               \
            ::turbolm::fail(::turbolm::StatusCode::kInternal, #call " failed: ", cudaGetErrorString(turbolm_err_)); \
    } while (0)

// After a launch: catches bad launch configurations immediately.
#define TURBOLM_CUDA_CHECK_LAUNCH() TURBOLM_CUDA_CHECK(cudaGetLastError())
