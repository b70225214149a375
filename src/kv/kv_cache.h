// A contiguous per-sequence KV cache: for every layer, keys and values of positions
// [0, capacity) laid out [position, n_head_kv, head_dim] in f32. One sequence owns one cache; the
// paged, shared cache of in-flight batching replaces this behind the same model interface.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace turbolm {

class KvCache {
public:
    KvCache() = default;
    KvCache(int64_t n_layer, int64_t capacity, int64_t n_head_kv, int64_t head_dim);

    int64_t size() const { return size_; }  // positions filled
    int64_t capacity() const { return capacity_; }
    int64_t n_layer() const { return int64_t(k_.size()); }
    // [capacity, n_head_kv, head_dim]
    const Tensor& k(int64_t layer) const { return k_[size_t(layer)]; }
    const Tensor& v(int64_t layer) const { return v_[size_t(layer)]; }

    // The model writes positions [size, size + n) of every layer, then commits them.
    void commit(int64_t n);
    // Forgets positions >= n (rejected speculative tokens, a rewound conversation).
    void truncate(int64_t n);
    size_t bytes() const;

private:
    std::vector<Tensor> k_, v_;
    int64_t capacity_ = 0;
    int64_t size_ = 0;
};

}  // namespace turbolm
