#include "server/api/openai_format.h"

#include <cmath>
#include <string>

namespace turbolm::server {

namespace {

using nlohmann::json;

json bytes_of(const std::string& text) {
    json out = json::array();
    for (unsigned char c : text) out.push_back(int(c));
    return out;
}

}  // namespace

double json_logprob(float logprob) {
    if (std::isnan(logprob) || logprob < -9999.0f) return -9999.0;
    return double(logprob);
}

json completion_logprobs(const Engine& engine, const std::vector<TokenLogprobs>& tokens, int64_t& text_offset) {
    json texts = json::array(), values = json::array(), tops = json::array(), offsets = json::array();
    for (const TokenLogprobs& t : tokens) {
        const std::string text = engine.token_text(t.token);
        texts.push_back(text);
        values.push_back(json_logprob(t.logprob));
        json top = json::object();
        for (const auto& [id, lp] : t.top) top[engine.token_text(id)] = json_logprob(lp);
        top[text] = json_logprob(t.logprob);
        tops.push_back(std::move(top));
        offsets.push_back(text_offset);
        text_offset += int64_t(text.size());
    }
    return {{"tokens", texts}, {"token_logprobs", values}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

json chat_logprobs(const Engine& engine, const std::vector<TokenLogprobs>& tokens) {
    json content = json::array();
    for (const TokenLogprobs& t : tokens) {
        const std::string text = engine.token_text(t.token);
        json top = json::array();
        for (const auto& [id, lp] : t.top) {
            const std::string alt = engine.token_text(id);
            top.push_back({{"token", alt}, {"logprob", json_logprob(lp)}, {"bytes", bytes_of(alt)}});
        }
        content.push_back(
            {{"token", text}, {"logprob", json_logprob(t.logprob)}, {"bytes", bytes_of(text)}, {"top_logprobs", top}});
    }
    return {{"content", content}};
}

json usage_json(int64_t prompt_tokens, int64_t completion_tokens) {
    return {{"prompt_tokens", prompt_tokens},
            {"completion_tokens", completion_tokens},
            {"total_tokens", prompt_tokens + completion_tokens}};
}

}  // namespace turbolm::server
