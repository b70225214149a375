// The CUDA devices this process can use. Safe to call on machines without a GPU or driver.
#pragma once

#include <string>
#include <vector>

namespace turbolm::cuda {

struct DeviceInfo {
    int index = 0;
    std::string name;
    int sm_major = 0, sm_minor = 0;
    int multiprocessors = 0;
    size_t memory_bytes = 0;
};

// Empty when there is no usable GPU (no device, no driver).
std::vector<DeviceInfo> list_devices();

}  // namespace turbolm::cuda
