// A hook that sees the input of every projection a forward pass multiplies, for calibration:
// AWQ and SmoothQuant choose their scales from the activations the real model produces. While no
// observer is installed (always, outside `turbolm quantize`) the hook costs one thread-local load.
#pragma once

#include "core/tensor.h"

namespace turbolm {

struct Linear;

class LinearObserver {
public:
    virtual ~LinearObserver() = default;
    // x: [T, in], the rows about to be multiplied by l (before any permutation of its columns).
    virtual void observe(const Linear& l, const Tensor& x) = 0;
};

// The observer of this thread, or nullptr.
LinearObserver* current_linear_observer();

// Installs an observer on this thread for the lifetime of the guard.
class ScopedLinearObserver {
public:
    explicit ScopedLinearObserver(LinearObserver* observer);
    ~ScopedLinearObserver();
    ScopedLinearObserver(const ScopedLinearObserver&) = delete;
    ScopedLinearObserver& operator=(const ScopedLinearObserver&) = delete;

private:
    LinearObserver* previous_;
};

}  // namespace turbolm
