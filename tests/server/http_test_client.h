// A small blocking HTTP/1.1 client over POSIX sockets for the server tests: it shares no code with
// the server, parses replies strictly (status line, headers, Content-Length or chunked bodies) and
// reports how the connection ended.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace turbolm::test {

struct HttpResponse {
    int status = 0;
    std::string status_line;
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
    std::string body;                                          // decoded
    std::vector<std::string> chunks;                           // the chunks of a chunked body, in order

    const std::string* header(std::string_view name) const {
        for (const auto& [k, v] : headers)
            if (k == name) return &v;
        return nullptr;
    }
    std::string header_or(std::string_view name, std::string fallback = {}) const {
        const std::string* v = header(name);
        return v ? *v : fallback;
    }
};

class HttpClient {
  public:
    // Connects to 127.0.0.1:port; `rcvbuf` > 0 shrinks the receive buffer first (a slow reader).
    explicit HttpClient(int port, int rcvbuf = 0, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) return;
        if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        set_timeout(timeout);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(uint16_t(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    ~HttpClient() { close(); }
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;
    HttpClient(HttpClient&& o) noexcept : fd_(std::exchange(o.fd_, -1)), buf_(std::move(o.buf_)) {}

    bool connected() const { return fd_ >= 0; }
    int fd() const { return fd_; }

    void set_timeout(std::chrono::milliseconds t) {
        timeval tv{};
        tv.tv_sec = long(t.count() / 1000);
        tv.tv_usec = long((t.count() % 1000) * 1000);
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }

    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    // Sends all of `bytes`; false when the connection is gone.
    bool send(std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            bytes.remove_prefix(size_t(n));
        }
        return true;
    }

    // Reads one reply. `head_request`: the reply to HEAD has no body whatever its headers say.
    std::optional<HttpResponse> read_response(bool head_request = false) {
        auto r = read_head();
        if (!r) return std::nullopt;
        if (head_request || r->status < 200 || r->status == 204 || r->status == 304) return r;
        std::string te = r->header_or("transfer-encoding");
        if (te == "chunked") {
            for (;;) {
                auto c = read_chunk();
                if (!c) return std::nullopt;
                if (c->empty()) break;
                r->body += *c;
                r->chunks.push_back(std::move(*c));
            }
            return r;
        }
        if (const std::string* cl = r->header("content-length")) {
            size_t n = std::stoull(*cl);
            if (!fill(n)) return std::nullopt;
            r->body = buf_.substr(0, n);
            buf_.erase(0, n);
            return r;
        }
        // Until close.
        while (recv_some() > 0) {
        }
        r->body = std::move(buf_);
        buf_.clear();
        return r;
    }

    // The status line and headers only.
    std::optional<HttpResponse> read_head() {
        size_t end;
        while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
            if (recv_some() <= 0) return std::nullopt;
        std::string head = buf_.substr(0, end + 2);
        buf_.erase(0, end + 4);
        HttpResponse r;
        size_t eol = head.find("\r\n");
        r.status_line = head.substr(0, eol);
        if (r.status_line.size() < 12 || r.status_line.compare(0, 9, "HTTP/1.1 ") != 0) return std::nullopt;
        r.status = std::stoi(r.status_line.substr(9, 3));
        size_t pos = eol + 2;
        while (pos < head.size()) {
            size_t line_end = head.find("\r\n", pos);
            std::string line = head.substr(pos, line_end - pos);
            pos = line_end + 2;
            size_t colon = line.find(':');
            if (colon == std::string::npos || colon == 0) return std::nullopt;
            std::string name = line.substr(0, colon);
            for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
            size_t v = line.find_first_not_of(' ', colon + 1);
            r.headers.emplace_back(name, v == std::string::npos ? "" : line.substr(v));
        }
        return r;
    }

    // One chunk of a chunked body: its data, "" for the last chunk, nullopt on a framing error.
    std::optional<std::string> read_chunk() {
        size_t eol;
        while ((eol = buf_.find("\r\n")) == std::string::npos)
            if (recv_some() <= 0) return std::nullopt;
        std::string size_text = buf_.substr(0, eol);
        if (size_text.empty() || size_text.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
            return std::nullopt;
        size_t size = std::stoull(size_text, nullptr, 16);
        buf_.erase(0, eol + 2);
        if (!fill(size + 2)) return std::nullopt;
        if (buf_.compare(size, 2, "\r\n") != 0) return std::nullopt;
        std::string data = buf_.substr(0, size);
        buf_.erase(0, size + 2);
        return data;
    }

    // True when the server closes the connection (end of stream or reset) within `within`, with
    // nothing more to read before that.
    bool closed_by_server(std::chrono::milliseconds within = std::chrono::seconds(3)) {
        if (!buf_.empty()) return false;
        auto deadline = std::chrono::steady_clock::now() + within;
        for (;;) {
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            int k = ::poll(&p, 1, int(left.count()));
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) return false;
            char c[4096];
            ssize_t n = ::recv(fd_, c, sizeof c, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE))) return true;
            if (n > 0) return false;
        }
    }

    std::string& buffered() { return buf_; }

  private:
    // Reads once; returns the byte count, 0 at end of stream, -1 on an error or timeout.
    ssize_t recv_some() {
        char c[16384];
        for (;;) {
            ssize_t n = ::recv(fd_, c, sizeof c, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n > 0) buf_.append(c, size_t(n));
            return n;
        }
    }
    bool fill(size_t n) {
        while (buf_.size() < n)
            if (recv_some() <= 0) return false;
        return true;
    }

    int fd_ = -1;
    std::string buf_;
};

}  // namespace turbolm::test
