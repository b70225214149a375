// Status and Expected<T>: how the public API reports failure. Internals throw turbolm::Error; the
// boundary (CLI, engine API, server) turns it into a Status so that one bad input never ends the process.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace turbolm {

enum class StatusCode {
    kOk = 0,
    kInvalidArgument,   // the caller's input is wrong (bad request, bad flag)
    kNotFound,          // a file, tensor or model that should exist does not
    kDataLoss,          // a file exists but is truncated or corrupt
    kUnimplemented,     // valid input that this build does not support (an unknown architecture)
    kResourceExhausted, // out of memory, KV cache full
    kOutOfRange,        // a prompt longer than the context, an id outside the vocabulary
    kCancelled,
    kInternal,          // a bug: an invariant did not hold
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
public:
    Status() = default;
    Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

    static Status ok() { return {}; }
    bool is_ok() const { return code_ == StatusCode::kOk; }
    explicit operator bool() const { return is_ok(); }
    StatusCode code() const { return code_; }
    const std::string& message() const { return message_; }
    // "NotFound: model.safetensors: tensor 'lm_head.weight' is missing"
    std::string to_string() const;

private:
    StatusCode code_ = StatusCode::kOk;
    std::string message_;
};

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Expected {
public:
    Expected(T value) : state_(std::move(value)) {}  // NOLINT: implicit on purpose, like std::expected
    Expected(Status status) : state_(std::move(status)) { assert(!std::get<Status>(state_).is_ok()); }

    bool has_value() const { return std::holds_alternative<T>(state_); }
    explicit operator bool() const { return has_value(); }
    T& value() & { return std::get<T>(state_); }
    const T& value() const& { return std::get<T>(state_); }
    T&& value() && { return std::get<T>(std::move(state_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    Status status() const { return has_value() ? Status::ok() : std::get<Status>(state_); }

private:
    std::variant<T, Status> state_;
};

}  // namespace turbolm
