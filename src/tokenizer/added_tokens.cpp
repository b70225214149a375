#include "tokenizer/added_tokens.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "tokenizer/unicode.h"

namespace turbolm {

AddedToken added_token_from_json(const nlohmann::json& j, int32_t id) {
    AddedToken a;
    a.id = id;
    a.content = j.at("content").get<std::string>();
    a.special = j.value("special", false);
    a.lstrip = j.value("lstrip", false);
    a.rstrip = j.value("rstrip", false);
    a.normalized = j.value("normalized", !a.special);
    a.single_word = j.value("single_word", false);
    return a;
}

namespace {

// The character that ends text[0, end), or that starts text[begin, ...).
char32_t char_before(std::string_view text, size_t end) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    return unicode::utf8_step(text, start).cp;
}

}  // namespace

void AddedVocabulary::add(const AddedToken& token) {
    auto it = by_content_.find(token.content);
    if (it != by_content_.end()) {
        by_id_.erase(tokens_[it->second].id);
        tokens_[it->second] = token;
        by_id_[token.id] = it->second;
        return;
    }
    by_content_.emplace(token.content, tokens_.size());
    by_id_[token.id] = tokens_.size();
    tokens_.push_back(token);
}

const AddedToken* AddedVocabulary::by_id(int32_t id) const {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::by_content(std::string_view content) const {
    auto it = by_content_.find(content);
    return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

void AddedVocabulary::prepare() {
    for (int pass = 0; pass < 2; ++pass) {
        Matcher& m = matcher_[pass];
        m = Matcher{};
        m.nodes.emplace_back();
        for (size_t t = 0; t < tokens_.size(); ++t) {
            const AddedToken& tok = tokens_[t];
            if (tok.normalized != (pass == 1) || tok.content.empty()) continue;
            int32_t node = 0;
            for (unsigned char c : tok.content) {
                auto& kids = m.nodes[node].children;
                auto it = std::lower_bound(kids.begin(), kids.end(), c,
                                           [](const std::pair<uint8_t, int32_t>& p, uint8_t v) { return p.first < v; });
                if (it != kids.end() && it->first == c) {
                    node = it->second;
                } else {
                    int32_t child = static_cast<int32_t>(m.nodes.size());
                    kids.insert(it, {c, child});
                    m.nodes.emplace_back();
                    node = child;
                }
            }
            m.nodes[node].token = static_cast<int32_t>(t);
            m.first_byte[static_cast<unsigned char>(tok.content[0])] = true;
            m.any = true;
        }
    }
}

void AddedVocabulary::find_longest(const Matcher& m, std::string_view text, size_t at, int32_t& token,
                                   size_t& end) const {
    token = -1;
    int32_t node = 0;
    for (size_t i = at; i < text.size(); ++i) {
        const auto& kids = m.nodes[node].children;
        uint8_t c = static_cast<uint8_t>(text[i]);
        auto it = std::lower_bound(kids.begin(), kids.end(), c,
                                   [](const std::pair<uint8_t, int32_t>& p, uint8_t v) { return p.first < v; });
        if (it == kids.end() || it->first != c) break;
        node = it->second;
        if (m.nodes[node].token >= 0) {
            token = m.nodes[node].token;
            end = i + 1;
        }
    }
}

void AddedVocabulary::split(std::string_view text, bool normalized, std::vector<Segment>& out) const {
    const Matcher& m = matcher_[normalized ? 1 : 0];
    size_t start_offset = 0;
    if (m.any) {
        size_t i = 0;
        while (i < text.size()) {
            if (!m.first_byte[static_cast<unsigned char>(text[i])]) {
                ++i;
                continue;
            }
            int32_t t;
            size_t match_end = 0;
            find_longest(m, text, i, t, match_end);
            if (t < 0) {
                ++i;
                continue;
            }
            const AddedToken& tok = tokens_[static_cast<size_t>(t)];
            size_t start = i, stop = match_end;
            i = match_end;  // the next search starts after this match, used or not
            if (tok.single_word) {
                bool word_before = start > 0 && unicode::is_word_char(char_before(text, start));
                bool word_after = stop < text.size() && unicode::is_word_char(unicode::utf8_step(text, stop).cp);
                if (word_before || word_after) continue;
            }
            if (tok.lstrip) {
                size_t s = start;
                while (s > 0) {
                    size_t prev = s - 1;
                    while (prev > 0 && (static_cast<unsigned char>(text[prev]) & 0xC0) == 0x80) --prev;
                    if (!unicode::is_whitespace(unicode::utf8_step(text, prev).cp)) break;
                    s = prev;
                }
                start = std::max(s, start_offset);
            }
            if (tok.rstrip) {
                while (stop < text.size()) {
                    unicode::Utf8Step st = unicode::utf8_step(text, stop);
                    if (!unicode::is_whitespace(st.cp)) break;
                    stop += st.length;
                }
            }
            if (start > start_offset) out.push_back({-1, start_offset, start});
            out.push_back({tok.id, start, stop});
            start_offset = std::max(start_offset, stop);
        }
    }
    if (start_offset < text.size()) out.push_back({-1, start_offset, text.size()});
}

}  // namespace turbolm
