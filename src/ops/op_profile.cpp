#include "ops/op_profile.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>


namespace turbolm::ops {

#ifdef TURBOLM_WITH_CUDA
namespace cuda_ops {
bool capturing();
void* record_time_mark();
float time_between_marks_ms(void* begin, void* end);
void release_time_mark(void* mark);
}  // namespace cuda_ops
#endif

namespace {

struct Entry {
    int64_t calls = 0;
    double seconds = 0.0;
};

// An op whose device time is not read yet: the marks around it on the stream.
struct Pending {
    std::string key;
    void* begin;
    void* end;
};

// The table, printed once when the process exits. Marks are read in batches, so that reading them
// seldom waits for the device.
class OpTable {
public:
    void add(std::string key, void* begin, void* end) {
        std::lock_guard<std::mutex> lock(mu_);
        pending_.push_back({std::move(key), begin, end});
        if (pending_.size() >= kBatch) harvest();
    }
    ~OpTable() {
        try {
            harvest();
        } catch (...) {
            return;  // the device is gone: nothing to print
        }
        if (entries_.empty()) return;
        std::vector<std::pair<std::string, Entry>> rows(entries_.begin(), entries_.end());
        std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
        double total = 0.0;
        for (const auto& r : rows) total += r.second.seconds;
        std::fprintf(stderr, "op profile: %.1f ms in %zu kinds of op\n%8s %10s %10s %6s  %s\n", total * 1e3,
                     rows.size(), "calls", "total ms", "mean us", "share", "op");
        for (size_t i = 0; i < rows.size() && i < 60; ++i) {
            const Entry& e = rows[i].second;
            std::fprintf(stderr, "%8lld %10.2f %10.1f %5.1f%%  %s\n", (long long)e.calls, e.seconds * 1e3,
                         e.seconds / double(e.calls) * 1e6, 100.0 * e.seconds / total, rows[i].first.c_str());
        }
    }

private:
    static constexpr size_t kBatch = 4096;

    void harvest() {
#ifdef TURBOLM_WITH_CUDA
        for (const Pending& p : pending_) {
            Entry& e = entries_[p.key];
            ++e.calls;
            e.seconds += double(cuda_ops::time_between_marks_ms(p.begin, p.end)) * 1e-3;
            cuda_ops::release_time_mark(p.begin);
            cuda_ops::release_time_mark(p.end);
        }
#endif
        pending_.clear();
    }

    std::mutex mu_;
    std::map<std::string, Entry> entries_;
    std::vector<Pending> pending_;
};

OpTable& table() {
    static OpTable t;
    return t;
}

thread_local int t_depth = 0;  // only the outermost op of a nest is timed (linear_forward around ops::linear)

}  // namespace

bool op_profile_enabled() {
    static const bool on = [] {
        const char* v = std::getenv("TURBOLM_OP_PROFILE");
        return v && *v && std::string_view(v) != "0";
    }();
    return on;
}

void OpProfileScope::begin(std::string_view call, const Tensor& a, const Tensor* b) {
#ifdef TURBOLM_WITH_CUDA
    if (a.device() != Device::kCuda || t_depth > 0 || cuda_ops::capturing()) return;
    ++t_depth;
    table();  // constructed before the first use, so destroyed (and printed) after it
    active_ = true;
    key_ = std::string(call.substr(0, call.find('('))) + "  " + a.describe();
    if (b && b->defined()) key_ += " . " + b->describe();
    begin_mark_ = cuda_ops::record_time_mark();
#else
    (void)call, (void)a, (void)b;
#endif
}

void OpProfileScope::end() {
#ifdef TURBOLM_WITH_CUDA
    table().add(std::move(key_), begin_mark_, cuda_ops::record_time_mark());
    --t_depth;
#endif
}

}  // namespace turbolm::ops
