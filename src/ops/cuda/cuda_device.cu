#include "ops/cuda/cuda_device.h"

#include <cuda_runtime.h>

namespace turbolm::cuda {

std::vector<DeviceInfo> list_devices() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no driver" error
        return {};
    }
    std::vector<DeviceInfo> out;
    for (int i = 0; i < count; ++i) {
        cudaDeviceProp p{};
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
        out.push_back({i, p.name, p.major, p.minor, p.multiProcessorCount, p.totalGlobalMem});
    }
    return out;
}

}  // namespace turbolm::cuda
