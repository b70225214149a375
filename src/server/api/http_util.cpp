#include "server/api/http_util.h"

#include <cctype>
#include <chrono>
#include <random>

namespace turbolm::server {

const std::string* find_header(const http::Request& request, std::string_view lower_name) {
    for (const auto& [name, value] : request.headers)
        if (name == lower_name) return &value;
    return nullptr;
}

bool has_bearer_key(const http::Request& request, const std::string& key) {
    const std::string* auth = find_header(request, "authorization");
    if (!auth) return false;
    std::string_view v = *auth;
    constexpr std::string_view scheme = "bearer ";
    if (v.size() < scheme.size()) return false;
    for (size_t i = 0; i < scheme.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(v[i])) != scheme[i]) return false;
    v.remove_prefix(scheme.size());
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    // Every byte is compared, so the time taken does not tell how much of a guess was right.
    unsigned diff = unsigned(v.size() != key.size());
    for (size_t i = 0; i < key.size(); ++i) diff |= unsigned(static_cast<unsigned char>(i < v.size() ? v[i] : 0) ^
                                                              static_cast<unsigned char>(key[i]));
    return diff == 0;
}

std::string percent_decode(std::string_view s) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            out += char(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::string dump_json(const nlohmann::json& value) {
    return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void reply_json(http::Responder& responder, int status, const nlohmann::json& body, http::Headers extra) {
    responder.reply(status, kJsonContentType, dump_json(body), std::move(extra));
}

http::Headers event_stream_headers() {
    // no-cache: proxies must pass events on as they come; X-Accel-Buffering: nginx would buffer them.
    return {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
}

std::string sse_data(const nlohmann::json& value) { return "data: " + dump_json(value) + "\n\n"; }

std::string random_hex(size_t n_bytes) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * n_bytes);
    for (size_t i = 0; i < n_bytes; ++i) {
        const unsigned byte = unsigned(rng() & 0xff);
        out += digits[byte >> 4];
        out += digits[byte & 0xf];
    }
    return out;
}

int64_t unix_time_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace turbolm::server
