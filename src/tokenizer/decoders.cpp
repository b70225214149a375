#include "tokenizer/decoders.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/unicode.h"

namespace turbolm {

namespace {

using json = nlohmann::json;
using Stages = std::vector<std::unique_ptr<DecodeStage>>;

// A stage that handles each item on its own.
template <typename Fn>
class MapStage : public DecodeStage {
  public:
    explicit MapStage(Fn fn) : fn_(std::move(fn)) {}
    void push(std::string item, std::vector<std::string>& out) override { out.push_back(fn_(std::move(item))); }
    void flush(std::vector<std::string>&) override {}

  private:
    Fn fn_;
};

template <typename Fn>
std::unique_ptr<DecodeStage> map_stage(Fn fn) {
    return std::make_unique<MapStage<Fn>>(std::move(fn));
}

// Passes items on unchanged (Fuse: joining is what concatenating the output does anyway).
class PassStage : public DecodeStage {
  public:
    void push(std::string item, std::vector<std::string>& out) override { out.push_back(std::move(item)); }
    void flush(std::vector<std::string>&) override {}
};

void replace_all(std::string& s, const std::string& from, const std::string& to) {
    if (from.empty() || s.find(from) == std::string::npos) return;
    std::string out;
    size_t prev = 0;
    for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + from.size())) {
        out.append(s, prev, p - prev);
        out += to;
        prev = p + from.size();
    }
    out.append(s, prev, std::string::npos);
    s.swap(out);
}

// ---- ByteLevel: every token's characters back to bytes, then one lossy UTF-8 conversion.

void byte_level_bytes(const std::string& token, std::string& bytes) {
    std::string b;
    if (byte_level::decode(token, b)) {
        bytes += b;
    } else {
        bytes += token;  // a token outside the byte alphabet (an added token) keeps its own bytes
    }
}

class ByteLevelStage : public DecodeStage {
  public:
    void push(std::string item, std::vector<std::string>& out) override {
        byte_level_bytes(item, pending_);
        size_t keep = unicode::incomplete_utf8_tail(pending_);
        if (keep == pending_.size()) return;
        std::string_view ready(pending_.data(), pending_.size() - keep);
        out.push_back(unicode::to_valid_utf8(ready));
        pending_.erase(0, pending_.size() - keep);
    }
    void flush(std::vector<std::string>& out) override {
        if (!pending_.empty()) out.push_back(unicode::to_valid_utf8(pending_));
        pending_.clear();
    }

  private:
    std::string pending_;
};

class ByteLevelDecoder : public Decoder {
  public:
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::string bytes;
        for (const std::string& t : tokens) byte_level_bytes(t, bytes);
        tokens.assign(1, unicode::to_valid_utf8(bytes));
    }
    void stream(bool, Stages& stages) const override { stages.push_back(std::make_unique<ByteLevelStage>()); }
    bool joins(bool) const override { return true; }
};

// ---- ByteFallback: runs of "<0xXX>" tokens become their bytes, or one U+FFFD per token when the
// run is not valid UTF-8.

int byte_token_value(const std::string& t) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
    auto hex = [](char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    int hi = hex(t[3]), lo = hex(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

void flush_byte_run(std::string& run, std::vector<std::string>& out) {
    if (run.empty()) return;
    if (unicode::is_valid_utf8(run)) {
        out.push_back(run);
    } else {
        for (size_t i = 0; i < run.size(); ++i) out.emplace_back(unicode::kReplacementUtf8);
    }
    run.clear();
}

class ByteFallbackStage : public DecodeStage {
  public:
    void push(std::string item, std::vector<std::string>& out) override {
        int b = byte_token_value(item);
        if (b >= 0) {
            run_.push_back(static_cast<char>(b));
            return;
        }
        flush_byte_run(run_, out);
        out.push_back(std::move(item));
    }
    void flush(std::vector<std::string>& out) override { flush_byte_run(run_, out); }

  private:
    std::string run_;
};

class ByteFallbackDecoder : public Decoder {
  public:
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::vector<std::string> out;
        out.reserve(tokens.size());
        ByteFallbackStage stage;
        for (std::string& t : tokens) stage.push(std::move(t), out);
        stage.flush(out);
        tokens.swap(out);
    }
    void stream(bool joined, Stages& stages) const override {
        if (joined) {
            stages.push_back(std::make_unique<PassStage>());
        } else {
            stages.push_back(std::make_unique<ByteFallbackStage>());
        }
    }
};

class FuseDecoder : public Decoder {
  public:
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::string all;
        for (const std::string& t : tokens) all += t;
        tokens.assign(1, std::move(all));
    }
    void stream(bool, Stages& stages) const override { stages.push_back(std::make_unique<PassStage>()); }
    bool joins(bool) const override { return true; }
};

// ---- Replace: a literal pattern replaced in each token.

