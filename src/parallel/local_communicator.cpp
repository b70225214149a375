#include "parallel/local_communicator.h"

#include <cstring>

#include <condition_variable>
#include <mutex>

#include "core/error.h"
#include "parallel/collective_helpers.h"

namespace turbolm {
namespace {

// The rendezvous the collectives are built on: every rank publishes a pointer, waits for the others
// and reads all of them; the collective's last barrier keeps the buffers (and the slots) untouched
// until every rank has read them.
class LocalGroup {
  public:
    LocalGroup(int world, std::mutex* turn) : world_(world), turn_(turn), slots_(static_cast<size_t>(world)) {}
    int world() const { return world_; }

    void exchange(int rank, const void* mine, std::vector<const void*>& all) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            slots_[size_t(rank)] = mine;
        }
        barrier();
        std::lock_guard<std::mutex> lock(mu_);
        all = slots_;
    }

    void barrier() {
        if (turn_) turn_->unlock();  // let the other ranks run up to here
        {
            std::unique_lock<std::mutex> lock(mu_);
            const uint64_t gen = generation_;
            if (++arrived_ == world_) {
                arrived_ = 0;
                ++generation_;
                cv_.notify_all();
            } else {
                cv_.wait(lock, [&] { return generation_ != gen; });
            }
        }
        if (turn_) turn_->lock();
    }

  private:
    const int world_;
    std::mutex* turn_;
    std::mutex mu_;
    std::condition_variable cv_;
    int arrived_ = 0;
    uint64_t generation_ = 0;
    std::vector<const void*> slots_;
};

class LocalCommunicator final : public Communicator {
  public:
    LocalCommunicator(std::shared_ptr<LocalGroup> group, int rank) : group_(std::move(group)), rank_(rank) {}
    int rank() const override { return rank_; }
    int world() const override { return group_->world(); }

    void all_reduce_sum(Tensor& x) override {
        if (x.device() != Device::kCpu) return collective::through_host(x, [&](Tensor& h) { all_reduce_sum(h); });
        require_local(x, "all_reduce_sum");
        // Each rank sums every rank's copy into a private buffer, in rank order, then all write back.
        std::vector<const void*> all;
        group_->exchange(rank_, x.raw_data(), all);
        collective::RankOrderSum sum(x.dtype(), x.numel());
        for (const void* p : all) sum.add(p);
        group_->barrier();  // everyone has read every input
        sum.store(x.raw_data());
        group_->barrier();  // no rank reuses x before all have written
    }

    void all_gather(const Tensor& in, Tensor& out) override {
        if (out.device() != Device::kCpu) {
            const Tensor host_in = in.to_device(Device::kCpu);
            return collective::through_host(out, [&](Tensor& h) { all_gather(host_in, h); });
        }
        require_local(in, "all_gather input");
        require_local(out, "all_gather output");
        TURBOLM_CHECK(out.dtype() == in.dtype() && out.numel() == in.numel() * world(), "all_gather of ", in.describe(),
                      " into ", out.describe());
        std::vector<const void*> all;
        group_->exchange(rank_, in.raw_data(), all);
        for (size_t r = 0; r < all.size(); ++r)
            std::memcpy(static_cast<char*>(out.raw_data()) + r * in.nbytes(), all[r], in.nbytes());
        group_->barrier();
    }

    void broadcast(Tensor& x, int root) override {
        if (x.device() != Device::kCpu) return collective::through_host(x, [&](Tensor& h) { broadcast(h, root); });
        require_local(x, "broadcast");
        TURBOLM_CHECK(root >= 0 && root < world(), "broadcast from rank ", root, " of ", world());
        std::vector<const void*> all;
        group_->exchange(rank_, x.raw_data(), all);
        if (rank_ != root) std::memcpy(x.raw_data(), all[size_t(root)], x.nbytes());
        group_->barrier();
    }

  private:
    static void require_local(const Tensor& t, const char* what) {
        TURBOLM_CHECK(t.device() == Device::kCpu && t.is_contiguous(), what,
                      ": the local communicator takes "
                      "contiguous CPU tensors, not ",
                      t.describe());
    }

    std::shared_ptr<LocalGroup> group_;
    int rank_;
};

class SingleProcessCommunicator final : public Communicator {
  public:
    int rank() const override { return 0; }
    int world() const override { return 1; }
    void all_reduce_sum(Tensor&) override {}
    void all_gather(const Tensor& in, Tensor& out) override {
        TURBOLM_CHECK(out.dtype() == in.dtype() && out.numel() == in.numel(), "all_gather of ", in.describe(), " into ",
                      out.describe());
        if (out.raw_data() != in.raw_data()) out.view(in.shape()).copy_from(in);
    }
    void broadcast(Tensor&, int root) override { TURBOLM_CHECK(root == 0, "broadcast from rank ", root, " of 1"); }
};

}  // namespace

std::shared_ptr<Communicator> single_process_communicator() {
    return std::make_shared<SingleProcessCommunicator>();
}

std::vector<std::shared_ptr<Communicator>> local_communicators(int world, std::mutex* turn) {
    TURBOLM_REQUIRE(world >= 1, "a group of ", world, " ranks");
    auto group = std::make_shared<LocalGroup>(world, turn);
    std::vector<std::shared_ptr<Communicator>> out;
    for (int r = 0; r < world; ++r) out.push_back(std::make_shared<LocalCommunicator>(group, r));
    return out;
}

}  // namespace turbolm
