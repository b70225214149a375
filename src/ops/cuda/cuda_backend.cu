#include "ops/cuda/cuda_backend.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>

#include "core/device_backend.h"
#include "core/logging.h"
#include "ops/cuda/cuda_check.h"

namespace turbolm::cuda {

// Free blocks by size. Blocks keep the size they were created with; a request takes the smallest
// free block that is large enough but not wastefully so.
class MemoryPool {
public:
    ~MemoryPool() { release(); }
    void* take(size_t bytes) {
        auto it = free_.lower_bound(bytes);
        if (it == free_.end() || it->first > bytes + bytes / 4 + (1u << 20)) return nullptr;
        void* p = it->second;
        free_.erase(it);
        return p;
    }
    void put(void* p, size_t bytes) { free_.emplace(bytes, p); }
    size_t release();  // cudaFree of every free block; returns the bytes freed

private:
    std::multimap<size_t, void*> free_;
};

namespace {

struct Block {
    size_t bytes;
    std::shared_ptr<MemoryPool> pool;
};

struct State {
    std::mutex mu;
    cudaStream_t stream = nullptr;
    bool initialized = false;
    std::shared_ptr<MemoryPool> shared_pool = std::make_shared<MemoryPool>();
    std::unordered_map<void*, Block> live;  // every block, live or cached, by address
    MemoryStats stats;
};

State& state() {
    static State* s = new State();  // never destroyed: tensors may be released at exit
    return *s;
}

thread_local std::shared_ptr<MemoryPool> t_pool;

// Sizes are rounded so that blocks can be reused by slightly different requests.
size_t round_size(size_t bytes) {
    if (bytes < (1u << 20)) return std::max<size_t>(512, (bytes + 511) / 512 * 512);
    return (bytes + (2u << 20) - 1) / (2u << 20) * (2u << 20);
}

void* device_allocate(size_t bytes) {
    State& s = state();
    const size_t size = round_size(bytes);
    std::lock_guard<std::mutex> lock(s.mu);
    std::shared_ptr<MemoryPool> pool = t_pool ? t_pool : s.shared_pool;
    void* p = pool->take(size);
    size_t block_bytes = size;
    if (p) {
        block_bytes = s.live.at(p).bytes;
    } else {
        cudaError_t err = cudaMalloc(&p, size);
        if (err != cudaSuccess) {
            (void)cudaGetLastError();
            s.stats.reserved -= s.shared_pool->release();
            err = cudaMalloc(&p, size);
        }
        if (err != cudaSuccess) {
            (void)cudaGetLastError();
            size_t free_b = 0, total_b = 0;
            cudaMemGetInfo(&free_b, &total_b);
            fail(StatusCode::kResourceExhausted, "out of GPU memory: ", bytes, " bytes requested, ", free_b,
                 " of ", total_b, " bytes free, ", s.stats.allocated, " bytes in use by turbolm");
        }
        s.live[p] = Block{size, pool};
        s.stats.reserved += size;
        s.stats.peak_reserved = std::max(s.stats.peak_reserved, s.stats.reserved);
    }
    s.stats.allocated += block_bytes;
    s.stats.peak_allocated = std::max(s.stats.peak_allocated, s.stats.allocated);
    return p;
}

void device_deallocate(void* p) {
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.live.find(p);
    if (it == s.live.end()) return;
    s.stats.allocated -= it->second.bytes;
    it->second.pool->put(p, it->second.bytes);
}

cudaMemcpyKind kind_of(Device dst, Device src) {
    if (dst == Device::kCuda && src == Device::kCuda) return cudaMemcpyDeviceToDevice;
    if (dst == Device::kCuda) return cudaMemcpyHostToDevice;
    if (src == Device::kCuda) return cudaMemcpyDeviceToHost;
    return cudaMemcpyHostToHost;
}

class CudaBackend final : public DeviceBackend {
public:
    void* allocate(size_t bytes) override { return device_allocate(bytes); }
    void deallocate(void* p, size_t) override { device_deallocate(p); }
    void copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) override {
        TURBOLM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind_of(dst_device, src_device), stream()));
        TURBOLM_CUDA_CHECK(cudaStreamSynchronize(stream()));
    }
    void copy_rows(void* dst, size_t dst_pitch, Device dst_device, const void* src, size_t src_pitch,
                   Device src_device, size_t row_bytes, size_t rows) override {
        TURBOLM_CUDA_CHECK(cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, row_bytes, rows,
                                             kind_of(dst_device, src_device), stream()));
        TURBOLM_CUDA_CHECK(cudaStreamSynchronize(stream()));
    }
    void fill_zero(void* p, size_t bytes) override { TURBOLM_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream())); }
};

}  // namespace

size_t MemoryPool::release() {
    // Called with the state lock held (or from the destructor of a pool no tensor uses any more).
    size_t freed = 0;
    State& s = state();
    for (auto& [bytes, p] : free_) {
        cudaFree(p);
        s.live.erase(p);
        freed += bytes;
    }
    free_.clear();
    return freed;
}

bool available() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();
        return false;
    }
    return n > 0;
}

void init() {
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.initialized) return;
    if (!available()) fail(StatusCode::kUnimplemented, "no CUDA device is available (driver or GPU missing)");
    TURBOLM_CUDA_CHECK(cudaSetDevice(0));
    TURBOLM_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
    static CudaBackend backend;
    register_device_backend(Device::kCuda, &backend);
    s.initialized = true;
}

cudaStream_t stream() {
    State& s = state();
    if (!s.initialized) init();
    return s.stream;
}

void synchronize(const char* what) {
    cudaError_t err = cudaStreamSynchronize(stream());
    if (err != cudaSuccess) fail(StatusCode::kInternal, what, ": CUDA error ", cudaGetErrorString(err));
}

MemoryStats memory_stats() {
    std::lock_guard<std::mutex> lock(state().mu);
    return state().stats;
}

void reset_peak_memory() {
    std::lock_guard<std::mutex> lock(state().mu);
    state().stats.peak_allocated = state().stats.allocated;
    state().stats.peak_reserved = state().stats.reserved;
}

void release_cached_memory() {
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mu);
    s.stats.reserved -= s.shared_pool->release();
}

std::shared_ptr<MemoryPool> new_private_pool() { return std::make_shared<MemoryPool>(); }

ScopedPool::ScopedPool(std::shared_ptr<MemoryPool> pool) : previous_(std::move(t_pool)) { t_pool = std::move(pool); }
ScopedPool::~ScopedPool() { t_pool = std::move(previous_); }

}  // namespace turbolm::cuda
