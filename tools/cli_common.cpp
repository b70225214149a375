#include "cli_common.h"

#include <cstdio>
#include <sstream>

#include "core/error.h"

namespace turbolm::cli {

std::vector<int32_t> parse_id_list(const std::string& text) {
    std::vector<int32_t> ids;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
        if (b == std::string::npos) fail(StatusCode::kInvalidArgument, "empty entry in id list '", text, "'");
        item = item.substr(b, e - b + 1);
        size_t used = 0;
        long long v = 0;
        try {
            v = std::stoll(item, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != item.size() || v < 0 || v > INT32_MAX)
            fail(StatusCode::kInvalidArgument, "'", item, "' is not a token id (a non-negative integer)");
        ids.push_back(int32_t(v));
    }
    if (ids.empty()) fail(StatusCode::kInvalidArgument, "the id list is empty");
    return ids;
}

std::string join_ids(const std::vector<int32_t>& ids) {
    std::string out;
    for (size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
    return out;
}

std::string human_bytes(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 4) {
        bytes /= 1024.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
    return buf;
}

std::string human_count(double n) {
    const char* units[] = {"", " K", " M", " B", " T"};
    int u = 0;
    while (n >= 1000.0 && u < 4) {
        n /= 1000.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.2f%s", n, units[u]);
    return buf;
}

int run_guarded(const std::function<void()>& body) {
    Status s = catch_status(body);
    if (s.is_ok()) return 0;
    std::fprintf(stderr, "error: %s\n", s.to_string().c_str());
    return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

Device parse_device(const std::string& name) {
    if (name == "cpu") return Device::kCpu;
    if (name == "cuda") return Device::kCuda;
    fail(StatusCode::kInvalidArgument, "unknown device '", name, "' (expected cpu or cuda)");
}

const char* build_commit() {
#ifdef TURBOLM_GIT_COMMIT
    return TURBOLM_GIT_COMMIT;
#else
    return "unknown";
#endif
}

}  // namespace turbolm::cli
