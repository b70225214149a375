// What core needs from a device backend: memory and copies. The CUDA backend registers itself here
// (src/ops/cuda/cuda_backend.cu), so that core, and everything built on Tensor, stays free of CUDA
// headers and links on machines without the toolkit.
#pragma once

#include <cstddef>

#include "core/tensor.h"

namespace turbolm {

class DeviceBackend {
public:
    virtual ~DeviceBackend() = default;
    // Device memory that stays valid until deallocate; never returns null (throws Error kResourceExhausted).
    virtual void* allocate(size_t bytes) = 0;
    virtual void deallocate(void* p, size_t bytes) = 0;
    // Copies `bytes` between host and device memory (either direction, or device to device), ordered
    // after all work queued so far; returns when the data may be used by the host.
    virtual void copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) = 0;
    // Rows of `row_bytes` with pitches (in bytes) on either side: the strided tensor copies.
    virtual void copy_rows(void* dst, size_t dst_pitch, Device dst_device, const void* src, size_t src_pitch,
                           Device src_device, size_t row_bytes, size_t rows) = 0;
    virtual void fill_zero(void* p, size_t bytes) = 0;
};

// Registered once by the backend. device_backend throws Error(kUnimplemented) naming the device when
// this binary has no backend for it, or the machine has no such device.
void register_device_backend(Device device, DeviceBackend* backend);
DeviceBackend& device_backend(Device device);
bool has_device_backend(Device device);

}  // namespace turbolm
