#include "tokenizer/normalizers.h"

#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace turbolm {

namespace {

using json = nlohmann::json;

class UnicodeNormalizer : public Normalizer {
  public:
    explicit UnicodeNormalizer(unicode::NormalForm form) : form_(form) {}
    void normalize(std::string& text, bool&) const override {
        std::string out;
        if (unicode::normalize(form_, text, out)) text.swap(out);
    }

  private:
    unicode::NormalForm form_;
};

class PrependNormalizer : public Normalizer {
  public:
    explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
    void normalize(std::string& text, bool&) const override {
        if (!text.empty()) text.insert(0, prefix_);
    }

  private:
    std::string prefix_;
};

class ReplaceNormalizer : public Normalizer {
  public:
    ReplaceNormalizer(std::string literal, std::unique_ptr<Regex> regex, std::string content)
        : literal_(std::move(literal)), regex_(std::move(regex)), content_(std::move(content)) {}
    void normalize(std::string& text, bool& at_start) const override {
        std::vector<std::pair<size_t, size_t>> matches;
        if (regex_) {
            regex_->find_all(text, matches);
        } else if (!literal_.empty()) {
            for (size_t p = text.find(literal_); p != std::string::npos; p = text.find(literal_, p + literal_.size())) {
                matches.emplace_back(p, p + literal_.size());
            }
        }
        if (matches.empty()) return;
        if (matches.front().first == 0) {
            // HF aligns the replacement with the last character it removes, and a deletion leaves
            // the next character first: only a one-character match replaced by something stays at 0.
            size_t first_len = unicode::utf8_lead_length(static_cast<unsigned char>(text[0]));
            at_start = at_start && !content_.empty() && matches.front().second == first_len;
        }
        std::string out;
        out.reserve(text.size());
        size_t prev = 0;
        for (auto [b, e] : matches) {
            out.append(text, prev, b - prev);
            out += content_;
            prev = e;
        }
        out.append(text, prev, std::string::npos);
        text.swap(out);
    }

  private:
    std::string literal_;
    std::unique_ptr<Regex> regex_;
    std::string content_;
};

class StripNormalizer : public Normalizer {
  public:
    StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
    void normalize(std::string& text, bool& at_start) const override {
        size_t begin = 0, end = text.size();
        if (left_) {
            while (begin < end) {
                unicode::Utf8Step st = unicode::utf8_step(text, begin);
                if (!unicode::is_whitespace(st.cp)) break;
                begin += st.length;
            }
        }
        if (right_) {
            while (end > begin) {
                size_t start = end - 1;
                while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
                if (!unicode::is_whitespace(unicode::utf8_step(text, start).cp)) break;
                end = start;
            }
        }
        if (begin > 0) at_start = false;
        text = text.substr(begin, end - begin);
    }

  private:
    bool left_, right_;
};

// Only ASCII text can be lower-cased exactly without Unicode case tables; anything else is an error
// rather than a silent difference from HF.
class AsciiLowercase : public Normalizer {
  public:
    void normalize(std::string& text, bool&) const override {
        for (char& c : text) {
            if (static_cast<unsigned char>(c) >= 0x80) {
                fail(StatusCode::kUnimplemented, "Lowercase normalizer: only ASCII text is supported");
            }
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        }
    }
};

class SequenceNormalizer : public Normalizer {
  public:
    explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
    void normalize(std::string& text, bool& at_start) const override {
        for (const auto& s : steps_) s->normalize(text, at_start);
    }

  private:
    std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& spec, const std::string& where) {
    if (!spec.is_object() || !spec.contains("type")) {
        fail(StatusCode::kInvalidArgument, where, ": normalizer must be an object with a \"type\"");
    }
    const std::string type = spec.at("type").get<std::string>();
    const std::string here = str_cat(where, ": normalizer ", type);
    try {
        if (type == "Sequence") {
            std::vector<std::unique_ptr<Normalizer>> steps;
            for (const json& s : spec.at("normalizers")) steps.push_back(make_normalizer(s, where));
            return std::make_unique<SequenceNormalizer>(std::move(steps));
        }
        if (type == "NFC") return std::make_unique<UnicodeNormalizer>(unicode::NormalForm::kNfc);
        if (type == "NFD") return std::make_unique<UnicodeNormalizer>(unicode::NormalForm::kNfd);
        if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(unicode::NormalForm::kNfkc);
        if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(unicode::NormalForm::kNfkd);
        if (type == "Prepend") return std::make_unique<PrependNormalizer>(spec.at("prepend").get<std::string>());
        if (type == "Replace") {
            const json& p = spec.at("pattern");
            std::string content = spec.at("content").get<std::string>();
            if (p.contains("Regex")) {
                return std::make_unique<ReplaceNormalizer>(
                    "", std::make_unique<Regex>(p.at("Regex").get<std::string>()), content);
            }
            return std::make_unique<ReplaceNormalizer>(p.at("String").get<std::string>(), nullptr, content);
        }
        if (type == "Strip") {
            return std::make_unique<StripNormalizer>(spec.value("strip_left", true), spec.value("strip_right", true));
        }
        if (type == "Lowercase") return std::make_unique<AsciiLowercase>();
    } catch (const nlohmann::json::exception& e) {
        fail(StatusCode::kInvalidArgument, here, ": ", e.what());
    }
    fail(StatusCode::kUnimplemented, where, ": normalizer type '", type, "' is not supported");
}

}  // namespace turbolm
