// Small TCP helpers shared by the rendezvous and the socket communicator: an owned descriptor,
// "host:port" parsing, deadlines, and whole-buffer sends and receives.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>

namespace turbolm::net {

using Clock = std::chrono::steady_clock;

// A file descriptor closed on destruction.
class Fd {
  public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    ~Fd();
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

  private:
    int fd_;
};

// "host:port" as (host, port); throws for anything else.
std::pair<std::string, std::string> split_address(const std::string& address);
// Milliseconds left until `deadline` (0 once it has passed), for poll().
int remaining_ms(Clock::time_point deadline);

// A connection to host:port, retrying while nothing listens there yet (the peer may still be
// starting); once `deadline` has passed, throws "<what> host:port (nothing answered in time)".
Fd connect_retrying(const std::string& host, const std::string& port, Clock::time_point deadline, const char* what);

// Sends or receives exactly `bytes` bytes; throws naming `what` when the peer is gone.
void send_all(int fd, const void* data, size_t bytes, const char* what);
void recv_all(int fd, void* data, size_t bytes, const char* what);

}  // namespace turbolm::net
