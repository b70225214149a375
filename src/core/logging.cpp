#include "core/logging.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace turbolm::log {
namespace {

Level initial_level() {
    Level lvl = Level::kInfo;
    if (const char* env = std::getenv("TURBOLM_LOG")) parse_level(env, &lvl);
    return lvl;
}

std::atomic<Level>& current() {
    static std::atomic<Level> lvl{initial_level()};
    return lvl;
}

}  // namespace

Level level() { return current().load(std::memory_order_relaxed); }
void set_level(Level lvl) { current().store(lvl, std::memory_order_relaxed); }

bool parse_level(const std::string& name, Level* out) {
    static const struct {
        const char* name;
        Level level;
    } kLevels[] = {{"debug", Level::kDebug}, {"info", Level::kInfo}, {"warn", Level::kWarn},
                   {"error", Level::kError}, {"off", Level::kOff}};
    for (const auto& l : kLevels) {
        if (name == l.name) {
            *out = l.level;
            return true;
        }
    }
    return false;
}

void write(Level lvl, const std::string& message) {
    static const char* kTags[] = {"D", "I", "W", "E"};
    static std::mutex mu;
    auto now = std::chrono::system_clock::now();
    std::time_t secs = std::chrono::system_clock::to_time_t(now);
    int ms = int(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
    std::tm tm{};
    localtime_r(&secs, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
    std::lock_guard lock(mu);
    std::fprintf(stderr, "%s %s.%03d %s\n", kTags[int(lvl)], stamp, ms, message.c_str());
}

}  // namespace turbolm::log
