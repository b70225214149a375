// transformers' clean_up_tokenization: removes the space a word-level decode leaves before
// punctuation and English contractions (" ." -> ".", " n't" -> "n't", ...), batch and streaming.
#pragma once

#include <string>
#include <string_view>

namespace turbolm {

std::string clean_up_tokenization(std::string_view text);

// Applies clean_up_tokenization to text arriving in pieces, passing on only what no later piece
// can change: the output concatenated equals clean_up_tokenization of the input concatenated.
class CleanupStream {
  public:
    std::string push(std::string_view text);
    std::string flush();

  private:
    std::string pending_;
};

}  // namespace turbolm
