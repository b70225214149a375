#include "parallel/rendezvous.h"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/error.h"
#include "parallel/socket_util.h"

namespace turbolm {
namespace {

using net::Clock;
using net::Fd;
using net::remaining_ms;
using net::split_address;

std::optional<int> env_int(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) return std::nullopt;
    char* end = nullptr;
    const long x = std::strtol(v, &end, 10);
    if (*end != '\0' || x < 0 || x > 1 << 20) fail(StatusCode::kInvalidArgument, name, "=", v, " is not a rank");
    return int(x);
}

void serve_id(const std::string& port, int clients, const std::string& id, Clock::time_point deadline) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_INET6;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (::getaddrinfo(nullptr, port.c_str(), &hints, &res) != 0)
        fail(StatusCode::kInvalidArgument, "rendezvous port '", port, "'");
    Fd listener(::socket(res->ai_family, res->ai_socktype, res->ai_protocol));
    const int on = 1, off = 0;
    ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    ::setsockopt(listener.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);  // IPv4 clients too
    const int bound = ::bind(listener.get(), res->ai_addr, res->ai_addrlen);
    ::freeaddrinfo(res);
    if (listener.get() < 0 || bound != 0 || ::listen(listener.get(), clients) != 0)
        fail(StatusCode::kInternal, "rendezvous: cannot listen on port ", port, ": ", std::strerror(errno));
    const std::string line = id + "\n";
    for (int served = 0; served < clients;) {
        pollfd p{listener.get(), POLLIN, 0};
        const int ready = ::poll(&p, 1, remaining_ms(deadline));
        if (ready <= 0)
            fail(StatusCode::kInternal, "rendezvous: ", served, " of ", clients,
                 " ranks fetched the group id before the timeout");
        Fd c(::accept(listener.get(), nullptr, nullptr));
        if (c.get() < 0) continue;
        if (::send(c.get(), line.data(), line.size(), MSG_NOSIGNAL) == ssize_t(line.size())) ++served;
    }
}

std::string fetch_id(const std::string& host, const std::string& port, Clock::time_point deadline) {
    for (;;) {
        Fd s = net::connect_retrying(host, port, deadline, "rendezvous: no group id from");
        std::string got;
        char buf[512];
        for (;;) {
            pollfd p{s.get(), POLLIN, 0};
            if (::poll(&p, 1, remaining_ms(deadline)) <= 0) break;
            const ssize_t n = ::recv(s.get(), buf, sizeof buf, 0);
            if (n <= 0) break;
            got.append(buf, size_t(n));
            if (const size_t nl = got.find('\n'); nl != std::string::npos) return got.substr(0, nl);
        }
        if (Clock::now() >= deadline)
            fail(StatusCode::kInternal, "rendezvous: no group id from ", host, ":", port, " before the timeout");
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a connection that ended early
    }
}

}  // namespace

std::optional<LaunchedRank> launched_rank_from_environment() {
    auto rank = env_int("OMPI_COMM_WORLD_RANK");
    auto world = env_int("OMPI_COMM_WORLD_SIZE");
    auto local = env_int("OMPI_COMM_WORLD_LOCAL_RANK");
    if (!rank || !world) {
        rank = env_int("PMI_RANK");
        world = env_int("PMI_SIZE");
        local = env_int("MPI_LOCALRANKID");
    }
    if (!rank || !world) return std::nullopt;
    if (*rank >= *world) fail(StatusCode::kInvalidArgument, "launcher rank ", *rank, " of ", *world);
    return LaunchedRank{*rank, *world, local.value_or(*rank)};
}

std::string exchange_group_id(int rank, int world, const std::string& address, const std::string& id, int timeout_s) {
    TURBOLM_REQUIRE(world >= 1 && rank >= 0 && rank < world, "rank ", rank, " of ", world);
    const auto [host, port] = split_address(address);
    const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
    if (rank == 0) {
        serve_id(port, world - 1, id, deadline);
        return id;
    }
    return fetch_id(host, port, deadline);
}

}  // namespace turbolm
