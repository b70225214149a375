#include "engine/stop_strings.h"

#include <algorithm>

namespace turbolm {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops, bool include_stop) : include_stop_(include_stop) {
    for (auto& s : stops)
        if (!s.empty()) stops_.push_back(std::move(s));
}

std::string StopStringMatcher::push(std::string_view piece) {
    if (stopped_) return {};
    held_.append(piece);
    // Generation ends where a stop string is first completed, as if text arrived one byte at a
    // time; of two completed by the same byte, the longer (earlier-starting) one.
    size_t best_end = std::string::npos, best = 0;
    const std::string* which = nullptr;
    for (const auto& s : stops_) {
        const size_t at = held_.find(s);
        if (at == std::string::npos) continue;
        const size_t end = at + s.size();
        if (end < best_end || (end == best_end && s.size() > which->size())) {
            best_end = end;
            best = at;
            which = &s;
        }
    }
    if (which) {
        stopped_ = true;
        matched_ = *which;
        std::string out = held_.substr(0, best + (include_stop_ ? which->size() : 0));
        held_.clear();
        return out;
    }
    // Hold back the longest tail of the text that is a proper prefix of some stop string.
    size_t keep = 0;
    for (const auto& s : stops_) {
        const size_t max_len = std::min(s.size() - 1, held_.size());
        for (size_t len = max_len; len > keep; --len) {
            if (held_.compare(held_.size() - len, len, s, 0, len) == 0) {
                keep = len;
                break;
            }
        }
    }
    std::string out = held_.substr(0, held_.size() - keep);
    held_.erase(0, held_.size() - keep);
    return out;
}

std::string StopStringMatcher::flush() {
    std::string out;
    out.swap(held_);
    return stopped_ ? std::string() : out;
}

}  // namespace turbolm