// Over fragments of one string: holds back a tail that could be the start of the pattern.
class JoinedReplaceStage : public DecodeStage {
  public:
    JoinedReplaceStage(std::string from, std::string to) : from_(std::move(from)), to_(std::move(to)) {}
    void push(std::string item, std::vector<std::string>& out) override {
        pending_ += item;
        size_t hold = 0;
        for (size_t k = std::min(from_.size() - 1, pending_.size()); k > 0; --k) {
            if (pending_.compare(pending_.size() - k, k, from_, 0, k) == 0) {
                hold = k;
                break;
            }
        }
        std::string ready = pending_.substr(0, pending_.size() - hold);
        pending_.erase(0, pending_.size() - hold);
        replace_all(ready, from_, to_);
        out.push_back(std::move(ready));
    }
    void flush(std::vector<std::string>& out) override {
        replace_all(pending_, from_, to_);
        out.push_back(std::move(pending_));
        pending_.clear();
    }

  private:
    std::string from_, to_, pending_;
};

class ReplaceDecoder : public Decoder {
  public:
    ReplaceDecoder(std::string from, std::string to) : from_(std::move(from)), to_(std::move(to)) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (std::string& t : tokens) replace_all(t, from_, to_);
    }
    void stream(bool joined, Stages& stages) const override {
        if (joined && from_.size() > 1) {
            stages.push_back(std::make_unique<JoinedReplaceStage>(from_, to_));
            return;
        }
        stages.push_back(map_stage([from = from_, to = to_](std::string t) {
            replace_all(t, from, to);
            return t;
        }));
    }

  private:
    std::string from_, to_;
};

// ---- Strip: up to `start` leading and `stop` trailing copies of one character, per token.

std::string strip_token(const std::string& token, const std::string& content, size_t start, size_t stop) {
    std::u32string chars = unicode::to_utf32(token);
    char32_t c = unicode::to_utf32(content).front();
    size_t start_cut = 0;
    for (size_t i = 0; i < start && i < chars.size() && chars[i] == c; ++i) start_cut = i + 1;
    size_t stop_cut = chars.size();
    for (size_t i = 0; i < stop && i < chars.size() && chars[chars.size() - 1 - i] == c; ++i) {
        stop_cut = chars.size() - 1 - i;
    }
    if (stop_cut < start_cut) stop_cut = start_cut;
    return unicode::to_utf8(std::u32string_view(chars).substr(start_cut, stop_cut - start_cut));
}

// Over fragments of one string: strips at the very beginning, and holds back a trailing run of the
// character until something else follows it (or the end removes up to `stop` of it).
class JoinedStripStage : public DecodeStage {
  public:
    JoinedStripStage(std::string content, size_t start, size_t stop)
        : content_(std::move(content)), start_left_(start), stop_(stop) {}
    void push(std::string item, std::vector<std::string>& out) override {
        size_t i = 0;
        while (start_left_ > 0 && i < item.size()) {
            if (item.compare(i, content_.size(), content_) != 0) {
                start_left_ = 0;
                break;
            }
            i += content_.size();
            --start_left_;
        }
        std::string_view rest = std::string_view(item).substr(i);
        if (rest.empty()) return;
        start_left_ = 0;
        if (stop_ == 0) {
            out.emplace_back(rest);
            return;
        }
        size_t run_start = rest.size();
        while (run_start >= content_.size() &&
               rest.compare(run_start - content_.size(), content_.size(), content_) == 0) {
            run_start -= content_.size();
        }
        if (run_start > 0) {
            out.push_back(held_ + std::string(rest.substr(0, run_start)));
            held_.clear();
        }
        held_ += rest.substr(run_start);
    }
    void flush(std::vector<std::string>& out) override {
        size_t n = held_.size() / content_.size();
        size_t drop = std::min(n, stop_);
        out.push_back(held_.substr(0, (n - drop) * content_.size()));
        held_.clear();
    }

  private:
    std::string content_;
    size_t start_left_;
    size_t stop_;
    std::string held_;
};

class StripDecoder : public Decoder {
  public:
    StripDecoder(std::string content, size_t start, size_t stop)
        : content_(std::move(content)), start_(start), stop_(stop) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (std::string& t : tokens) t = strip_token(t, content_, start_, stop_);
    }
    void stream(bool joined, Stages& stages) const override {
        if (joined) {
            stages.push_back(std::make_unique<JoinedStripStage>(content_, start_, stop_));
            return;
        }
        stages.push_back(
            map_stage([c = content_, a = start_, b = stop_](std::string t) { return strip_token(t, c, a, b); }));
    }

  private:
    std::string content_;
    size_t start_, stop_;
};

// ---- Metaspace: the replacement character back to spaces, except in the first token, where it
// is dropped (it was the prepended prefix) unless the prepend scheme is "never".

std::string metaspace_token(const std::string& t, const std::string& replacement, bool first) {
    std::string s = t;
    replace_all(s, replacement, first ? "" : " ");
    return s;
}

