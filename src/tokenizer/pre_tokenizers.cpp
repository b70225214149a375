#include "tokenizer/pre_tokenizers.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/regex.h"
#include "tokenizer/split_pattern.h"
#include "tokenizer/unicode.h"

namespace turbolm {

const char* const kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

using json = nlohmann::json;

// Splits every token with a SplitPattern and a behaviour; the building block of most pre-tokenizers.
class PatternSplit : public PreTokenizer {
  public:
    PatternSplit(std::unique_ptr<SplitPattern> pattern, SplitBehavior behavior, bool invert)
        : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}

    void pre_tokenize(std::vector<PreToken>& tokens, PreTokenStore&) const override {
        thread_local std::vector<PreToken> out;
        thread_local std::vector<SplitPart> parts;
        out.clear();
        for (const PreToken& t : tokens) {
            parts.clear();
            split_parts(*pattern_, t.text, invert_, behavior_, parts);
            for (const SplitPart& p : parts) {
                out.push_back({t.text.substr(p.begin, p.end - p.begin), t.at_start && p.begin == 0});
            }
        }
        tokens.swap(out);
    }

  private:
    std::unique_ptr<SplitPattern> pattern_;
    SplitBehavior behavior_;
    bool invert_;
};

class ByteLevelPre : public PreTokenizer {
  public:
    ByteLevelPre(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
        if (use_regex) {
            split_ = std::make_unique<PatternSplit>(std::make_unique<RegexPattern>(kGpt2Pattern),
                                                    SplitBehavior::kIsolated, false);
        }
    }
    void pre_tokenize(std::vector<PreToken>& tokens, PreTokenStore& store) const override {
        if (add_prefix_space_) {
            for (PreToken& t : tokens) {
                if (t.text.empty() || t.text.front() != ' ') t.text = store.keep(" " + std::string(t.text));
            }
        }
        if (split_) split_->pre_tokenize(tokens, store);
    }
    bool is_byte_level() const override { return true; }

  private:
    bool add_prefix_space_;
    std::unique_ptr<PatternSplit> split_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

class MetaspacePre : public PreTokenizer {
  public:
    MetaspacePre(std::string replacement, PrependScheme scheme, bool split)
        : replacement_(std::move(replacement)), scheme_(scheme) {
        if (split) {
            split_ = std::make_unique<PatternSplit>(std::make_unique<LiteralPattern>(replacement_),
                                                    SplitBehavior::kMergedWithNext, false);
        }
    }
    void pre_tokenize(std::vector<PreToken>& tokens, PreTokenStore& store) const override {
        for (PreToken& t : tokens) {
            std::string s;
            s.reserve(t.text.size() + 8);
            bool prepend = scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && t.at_start);
            std::string_view text = t.text;
            bool starts_with_marker = text.starts_with(' ') || text.starts_with(replacement_);
            if (prepend && !starts_with_marker) s = replacement_;
            for (char c : text) {
                if (c == ' ') {
                    s += replacement_;
                } else {
                    s.push_back(c);
                }
            }
            t.text = store.keep(std::move(s));
        }
        if (split_) split_->pre_tokenize(tokens, store);
    }

  private:
    std::string replacement_;
    PrependScheme scheme_;
    std::unique_ptr<PatternSplit> split_;
};

