#include "tokenizer/split_pattern.h"

#include <algorithm>

namespace turbolm {

void split_parts(const SplitPattern& pattern, std::string_view text, bool invert, SplitBehavior behavior,
                 std::vector<SplitPart>& out) {
    if (text.empty()) return;
    thread_local std::vector<std::pair<size_t, size_t>> matches;
    struct Stretch {
        size_t begin, end;
        bool is_match;
    };
    thread_local std::vector<Stretch> stretches;
    matches.clear();
    stretches.clear();
    pattern.find(text, matches);

    // Fast path for the common case: every stretch becomes its own piece.
    if (behavior == SplitBehavior::kIsolated) {
        size_t prev = 0;
        for (auto [b, e] : matches) {
            if (b > prev) out.push_back({prev, b});
            if (e > b) out.push_back({b, e});
            prev = e;
        }
        if (prev < text.size()) out.push_back({prev, text.size()});
        return;
    }

    size_t prev = 0;
    for (auto [b, e] : matches) {
        if (b > prev) stretches.push_back({prev, b, invert});
        stretches.push_back({b, e, !invert});
        prev = e;
    }
    if (prev < text.size()) stretches.push_back({prev, text.size(), invert});

    std::vector<Stretch> grouped;
    grouped.reserve(stretches.size());
    switch (behavior) {
        case SplitBehavior::kIsolated:
            grouped = stretches;
            break;
        case SplitBehavior::kRemoved:
            for (const Stretch& s : stretches) {
                if (!s.is_match) grouped.push_back(s);
            }
            break;
        case SplitBehavior::kMergedWithPrevious: {
            bool previous_match = false;
            for (const Stretch& s : stretches) {
                if (s.is_match && !previous_match && !grouped.empty()) {
                    grouped.back().end = s.end;
                } else {
                    grouped.push_back(s);
                }
                previous_match = s.is_match;
            }
            break;
        }
        case SplitBehavior::kMergedWithNext: {
            bool previous_match = false;
            for (auto it = stretches.rbegin(); it != stretches.rend(); ++it) {
                if (it->is_match && !previous_match && !grouped.empty()) {
                    grouped.back().begin = it->begin;
                } else {
                    grouped.push_back(*it);
                }
                previous_match = it->is_match;
            }
            std::reverse(grouped.begin(), grouped.end());
            break;
        }
        case SplitBehavior::kContiguous: {
            bool previous_match = false;
            for (const Stretch& s : stretches) {
                if (s.is_match == previous_match && !grouped.empty()) {
                    grouped.back().end = s.end;
                } else {
                    grouped.push_back(s);
                }
                previous_match = s.is_match;
            }
            break;
        }
    }
    for (const Stretch& s : grouped) {
        if (s.end > s.begin) out.push_back({s.begin, s.end});
    }
}

}  // namespace turbolm
