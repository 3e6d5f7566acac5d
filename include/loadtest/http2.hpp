// loadtest: HTTP/2 for http::Client (h2 over TLS by ALPN, h2c with prior knowledge), on nghttp2.
//
// Users do not include this header: they set `http::Options::protocol` and keep using
// `http::Client`, `http::Request`, `http::Response` and `http::check_status` (http.hpp).
//
// Connection model: each user owns its connection. A `Session`'s `http()` client is one HTTP/2
// connection carrying up to `Options::max_streams` concurrent streams, the way h2load's `-c`
// (connections) and `-m` (streams per connection) work, and the way a browser tab has one
// connection per origin. Why per user rather than a worker-wide pool:
//   - per-user state stays per user: cookies, the connection's HPACK tables, its flow-control
//     windows and its GOAWAY are that user's, as they would be for a real client;
//   - N users are N connections, so a test's numbers compare with h2load -c N -m M directly;
//   - no locks and no cross-user queueing on the request path (a shared pool would let one slow
//     user's streams delay another's and hide head-of-line effects in the server).
// A test that wants fewer connections than users uses fewer users with more streams each
// (`request_all`, or several coroutines calling `request()`).
//
// Errors map to the shared categories: RST_STREAM with PROTOCOL_ERROR, COMPRESSION_ERROR,
// FRAME_SIZE_ERROR, FLOW_CONTROL_ERROR or STREAM_CLOSED, a malformed frame, a bad HPACK block,
// response headers over 64 KB or a body over 64 MB are `protocol`; other resets, a GOAWAY that ends
// in-flight streams and a closed connection are `reset`; no SETTINGS from the server within the
// connect timeout is `connect_timeout`; no response within the request timeout (e.g. a stream
// window held at 0) is `timeout`. A request refused by GOAWAY (its stream id above last_stream_id)
// or by RST_STREAM REFUSED_STREAM was not processed: it is sent once more on a new connection and
// counted in `Client::refused_retries()`.
#pragma once

#include "loadtest/detail/config.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <span>

#include "loadtest/http.hpp"

namespace loadtest::detail {

using http::CookieJar;
using http::Options;
using http::Protocol;
using http::Request;
using http::Response;
using http::Url;

/** Checks the HTTP/2 side of `opts` for `url`: `max_streams` at least 1, `h2c` only with
 *  `http://`, and HTTP/2 support in the build. Throws `std::invalid_argument` naming the value. */
void validate_protocol(const Url& url, const Options& opts);

/** The HTTP/2 half of `http::Client` (implemented in src/http2_client.cpp; nghttp2 stays there).
 *  Not thread-safe: every call on the client's executor. */
class Http2Client {
 public:
  Http2Client(boost::asio::any_io_executor ex, const Url& base, const Options& opts);
  ~Http2Client();
  Http2Client(const Http2Client&) = delete;
  Http2Client& operator=(const Http2Client&) = delete;

  /** Sends `req` on a stream and fills `out`. Returns false, having sent nothing, when the
   *  client uses HTTP/1.1 instead (ALPN did not choose h2): the caller sends it with HTTP/1.1. */
  boost::asio::awaitable<bool> request(const Request& req, Response& out, CookieJar* jar);
  /** All of `reqs` at once; false as for `request()` (then nothing was sent). */
  boost::asio::awaitable<bool> request_all(std::span<const Request> reqs, std::span<Response> outs, CookieJar* jar);

  /** `http2`/`h2c`, or `http1` after a fallback. */
  [[nodiscard]] Protocol protocol() const noexcept;
  void close() noexcept;
  [[nodiscard]] std::uint64_t connections_opened() const noexcept;
  [[nodiscard]] std::uint64_t refused_retries() const noexcept;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace loadtest::detail