class SequencePre : public PreTokenizer {
  public:
    explicit SequencePre(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
    void pre_tokenize(std::vector<PreToken>& tokens, PreTokenStore& store) const override {
        for (const auto& s : steps_) s->pre_tokenize(tokens, store);
    }
    bool is_byte_level() const override {
        for (const auto& s : steps_) {
            if (s->is_byte_level()) return true;
        }
        return false;
    }

  private:
    std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

SplitBehavior parse_behavior(const json& v, const std::string& where) {
    std::string b = v.is_string() ? v.get<std::string>() : "";
    if (b == "Removed") return SplitBehavior::kRemoved;
    if (b == "Isolated") return SplitBehavior::kIsolated;
    if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
    if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
    if (b == "Contiguous") return SplitBehavior::kContiguous;
    fail(StatusCode::kInvalidArgument, where, ": unknown split behavior '", v.dump(), "'");
}

std::unique_ptr<PatternSplit> regex_split(const std::string& pattern, SplitBehavior behavior, bool invert = false) {
    return std::make_unique<PatternSplit>(std::make_unique<RegexPattern>(pattern), behavior, invert);
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& spec, const std::string& where) {
    if (!spec.is_object() || !spec.contains("type")) {
        fail(StatusCode::kInvalidArgument, where, ": pre_tokenizer must be an object with a \"type\"");
    }
    const std::string type = spec.at("type").get<std::string>();
    const std::string here = str_cat(where, ": pre_tokenizer ", type);
    try {
        if (type == "Sequence") {
            std::vector<std::unique_ptr<PreTokenizer>> steps;
            for (const json& s : spec.at("pretokenizers")) steps.push_back(make_pre_tokenizer(s, where));
            return std::make_unique<SequencePre>(std::move(steps));
        }
        if (type == "ByteLevel") {
            return std::make_unique<ByteLevelPre>(spec.value("add_prefix_space", true), spec.value("use_regex", true));
        }
        if (type == "Split") {
            const json& p = spec.at("pattern");
            std::unique_ptr<SplitPattern> pattern;
            if (p.contains("Regex")) {
                pattern = std::make_unique<RegexPattern>(p.at("Regex").get<std::string>());
            } else if (p.contains("String")) {
                pattern = std::make_unique<LiteralPattern>(p.at("String").get<std::string>());
            } else {
                fail(StatusCode::kInvalidArgument, here, ": pattern needs \"Regex\" or \"String\"");
            }
            return std::make_unique<PatternSplit>(std::move(pattern), parse_behavior(spec.at("behavior"), here),
                                                  spec.value("invert", false));
        }
        if (type == "Metaspace") {
            std::string replacement = spec.value("replacement", std::string("\xE2\x96\x81"));
            PrependScheme scheme = PrependScheme::kAlways;
            if (spec.contains("prepend_scheme")) {
                std::string s = spec.at("prepend_scheme").get<std::string>();
                scheme = s == "first"   ? PrependScheme::kFirst
                         : s == "never" ? PrependScheme::kNever
                                        : PrependScheme::kAlways;
            } else if (spec.contains("add_prefix_space")) {
                scheme = spec.at("add_prefix_space").get<bool>() ? PrependScheme::kAlways : PrependScheme::kNever;
            }
            return std::make_unique<MetaspacePre>(replacement, scheme, spec.value("split", true));
        }
        if (type == "Digits") {
            bool individual = spec.value("individual_digits", false);
            return regex_split(R"(\p{N})", individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous);
        }
        if (type == "Whitespace") return regex_split(R"(\w+|[^\w\s]+)", SplitBehavior::kRemoved, true);
        if (type == "WhitespaceSplit") return regex_split(R"(\s+)", SplitBehavior::kRemoved);
        if (type == "Punctuation") {
            return regex_split(R"([\p{P}!-/:-@\[-`{-~])", spec.contains("behavior")
                                                              ? parse_behavior(spec.at("behavior"), here)
                                                              : SplitBehavior::kIsolated);
        }
        if (type == "CharDelimiterSplit") {
            return std::make_unique<PatternSplit>(
                std::make_unique<LiteralPattern>(spec.at("delimiter").get<std::string>()), SplitBehavior::kRemoved,
                false);
        }
    } catch (const nlohmann::json::exception& e) {
        fail(StatusCode::kInvalidArgument, here, ": ", e.what());
    }
    fail(StatusCode::kUnimplemented, where, ": pre_tokenizer type '", type, "' is not supported");
}

}  // namespace turbolm
