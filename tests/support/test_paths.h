// Where tests find their data: fixtures committed under tests/fixtures, and third-party assets
// that live beside the repository in ../shared (never committed; tests skip when absent).
#pragma once

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace turbolm::test {

std::filesystem::path source_dir();
std::filesystem::path binary_dir();
std::filesystem::path fixtures_dir();  // tests/fixtures
// ../shared next to the repository, or $TURBOLM_SHARED_DIR.
std::filesystem::path shared_dir();
// The turbolm executable built beside the tests.
std::filesystem::path turbolm_binary();

}  // namespace turbolm::test

// Skips the current test (with the path in the message) when a file or folder is absent.
#define TURBOLM_SKIP_IF_MISSING(path)                                                    \
    do {                                                                                 \
        if (!std::filesystem::exists(path)) GTEST_SKIP() << "not present: " << (path);   \
    } while (0)
