// Pieces the host-side communicators (in-process and socket) share: the rank-order f32 sum that
// makes every rank's all-reduce result the same bits, and the round trip of a device tensor
// through host memory.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace turbolm::collective {

// The sum of several ranks' copies of n values of `dtype` (f32, bf16 or f16), added in the order
// add() is called, in f32, rounded once to dtype by store().
class RankOrderSum {
  public:
    RankOrderSum(DType dtype, int64_t n);
    void add(const void* values);
    void store(void* out) const;

  private:
    DType dtype_;
    std::vector<float> sum_;
};

// Runs `collective` on a host copy of the device tensor t and copies the result back.
template <typename Fn>
void through_host(Tensor& t, Fn&& collective) {
    Tensor host = t.to_device(Device::kCpu);
    collective(host);
    t.copy_from(host);
}

}  // namespace turbolm::collective
