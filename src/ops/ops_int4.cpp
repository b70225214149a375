// Dispatch and validation of the INT4 weight-only ops.
#include "core/error.h"
#include "ops/ops.h"

namespace turbolm::ops {

void linear_int4(const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t, const Tensor&, Tensor&, bool) {
    fail(StatusCode::kUnimplemented, "linear_int4 is not built yet");
}
void quantize_groups_int4(const Tensor&, int64_t, Tensor&, Tensor&, Tensor&) {
    fail(StatusCode::kUnimplemented, "quantize_groups_int4 is not built yet");
}
void gather_columns(const Tensor&, const Tensor&, Tensor&) {
    fail(StatusCode::kUnimplemented, "gather_columns is not built yet");
}

}  // namespace turbolm::ops