class MetaspaceStage : public DecodeStage {
  public:
    MetaspaceStage(std::string replacement, bool drop_first, bool joined)
        : replacement_(std::move(replacement)), drop_first_(drop_first), joined_(joined) {}
    void push(std::string item, std::vector<std::string>& out) override {
        bool first = drop_first_ && (joined_ || index_ == 0);
        ++index_;
        out.push_back(metaspace_token(item, replacement_, first));
    }
    void flush(std::vector<std::string>&) override {}

  private:
    std::string replacement_;
    bool drop_first_, joined_;
    size_t index_ = 0;
};

class MetaspaceDecoder : public Decoder {
  public:
    MetaspaceDecoder(std::string replacement, bool drop_first)
        : replacement_(std::move(replacement)), drop_first_(drop_first) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (size_t i = 0; i < tokens.size(); ++i)
            tokens[i] = metaspace_token(tokens[i], replacement_, drop_first_ && i == 0);
    }
    void stream(bool joined, Stages& stages) const override {
        stages.push_back(std::make_unique<MetaspaceStage>(replacement_, drop_first_, joined));
    }

  private:
    std::string replacement_;
    bool drop_first_;
};

class SequenceDecoder : public Decoder {
  public:
    explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (const auto& s : steps_) s->decode_chain(tokens);
    }
    void stream(bool joined, Stages& stages) const override {
        for (const auto& s : steps_) {
            s->stream(joined, stages);
            joined = s->joins(joined);
        }
    }
    bool joins(bool joined) const override {
        for (const auto& s : steps_) joined = s->joins(joined);
        return joined;
    }

  private:
    std::vector<std::unique_ptr<Decoder>> steps_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& spec, const std::string& where) {
    if (!spec.is_object() || !spec.contains("type")) {
        fail(StatusCode::kInvalidArgument, where, ": decoder must be an object with a \"type\"");
    }
    const std::string type = spec.at("type").get<std::string>();
    const std::string here = str_cat(where, ": decoder ", type);
    try {
        if (type == "Sequence") {
            std::vector<std::unique_ptr<Decoder>> steps;
            for (const json& s : spec.at("decoders")) steps.push_back(make_decoder(s, where));
            return std::make_unique<SequenceDecoder>(std::move(steps));
        }
        if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
        if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
        if (type == "Fuse") return std::make_unique<FuseDecoder>();
        if (type == "Replace") {
            const json& p = spec.at("pattern");
            if (!p.contains("String")) fail(StatusCode::kUnimplemented, here, ": only string patterns are supported");
            return std::make_unique<ReplaceDecoder>(p.at("String").get<std::string>(),
                                                    spec.at("content").get<std::string>());
        }
        if (type == "Strip") {
            std::string content = spec.value("content", std::string(" "));
            if (unicode::to_utf32(content).size() != 1)
                fail(StatusCode::kInvalidArgument, here, ": content must be one character");
            return std::make_unique<StripDecoder>(content, spec.value("start", size_t{0}),
                                                  spec.value("stop", size_t{0}));
        }
        if (type == "Metaspace") {
            std::string replacement = spec.value("replacement", std::string("\xE2\x96\x81"));
            bool drop_first = true;
            if (spec.contains("prepend_scheme")) {
                drop_first = spec.at("prepend_scheme").get<std::string>() != "never";
            } else if (spec.contains("add_prefix_space")) {
                drop_first = spec.at("add_prefix_space").get<bool>();
            }
            return std::make_unique<MetaspaceDecoder>(replacement, drop_first);
        }
    } catch (const nlohmann::json::exception& e) {
        fail(StatusCode::kInvalidArgument, here, ": ", e.what());
    }
    fail(StatusCode::kUnimplemented, where, ": decoder type '", type, "' is not supported");
}

std::string decode_tokens(const Decoder* decoder, std::vector<std::string> tokens) {
    std::string out;
    if (!decoder) {
        for (size_t i = 0; i < tokens.size(); ++i) {
            if (i) out.push_back(' ');
            out += tokens[i];
        }
        return out;
    }
    decoder->decode_chain(tokens);
    for (const std::string& t : tokens) out += t;
    return out;
}

DecodeStream::DecodeStream(const Decoder* decoder) {
    if (decoder) {
        decoder->stream(false, stages_);
    } else {
        no_decoder_ = true;
    }
}

void DecodeStream::run(size_t stage, std::vector<std::string>& items, std::string& out) {
    if (stage == stages_.size()) {
        for (const std::string& s : items) out += s;
        return;
    }
    std::vector<std::string> next;
    for (std::string& item : items) stages_[stage]->push(std::move(item), next);
    run(stage + 1, next, out);
}

std::string DecodeStream::push(std::string token) {
    if (no_decoder_) {
        std::string out = first_ ? std::move(token) : " " + token;
        first_ = false;
        return out;
    }
    std::string out;
    std::vector<std::string> items{std::move(token)};
    run(0, items, out);
    return out;
}

std::string DecodeStream::flush() {
    std::string out;
    for (size_t s = 0; s < stages_.size(); ++s) {
        std::vector<std::string> items;
        stages_[s]->flush(items);
        run(s + 1, items, out);
    }
    return out;
}

}  // namespace turbolm
