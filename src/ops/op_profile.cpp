#include "ops/op_profile.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "ops/ops.h"

namespace turbolm::ops {
namespace {

struct Entry {
    int64_t calls = 0;
    double seconds = 0.0;
};

// The table, printed once when the process exits.
class OpTable {
public:
    void add(const std::string& key, double s) {
        std::lock_guard<std::mutex> lock(mu_);
        Entry& e = entries_[key];
        ++e.calls;
        e.seconds += s;
    }
    ~OpTable() {
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
    std::mutex mu_;
    std::map<std::string, Entry> entries_;
};

OpTable& table() {
    static OpTable t;
    return t;
}

thread_local int t_depth = 0;  // only the outermost op of a nest is timed (linear_forward around ops::linear)

}  // namespace

#ifdef TURBOLM_WITH_CUDA
namespace cuda_ops {
bool capturing();
}
#endif

bool op_profile_enabled() {
    static const bool on = [] {
        const char* v = std::getenv("TURBOLM_OP_PROFILE");
        return v && *v && std::string_view(v) != "0";
    }();
    return on;
}

void OpProfileScope::begin(std::string_view call, const Tensor& a, const Tensor* b) {
    if (a.device() == Device::kCpu || t_depth > 0) return;
#ifdef TURBOLM_WITH_CUDA
    if (cuda_ops::capturing()) return;
#endif
    ++t_depth;
    table();  // constructed before the first use, so destroyed (and printed) after it
    active_ = true;
    device_ = a.device();
    key_ = std::string(call.substr(0, call.find('('))) + "  " + a.describe();
    if (b && b->defined()) key_ += " . " + b->describe();
    synchronize(device_);
    start_ = std::chrono::steady_clock::now();
}

void OpProfileScope::end() {
    synchronize(device_);
    table().add(key_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    --t_depth;
}

}  // namespace turbolm::ops
