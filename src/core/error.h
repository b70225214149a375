// Errors inside the library: throw turbolm::Error with a code and a message that names the file,
// tensor or argument involved. The public boundary converts it to a Status (see catch_status).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "turbolm/status.h"

namespace turbolm {

class Error : public std::runtime_error {
public:
    Error(StatusCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
    StatusCode code() const { return code_; }
    Status status() const { return {code_, what()}; }

private:
    StatusCode code_;
};

// Concatenates anything streamable: str_cat("tensor '", name, "' has ", n, " dims").
template <typename... Args>
std::string str_cat(Args&&... args) {
    std::ostringstream out;
    (out << ... << std::forward<Args>(args));
    return out.str();
}

template <typename... Args>
[[noreturn]] void fail(StatusCode code, Args&&... args) {
    throw Error(code, str_cat(std::forward<Args>(args)...));
}

// Runs fn and converts any exception it throws into a Status.
template <typename Fn>
Status catch_status(Fn&& fn) {
    try {
        fn();
        return Status::ok();
    } catch (const Error& e) {
        return e.status();
    } catch (const std::bad_alloc&) {
        return {StatusCode::kResourceExhausted, "out of memory"};
    } catch (const std::exception& e) {
        return {StatusCode::kInternal, e.what()};
    }
}

}  // namespace turbolm

// Invariant checks that stay on in release builds. The message arguments are only evaluated on failure.
#define TURBOLM_CHECK(cond, ...)                                                                          \
    do {                                                                                                  \
        if (!(cond)) [[unlikely]]                                                                         \
            ::turbolm::fail(::turbolm::StatusCode::kInternal, __FILE__, ":", __LINE__, ": check failed: ", \
                            #cond " " __VA_OPT__(, ) __VA_ARGS__);                                        \
    } while (0)

// Validates input: failure is the caller's fault, reported with kInvalidArgument.
#define TURBOLM_REQUIRE(cond, ...)                                                      \
    do {                                                                                \
        if (!(cond)) [[unlikely]]                                                       \
            ::turbolm::fail(::turbolm::StatusCode::kInvalidArgument, __VA_ARGS__);      \
    } while (0)
