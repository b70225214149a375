#include "kv/kv_cache.h"

#include "kv/kv_cache_dtype.h"

namespace turbolm {

KvCache::KvCache(int64_t n_layer, int64_t capacity, int64_t n_head_kv, int64_t head_dim, DType dtype, Device device,
                 int64_t n_seqs)
    : scales_(kv_dtype_has_scales(dtype)),
      size_(size_t(std::max<int64_t>(n_seqs, 0)), 0),
      capacity_(capacity),
      dtype_(dtype),
      device_(device) {
    TURBOLM_CHECK(n_layer > 0 && capacity > 0 && n_head_kv > 0 && head_dim > 0 && n_seqs > 0, "KV cache dimensions");
    const int64_t n_slots = n_seqs * capacity;
    // Device pools start zeroed: attention kernels may load (and mask) keys of the null block 0,
    // which nothing writes, and masked garbage must not be NaN. Zero codes with zero scales are
    // zeros too. The CPU attention reads only positions that were written, so its pools are left
    // as allocated.
    auto pool = [&](const Shape& shape, DType dt) {
        return device == Device::kCpu ? Tensor::empty(shape, dt, device) : Tensor::zeros(shape, dt, device);
    };
    for (int64_t l = 0; l < n_layer; ++l) {
        k_.push_back(pool({n_slots, n_head_kv, head_dim}, dtype));
        v_.push_back(pool({n_slots, n_head_kv, head_dim}, dtype));
        if (scales_) {
            k_scale_.push_back(pool({n_slots, n_head_kv}, DType::kF32));
            v_scale_.push_back(pool({n_slots, n_head_kv}, DType::kF32));
        }
    }
}

void KvCache::commit(int64_t n, int64_t seq) {
    int64_t& size = size_.at(size_t(seq));
    TURBOLM_CHECK(n >= 0 && size + n <= capacity_, "KV commit of ", n, " beyond capacity ", capacity_);
    size += n;
}

void KvCache::truncate(int64_t n, int64_t seq) {
    int64_t& size = size_.at(size_t(seq));
    TURBOLM_CHECK(n >= 0 && n <= size, "KV truncate to ", n, " of ", size);
    size = n;
}

size_t KvCache::bytes() const {
    size_t total = 0;
    for (size_t l = 0; l < k_.size(); ++l) total += k_[l].nbytes() + v_[l].nbytes();
    for (size_t l = 0; l < k_scale_.size(); ++l) total += k_scale_[l].nbytes() + v_scale_[l].nbytes();
    return total;
}

}  // namespace turbolm
