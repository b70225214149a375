#include "core/cpu_allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <new>

namespace turbolm {
namespace {

// Small blocks go straight to malloc, which already recycles them without page faults.
constexpr size_t kCachedMin = 256 << 10;
// Bound on what the cache may hold, so that a one-off large allocation is not kept forever.
constexpr size_t kCacheLimit = size_t(1) << 30;

struct BlockCache {
    std::mutex mu;
    std::multimap<size_t, void*> free_blocks;  // rounded size -> block
    size_t held = 0;
};

BlockCache& cache() {
    static BlockCache* c = new BlockCache();  // never destroyed: tensors may be freed during exit
    return *c;
}

size_t round_size(size_t bytes) {
    if (bytes < kCachedMin) return (bytes + 63) / 64 * 64;
    return (bytes + (64 << 10) - 1) / (64 << 10) * (64 << 10);
}

}  // namespace

void* cpu_alloc(size_t bytes) {
    const size_t size = round_size(bytes ? bytes : 64);
    if (size >= kCachedMin) {
        BlockCache& c = cache();
        std::lock_guard lock(c.mu);
        auto it = c.free_blocks.find(size);
        if (it != c.free_blocks.end()) {
            void* p = it->second;
            c.free_blocks.erase(it);
            c.held -= size;
            return p;
        }
    }
    void* p = std::aligned_alloc(64, size);
    if (!p) throw std::bad_alloc();
    return p;
}

void cpu_free(void* p, size_t bytes) {
    if (!p) return;
    const size_t size = round_size(bytes ? bytes : 64);
    if (size >= kCachedMin) {
        BlockCache& c = cache();
        std::lock_guard lock(c.mu);
        if (c.held + size <= kCacheLimit) {
            c.free_blocks.emplace(size, p);
            c.held += size;
            return;
        }
    }
    std::free(p);
}

size_t cpu_cached_bytes() {
    BlockCache& c = cache();
    std::lock_guard lock(c.mu);
    return c.held;
}

}  // namespace turbolm
