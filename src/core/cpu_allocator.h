// Aligned CPU memory for tensors, with a cache of large blocks. A forward pass allocates the same
// activation buffers every step; handing freed blocks back out avoids the page faults (and kernel
// page zeroing) that returning them to the OS would cost on the next step.
#pragma once

#include <cstddef>

namespace turbolm {

// 64-byte aligned; throws std::bad_alloc. Blocks of kCachedMin bytes or more are cached on release.
void* cpu_alloc(size_t bytes);
void cpu_free(void* p, size_t bytes);
// Bytes currently held in the cache (for tests and diagnostics).
size_t cpu_cached_bytes();

}  // namespace turbolm
