#include "server/http/wire.h"

#include <cstdio>
#include <ctime>

#include <boost/beast/http/status.hpp>

namespace turbolm::http::wire {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

bool has_line_break(std::string_view s) {
    return s.find_first_of("\r\n") != std::string_view::npos;
}

bool allowed_extra(const std::string& name, const std::string& value) {
    if (name.empty() || has_line_break(name) || has_line_break(value)) return false;
    if (name.find(':') != std::string::npos) return false;
    return !iequals(name, "content-length") && !iequals(name, "transfer-encoding") && !iequals(name, "connection");
}

std::string_view reason(int status) {
    auto known = boost::beast::http::int_to_status(unsigned(status));
    if (known == boost::beast::http::status::unknown) return "Unknown";
    auto r = boost::beast::http::obsolete_reason(known);
    return {r.data(), r.size()};
}

void append_json_string(std::string& out, std::string_view s) {
    static const char* hex = "0123456789abcdef";
    out += '"';
    for (char c : s) {
        unsigned char u = static_cast<unsigned char>(c);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (u < 0x20) {
                    out += "\\u00";
                    out += hex[u >> 4];
                    out += hex[u & 15];
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}

}  // namespace

bool status_has_body(int status) {
    return status >= 200 && status != 204 && status != 304;
}

std::string head(const Head& h) {
    int status = (h.status >= 100 && h.status <= 999) ? h.status : 500;
    std::string out;
    out.reserve(192);
    out += "HTTP/1.1 ";
    out += std::to_string(status);
    out += ' ';
    out += reason(status);
    out += "\r\nServer: turbolm\r\nDate: ";
    out += http_date();
    out += "\r\n";
    if (!h.content_type.empty() && !has_line_break(h.content_type)) {
        out += "Content-Type: ";
        out += h.content_type;
        out += "\r\n";
    }
    if (h.extra) {
        for (const auto& [name, value] : *h.extra) {
            if (!allowed_extra(name, value)) continue;
            out += name;
            out += ": ";
            out += value;
            out += "\r\n";
        }
    }
    switch (h.framing) {
        case Framing::kLength:
            if (status_has_body(status)) {
                out += "Content-Length: ";
                out += std::to_string(h.content_length);
                out += "\r\n";
            }
            break;
        case Framing::kChunked:
            out += "Transfer-Encoding: chunked\r\n";
            break;
        case Framing::kUntilClose:
            break;
    }
    if (!h.keep_alive) {
        out += "Connection: close\r\n";
    } else if (h.http10) {
        out += "Connection: keep-alive\r\n";
    }
    out += "\r\n";
    return out;
}

std::string chunk(std::string_view data) {
    static const char* hex = "0123456789abcdef";
    char size[sizeof(size_t) * 2];
    int n = 0;
    size_t v = data.size();
    do {
        size[n++] = hex[v & 15];
        v >>= 4;
    } while (v);
    std::string out;
    out.reserve(size_t(n) + data.size() + 4);
    while (n) out += size[--n];
    out += "\r\n";
    out += data;
    out += "\r\n";
    return out;
}

std::string error_json(int status, std::string_view message) {
    std::string out = "{\"error\":{\"message\":";
    append_json_string(out, message);
    out += ",\"type\":";
    out += status >= 500 ? "\"server_error\"" : "\"invalid_request_error\"";
    out += ",\"code\":";
    out += std::to_string(status);
    out += "}}";
    return out;
}

std::string error_response(int status, std::string_view message, bool keep_alive) {
    std::string body = error_json(status, message);
    Head h;
    h.status = status;
    h.content_type = "application/json";
    h.content_length = body.size();
    h.keep_alive = keep_alive;
    return head(h) + body;
}

std::string http_date() {
    static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::time_t now = std::time(nullptr);
    std::tm t{};
    gmtime_r(&now, &t);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[t.tm_wday % 7], t.tm_mday,
                  months[t.tm_mon % 12], t.tm_year + 1900, t.tm_hour, t.tm_min, t.tm_sec);
    return buf;
}

}  // namespace turbolm::http::wire
