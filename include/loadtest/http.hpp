// loadtest: a small HTTP/1.1 client for load tests (keep-alive, timeouts, error categories).
#pragma once

#include "loadtest/version.hpp"  // first: the C++20 check, and the User-Agent

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <span>
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

/** The default of `Options::max_body`: 1 MiB. */
inline constexpr std::size_t default_max_body = 1024 * 1024;
/** The largest `Options::max_body` accepted: 1 GiB. */
inline constexpr std::size_t max_body_limit = 1024 * 1024 * 1024;

/** Throws `std::invalid_argument` unless `name: value` may be sent as a request header.
 *
 *  The name must be an RFC 9110 token (letters, digits and ``!#$%&'*+-.^_`|~``; no space, tab,
 *  colon or control character). The value must not contain CR, LF or NUL. `Content-Length` and
 *  `Transfer-Encoding` are refused: the client frames bodies itself (a hand-given length would not
 *  match the body and hang the request until its timeout). The message names the header and the
 *  reason, with control characters escaped. */
void validate_header(std::string_view name, std::string_view value);

/** Which HTTP a `Client` speaks (see http2.hpp for the HTTP/2 side).
 *
 *  - `http1`: HTTP/1.1 (the default).
 *  - `http2`: HTTP/2 over TLS, chosen by ALPN ("h2", then "http/1.1"). When the server does not
 *    pick h2, or the URL is `http://` (cleartext has no ALPN), the client speaks HTTP/1.1 and says
 *    so once on stderr.
 *  - `h2c`: HTTP/2 over cleartext TCP with prior knowledge (RFC 9113 section 3.3); `http://` only.
 */
enum class Protocol : std::uint8_t { http1, http2, h2c };

/** "http1", "http2" or "h2c". */
std::string_view to_string(Protocol p) noexcept;

/** Client settings shared by every request of a `Client`.
 *
 *  `Host` and `User-Agent` in `headers` replace the defaults instead of being sent twice (and a
 *  request's own replace these in turn).
 */
struct Options {
  Duration connect_timeout = std::chrono::seconds(10);  ///< resolve + TCP connect + TLS handshake; (0, 1e9 s]
  Duration request_timeout = std::chrono::seconds(10);  ///< write the request + read the response; (0, 1e9 s]
  bool insecure = false;  ///< HTTPS: skip certificate and host name verification (explicit switch)
  std::string ca_file;    ///< HTTPS: an extra PEM bundle to trust (e.g. a test's self-signed cert)
  std::vector<std::pair<std::string, std::string>> headers;  ///< sent with every request (see validate_header)
  std::string user_agent = "loadtest/" LOADTEST_VERSION_STRING;  ///< default `User-Agent` (a header of that name wins)
  bool keep_alive = true;                   ///< false: one connection per request (HTTP/1.1 only)
  Protocol protocol = Protocol::http1;      ///< HTTP/1.1, HTTP/2 by ALPN, or h2c (prior knowledge)
  /// HTTP/2: streams this client keeps in flight on its connection at most (h2load's `-m`); more
  /// requests wait for a free stream. The server's SETTINGS_MAX_CONCURRENT_STREAMS also applies.
  /// Must be at least 1.
  std::uint32_t max_streams = 100;
  /// The most body bytes kept in `Response::body`, 0..`max_body_limit` (1 GiB); default 1 MiB.
  /// The rest of a longer body is still read (so the connection stays usable) and counted in
  /// `Response::body_size`, but not stored, and `Response::body_truncated` is set: memory per user
  /// stays bounded whatever the server sends.
  std::size_t max_body = default_max_body;

  /** Throws `std::invalid_argument` naming the bad setting: a timeout outside (0, 1e9 s], a
   *  `max_body` above `max_body_limit`, `max_streams` 0, a header `validate_header` refuses, two
   *  `Host` headers, or a user agent with CR, LF or NUL. `Client`'s constructor calls it; call it earlier to refuse a
   *  configuration before a test starts. */
  void validate() const;
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

  /** Throws `std::invalid_argument` for a target with a space, CR, LF or NUL, or a header that
   *  `validate_header` refuses. `Client::request` checks the same and fails the request as
   *  `protocol` instead of throwing. */
  void validate() const;
};

/** What came back: a status, headers and body, or a transport error. */
struct Response {
  int status = 0;    ///< 0 when no (complete) response arrived
  std::string body;  ///< reused between requests (cleared, not reallocated); at most `Options::max_body` bytes
  std::uint64_t body_size = 0;  ///< the body's whole length as received, stored or not
  bool body_truncated = false;  ///< the body was longer than `Options::max_body`: `body` holds its start
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

/** One user's connection to one origin: HTTP/1.1, or HTTP/2 with `Options::protocol`.
 *
 *  Keeps the connection alive between requests and reconnects when the server closed it; a
 *  request on a reused connection that fails before any byte of the response arrived is sent
 *  once more on a fresh connection (as browsers do). Not thread-safe: use it from the coroutines
 *  of one user, on the client's executor.
 *
 *  HTTP/1.1 carries one request at a time. HTTP/2 multiplexes: `request()` may be called from
 *  several coroutines of the same user at once (up to `Options::max_streams` streams in flight,
 *  the rest wait), and `request_all()` sends a batch at once. Each user owns its connection (see
 *  http2.hpp for why).
 */
class Client {
 public:
  /** A client for the origin of `base_url` (its path is only informative: see `base()`).
   *  Throws `std::invalid_argument` for a bad URL, bad options or `https` without TLS support.
   *
   *  Two overloads rather than a defaulted `Options opts = {}`: GCC 12 miscompiles a defaulted
   *  by-value aggregate argument in a `co_await` full-expression, as in
   *  `Client c(co_await asio::this_coro::executor, url);`. */
  Client(boost::asio::any_io_executor ex, std::string_view base_url);
  /** A client for `base_url` with `opts` (see the overload above). */
  Client(boost::asio::any_io_executor ex, std::string_view base_url, Options opts);
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

  /** Sends every request of `reqs` and fills `outs[i]` for `reqs[i]`; returns when all are done.
   *  HTTP/2: all at once on the one connection (each its own stream, at most
   *  `Options::max_streams` in flight). HTTP/1.1 (also after an ALPN fallback): one after another.
   *  Throws `std::invalid_argument` when the spans differ in size. Both spans must stay valid
   *  until it returns. */
  boost::asio::awaitable<void> request_all(std::span<const Request> reqs, std::span<Response> outs);

  /** The protocol in use: `Options::protocol`, or `http1` once an `http2` client fell back. */
  [[nodiscard]] Protocol protocol() const noexcept;

  /** HTTP/2: requests refused by a GOAWAY (or a REFUSED_STREAM reset) before the server processed
   *  them, and therefore sent once more on a new connection. */
  [[nodiscard]] std::uint64_t refused_retries() const noexcept;

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
