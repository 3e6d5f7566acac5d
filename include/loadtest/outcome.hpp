// loadtest: what one action reports back to the engine.
#pragma once

#include "loadtest/detail/config.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace loadtest {

/** How an action ended.
 *
 *  - `success`: the action ran and its result was right (the original `return True`).
 *  - `failure`: the action ran but its result was wrong, e.g. an unexpected HTTP status or body
 *    (the original `return False`).
 *  - `error`: the action could not run to the end: a transport error or an exception
 *    (the original `raise`).
 */
enum class Status : std::uint8_t { success, failure, error };

/** Why an action did not succeed. `none` for successes. */
enum class ErrorCategory : std::uint8_t {
  none,
  dns,              ///< the host name did not resolve
  connect_refused,  ///< nothing listens on the port
  connect_timeout,  ///< the connection was not established in time
  timeout,          ///< the request or response did not complete in time
  reset,            ///< the peer reset or closed the connection mid-exchange
  tls,              ///< TLS handshake or certificate verification failed
  protocol,         ///< the peer spoke malformed HTTP
  http_4xx,         ///< the server answered with a 4xx status
  http_5xx,         ///< the server answered with a 5xx status
  business,         ///< the action's own check failed (wrong body, `return false`)
  exception,        ///< the action threw an exception
  cancelled,        ///< the action was still running when the test ended and was cancelled
  /// a local limit was hit: too many open files (EMFILE, ENFILE: `ulimit -n`) or no free local
  /// port (EADDRNOTAVAIL); the message names the limit. Appended last, so earlier values keep their numbers.
  local_resources,
};

/** Number of `ErrorCategory` values. */
inline constexpr std::size_t error_category_count = 14;

/** The snake_case name of a category, as written in results ("connect_refused"). */
constexpr std::string_view to_string(ErrorCategory c) noexcept {
  constexpr std::array<std::string_view, error_category_count> names{
      "none",     "dns",      "connect_refused", "connect_timeout", "timeout",   "reset",    "tls",
      "protocol", "http_4xx", "http_5xx",        "business",        "exception", "cancelled", "local_resources"};
  return names[static_cast<std::size_t>(c)];
}

/** The lower-case name of a status ("success", "failure", "error"). */
constexpr std::string_view to_string(Status s) noexcept {
  switch (s) {
    case Status::success: return "success";
    case Status::failure: return "failure";
    case Status::error: return "error";
  }
  return "error";
}

/** The category of an HTTP status code: `http_4xx`, `http_5xx` or `none`. */
constexpr ErrorCategory category_of_http_status(int status) noexcept {
  if (status >= 400 && status < 500) return ErrorCategory::http_4xx;
  if (status >= 500 && status < 600) return ErrorCategory::http_5xx;
  return ErrorCategory::none;
}

/** The result of one action (one request, one task, one flow step).
 *
 *  Successes carry no heap data, so recording them never allocates. `name` is the endpoint the
 *  sample is recorded under; when empty, the engine uses the task's name. The string it views must
 *  outlive the test (a literal, or a string held by the test object).
 */
struct Outcome {
  Status status = Status::success;
  ErrorCategory category = ErrorCategory::none;
  std::string_view name{};     ///< endpoint name, e.g. "GET /items"; empty: the task's name
  int http_status = 0;         ///< the HTTP status code, 0 when there was none
  std::string message{};       ///< what went wrong (empty for successes)
  /// A server's `Retry-After`, when it sent one (used by backoff policies); zero otherwise.
  std::chrono::nanoseconds retry_after{0};

  [[nodiscard]] bool ok() const noexcept { return status == Status::success; }

  /** A success, optionally recorded under `endpoint`. */
  static Outcome success(std::string_view endpoint = {}, int http_status = 0) {
    Outcome o;
    o.name = endpoint;
    o.http_status = http_status;
    return o;
  }
  /** A failure: the action ran but its result was wrong. */
  static Outcome failure(std::string message, ErrorCategory category = ErrorCategory::business,
                         std::string_view endpoint = {}) {
    return Outcome{Status::failure, category, endpoint, 0, std::move(message), {}};
  }
  /** An error: the action could not complete. */
  static Outcome error(ErrorCategory category, std::string message, std::string_view endpoint = {}) {
    return Outcome{Status::error, category, endpoint, 0, std::move(message), {}};
  }
  /** The classic hook's bool: `true` is a success, `false` a business failure. */
  static Outcome from_bool(bool ok, std::string_view endpoint = {}) {
    return ok ? success(endpoint) : failure("action returned false", ErrorCategory::business, endpoint);
  }
};

}  // namespace loadtest
