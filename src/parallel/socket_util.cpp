#include "parallel/socket_util.h"

#include <cerrno>
#include <cstring>
#include <thread>

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/error.h"

namespace turbolm::net {

Fd::~Fd() {
    if (fd_ >= 0) ::close(fd_);
}

Fd& Fd::operator=(Fd&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
}

std::pair<std::string, std::string> split_address(const std::string& address) {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == address.size())
        fail(StatusCode::kInvalidArgument, "address '", address, "' is not host:port");
    return {address.substr(0, colon), address.substr(colon + 1)};
}

int remaining_ms(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left > 0 ? int(left) : 0;
}

Fd connect_retrying(const std::string& host, const std::string& port, Clock::time_point deadline, const char* what) {
    for (;;) {
        addrinfo hints{}, *res = nullptr;
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &res) == 0) {
            for (addrinfo* a = res; a; a = a->ai_next) {
                Fd s(::socket(a->ai_family, a->ai_socktype, a->ai_protocol));
                if (s.get() < 0 || ::connect(s.get(), a->ai_addr, a->ai_addrlen) != 0) continue;
                ::freeaddrinfo(res);
                return s;
            }
            ::freeaddrinfo(res);
        }
        if (Clock::now() >= deadline)
            fail(StatusCode::kInternal, what, " ", host, ":", port, " (nothing answered in time)");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

void send_all(int fd, const void* data, size_t bytes, const char* what) {
    const char* p = static_cast<const char*>(data);
    while (bytes > 0) {
        const ssize_t n = ::send(fd, p, bytes, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail(StatusCode::kInternal, what, ": the peer is gone (", std::strerror(errno), ")");
        p += n;
        bytes -= size_t(n);
    }
}

void recv_all(int fd, void* data, size_t bytes, const char* what) {
    char* p = static_cast<char*>(data);
    while (bytes > 0) {
        const ssize_t n = ::recv(fd, p, bytes, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) fail(StatusCode::kInternal, what, ": the peer closed the connection");
        if (n < 0) fail(StatusCode::kInternal, what, ": ", std::strerror(errno));
        p += n;
        bytes -= size_t(n);
    }
}

}  // namespace turbolm::net
