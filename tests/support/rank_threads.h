// Tensor-parallel ranks as threads of the test: fn(rank, communicator) on `world` threads joined by
// the in-process communicator; the first failure is rethrown once all have ended. Ranks that share
// a GPU take turns (local_communicator.h): take_turns.
#pragma once

#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "parallel/local_communicator.h"

namespace turbolm::test {

template <typename Fn>
void run_ranks(int world, Fn&& fn, bool take_turns = false) {
    std::mutex turn;
    auto comms = local_communicators(world, take_turns ? &turn : nullptr);
    std::vector<std::exception_ptr> errors(static_cast<size_t>(world));
    std::vector<std::thread> threads;
    for (int r = 0; r < world; ++r)
        threads.emplace_back([&, r] {
            std::unique_lock<std::mutex> mine(turn, std::defer_lock);
            if (take_turns) mine.lock();
            try {
                fn(r, comms[size_t(r)]);
            } catch (...) {
                errors[size_t(r)] = std::current_exception();
            }
        });
    for (auto& t : threads) t.join();
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
}

}  // namespace turbolm::test
