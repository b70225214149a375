// Random inputs for tests, drawn fresh on every run from the caller's generator (whose seed the
// test prints on failure).
#pragma once

#include <cstdint>
#include <random>

#include "core/tensor.h"

namespace turbolm {

// f32 [rows, cols] with entries drawn from N(0, stddev^2).
inline Tensor random_matrix(int64_t rows, int64_t cols, std::mt19937_64& rng, float stddev) {
    Tensor t = Tensor::empty({rows, cols}, DType::kF32);
    std::normal_distribution<float> d(0.0f, stddev);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
    return t;
}

}  // namespace turbolm
