// Randomized tests draw a fresh seed each run (so that runs explore new cases) and print it on
// failure; TURBOLM_TEST_SEED=<n> replays one.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>

namespace turbolm::test {

inline uint64_t fresh_seed() {
    if (const char* s = std::getenv("TURBOLM_TEST_SEED")) return std::strtoull(s, nullptr, 0);
    std::random_device rd;
    return (uint64_t(rd()) << 32) ^ rd();
}

inline std::string seed_note(uint64_t seed) { return "seed " + std::to_string(seed) + " (TURBOLM_TEST_SEED to replay)"; }

}  // namespace turbolm::test
