// Minimal leveled logging to stderr. The level comes from TURBOLM_LOG (debug|info|warn|error|off),
// default info. Messages are built only when their level is enabled.
#pragma once

#include <string>

#include "core/error.h"

namespace turbolm::log {

enum class Level { kDebug = 0, kInfo, kWarn, kError, kOff };

Level level();
void set_level(Level level);
bool parse_level(const std::string& name, Level* out);
void write(Level level, const std::string& message);

template <typename... Args>
void debug(Args&&... args) {
    if (level() <= Level::kDebug) write(Level::kDebug, str_cat(std::forward<Args>(args)...));
}
template <typename... Args>
void info(Args&&... args) {
    if (level() <= Level::kInfo) write(Level::kInfo, str_cat(std::forward<Args>(args)...));
}
template <typename... Args>
void warn(Args&&... args) {
    if (level() <= Level::kWarn) write(Level::kWarn, str_cat(std::forward<Args>(args)...));
}
template <typename... Args>
void error(Args&&... args) {
    if (level() <= Level::kError) write(Level::kError, str_cat(std::forward<Args>(args)...));
}

}  // namespace turbolm::log
