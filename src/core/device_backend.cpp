#include "core/device_backend.h"

#include <array>

namespace turbolm {
namespace {

std::array<DeviceBackend*, 2>& registry() {
    static std::array<DeviceBackend*, 2> backends{};
    return backends;
}

}  // namespace

void register_device_backend(Device device, DeviceBackend* backend) { registry()[size_t(device)] = backend; }

bool has_device_backend(Device device) { return registry()[size_t(device)] != nullptr; }

DeviceBackend& device_backend(Device device) {
    DeviceBackend* b = registry()[size_t(device)];
    if (!b)
        fail(StatusCode::kUnimplemented, "no ", device_name(device),
             " backend: this binary was built without it or it was not initialized");
    return *b;
}

}  // namespace turbolm
