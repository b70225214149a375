// Decoders: turn the token strings of a sequence back into text, as HF tokenizers' decoders do
// (ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence; no decoder = join with " ").
//
// Each decoder exists twice: decode_chain() is the batch form, a direct transcription of HF's, and
// stream() builds the incremental form, which takes tokens one at a time and passes on only text
// that no later token can change. The incremental detokenizer relies on the two agreeing exactly;
// the tests check that they do on every vocabulary and on random id sequences.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace turbolm {

// One stage of an incremental decoder. Before a joining stage (Fuse, ByteLevel) items are whole
// tokens; after it they are consecutive fragments of one string.
class DecodeStage {
  public:
    virtual ~DecodeStage() = default;
    virtual void push(std::string item, std::vector<std::string>& out) = 0;
    virtual void flush(std::vector<std::string>& out) = 0;
};

class Decoder {
  public:
    virtual ~Decoder() = default;
    virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
    // Appends the incremental form's stages. `joined` says whether the input is already fragments
    // of one string.
    virtual void stream(bool joined, std::vector<std::unique_ptr<DecodeStage>>& stages) const = 0;
    // Whether the output is fragments of one string (true after Fuse or ByteLevel).
    virtual bool joins(bool joined) const { return joined; }
};

// Throws kInvalidArgument / kUnimplemented naming `where` and the decoder type.
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& spec, const std::string& where);

// Full decode of token strings: the decoder's chain joined, or tokens joined by " " without one.
std::string decode_tokens(const Decoder* decoder, std::vector<std::string> tokens);

// An incremental decode of a whole pipeline; push() returns the text that became final.
class DecodeStream {
  public:
    explicit DecodeStream(const Decoder* decoder);
    std::string push(std::string token);
    std::string flush();

  private:
    void run(size_t stage, std::vector<std::string>& items, std::string& out);
    std::vector<std::unique_ptr<DecodeStage>> stages_;
    bool no_decoder_ = false;
    bool first_ = true;
};

}  // namespace turbolm
