#include "support/test_paths.h"

#include <cstdlib>

namespace turbolm::test {

std::filesystem::path source_dir() { return TURBOLM_SOURCE_DIR; }
std::filesystem::path binary_dir() { return TURBOLM_BINARY_DIR; }
std::filesystem::path fixtures_dir() { return source_dir() / "tests" / "fixtures"; }

std::filesystem::path shared_dir() {
    if (const char* env = std::getenv("TURBOLM_SHARED_DIR")) return env;
    return source_dir().parent_path() / "shared";
}

std::filesystem::path turbolm_binary() { return binary_dir() / "turbolm"; }

}  // namespace turbolm::test
