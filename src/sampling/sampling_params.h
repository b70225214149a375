// How the next token is chosen. Defaults match HF generate's sampling defaults; temperature 0
// means greedy. The penalties follow their common definitions: repetition (HF/CTRL) over prompt
// and output, presence and frequency (OpenAI) over the output only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace turbolm {

struct SamplingParams {
    float temperature = 1.0f;  // 0: greedy (argmax)
    int top_k = 0;             // 0: off
    float top_p = 1.0f;        // 1: off
    float min_p = 0.0f;        // 0: off
    float repetition_penalty = 1.0f;  // 1: off; >1 discourages tokens already seen
    float presence_penalty = 0.0f;    // subtracted once from every token already generated
    float frequency_penalty = 0.0f;   // subtracted per occurrence in the generated tokens
    std::optional<uint64_t> seed;     // same seed, same tokens

    bool greedy() const { return temperature <= 0.0f; }
    // Empty when valid, else a message naming the bad field and its allowed range.
    std::string validate() const;
};

}  // namespace turbolm
