// CPU parallelism: one process-wide thread count and a parallel_for over index ranges (OpenMP
// underneath). Kernels split their work into ranges and never create threads of their own.
#pragma once

#include <cstdint>
#include <functional>

namespace turbolm {

// Threads used by CPU kernels; defaults to the machine's cores (or OMP_NUM_THREADS).
int num_threads();
void set_num_threads(int n);

// Calls fn(begin, end) on disjoint chunks covering [0, n), chunks of at least `grain` items,
// spread over num_threads() threads. Runs inline when there is only one chunk.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace turbolm
