#include "support/test_paths.h"

#include <cstdlib>

namespace turbolm::test {

// TURBOLM_SOURCE_DIR in the environment points the tests at a checkout elsewhere (a GPU machine
// that runs binaries built on another one).
std::filesystem::path source_dir() {
    if (const char* env = std::getenv("TURBOLM_SOURCE_DIR")) return env;
    return TURBOLM_SOURCE_DIR;
}
std::filesystem::path binary_dir() { return TURBOLM_BINARY_DIR; }
std::filesystem::path fixtures_dir() { return source_dir() / "tests" / "fixtures"; }

std::filesystem::path shared_dir() {
    if (const char* env = std::getenv("TURBOLM_SHARED_DIR")) return env;
    return source_dir().parent_path() / "shared";
}

// TURBOLM_BINARY likewise names the CLI where binaries were moved from their build directory.
std::filesystem::path turbolm_binary() {
    if (const char* env = std::getenv("TURBOLM_BINARY")) return env;
    return binary_dir() / "turbolm";
}

}  // namespace turbolm::test
