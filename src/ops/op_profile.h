// Where the device time goes, op by op. With TURBOLM_OP_PROFILE=1 every op on the GPU (outside a
// graph capture) waits for the device before and after it runs and adds the wall time to a table
// keyed by the op and its operands' shapes, printed to stderr when the process exits. The waits
// add a few microseconds per op and stop launches from overlapping, so the table finds the largest
// costs rather than giving figures to quote; run decode steps eagerly (`--no-graphs`) to see them.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/tensor.h"

namespace turbolm::ops {

bool op_profile_enabled();

class OpProfileScope {
public:
    // `call`: the op, or its call text ("linear(x, w, ...)": the name is what precedes '(').
    OpProfileScope(std::string_view call, const Tensor& a, const Tensor* b = nullptr) {
        if (op_profile_enabled()) begin(call, a, b);
    }
    ~OpProfileScope() {
        if (active_) end();
    }
    OpProfileScope(const OpProfileScope&) = delete;
    OpProfileScope& operator=(const OpProfileScope&) = delete;

private:
    void begin(std::string_view call, const Tensor& a, const Tensor* b);
    void end();

    bool active_ = false;
    Device device_ = Device::kCpu;
    std::string key_;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace turbolm::ops
