// Programmatic dependent launch for the kernels of a decode step. A decode step is a chain of short
// kernels, each reading what the one before wrote; launched plainly, each waits for its predecessor
// to finish before it is even scheduled, so every boundary costs a launch latency on top of the
// drain. Launched with programmatic stream serialization, a kernel's blocks are scheduled while the
// previous kernel drains and wait at wait_for_previous_grid(), which returns once that kernel has
// finished and its writes are visible. Every kernel launched this way calls it before its first
// global read or write (without the attribute it is a no-op), so nothing it does can race with
// the predecessor.
#pragma once

#include <utility>

#include <cuda_runtime.h>

#include "ops/cuda/cuda_check.h"

namespace turbolm::cuda {

__device__ __forceinline__ void wait_for_previous_grid() {
    asm volatile("griddepcontrol.wait;" ::: "memory");
}

// Lets the next kernel be scheduled once every block of this one has called it or exited (a kernel
// calls it when it has read what it streams, so that the next one's blocks are placed while its
// last ones finish); that kernel still waits for this one to finish.
__device__ __forceinline__ void grid_dependents_launch() {
    asm volatile("griddepcontrol.launch_dependents;" :::);
}

// Also lets the next kernel be scheduled as soon as every block of this one has started (not when
// the last one exits), into the SM room this one leaves; that kernel still waits for this one to
// finish. Every block must have started, so a kernel of many waves releases at its last wave and
// gives away no room its own blocks need.
__device__ __forceinline__ void wait_for_previous_grid_and_release_next() {
    wait_for_previous_grid();
    asm volatile("griddepcontrol.launch_dependents;" :::);
}

// kernel<<<grid, block, smem, stream>>>(args...) with programmatic stream serialization (also when
// captured into a CUDA graph, where it becomes a programmatic edge).
template <typename... Params, typename... Args>
void launch_after_previous(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                           Args&&... args) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    cudaLaunchAttribute attr;
    attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr.val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
    TURBOLM_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
}

}  // namespace turbolm::cuda
