// Ranks in separate processes joined over TCP, for tensor parallelism on CPUs (where there is no
// NCCL): rank 0 listens, the others connect to it, and every collective goes through rank 0, which
// sums (in rank order, in f32, as the in-process group does) or assembles and sends the result to
// everyone, so every rank ends with the same bits. Meant for the ranks of one machine, where the
// bytes move through the loopback interface.
#pragma once

#include <memory>
#include <string>

#include "parallel/communicator.h"
#include "parallel/socket_util.h"

namespace turbolm {

// Rank 0's side: listens on `host` at a port the system picks, before the other ranks exist, so
// that their address is known when they are started.
class SocketGroupRoot {
  public:
    explicit SocketGroupRoot(const std::string& host = "127.0.0.1");
    // "host:port" for the other ranks' socket_communicator_member.
    const std::string& address() const { return address_; }
    // Waits for ranks 1 .. world - 1 to connect (each says which it is) and returns rank 0's
    // communicator. Throws when they have not all arrived within timeout_s seconds.
    std::shared_ptr<Communicator> accept(int world, int timeout_s = 300);

  private:
    net::Fd listener_;
    std::string address_;
};

// Rank `rank` (>= 1) of `world`: connects to rank 0 at `address`, retrying while it starts.
std::shared_ptr<Communicator> socket_communicator_member(int rank, int world, const std::string& address,
                                                         int timeout_s = 300);

}  // namespace turbolm
