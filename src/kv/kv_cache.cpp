#include "kv/kv_cache.h"

namespace turbolm {

KvCache::KvCache(int64_t n_layer, int64_t capacity, int64_t n_head_kv, int64_t head_dim) : capacity_(capacity) {
    TURBOLM_CHECK(n_layer > 0 && capacity > 0 && n_head_kv > 0 && head_dim > 0, "KV cache dimensions");
    for (int64_t l = 0; l < n_layer; ++l) {
        k_.push_back(Tensor::empty({capacity, n_head_kv, head_dim}, DType::kF32));
        v_.push_back(Tensor::empty({capacity, n_head_kv, head_dim}, DType::kF32));
    }
}

void KvCache::commit(int64_t n) {
    TURBOLM_CHECK(n >= 0 && size_ + n <= capacity_, "KV commit of ", n, " beyond capacity ", capacity_);
    size_ += n;
}

void KvCache::truncate(int64_t n) {
    TURBOLM_CHECK(n >= 0 && n <= size_, "KV truncate to ", n, " of ", size_);
    size_ = n;
}

size_t KvCache::bytes() const {
    size_t total = 0;
    for (size_t l = 0; l < k_.size(); ++l) total += k_[l].nbytes() + v_[l].nbytes();
    return total;
}

}  // namespace turbolm
