// `turbolm quantize` from the outside: it refuses what it cannot do with one clear message and a
// non-zero exit, and what it writes is a model directory the other commands load as it is.
#include <gtest/gtest.h>

#include "support/temp_dir.h"
#include "support/test_paths.h"

namespace turbolm {
namespace {

struct ToolRun {
    int rc;
    std::string out;
};

ToolRun turbolm(const std::string& args) {
    ToolRun r;
    r.rc = test::run_command("OMP_WAIT_POLICY=passive " + test::turbolm_binary().string() + " " + args, &r.out);
    return r;
}

std::string demo() { return (test::source_dir() / "models" / "demo").string(); }

TEST(QuantizeCommand, CalibratedMethodsNeedACalibrationText) {
    if (!std::filesystem::exists(test::turbolm_binary())) GTEST_SKIP() << "the turbolm tool is not built";
    test::TempDir dir;
    const ToolRun r = turbolm("quantize --model " + demo() + " --method int4-awq --out " + (dir.path() / "q").string());
    EXPECT_NE(r.rc, 0);
    EXPECT_NE(r.out.find("needs a calibration text"), std::string::npos) << r.out;
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "q" / "config.json"));
}

TEST(QuantizeCommand, RefusesAnUnknownMethodAndANonEmptyOutput) {
    if (!std::filesystem::exists(test::turbolm_binary())) GTEST_SKIP() << "the turbolm tool is not built";
    test::TempDir dir;
    ToolRun r = turbolm("quantize --model " + demo() + " --method int3 --out " + (dir.path() / "q").string());
    EXPECT_NE(r.rc, 0);
    EXPECT_NE(r.out.find("int3"), std::string::npos) << r.out;
    r = turbolm("quantize --model " + demo() + " --method int8 --out " + demo());
    EXPECT_NE(r.rc, 0);
    EXPECT_NE(r.out.find("not empty"), std::string::npos) << r.out;
    r = turbolm("quantize --model " + demo() + " --method int4-awq --calib " + (dir.path() / "missing.txt").string() +
                " --out " + (dir.path() / "q").string());
    EXPECT_NE(r.rc, 0);
    EXPECT_NE(r.out.find("missing.txt"), std::string::npos) << r.out;
}

TEST(QuantizeCommand, WritesADirectoryThatGeneratesAndEvaluates) {
    if (!std::filesystem::exists(test::turbolm_binary())) GTEST_SKIP() << "the turbolm tool is not built";
    test::TempDir dir;
    const std::string out = (dir.path() / "awq").string();
    ToolRun r = turbolm("quantize --model " + demo() + " --method int4-awq --calib " + demo() +
                    "/calibration.txt --calib-tokens 4096 --samples 256 --threads 2 --out " + out + " --report " +
                    (dir.path() / "report.json").string());
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_TRUE(std::filesystem::exists(dir.path() / "report.json"));
    r = turbolm("generate --model " + out + " --prompt 'And God said' -n 8 --temperature 0 --threads 2");
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("And God said"), std::string::npos) << r.out;
    r = turbolm("eval --model " + demo() + " --candidate-model " + out + " --text " + demo() +
                "/heldout.txt --max-tokens 600 --threads 2");
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("KL(base || cand)"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace turbolm
