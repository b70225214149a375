// Stop strings across token boundaries: streaming (any split of the text into pieces) gives exactly
// the text a whole-output search gives, and held-back text comes out as soon as it cannot be a stop.
#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "engine/stop_strings.h"

namespace turbolm {
namespace {

// The non-streaming answer, computed another way: grow the text one byte at a time and stop at the
// first prefix that ends with a stop string (the longest, if several end there).
std::string whole(const std::string& text, const std::vector<std::string>& stops, bool include) {
    for (size_t end = 1; end <= text.size(); ++end) {
        size_t len = 0;
        for (const auto& s : stops)
            if (!s.empty() && s.size() <= end && text.compare(end - s.size(), s.size(), s) == 0)
                len = std::max(len, s.size());
        if (len) return text.substr(0, include ? end : end - len);
    }
    return text;
}

std::string streamed(const std::string& text, const std::vector<size_t>& cuts, const std::vector<std::string>& stops,
                     bool include) {
    StopStringMatcher m(stops, include);
    std::string out;
    size_t at = 0;
    for (size_t c : cuts) {
        out += m.push(std::string_view(text).substr(at, c - at));
        at = c;
    }
    out += m.push(std::string_view(text).substr(at));
    out += m.flush();
    return out;
}

TEST(StopStrings, SpanningPiecesAndHeldText) {
    StopStringMatcher m({"\n\nUser:", "STOP"}, false);
    EXPECT_EQ(m.push("Hello"), "Hello");
    EXPECT_EQ(m.push(" world\n"), " world");  // "\n" may start the first stop string: held
    EXPECT_EQ(m.push("x"), "\nx");             // ...and released once it cannot
    EXPECT_EQ(m.push("ST"), "");
    EXPECT_EQ(m.push("OP and more"), "");
    EXPECT_TRUE(m.stopped());
    EXPECT_EQ(m.matched(), "STOP");
    EXPECT_EQ(m.push("ignored"), "");
    EXPECT_EQ(m.flush(), "");
}

TEST(StopStrings, IncludeStopAndFlush) {
    StopStringMatcher m({"</s>"}, true);
    EXPECT_EQ(m.push("a</"), "a");
    EXPECT_EQ(m.push("s>b"), "</s>");
    StopStringMatcher n({"</s>"}, false);
    EXPECT_EQ(n.push("tail<"), "tail");
    EXPECT_EQ(n.flush(), "<");  // generation ended otherwise: held text is released
}

TEST(StopStrings, RandomSplitsEqualWholeText) {
    const uint64_t seed = std::random_device{}();
    std::mt19937_64 rng(seed);
    const std::string alphabet = "ab\nc";
    for (int trial = 0; trial < 3000; ++trial) {
        std::vector<std::string> stops;
        for (int i = int(rng() % 3); i >= 0; --i) {
            std::string s;
            for (int n = 1 + int(rng() % 4); n > 0; --n) s += alphabet[rng() % alphabet.size()];
            stops.push_back(s);
        }
        std::string text;
        for (int n = int(rng() % 40); n > 0; --n) text += alphabet[rng() % alphabet.size()];
        std::vector<size_t> cuts;
        for (size_t i = 1; i < text.size(); ++i)
            if (rng() % 3 == 0) cuts.push_back(i);
        const bool include = rng() % 2;
        ASSERT_EQ(streamed(text, cuts, stops, include), whole(text, stops, include))
            << "text '" << text << "' seed " << seed;
    }
}

}  // namespace
}  // namespace turbolm
