// Stop strings over streamed text. Text arrives in pieces (one detokenized token at a time); a stop
// string may span pieces, so the tail that could still become one is held back, and released the
// moment it no longer can. Streaming and non-streaming output are therefore the same text: the
// output up to where a stop string is first completed (the stop string included when asked).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace turbolm {

class StopStringMatcher {
public:
    StopStringMatcher() = default;
    // Empty strings are ignored.
    StopStringMatcher(std::vector<std::string> stops, bool include_stop);

    // Takes the next piece of text; returns the text that is now safe to emit. After a stop string
    // completes, stopped() is true and later pushes return nothing.
    std::string push(std::string_view piece);
    // Generation ended for another reason: everything held back is released.
    std::string flush();

    bool stopped() const { return stopped_; }
    const std::string& matched() const { return matched_; }  // the stop string that ended the text

private:
    std::vector<std::string> stops_;
    bool include_stop_ = false;
    std::string held_;
    bool stopped_ = false;
    std::string matched_;
};

}  // namespace turbolm
