// loadtest: an embedded HTTP/1.1 and HTTP/2 target server on loopback, for tests, examples and benchmarks.
#pragma once

#include "loadtest/detail/config.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loadtest/time.hpp"

namespace loadtest::testing {

/** How the target answers one path.
 *
 *  Any request may override its route with query parameters: `delay`, `jitter` (durations such as
 *  `20ms`), `status`, `error_status`, `error_rate` (0..1), `size` (a body of that many bytes) and
 *  `fault` (`none`, `close_before_response`, `close_mid_response`), e.g. `/?delay=20ms&status=503`.
 *  A bad value is answered with 400.
 */
struct RouteSpec {
  int status = 200;                        ///< the normal status
  std::string body = "ok\n";               ///< the normal body
  std::string content_type = "text/plain"; ///< `Content-Type` of the answer
  Duration delay{0};                       ///< answer after this long (a timer, never a blocking sleep)
  Duration delay_jitter{0};                ///< plus uniform [0, jitter)
  double error_rate = 0;                   ///< probability of answering `error_status` instead (seeded)
  int error_status = 500;                  ///< the status of injected errors (body "error\n")
  int fail_first = 0;                      ///< the first N requests answer `error_status`, then normal
  /** A connection fault: close after reading the request, or after the headers and half the body. */
  enum class Fault { none, close_before_response, close_mid_response } fault = Fault::none;
  /// Extra response headers (`Set-Cookie`, `Retry-After`, ...); `Connection: close` closes after it.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string require_cookie;  ///< "name=value": answer 401 unless the request's `Cookie` has it
};

/** A Beast HTTP/1.1 server on its own `io_context` and threads: keep-alive, one coroutine per
 *  connection, fast enough for tens of thousands of tiny responses per second on one thread.
 *  Optionally HTTPS (`Options::tls_cert_file`, `Options::tls_key_file`), serving the same way, and
 *  HTTP/2 (h2c by prior knowledge, h2 by ALPN; see `Options::http2`) on nghttp2's server side.
 *
 *  Built-in routes: "/" answers 200 "ok\n", "/health" answers 200; other paths use the default
 *  route (200 "ok\n" unless `set_default` changed it). Every member is thread-safe.
 */
class TargetServer {
 public:
  /** Where and how to serve. */
  struct Options {
    std::string address = "127.0.0.1";  ///< listen address (use loopback)
    std::uint16_t port = 0;             ///< 0: any free port (see `port()`)
    unsigned threads = 1;               ///< server threads
    std::uint64_t seed = 1;             ///< seeds the error and jitter randomness
    /// HTTPS: the server's PEM certificate (chain); with `tls_key_file`, every connection speaks
    /// TLS and `url()` gives `https://`. Both empty (the default): plain HTTP.
    std::string tls_cert_file{};
    std::string tls_key_file{};  ///< HTTPS: the PEM private key of `tls_cert_file`
    /// HTTP/2 (builds with nghttp2): h2c on plain connections that open with the HTTP/2 client
    /// preface (prior knowledge), h2 on TLS connections whose client offers it by ALPN. The same
    /// routes, delays, statuses, error rates, `pause_for` and faults apply per stream (a fault
    /// closes the connection; a `Connection: close` route header becomes a graceful GOAWAY after
    /// the response). false: HTTP/1.1 only (ALPN answers http/1.1).
    bool http2 = true;
  };

  /** Serves with default options (127.0.0.1, any free port, one thread). */
  TargetServer();
  /** Binds and starts serving on its own threads. Throws `std::invalid_argument` for a bad
   *  address, zero threads, only one of the TLS files, a certificate or key that cannot be loaded,
   *  or TLS files in a build without TLS support; `std::runtime_error` with the reason when it
   *  cannot listen. */
  explicit TargetServer(Options opts);
  /** Stops and joins. */
  ~TargetServer();
  TargetServer(const TargetServer&) = delete;
  TargetServer& operator=(const TargetServer&) = delete;

  /** The port it listens on. */
  [[nodiscard]] std::uint16_t port() const noexcept;
  /** "http://127.0.0.1:PORT/path", or "https://..." with TLS (`path` "" gives no trailing slash). */
  [[nodiscard]] std::string url(std::string_view path = "/") const;

  /** Answers the exact `path` (query ignored) as `spec` says; replaces an earlier route. */
  void route(std::string path, RouteSpec spec);
  /** How unrouted paths are answered (default: 200 "ok\n"). */
  void set_default(RouteSpec spec);
  /** A stall: every response due in [now, now + d) is held until now + d. */
  void pause_for(Duration d);

  /** Requests received for `path` (query ignored), counted before the answer is sent. */
  [[nodiscard]] std::uint64_t requests(std::string_view path) const;
  /** Requests received on all paths. */
  [[nodiscard]] std::uint64_t total_requests() const noexcept;
  /** Connections accepted. */
  [[nodiscard]] std::uint64_t connections_accepted() const noexcept;

  /** Stops serving and closes every connection; idempotent. Do not call it from a handler. */
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace loadtest::testing
