#include "server/api/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace turbolm::server::metrics {

namespace {

bool valid_metric_name(const std::string& name) {
    if (name.empty()) return false;
    for (size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

bool valid_label_name(const std::string& name) {
    if (name.empty() || name == "le") return false;  // "le" belongs to histogram buckets
    for (size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

// The format escapes backslash, double quote and newline in label values; help text escapes
// backslash and newline only.
std::string escape(const std::string& s, bool quotes) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c == '"' && quotes) out += "\\\"";
        else out += c;
    }
    return out;
}

void write_series_name(std::string& out, const std::string& name, const Labels& labels, const char* le = nullptr,
                       const std::string& le_value = {}) {
    out += name;
    if (labels.empty() && !le) return;
    out += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
        if (!first) out += ',';
        first = false;
        out += k;
        out += "=\"";
        out += escape(v, true);
        out += '"';
    }
    if (le) {
        if (!first) out += ',';
        out += le;
        out += "=\"";
        out += le_value;
        out += '"';
    }
    out += '}';
}

void write_sample(std::string& out, const std::string& name, const Labels& labels, double value) {
    write_series_name(out, name, labels);
    out += ' ';
    out += format_value(value);
    out += '\n';
}

}  // namespace

std::string format_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(int64_t(v));
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

void Counter::inc(double by) {
    if (by > 0) value_.fetch_add(by, std::memory_order_relaxed);
}

void Counter::raise_to(double total) {
    double seen = value_.load(std::memory_order_relaxed);
    while (total > seen && !value_.compare_exchange_weak(seen, total, std::memory_order_relaxed)) {
    }
}

void Counter::write(std::string& out, const std::string& name, const Labels& labels) const {
    write_sample(out, name, labels, value());
}

void Gauge::write(std::string& out, const std::string& name, const Labels& labels) const {
    write_sample(out, name, labels, value());
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)), counts_(upper_bounds_.size() + 1, 0) {
    for (size_t i = 0; i < upper_bounds_.size(); ++i) {
        if (!std::isfinite(upper_bounds_[i]) || (i > 0 && upper_bounds_[i] <= upper_bounds_[i - 1]))
            throw std::invalid_argument("histogram bounds must be finite and increasing");
    }
}

void Histogram::observe(double v) {
    // A value equal to a bound belongs to that bucket ("le": less than or equal).
    const size_t bucket = size_t(std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), v) - upper_bounds_.begin());
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_[bucket];
    sum_ += v;
    ++count_;
}

Histogram::Snapshot Histogram::snapshot() const {
    Snapshot s;
    s.upper_bounds = upper_bounds_;
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t running = 0;
    for (uint64_t c : counts_) {
        running += c;
        s.cumulative.push_back(running);
    }
    s.sum = sum_;
    s.count = count_;
    return s;
}

void Histogram::write(std::string& out, const std::string& name, const Labels& labels) const {
    const Snapshot s = snapshot();
    const std::string bucket = name + "_bucket";
    for (size_t i = 0; i <= s.upper_bounds.size(); ++i) {
        const std::string le = i < s.upper_bounds.size() ? format_value(s.upper_bounds[i]) : "+Inf";
        write_series_name(out, bucket, labels, "le", le);
        out += ' ';
        out += std::to_string(s.cumulative[i]);
        out += '\n';
    }
    write_sample(out, name + "_sum", labels, s.sum);
    write_sample(out, name + "_count", labels, double(s.count));
}

template <typename M, typename Make>
M& Registry::series(const std::string& name, const std::string& help, Type type, const Labels& labels, Make make) {
    if (!valid_metric_name(name)) throw std::invalid_argument("bad metric name '" + name + "'");
    for (const auto& [k, v] : labels)
        if (!valid_label_name(k)) throw std::invalid_argument("bad label name '" + k + "' on " + name);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find_if(families_.begin(), families_.end(), [&](const auto& f) { return f->name == name; });
    Family* family;
    if (it == families_.end()) {
        families_.push_back(std::make_unique<Family>(Family{name, help, type, {}}));
        family = families_.back().get();
    } else {
        family = it->get();
        if (family->type != type) throw std::invalid_argument("metric '" + name + "' registered with another type");
    }
    auto& slot = family->series[labels];
    if (!slot) slot = make();
    return static_cast<M&>(*slot);
}

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
    return series<Counter>(name, help, Type::kCounter, labels, [] { return std::make_unique<Counter>(); });
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
    return series<Gauge>(name, help, Type::kGauge, labels, [] { return std::make_unique<Gauge>(); });
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               const std::vector<double>& upper_bounds, const Labels& labels) {
    return series<Histogram>(name, help, Type::kHistogram, labels,
                             [&] { return std::make_unique<Histogram>(upper_bounds); });
}

std::string Registry::expose() const {
    std::string out;
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& f : families_) {
        out += "# HELP " + f->name + " " + escape(f->help, false) + "\n";
        const char* type = f->type == Type::kCounter ? "counter" : f->type == Type::kGauge ? "gauge" : "histogram";
        out += "# TYPE " + f->name + " " + type + "\n";
        for (const auto& [labels, metric] : f->series) metric->write(out, f->name, labels);
    }
    return out;
}

}  // namespace turbolm::server::metrics
