// Dispatch and validation of the W8A8 ops (FP8 and SmoothQuant INT8).
#include "core/error.h"
#include "ops/ops.h"

namespace turbolm::ops {

void linear_fp8(const Tensor&, const Tensor&, const Tensor&, const Tensor&, Tensor&, bool) {
    fail(StatusCode::kUnimplemented, "linear_fp8 is not built yet");
}
void quantize_rows_fp8(const Tensor&, Tensor&, Tensor&) {
    fail(StatusCode::kUnimplemented, "quantize_rows_fp8 is not built yet");
}
void linear_w8a8_int8(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, Tensor&, bool) {
    fail(StatusCode::kUnimplemented, "linear_w8a8_int8 is not built yet");
}

}  // namespace turbolm::ops
