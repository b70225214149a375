// The Prometheus registry's text format, and the service's metrics: every sample line parses,
// counters grow by what requests did, histogram buckets are cumulative and end at their count.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "server/api/metrics.h"
#include "server/test_api_support.h"

namespace turbolm::test {
namespace {

using server::metrics::Registry;

TEST(MetricsRegistry, WritesTheTextFormat) {
    Registry r;
    r.counter("requests_total", "Requests.", {{"model_name", "m"}}).inc(3);
    r.gauge("queue", "Queue \\ length\nnow.").set(1.5);
    auto& h = r.histogram("latency_seconds", "Latency.", {0.1, 1.0}, {{"model_name", "m"}});
    h.observe(0.05);
    h.observe(0.1);  // a value on a bound counts in that bucket
    h.observe(5.0);
    EXPECT_EQ(r.expose(),
              "# HELP requests_total Requests.\n"
              "# TYPE requests_total counter\n"
              "requests_total{model_name=\"m\"} 3\n"
              "# HELP queue Queue \\\\ length\\nnow.\n"
              "# TYPE queue gauge\n"
              "queue 1.5\n"
              "# HELP latency_seconds Latency.\n"
              "# TYPE latency_seconds histogram\n"
              "latency_seconds_bucket{model_name=\"m\",le=\"0.1\"} 2\n"
              "latency_seconds_bucket{model_name=\"m\",le=\"1\"} 2\n"
              "latency_seconds_bucket{model_name=\"m\",le=\"+Inf\"} 3\n"
              "latency_seconds_sum{model_name=\"m\"} 5.15\n"
              "latency_seconds_count{model_name=\"m\"} 3\n");
}

TEST(MetricsRegistry, SeriesAreSharedAndTypesChecked) {
    Registry r;
    r.counter("c_total", "C.", {{"reason", "stop"}}).inc();
    r.counter("c_total", "C.", {{"reason", "stop"}}).inc(2);
    r.counter("c_total", "C.", {{"reason", "len\"gth"}}).inc();
    EXPECT_EQ(r.counter("c_total", "C.", {{"reason", "stop"}}).value(), 3.0);
    EXPECT_NE(r.expose().find("c_total{reason=\"len\\\"gth\"} 1\n"), std::string::npos);
    EXPECT_THROW(r.gauge("c_total", "C."), std::invalid_argument);
    EXPECT_THROW(r.counter("bad name", "x"), std::invalid_argument);
    EXPECT_THROW(r.counter("x", "x", {{"le", "1"}}), std::invalid_argument);
    EXPECT_THROW(r.histogram("h", "h", {1.0, 0.5}), std::invalid_argument);
    auto& c = r.counter("engine_total", "Followed.");
    c.raise_to(10);
    c.raise_to(4);  // never backwards
    EXPECT_EQ(c.value(), 10.0);
}

// name{labels} -> value, for every sample line; checks the format of each line on the way.
std::map<std::string, double> parse_samples(const std::string& text) {
    static const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (\S+)$)");
    static const std::regex comment(R"(^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) .*$)");
    std::map<std::string, double> out;
    std::set<std::string> typed;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        std::smatch m;
        if (line.starts_with("#")) {
            EXPECT_TRUE(std::regex_match(line, m, comment)) << line;
            if (m[1] == "TYPE") typed.insert(m[2]);
            continue;
        }
        EXPECT_TRUE(std::regex_match(line, m, sample)) << line;
        if (m.empty()) continue;
        const std::string value = m[m.size() - 1];
        char* end = nullptr;
        const double v = value == "+Inf" ? INFINITY : std::strtod(value.c_str(), &end);
        EXPECT_TRUE(value == "+Inf" || (end && *end == '\0')) << line;
        std::string family = m[1];
        for (const char* suffix : {"_bucket", "_sum", "_count"})
            if (!typed.contains(family) && family.ends_with(suffix)) family.resize(family.size() - std::strlen(suffix));
        EXPECT_TRUE(typed.contains(family)) << "no # TYPE before " << line;
        out[m[1].str() + m[2].str()] = v;
    }
    return out;
}

