// A small Prometheus registry: counters, gauges and histograms with fixed buckets, grouped in
// families of one name and help text, written in the text exposition format 0.0.4. Updates are
// lock-free (counters, gauges) or take one short lock (histograms), so the engine thread can record
// while a scrape reads.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace turbolm::server::metrics {

// Label names and values of one series, in the order they are written.
using Labels = std::vector<std::pair<std::string, std::string>>;

class Metric {
public:
    virtual ~Metric() = default;
    // Appends this series' sample lines under the family `name`.
    virtual void write(std::string& out, const std::string& name, const Labels& labels) const = 0;
};

class Counter : public Metric {
public:
    void inc(double by = 1.0);  // by >= 0: counters never go down
    // Follows a total counted elsewhere (the engine's own counters); never moves backwards.
    void raise_to(double total);
    double value() const { return value_.load(std::memory_order_relaxed); }
    void write(std::string& out, const std::string& name, const Labels& labels) const override;

private:
    std::atomic<double> value_{0.0};
};

class Gauge : public Metric {
public:
    void set(double v) { value_.store(v, std::memory_order_relaxed); }
    double value() const { return value_.load(std::memory_order_relaxed); }
    void write(std::string& out, const std::string& name, const Labels& labels) const override;

private:
    std::atomic<double> value_{0.0};
};

class Histogram : public Metric {
public:
    // upper_bounds: increasing, finite; the +Inf bucket is implied.
    explicit Histogram(std::vector<double> upper_bounds);
    void observe(double v);

    struct Snapshot {
        std::vector<double> upper_bounds;
        std::vector<uint64_t> cumulative;  // one per bound, then +Inf (== count)
        double sum = 0.0;
        uint64_t count = 0;
    };
    Snapshot snapshot() const;
    void write(std::string& out, const std::string& name, const Labels& labels) const override;

private:
    const std::vector<double> upper_bounds_;
    mutable std::mutex mu_;
    std::vector<uint64_t> counts_;  // per bucket, not cumulative; the last is +Inf
    double sum_ = 0.0;
    uint64_t count_ = 0;
};

// Families by name, written in the order they were first registered. Asking again for a name and
// labels returns the same series; asking for a name with another type throws std::invalid_argument.
class Registry {
public:
    Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
    Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
    Histogram& histogram(const std::string& name, const std::string& help, const std::vector<double>& upper_bounds,
                         const Labels& labels = {});

    std::string expose() const;  // the text format, version 0.0.4

private:
    enum class Type { kCounter, kGauge, kHistogram };
    struct Family {
        std::string name, help;
        Type type;
        std::map<Labels, std::unique_ptr<Metric>> series;
    };
    template <typename M, typename Make>
    M& series(const std::string& name, const std::string& help, Type type, const Labels& labels, Make make);

    mutable std::mutex mu_;
    std::vector<std::unique_ptr<Family>> families_;
};

// How a sample value is written: integers without a fraction, +Inf/-Inf/NaN by name, others in the
// shortest form that reads back exactly.
std::string format_value(double v);

inline constexpr const char* kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace turbolm::server::metrics
