// loadtest: a small HTTP/1.1 client for load tests (keep-alive, timeouts, error categories).
#pragma once

#include "loadtest/version.hpp"  // first: the C++20 check, and the User-Agent

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loadtest/outcome.hpp"
#include "loadtest/time.hpp"

namespace loadtest::http {

class CookieJar;  // cookies.hpp

/** An HTTP request method. */
enum class Method : std::uint8_t { get, post, put, patch, delete_, head, options };

/** The method's token as sent on the wire: "GET", "POST", ... */
std::string_view to_string(Method m) noexcept;

/** Parses a method name, case-insensitively ("get", "DELETE").
 *  Throws `std::invalid_argument` naming the text when it is not one of `Method`. */
Method parse_method(std::string_view text);

/** The parts of an absolute `http` or `https` URL that a client needs. */
struct Url {
  std::string scheme;      ///< "http" or "https" (lower case)
  std::string host;        ///< host name or address, without brackets for IPv6
  std::uint16_t port = 0;  ///< explicit port, or 80 / 443
  std::string target;      ///< path and query ("/" when empty); the fragment is dropped

  /** True for `https`. */
  [[nodiscard]] bool tls() const noexcept { return scheme == "https"; }
};

/** Parses an absolute `http` / `https` URL with a host, e.g. `http://127.0.0.1:8080/items?page=2`.
 *  Throws `std::invalid_argument("invalid URL '...': reason")` otherwise. */
Url parse_url(std::string_view text);

/** Client settings shared by every request of a `Client`. */
struct Options {
  Duration connect_timeout = std::chrono::seconds(10);  ///< resolve + TCP connect + TLS handshake
  Duration request_timeout = std::chrono::seconds(10);  ///< write the request + read the response
  bool insecure = false;  ///< HTTPS: skip certificate and host name verification (explicit switch)
  std::string ca_file;    ///< HTTPS: an extra PEM bundle to trust (e.g. a test's self-signed cert)
  std::vector<std::pair<std::string, std::string>> headers;  ///< sent with every request
  std::string user_agent = "loadtest/" LOADTEST_VERSION_STRING;  ///< default `User-Agent` (a header of that name wins)
  bool keep_alive = true;                   ///< false: one connection per request
};

/** One request: method, target, headers and body. */
struct Request {
  Method method = Method::get;
  std::string target = "/";  ///< path and query, sent as is
  std::vector<std::pair<std::string, std::string>> headers;  ///< sent after `Options::headers`
  std::string body;          ///< sent with a `Content-Length`
  /// The endpoint name results are recorded under; `make()` fills "GET /path" (query stripped).
  std::string name;

  /** A request named after its method and path, e.g. "POST /orders". */
  static Request make(Method m, std::string target, std::string body = {});
};

/** What came back: a status, headers and body, or a transport error. */
struct Response {
  int status = 0;    ///< 0 when no (complete) response arrived
  std::string body;  ///< reused between requests (cleared, not reallocated)
  std::vector<std::pair<std::string, std::string>> headers;  ///< in arrival order
  ErrorCategory category = ErrorCategory::none;  ///< transport error category, `none` on a response
  std::string error;              ///< transport error text, empty when none
  Duration retry_after{0};  ///< `Retry-After` (delta-seconds or HTTP-date, at most 24 h), 0 when absent

  /** True when a complete response arrived (whatever its status). */
  [[nodiscard]] bool transport_ok() const noexcept { return category == ErrorCategory::none; }

  /** The first header called `name` (case-insensitive), "" when absent. */
  [[nodiscard]] std::string_view header(std::string_view name) const noexcept;
};

/** An `Outcome` for the engine from a request and its response.
 *
 *  - no response arrived: an error with the transport category and message;
 *  - `status == expected`: a success;
 *  - otherwise a failure with category `http_4xx` / `http_5xx` (`business` for other statuses) and
 *    a message such as "HTTP 503".
 *
 *  `Outcome::name` views `req.name` (the request must outlive recording), `http_status` is set and
 *  `retry_after` copied.
 */
Outcome check_status(const Request& req, const Response& res, int expected = 200);

/** One user's HTTP/1.1 connection to one origin.
 *
 *  Keeps the connection alive between requests and reconnects when the server closed it; a
 *  request on a reused connection that fails before any byte of the response arrived is sent
 *  once more on a fresh connection (as browsers do). One request at a time; not thread-safe:
 *  use it from the coroutine of one user.
 */
class Client {
 public:
  /** A client for the origin of `base_url` (its path is only informative: see `base()`).
   *  Throws `std::invalid_argument` for a bad URL, bad options or `https` without TLS support. */
  Client(boost::asio::any_io_executor ex, std::string_view base_url, Options opts = {});
  /** Closes the connection. */
  ~Client();
  /** Moves the connection. */
  Client(Client&&) noexcept;
  /** Closes this connection and takes the other's. */
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /** Sends `req` and fills `out`. Never throws for transport problems: they land in
   *  `out.category` and `out.error`. Allocation-free in steady state when `out` is reused. */
  boost::asio::awaitable<void> request(const Request& req, Response& out);

  /** Sends `req` and returns a fresh response. */
  boost::asio::awaitable<Response> request(const Request& req);

  /** The parsed base URL. */
  [[nodiscard]] const Url& base() const noexcept;

  /** Drops the connection (the next request opens a new one). */
  void close() noexcept;

  /** How many connections this client opened (keep-alive reuse shows as 1). */
  [[nodiscard]] std::uint64_t connections_opened() const noexcept;

  /** Uses `jar` (not owned; null: none, the default) for cookies: every complete response's
   *  `Set-Cookie` headers are stored in it, and each request that has no `Cookie` header of its own
   *  carries the jar's matching cookies (RFC 6265; see cookies.hpp). `Session::http()` sets the
   *  user's jar. */
  void set_cookie_jar(CookieJar* jar) noexcept;
  /** The cookie jar in use, or null. */
  [[nodiscard]] CookieJar* cookie_jar() const noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with an in-flight request, so destroying a client mid-request is safe
};

}  // namespace loadtest::http
