// The KV cache of a static batch of sequences: for every layer one pool of slots
// [n_seqs * capacity, n_head_kv, head_dim] in which sequence s owns slots [s * capacity, (s+1) * capacity).
// This is the paged layout (ops::AttentionBatch) with one block of `capacity` positions per
// sequence; the block allocator of in-flight batching hands out smaller blocks of the same pools.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace turbolm {

class KvCache {
public:
    KvCache() = default;
    // dtype: the activation dtype (f32 on the CPU, the compute dtype on the GPU), or kI8 / kF8E4M3
    // for 8-bit codes with per-(slot, kv head) scales (kv_cache_dtype.h).
    KvCache(int64_t n_layer, int64_t capacity, int64_t n_head_kv, int64_t head_dim, DType dtype = DType::kF32,
            Device device = Device::kCpu, int64_t n_seqs = 1);

    int64_t n_seqs() const { return int64_t(size_.size()); }
    int64_t size(int64_t seq = 0) const { return size_[size_t(seq)]; }  // positions filled
    int64_t capacity() const { return capacity_; }                      // positions per sequence
    int64_t n_layer() const { return int64_t(k_.size()); }
    DType dtype() const { return dtype_; }
    Device device() const { return device_; }
    // [n_seqs * capacity, n_head_kv, head_dim]
    const Tensor& k(int64_t layer) const { return k_[size_t(layer)]; }
    const Tensor& v(int64_t layer) const { return v_[size_t(layer)]; }
    // f32 [n_seqs * capacity, n_head_kv] for 8-bit pools; undefined tensors otherwise. Scales belong
    // to slots like the codes: whatever copies a block's slots (copy-on-write) copies their scales.
    const Tensor& k_scale(int64_t layer) const { return scales_ ? k_scale_[size_t(layer)] : none_; }
    const Tensor& v_scale(int64_t layer) const { return scales_ ? v_scale_[size_t(layer)] : none_; }

    // The model writes positions [size, size + n) of a sequence in every layer, then commits them.
    void commit(int64_t n, int64_t seq = 0);
    // Forgets positions >= n (rejected speculative tokens, a rewound conversation).
    void truncate(int64_t n, int64_t seq = 0);
    size_t bytes() const;  // pools and scales

private:
    std::vector<Tensor> k_, v_, k_scale_, v_scale_;
    Tensor none_;
    bool scales_ = false;
    std::vector<int64_t> size_;
    int64_t capacity_ = 0;
    DType dtype_ = DType::kF32;
    Device device_ = Device::kCpu;
};

}  // namespace turbolm
