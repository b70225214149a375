// TURBOLM_OP_PROFILE=1 (ops/op_profile.h): a generation on the GPU prints the table of device time by
// op and shape when the process ends, with the model's ops in it; without the variable it prints none.
#include <string>

#include <gtest/gtest.h>

#include "ops/ops.h"
#include "support/temp_dir.h"
#include "support/test_paths.h"

namespace turbolm {
namespace {

std::string generate_on_gpu(const std::string& env, int* rc) {
    const auto model = test::source_dir() / "models" / "demo";
    std::string out;
    *rc = test::run_command(env + " " + test::turbolm_binary().string() + " generate --model " + model.string() +
                                " --device cuda --prompt-ids 5,6,7,8 -n 4 2>&1",
                            &out);
    return out;
}

TEST(GpuOpProfile, TablePrintedOnlyWhenAsked) {
    if (!ops::device_available(Device::kCuda)) GTEST_SKIP() << "no CUDA device";
    TURBOLM_SKIP_IF_MISSING(test::turbolm_binary());
    int rc = 0;
    const std::string with = generate_on_gpu("TURBOLM_OP_PROFILE=1", &rc);
    ASSERT_EQ(rc, 0) << with;
    EXPECT_NE(with.find("op profile:"), std::string::npos) << with;
    for (const char* op : {"rms_norm  f32[4, 384]", "attention", "dense  bf16[4, 384]", "embedding"})
        EXPECT_NE(with.find(op), std::string::npos) << op << " missing from\n" << with;
    const std::string without = generate_on_gpu("TURBOLM_OP_PROFILE=0", &rc);
    ASSERT_EQ(rc, 0) << without;
    EXPECT_EQ(without.find("op profile:"), std::string::npos) << without;
}

}  // namespace
}  // namespace turbolm
