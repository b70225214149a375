// A small, fast, seedable generator (xoshiro256**, seeded through splitmix64). Same seed, same
// stream on every platform: sampling with a seed must reproduce exactly.
#pragma once

#include <cstdint>

namespace turbolm {

class Rng {
public:
    explicit Rng(uint64_t seed = 0x9e3779b97f4a7c15ull) { reseed(seed); }

    void reseed(uint64_t seed) {
        for (auto& s : s_) s = splitmix64(seed);
    }

    uint64_t next_u64() {
        uint64_t result = rotl(s_[1] * 5, 7) * 9;
        uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // Uniform in [0, 1) with 53 random bits.
    double uniform() { return double(next_u64() >> 11) * 0x1.0p-53; }
    // Uniform in [-1, 1) as float: cheap, for random weights.
    float uniform_pm1() { return float(int64_t(next_u64()) >> 40) * 0x1.0p-23f; }

    static uint64_t splitmix64(uint64_t& state) {
        uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    uint64_t s_[4];
};

}  // namespace turbolm