// The buckets of one histogram are cumulative, and +Inf's is the count.
void expect_histogram_consistent(const std::map<std::string, double>& s, const std::string& name) {
    // Bounds in increasing numeric order, read from the keys.
    std::vector<std::pair<double, double>> by_bound;
    static const std::regex le(R"(le="([^"]+)\")");
    for (const auto& [key, value] : s) {
        std::smatch m;
        if (key.starts_with(name + "_bucket") && std::regex_search(key, m, le))
            by_bound.emplace_back(m[1] == "+Inf" ? INFINITY : std::stod(m[1]), value);
    }
    ASSERT_GT(by_bound.size(), 2u) << name;
    std::sort(by_bound.begin(), by_bound.end());
    for (size_t i = 1; i < by_bound.size(); ++i) EXPECT_LE(by_bound[i - 1].second, by_bound[i].second) << name;
    EXPECT_EQ(by_bound.back().second, s.at(name + "_count{model_name=\"demo\"}")) << name;
}

TEST(ServiceMetrics, CountersGrowWithRequests) {
    auto service = demo_service();
    auto scrape = [&] {
        auto r = get(*service, "/metrics");
        EXPECT_EQ(r->status(), 200);
        EXPECT_EQ(r->content_type(), "text/plain; version=0.0.4; charset=utf-8");
        return parse_samples(r->body());
    };
    const auto before = scrape();
    const std::string L = "{model_name=\"demo\"}";
    for (const char* name : {"turbolm:num_requests_running", "turbolm:num_requests_waiting", "turbolm:kv_cache_usage_perc",
                             "turbolm:prefix_cache_queries_total", "turbolm:prefix_cache_hits_total",
                             "turbolm:num_preemptions_total", "turbolm:prompt_tokens_total",
                             "turbolm:generation_tokens_total", "turbolm:request_failure_total",
                             "turbolm:time_to_first_token_seconds_count", "turbolm:inter_token_latency_seconds_count",
                             "turbolm:e2e_request_latency_seconds_count"})
        EXPECT_TRUE(before.contains(name + L)) << name;

    const auto engine = demo_engine();
    const size_t prompt = tokenize(*engine, "And God said").size();
    auto r = post(*service, "/v1/completions",
                  {{"prompt", "And God said"}, {"max_tokens", 7}, {"ignore_eos", true}, {"n", 2}, {"seed", 3}});
    ASSERT_EQ(r->status(), 200);
    expect_openai_error(*post(*service, "/v1/completions", {{"prompt", 1}}), 400);
    const auto after = scrape();
    auto grew = [&](const std::string& key) { return after.at(key) - (before.contains(key) ? before.at(key) : 0.0); };
    EXPECT_EQ(grew("turbolm:prompt_tokens_total" + L), double(prompt));
    EXPECT_EQ(grew("turbolm:generation_tokens_total" + L), 14.0);
    EXPECT_EQ(grew("turbolm:request_success_total{model_name=\"demo\",finished_reason=\"length\"}"), 2.0);
    EXPECT_EQ(grew("turbolm:time_to_first_token_seconds_count" + L), 2.0);
    EXPECT_EQ(grew("turbolm:inter_token_latency_seconds_count" + L), 12.0);
    EXPECT_EQ(grew("turbolm:e2e_request_latency_seconds_count" + L), 2.0);
    EXPECT_GT(grew("turbolm:e2e_request_latency_seconds_sum" + L), 0.0);
    EXPECT_GE(grew("turbolm:prefix_cache_queries_total" + L), double(prompt));
    EXPECT_EQ(grew("turbolm:http_requests_total{model_name=\"demo\",status=\"400\"}"), 1.0);
    EXPECT_GE(grew("turbolm:http_requests_total{model_name=\"demo\",status=\"200\"}"), 2.0);  // the completion, a scrape
    const double usage = after.at("turbolm:kv_cache_usage_perc" + L);
    EXPECT_GE(usage, 0.0);
    EXPECT_LE(usage, 1.0);
    for (const char* h : {"turbolm:time_to_first_token_seconds", "turbolm:inter_token_latency_seconds",
                          "turbolm:e2e_request_latency_seconds"})
        expect_histogram_consistent(after, h);
}

TEST(ServiceMetrics, ScrapeWhileLoadingListsEveryFamily) {
    server::ServiceOptions options;
    options.served_model_name = kModelName;
    server::ApiService service(options);
    auto r = get(service, "/metrics");
    ASSERT_EQ(r->status(), 200);
    const auto samples = parse_samples(r->body());
    EXPECT_EQ(samples.at("turbolm:num_requests_running{model_name=\"demo\"}"), 0.0);
    EXPECT_EQ(samples.at("turbolm:generation_tokens_total{model_name=\"demo\"}"), 0.0);
}

}  // namespace
}  // namespace turbolm::test
