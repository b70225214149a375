#include <gtest/gtest.h>

#include "core/error.h"

namespace turbolm {
namespace {

TEST(Status, CatchStatusConvertsErrorsToValues) {
    Status ok = catch_status([] {});
    EXPECT_TRUE(ok.is_ok());
    Status s = catch_status([] { fail(StatusCode::kNotFound, "file '", "x.json", "' is missing"); });
    EXPECT_EQ(s.code(), StatusCode::kNotFound);
    EXPECT_EQ(s.to_string(), "NotFound: file 'x.json' is missing");
    Status internal = catch_status([] { TURBOLM_CHECK(1 + 1 == 3, "arithmetic"); });
    EXPECT_EQ(internal.code(), StatusCode::kInternal);
    EXPECT_NE(internal.message().find("arithmetic"), std::string::npos);
}

TEST(Status, ExpectedHoldsValueOrStatus) {
    Expected<int> v = 7;
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(*v, 7);
    Expected<int> e = Status(StatusCode::kOutOfRange, "too long");
    ASSERT_FALSE(e.has_value());
    EXPECT_EQ(e.status().code(), StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace turbolm
