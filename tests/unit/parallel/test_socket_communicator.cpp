// The socket communicator (CPU ranks in separate processes, here threads talking over loopback TCP)
// against the in-process group: every collective gives every rank the same bits as the in-process
// communicator does on the same random inputs, and ranks that fall out of step stop with an error.
#include <gtest/gtest.h>

#include <cstring>
#include <exception>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/half.h"
#include "core/tensor.h"
#include "parallel/local_communicator.h"
#include "parallel/socket_communicator.h"
#include "support/rank_threads.h"

namespace turbolm {
namespace {

// fn(rank, communicator) on `world` threads joined through a SocketGroupRoot on loopback; the
// errors of all ranks, in rank order (null where a rank succeeded).
template <typename Fn>
std::vector<std::exception_ptr> run_socket_ranks(int world, Fn&& fn) {
    SocketGroupRoot root;
    std::vector<std::exception_ptr> errors(static_cast<size_t>(world));
    std::vector<std::thread> threads;
    for (int r = 0; r < world; ++r)
        threads.emplace_back([&, r] {
            try {
                auto comm = r == 0 ? root.accept(world, 30) : socket_communicator_member(r, world, root.address(), 30);
                ASSERT_EQ(comm->rank(), r);
                ASSERT_EQ(comm->world(), world);
                fn(r, comm);
            } catch (...) {
                errors[size_t(r)] = std::current_exception();
            }
        });
    for (auto& t : threads) t.join();
    return errors;
}

// Random values of dtype, different for each rank and draw.
Tensor random_tensor(DType dtype, int64_t n, std::mt19937_64& rng) {
    std::normal_distribution<float> d(0.0f, 3.0f);
    Tensor t = Tensor::empty({n}, dtype);
    for (int64_t i = 0; i < n; ++i) {
        const float x = d(rng);
        if (dtype == DType::kF32)
            t.data<float>()[i] = x;
        else
            reinterpret_cast<uint16_t*>(t.raw_data())[i] = dtype == DType::kBF16 ? f32_to_bf16(x) : f32_to_f16(x);
    }
    return t;
}

bool same_bits(const Tensor& a, const Tensor& b) {
    return a.nbytes() == b.nbytes() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

// Each rank's inputs of one round of collectives, drawn up front so that both groups see the same.
struct Round {
    std::vector<Tensor> reduce, gather, bcast;
};

std::vector<Round> draw_rounds(int world, int rounds, uint64_t seed) {
    std::mt19937_64 rng(seed);
    const DType dtypes[] = {DType::kF32, DType::kBF16, DType::kF16};
    std::vector<Round> out(static_cast<size_t>(rounds));
    for (int i = 0; i < rounds; ++i) {
        const DType dt = dtypes[i % 3];
        const int64_t n = 1 + int64_t(rng() % 5000);
        for (int r = 0; r < world; ++r) {
            out[size_t(i)].reduce.push_back(random_tensor(dt, n, rng));
            out[size_t(i)].gather.push_back(random_tensor(dt, n / 2 + 1, rng));
            out[size_t(i)].bcast.push_back(random_tensor(dt, n, rng));
        }
    }
    return out;
}

// Runs the rounds on rank r's communicator; returns its results in order.
std::vector<Tensor> run_rounds(int r, Communicator& comm, const std::vector<Round>& rounds) {
    std::vector<Tensor> results;
    for (size_t i = 0; i < rounds.size(); ++i) {
        const Round& rd = rounds[i];
        Tensor x = rd.reduce[size_t(r)].to(rd.reduce[size_t(r)].dtype());
        comm.all_reduce_sum(x);
        results.push_back(x);
        const Tensor& in = rd.gather[size_t(r)];
        Tensor all = Tensor::empty({comm.world() * in.numel()}, in.dtype());
        comm.all_gather(in, all);
        results.push_back(all);
        Tensor b = rd.bcast[size_t(r)].to(rd.bcast[size_t(r)].dtype());
        comm.broadcast(b, int(i) % comm.world());  // from rank 0, 1, 2, ...
        results.push_back(b);
    }
    return results;
}

TEST(SocketCommunicator, CollectivesMatchTheInProcessGroupBitForBit) {
    const uint64_t seed = std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));
    for (int world : {2, 3, 4}) {
        const auto rounds = draw_rounds(world, 9, seed + uint64_t(world));
        std::vector<std::vector<Tensor>> want(static_cast<size_t>(world)), got(static_cast<size_t>(world));
        test::run_ranks(
            world, [&](int r, const std::shared_ptr<Communicator>& c) { want[size_t(r)] = run_rounds(r, *c, rounds); });
        const auto errors = run_socket_ranks(
            world, [&](int r, const std::shared_ptr<Communicator>& c) { got[size_t(r)] = run_rounds(r, *c, rounds); });
        for (auto& e : errors)
            if (e) std::rethrow_exception(e);
        for (int r = 0; r < world; ++r) {
            ASSERT_EQ(got[size_t(r)].size(), want[size_t(r)].size());
            for (size_t i = 0; i < got[size_t(r)].size(); ++i)
                EXPECT_TRUE(same_bits(got[size_t(r)][i], want[size_t(r)][i]))
                    << "world " << world << " rank " << r << " result " << i << " (" << got[size_t(r)][i].describe()
                    << ")";
            // Every rank holds the same all-reduce and all-gather results as rank 0.
            for (size_t i = 0; i < got[size_t(r)].size(); ++i)
                EXPECT_TRUE(same_bits(got[size_t(r)][i], got[0][i])) << "rank " << r << " result " << i;
        }
    }
}

TEST(SocketCommunicator, RanksOutOfStepStopWithAnError) {
    // Rank 1 gathers while rank 0 reduces: both must fail, naming the mismatch, rather than hang or
    // read one collective's bytes as another's.
    const auto errors = run_socket_ranks(2, [](int r, const std::shared_ptr<Communicator>& c) {
        Tensor x = Tensor::empty({16}, DType::kF32);
        for (int i = 0; i < 16; ++i) x.data<float>()[i] = float(i);
        if (r == 0) {
            c->all_reduce_sum(x);
        } else {
            Tensor all = Tensor::empty({32}, DType::kF32);
            c->all_gather(x, all);
        }
    });
    ASSERT_TRUE(errors[0]) << "rank 0 should have failed";
    ASSERT_TRUE(errors[1]) << "rank 1 should have failed";
    try {
        std::rethrow_exception(errors[0]);
    } catch (const std::exception& e) {
        EXPECT_NE(std::string(e.what()).find("out of step"), std::string::npos) << e.what();
    }
}

TEST(SocketCommunicator, AMemberWithoutARootGivesUpWithAnError) {
    // A port nobody listens on: one a root had, then closed.
    std::string address;
    {
        SocketGroupRoot gone;
        address = gone.address();
    }
    try {
        socket_communicator_member(1, 2, address, 1);
        FAIL() << "joined a group that does not exist";
    } catch (const std::exception& e) {
        EXPECT_NE(std::string(e.what()).find("no rank 0 at " + address), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace turbolm
