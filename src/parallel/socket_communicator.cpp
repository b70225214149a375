#include "parallel/socket_communicator.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/error.h"
#include "parallel/collective_helpers.h"

namespace turbolm {
namespace {

// Every message starts with what it is, so that ranks that call different collectives (a bug
// elsewhere) stop with an error instead of reading each other's bytes as data.
enum class Op : uint32_t { kHello = 0x746c6d30, kAllReduce, kAllGather, kBroadcast };
struct Header {
    Op op;
    uint32_t rank;
    uint64_t bytes;
};

void send_header(int fd, Op op, int rank, uint64_t bytes) {
    const Header h{op, uint32_t(rank), bytes};
    net::send_all(fd, &h, sizeof h, "tensor-parallel socket");
}

void expect_header(int fd, Op op, uint64_t bytes, const char* what) {
    Header h{};
    net::recv_all(fd, &h, sizeof h, what);
    if (h.op != op || h.bytes != bytes)
        fail(StatusCode::kInternal, what, ": rank ", h.rank, " sent operation ", uint32_t(h.op), " of ", h.bytes,
             " bytes, expected ", uint32_t(op), " of ", bytes, " (the ranks are out of step)");
}

void no_delay(int fd) {
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

void require_host(const Tensor& t, const char* what) {
    TURBOLM_CHECK(t.device() == Device::kCpu && t.is_contiguous(), "socket communicator ", what, ": ", t.describe(),
                  " (contiguous CPU tensors only)");
}

// Collectives through rank 0. Rank 0 holds one connection per other rank (peers_[r - 1]); the
// others hold one to rank 0 (peers_[0]).
class SocketCommunicator final : public Communicator {
  public:
    SocketCommunicator(int rank, int world, std::vector<net::Fd> peers)
        : rank_(rank), world_(world), peers_(std::move(peers)) {}
    int rank() const override { return rank_; }
    int world() const override { return world_; }

    void all_reduce_sum(Tensor& x) override {
        if (x.device() != Device::kCpu) return collective::through_host(x, [&](Tensor& h) { all_reduce_sum(h); });
        require_host(x, "all_reduce_sum");
        const uint64_t bytes = x.nbytes();
        if (rank_ != 0) {
            send_header(root(), Op::kAllReduce, rank_, bytes);
            net::send_all(root(), x.raw_data(), bytes, "all_reduce_sum");
            expect_header(root(), Op::kAllReduce, bytes, "all_reduce_sum");
            net::recv_all(root(), x.raw_data(), bytes, "all_reduce_sum");
            return;
        }
        collective::RankOrderSum sum(x.dtype(), x.numel());
        sum.add(x.raw_data());
        std::vector<char> buf(bytes);
        for (int r = 1; r < world_; ++r) {
            expect_header(peer(r), Op::kAllReduce, bytes, "all_reduce_sum");
            net::recv_all(peer(r), buf.data(), bytes, "all_reduce_sum");
            sum.add(buf.data());
        }
        sum.store(x.raw_data());
        for (int r = 1; r < world_; ++r) {
            send_header(peer(r), Op::kAllReduce, 0, bytes);
            net::send_all(peer(r), x.raw_data(), bytes, "all_reduce_sum");
        }
    }

    void all_gather(const Tensor& in, Tensor& out) override {
        if (out.device() != Device::kCpu) {
            const Tensor host_in = in.to_device(Device::kCpu);
            return collective::through_host(out, [&](Tensor& h) { all_gather(host_in, h); });
        }
        require_host(in, "all_gather input");
        require_host(out, "all_gather output");
        TURBOLM_CHECK(out.dtype() == in.dtype() && out.numel() == in.numel() * world_, "all_gather of ", in.describe(),
                      " into ", out.describe());
        const uint64_t part = in.nbytes(), whole = out.nbytes();
        char* o = static_cast<char*>(out.raw_data());
        if (rank_ != 0) {
            send_header(root(), Op::kAllGather, rank_, part);
            net::send_all(root(), in.raw_data(), part, "all_gather");
            expect_header(root(), Op::kAllGather, whole, "all_gather");
            net::recv_all(root(), o, whole, "all_gather");
            return;
        }
        std::memcpy(o, in.raw_data(), part);
        for (int r = 1; r < world_; ++r) {
            expect_header(peer(r), Op::kAllGather, part, "all_gather");
            net::recv_all(peer(r), o + size_t(r) * part, part, "all_gather");
        }
        for (int r = 1; r < world_; ++r) {
            send_header(peer(r), Op::kAllGather, 0, whole);
            net::send_all(peer(r), o, whole, "all_gather");
        }
    }

    void broadcast(Tensor& x, int from) override {
        if (x.device() != Device::kCpu) return collective::through_host(x, [&](Tensor& h) { broadcast(h, from); });
        require_host(x, "broadcast");
        TURBOLM_CHECK(from >= 0 && from < world_, "broadcast from rank ", from, " of ", world_);
        const uint64_t bytes = x.nbytes();
        if (rank_ != 0) {
            if (rank_ == from) {
                send_header(root(), Op::kBroadcast, rank_, bytes);
                net::send_all(root(), x.raw_data(), bytes, "broadcast");
            } else {
                expect_header(root(), Op::kBroadcast, bytes, "broadcast");
                net::recv_all(root(), x.raw_data(), bytes, "broadcast");
            }
            return;
        }
        if (from != 0) {  // the value reaches rank 0 first, which passes it on
            expect_header(peer(from), Op::kBroadcast, bytes, "broadcast");
            net::recv_all(peer(from), x.raw_data(), bytes, "broadcast");
        }
        for (int r = 1; r < world_; ++r) {
            if (r == from) continue;
            send_header(peer(r), Op::kBroadcast, 0, bytes);
            net::send_all(peer(r), x.raw_data(), bytes, "broadcast");
        }
    }

  private:
    int root() const { return peers_[0].get(); }
    int peer(int r) const { return peers_[size_t(r - 1)].get(); }

    const int rank_, world_;
    std::vector<net::Fd> peers_;
};

}  // namespace

SocketGroupRoot::SocketGroupRoot(const std::string& host) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (::getaddrinfo(host.c_str(), "0", &hints, &res) != 0 || !res)
        fail(StatusCode::kInvalidArgument, "tensor-parallel group: cannot resolve '", host, "'");
    listener_ = net::Fd(::socket(res->ai_family, res->ai_socktype, res->ai_protocol));
    const int bound = listener_.get() >= 0 ? ::bind(listener_.get(), res->ai_addr, res->ai_addrlen) : -1;
    ::freeaddrinfo(res);
    if (bound != 0 || ::listen(listener_.get(), 64) != 0)
        fail(StatusCode::kInternal, "tensor-parallel group: cannot listen on ", host, ": ", std::strerror(errno));
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    const int port = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                                : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    address_ = host + ":" + std::to_string(port);
}

std::shared_ptr<Communicator> SocketGroupRoot::accept(int world, int timeout_s) {
    TURBOLM_REQUIRE(world >= 1, "a group of ", world, " ranks");
    const auto deadline = net::Clock::now() + std::chrono::seconds(timeout_s);
    std::vector<net::Fd> peers(static_cast<size_t>(world - 1));
    for (int joined = 0; joined < world - 1;) {
        pollfd p{listener_.get(), POLLIN, 0};
        if (::poll(&p, 1, net::remaining_ms(deadline)) <= 0)
            fail(StatusCode::kInternal, "tensor-parallel group: ", joined, " of ", world - 1,
                 " ranks joined before the timeout");
        net::Fd c(::accept(listener_.get(), nullptr, nullptr));
        if (c.get() < 0) continue;
        Header h{};
        net::recv_all(c.get(), &h, sizeof h, "tensor-parallel group hello");
        if (h.op != Op::kHello || h.rank < 1 || int(h.rank) >= world || peers[h.rank - 1].get() >= 0)
            fail(StatusCode::kInternal, "tensor-parallel group: a connection that is not a new rank of ", world);
        no_delay(c.get());
        peers[h.rank - 1] = std::move(c);
        ++joined;
    }
    return std::make_shared<SocketCommunicator>(0, world, std::move(peers));
}

std::shared_ptr<Communicator> socket_communicator_member(int rank, int world, const std::string& address,
                                                         int timeout_s) {
    TURBOLM_REQUIRE(world >= 2 && rank >= 1 && rank < world, "rank ", rank, " of ", world);
    const auto [host, port] = net::split_address(address);
    const auto deadline = net::Clock::now() + std::chrono::seconds(timeout_s);
    net::Fd s = net::connect_retrying(host, port, deadline, "tensor-parallel group: no rank 0 at");
    no_delay(s.get());
    send_header(s.get(), Op::kHello, rank, 0);
    std::vector<net::Fd> peers;
    peers.push_back(std::move(s));
    return std::make_shared<SocketCommunicator>(rank, world, std::move(peers));
}

}  // namespace turbolm
