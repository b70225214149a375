// The CUDA runtime side of the backend: one device, one stream that all work is queued on, and a
// caching memory pool so that the forward pass never calls cudaMalloc once warm. Capturing a CUDA
// graph allocates from a private pool that lives as long as the graph, so that the graph's scratch
// addresses are never handed to anyone else while it may be replayed.
#pragma once

#include <cstddef>
#include <memory>

#include <cuda_runtime.h>

namespace turbolm::cuda {

// Selects device 0, creates the stream and registers the backend with core (Tensor on kCuda).
// Idempotent. Throws Error(kUnimplemented) when there is no usable GPU.
void init();
bool available();  // a GPU is present and init() would succeed
cudaStream_t stream();
// Waits for all queued work; turns an asynchronous kernel fault into an Error naming `what`.
void synchronize(const char* what);

struct MemoryStats {
    size_t allocated = 0;       // bytes in live tensors
    size_t reserved = 0;        // bytes obtained from cudaMalloc (live + cached)
    size_t peak_allocated = 0;
    size_t peak_reserved = 0;
};
MemoryStats memory_stats();
void reset_peak_memory();
// Returns cached, unused blocks of the shared pool to the driver.
void release_cached_memory();

class MemoryPool;
std::shared_ptr<MemoryPool> new_private_pool();

// While alive, device allocations on this thread come from `pool` (graph capture).
class ScopedPool {
public:
    explicit ScopedPool(std::shared_ptr<MemoryPool> pool);
    ~ScopedPool();
    ScopedPool(const ScopedPool&) = delete;
    ScopedPool& operator=(const ScopedPool&) = delete;

private:
    std::shared_ptr<MemoryPool> previous_;
};

}  // namespace turbolm::cuda
