// Where the device time goes, op by op. With TURBOLM_OP_PROFILE=1 every op on the GPU (outside a
// graph capture) is bracketed by two timing events on the stream, and the device time between them
// goes to a table keyed by the op and its operands' shapes, printed to stderr when the process
// exits. Nothing waits for the device in between, so where the host keeps the GPU's queue full
// (large batches) the figures are the kernels' own; where it does not, an op also counts the idle
// time before its kernels start. Run decode steps eagerly (`--no-graphs`) to see them.
#pragma once

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
    std::string key_;
    void* begin_mark_ = nullptr;
};

}  // namespace turbolm::ops
