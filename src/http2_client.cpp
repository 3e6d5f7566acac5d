// loadtest: the HTTP/2 client (nghttp2, sans-I/O, over Asio sockets). nghttp2 stays in this file.
#include "loadtest/http2.hpp"

#include <stdexcept>
#include <string>

#if LOADTEST_HAS_HTTP2
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>

#if LOADTEST_HAS_TLS
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#endif

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "loadtest/cookies.hpp"
#include "loadtest/detail/http_errors.hpp"

namespace loadtest::detail::tls_errors {
bool is_stream_truncated(const boost::system::error_code& ec) noexcept;  // src/http_client.cpp
}
#endif

namespace loadtest::http {

std::string_view to_string(Protocol p) noexcept {
  switch (p) {
    case Protocol::http1: return "http1";
    case Protocol::http2: return "http2";
    case Protocol::h2c: return "h2c";
  }
  return "http1";
}

}  // namespace loadtest::http

namespace loadtest::detail {

using http::Method;

void validate_protocol(const Url& url, const Options& opts) {
  if (opts.max_streams == 0)
    throw std::invalid_argument("invalid max_streams '0': must be at least 1 (streams in flight per connection)");
  if (opts.protocol == Protocol::h2c && url.tls())
    throw std::invalid_argument("invalid protocol 'h2c' for an https URL: h2c is HTTP/2 over cleartext; use http2 "
                                "(ALPN) for https, or an http:// URL");
#if !LOADTEST_HAS_HTTP2
  if (opts.protocol != Protocol::http1)
    throw std::invalid_argument("invalid protocol '" + std::string(to_string(opts.protocol)) +
                                "': built without HTTP/2 support (libnghttp2; -Dhttp2=enabled)");
#endif
}

#if !LOADTEST_HAS_HTTP2

struct Http2Client::Impl {};
Http2Client::Http2Client(boost::asio::any_io_executor, const Url& base, const Options& opts) {
  validate_protocol(base, opts);
}
Http2Client::~Http2Client() = default;
boost::asio::awaitable<bool> Http2Client::request(const Request&, Response&, CookieJar*) { co_return false; }
boost::asio::awaitable<bool> Http2Client::request_all(std::span<const Request>, std::span<Response>, CookieJar*) {
  co_return false;
}
Protocol Http2Client::protocol() const noexcept { return Protocol::http1; }
void Http2Client::close() noexcept {}
std::uint64_t Http2Client::connections_opened() const noexcept { return 0; }
std::uint64_t Http2Client::refused_retries() const noexcept { return 0; }

#else

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto token = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t header_list_limit = 64 * 1024;  // as HTTP/1.1's header limit
constexpr std::size_t body_limit = 64ull * 1024 * 1024;
constexpr std::int32_t stream_window = 16 * 1024 * 1024;
constexpr std::int32_t connection_window = 64 * 1024 * 1024;
constexpr auto dns_cache_ttl = std::chrono::seconds(60);

std::atomic<bool> fallback_said{false};

void say_fallback(const std::string& where, const char* why) {
  if (!fallback_said.exchange(true))
    std::fprintf(stderr, "loadtest: %s %s: using HTTP/1.1 instead of HTTP/2\n", where.c_str(), why);
}

bool has_crlf(std::string_view s) noexcept { return s.find_first_of("\r\n") != std::string_view::npos; }

// Connection-specific headers are not allowed in HTTP/2 (RFC 9113 section 8.2.2).
bool connection_specific(std::string_view lower) noexcept {
  return lower == "connection" || lower == "keep-alive" || lower == "proxy-connection" ||
         lower == "transfer-encoding" || lower == "upgrade" || lower == "host";
}

std::string lower(std::string_view s) {
  std::string r(s);
  std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return r;
}

// The category of an HTTP/2 error code in RST_STREAM or GOAWAY.
ErrorCategory category_of_h2(std::uint32_t code) noexcept {
  switch (code) {
    case NGHTTP2_PROTOCOL_ERROR:
    case NGHTTP2_COMPRESSION_ERROR:
    case NGHTTP2_FRAME_SIZE_ERROR:
    case NGHTTP2_FLOW_CONTROL_ERROR:
    case NGHTTP2_STREAM_CLOSED:
    case NGHTTP2_HTTP_1_1_REQUIRED: return ErrorCategory::protocol;
    default: return ErrorCategory::reset;
  }
}

std::chrono::seconds parse_delta_seconds(std::string_view v) {
  std::uint64_t s = 0;
  for (char c : v) {
    if (c == ' ' || c == '\t') continue;
    if (c < '0' || c > '9') return std::chrono::seconds(0);
    s = std::min<std::uint64_t>(s * 10 + static_cast<std::uint64_t>(c - '0'), 24 * 3600);
  }
  return std::chrono::seconds(s);
}

#if LOADTEST_HAS_TLS
std::shared_ptr<asio::ssl::context> h2_tls_context(bool insecure, const std::string& ca_file, bool alpn_h2) {
  static std::mutex mutex;
  static std::map<std::tuple<bool, std::string, bool>, std::shared_ptr<asio::ssl::context>> contexts;
  std::lock_guard lock(mutex);
  auto& slot = contexts[{insecure, ca_file, alpn_h2}];
  if (!slot) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3);
    error_code ec;
    ctx->set_default_verify_paths(ec);
    if (!ca_file.empty()) {
      ctx->load_verify_file(ca_file, ec);
      if (ec) throw std::invalid_argument("cannot load CA file '" + ca_file + "': " + ec.message());
    }
    ctx->set_verify_mode(insecure ? asio::ssl::verify_none : asio::ssl::verify_peer);
    if (alpn_h2) {
      static const unsigned char protos[] = "\x02h2\x08http/1.1";
      SSL_CTX_set_alpn_protos(ctx->native_handle(), protos, sizeof protos - 1);
    }
    slot = std::move(ctx);
  }
  return slot;
}
#endif

// What every connection of one client shares.
struct Setup {
  Url base;
  Options opts;
  std::string where;      // "host:port"
  std::string authority;  // :authority
  std::optional<asio::ip::address> literal;
#if LOADTEST_HAS_TLS
  std::shared_ptr<asio::ssl::context> ssl_ctx;
#endif
};

// One request on one connection, owned by the request's coroutine frame.
struct StreamState {
  const Request* req = nullptr;
  Response* out = nullptr;
  std::size_t body_sent = 0;
  std::size_t header_bytes = 0;
  std::size_t header_count = 0;
  bool done = false;
  bool refused = false;  // not processed by the server: may be sent again
  asio::steady_timer* wake = nullptr;
};

enum class Exchange { done, refused, unsent };

}  // namespace

// One TCP (or TLS) connection and its nghttp2 session.
struct Conn : std::enable_shared_from_this<Conn> {
  asio::any_io_executor ex;
  std::shared_ptr<const Setup> setup;
  std::optional<tcp::socket> plain;
#if LOADTEST_HAS_TLS
  std::optional<asio::ssl::stream<tcp::socket>> secure;
#endif
  nghttp2_session* session = nullptr;
  std::unordered_map<std::int32_t, StreamState*> streams;
  std::vector<std::uint8_t> rbuf = std::vector<std::uint8_t>(32 * 1024);
  std::string wbuf;
  bool writing = false;
  bool settings = false;
  bool dead = false;
  bool goaway = false;
  std::int32_t goaway_last = 0;
  std::uint32_t goaway_code = 0;
  std::string local_error;  // what nghttp2 said when it ended the session itself
  ErrorCategory dead_category = ErrorCategory::reset;
  std::string dead_message;
  std::size_t active = 0;
  asio::steady_timer settings_wait;
  std::vector<asio::steady_timer*> slot_waiters;  // requests waiting for a free stream, oldest first

  Conn(asio::any_io_executor e, std::shared_ptr<const Setup> s)
      : ex(std::move(e)), setup(std::move(s)), settings_wait(ex) {}

  void wake_slot_waiters(bool all) {
    if (slot_waiters.empty()) return;
    if (!all) {
      slot_waiters.front()->cancel();
      slot_waiters.erase(slot_waiters.begin());
      return;
    }
    for (auto* t : slot_waiters) t->cancel();
    slot_waiters.clear();
  }
  ~Conn() {
    if (session) nghttp2_session_del(session);
  }

  tcp::socket& socket() {
#if LOADTEST_HAS_TLS
    if (secure) return secure->next_layer();
#endif
    return *plain;
  }

  // New streams may go on this connection.
  bool usable() const noexcept { return !dead && !goaway && settings; }

  void close_socket() noexcept {
    error_code ignored;
#if LOADTEST_HAS_TLS
    if (secure) secure->next_layer().close(ignored);
#endif
    if (plain) plain->close(ignored);
  }

  void finish(StreamState& s, ErrorCategory cat, std::string message, bool refused = false) {
    if (s.done) return;
    s.done = true;
    s.refused = refused;
    if (cat != ErrorCategory::none) {
      s.out->status = 0;
      s.out->body.clear();
      s.out->headers.clear();
      s.out->retry_after = Duration{0};
      s.header_count = 0;
    }
    s.out->category = cat;
    s.out->error = std::move(message);
    if (s.wake) s.wake->cancel();
  }

  // The connection is over: every stream still waiting ends with the reason.
  void die(ErrorCategory cat, std::string message) {
    if (dead) return;
    dead = true;
    dead_category = cat;
    dead_message = std::move(message);
    close_socket();
    for (auto& [id, s] : streams) {
      const bool refused = goaway && id > goaway_last;
      finish(*s, refused ? ErrorCategory::reset : cat,
             refused ? "refused by GOAWAY (" + setup->where + ")" : dead_message, refused);
    }
    settings_wait.cancel();
    wake_slot_waiters(true);
  }

  // Why the session ended, when nghttp2 wants neither to read nor to write.
  void die_of_session_end() {
    if (!local_error.empty()) {
      die(ErrorCategory::protocol, "HTTP/2 protocol error: " + local_error + " (" + setup->where + ")");
    } else if (goaway && goaway_code != NGHTTP2_NO_ERROR) {
      die(category_of_h2(goaway_code),
          std::string("GOAWAY ") + nghttp2_http2_strerror(goaway_code) + " (" + setup->where + ")");
    } else {
      die(ErrorCategory::reset, "connection closed after GOAWAY (" + setup->where + ")");
    }
  }

  void check_end() {
    if (dead || !session) return;
    if (!nghttp2_session_want_read(session) && !nghttp2_session_want_write(session)) die_of_session_end();
    else if (goaway && streams.empty() && !writing) die_of_session_end();  // drained: do not keep it open
  }

  void kick_write() {
    if (writing || dead || !session) return;
    writing = true;
    asio::co_spawn(ex, write_loop(shared_from_this()), asio::detached);
  }

  template <class Buffers>
  asio::awaitable<std::pair<error_code, std::size_t>> write_some_all(const Buffers& b) {
#if LOADTEST_HAS_TLS
    if (secure) {
      auto [ec, n] = co_await asio::async_write(*secure, b, token);
      co_return std::pair{ec, n};
    }
#endif
    auto [ec, n] = co_await asio::async_write(*plain, b, token);
    co_return std::pair{ec, n};
  }

  static asio::awaitable<void> write_loop(std::shared_ptr<Conn> self) {
    for (;;) {
      if (self->dead) break;
      self->wbuf.clear();
      for (;;) {
        const std::uint8_t* data = nullptr;
        ssize_t n = nghttp2_session_mem_send(self->session, &data);
        if (n < 0) {
          self->writing = false;
          self->die(ErrorCategory::protocol, std::string("HTTP/2 error: ") + nghttp2_strerror(static_cast<int>(n)) +
                                                 " (" + self->setup->where + ")");
          co_return;
        }
        if (n == 0) break;
        self->wbuf.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
        if (self->wbuf.size() >= 64 * 1024) break;
      }
      if (self->wbuf.empty()) break;
      auto [ec, n] = co_await self->write_some_all(asio::buffer(self->wbuf));
      (void)n;
      if (ec) {
        self->writing = false;
        self->die(categorize(ec, HttpPhase::write),
                  describe(ec, HttpPhase::write, self->setup->where));
        co_return;
      }
    }
    self->writing = false;
    self->check_end();
  }

  static asio::awaitable<void> read_loop(std::shared_ptr<Conn> self) {
    for (;;) {
      error_code ec;
      std::size_t n = 0;
#if LOADTEST_HAS_TLS
      if (self->secure) std::tie(ec, n) = co_await self->secure->async_read_some(asio::buffer(self->rbuf), token);
      else
#endif
        std::tie(ec, n) = co_await self->plain->async_read_some(asio::buffer(self->rbuf), token);
      if (self->dead) co_return;
      if (ec) {
        if (self->goaway && (ec == asio::error::eof || tls_errors::is_stream_truncated(ec))) {
          self->die_of_session_end();
        } else {
          self->die(categorize(ec, HttpPhase::read),
                    describe(ec, HttpPhase::read, self->setup->where));
        }
        co_return;
      }
      ssize_t rv = nghttp2_session_mem_recv(self->session, self->rbuf.data(), n);
      if (rv < 0) {
        self->die(ErrorCategory::protocol, std::string("HTTP/2 protocol error: ") +
                                               nghttp2_strerror(static_cast<int>(rv)) + " (" + self->setup->where + ")");
        co_return;
      }
      self->kick_write();
      self->check_end();
      if (self->dead) co_return;
    }
  }

  StreamState* find(std::int32_t id) {
    auto it = streams.find(id);
    return it == streams.end() ? nullptr : it->second;
  }

  // ---- nghttp2 callbacks ----
  static Conn& of(void* user) { return *static_cast<Conn*>(user); }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
    auto& c = of(user);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    StreamState* s = c.find(frame->hd.stream_id);
    if (!s || s->done) return 0;
    s->header_bytes += namelen + valuelen + 32;  // RFC 9113's accounting for SETTINGS_MAX_HEADER_LIST_SIZE
    if (s->header_bytes > header_list_limit) {
      c.finish(*s, ErrorCategory::protocol, "response headers larger than 64 KB (" + c.setup->where + ")");
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets the stream
    }
    std::string_view n(reinterpret_cast<const char*>(name), namelen);
    std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    Response& out = *s->out;
    if (n == ":status") {
      int code = 0;
      for (char ch : v) code = code * 10 + (ch - '0');  // nghttp2 checked it is three digits
      out.status = code;
      s->header_count = 0;  // a final response after an interim 1xx starts afresh
      return 0;
    }
    if (!n.empty() && n.front() == ':') return 0;
    if (s->header_count < out.headers.size()) {
      out.headers[s->header_count].first.assign(n);
      out.headers[s->header_count].second.assign(v);
    } else {
      out.headers.emplace_back(std::string(n), std::string(v));
    }
    ++s->header_count;
    if (n == "retry-after") out.retry_after = parse_delta_seconds(v);
    return 0;
  }

  static int on_data(nghttp2_session* session, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                     std::size_t len, void* user) {
    auto& c = of(user);
    StreamState* s = c.find(id);
    if (!s || s->done) return 0;
    if (s->out->body.size() + len > body_limit) {
      c.finish(*s, ErrorCategory::protocol, "response body larger than 64 MB (" + c.setup->where + ")");
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
      return 0;
    }
    if (s->req->method != Method::head) s->out->body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& c = of(user);
    if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
      if (!c.settings) {
        c.settings = true;
        c.settings_wait.cancel();
      }
    } else if (frame->hd.type == NGHTTP2_GOAWAY) {
      c.goaway = true;
      c.goaway_last = frame->goaway.last_stream_id;
      c.goaway_code = frame->goaway.error_code;
      c.wake_slot_waiters(true);  // waiting requests go to a new connection
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* user) {
    auto& c = of(user);
    StreamState* s = c.find(id);
    if (!s || s->done) return 0;
    const std::string at = " (" + c.setup->where + ")";
    if (code == NGHTTP2_NO_ERROR) {
      if (s->out->status == 0) c.finish(*s, ErrorCategory::protocol, "stream ended without a response" + at);
      else c.finish(*s, ErrorCategory::none, {});
    } else if (code == NGHTTP2_REFUSED_STREAM) {
      const bool by_goaway = c.goaway && id > c.goaway_last;
      c.finish(*s, ErrorCategory::reset, (by_goaway ? "refused by GOAWAY" : "stream refused (REFUSED_STREAM)") + at,
               true);
    } else {
      c.finish(*s, category_of_h2(code), std::string("stream reset: ") + nghttp2_http2_strerror(code) + at);
    }
    return 0;
  }

  static int on_frame_not_send(nghttp2_session*, const nghttp2_frame* frame, int lib_error, void* user) {
    auto& c = of(user);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    StreamState* s = c.find(frame->hd.stream_id);
    if (!s) return 0;
    // Not sent at all: after a GOAWAY it may go on a new connection.
    c.finish(*s, ErrorCategory::reset, std::string("request not sent: ") + nghttp2_strerror(lib_error) + " (" +
                                           c.setup->where + ")",
             lib_error == NGHTTP2_ERR_START_STREAM_NOT_ALLOWED || lib_error == NGHTTP2_ERR_STREAM_CLOSING);
    return 0;
  }

  static int on_error(nghttp2_session*, int lib_error, const char* msg, std::size_t len, void* user) {
    auto& c = of(user);
    if (c.local_error.empty() && lib_error != 0) c.local_error.assign(msg, std::min<std::size_t>(len, 200));
    return 0;
  }

  static int on_invalid_frame(nghttp2_session*, const nghttp2_frame* frame, int lib_error, void* user) {
    auto& c = of(user);
    // A stream-level problem in a response header block ends that stream as a protocol error.
    if (StreamState* s = frame->hd.stream_id ? c.find(frame->hd.stream_id) : nullptr)
      c.finish(*s, ErrorCategory::protocol, std::string("malformed response: ") + nghttp2_strerror(lib_error) + " (" +
                                                c.setup->where + ")");
    else if (c.local_error.empty())
      c.local_error = nghttp2_strerror(lib_error);
    return 0;
  }

  // nghttp2 sends GOAWAY only when it ends the session for a connection error.
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& c = of(user);
    if (frame->hd.type == NGHTTP2_GOAWAY && c.local_error.empty())
      c.local_error = std::string("sent GOAWAY ") + nghttp2_http2_strerror(frame->goaway.error_code);
    return 0;
  }

  static ssize_t read_body(nghttp2_session*, std::int32_t id, std::uint8_t* buf, std::size_t len,
                           std::uint32_t* flags, nghttp2_data_source*, void* user) {
    auto& c = of(user);
    StreamState* s = c.find(id);
    if (!s || s->done) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    const std::string& body = s->req->body;
    std::size_t n = std::min(len, body.size() - s->body_sent);
    std::copy_n(body.data() + s->body_sent, n, buf);
    s->body_sent += n;
    if (s->body_sent == body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  // Starts the session: preface, SETTINGS, larger windows.
  bool start_session(std::string& error) {
    static nghttp2_session_callbacks* callbacks = [] {
      nghttp2_session_callbacks* cb = nullptr;
      nghttp2_session_callbacks_new(&cb);
      nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
      nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
      nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
      nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
      nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, on_frame_not_send);
      nghttp2_session_callbacks_set_error_callback2(cb, on_error);
      nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid_frame);
      nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
      return cb;
    }();
    if (int rv = nghttp2_session_client_new(&session, callbacks, this); rv != 0) {
      error = nghttp2_strerror(rv);
      return false;
    }
    const nghttp2_settings_entry entries[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<std::uint32_t>(stream_window)},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(header_list_limit)},
    };
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, entries, std::size(entries));
    nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, connection_window);
    return true;
  }

  // Connects, handshakes (ALPN), starts the session and waits for the server's SETTINGS.
  // Returns false with `out` filled; sets `fallback` when ALPN chose HTTP/1.1.
  asio::awaitable<bool> open(const std::vector<tcp::endpoint>& endpoints, Clock::time_point deadline,
                             Response& out, bool& fallback) {
    auto self = shared_from_this();
    auto fail = [&](ErrorCategory cat, std::string msg) {
      out.category = cat;
      out.error = std::move(msg);
      dead = true;
      close_socket();
    };
    asio::steady_timer timer(ex);
    bool expired = false;
    timer.expires_at(deadline);
    timer.async_wait([weak = weak_from_this(), &expired](error_code ec) {
      if (ec) return;
      if (auto c = weak.lock()) {
        expired = true;
        c->close_socket();
        c->settings_wait.cancel();
      }
    });
    struct CancelTimer {
      asio::steady_timer& t;
      ~CancelTimer() { t.cancel(); }
    } cancel_timer{timer};
#if LOADTEST_HAS_TLS
    if (setup->base.tls()) secure.emplace(ex, *setup->ssl_ctx);
    else
#endif
      plain.emplace(ex);
    auto [cec, ep] = co_await asio::async_connect(socket(), endpoints, token);
    (void)ep;
    if (cec) {
      error_code e = expired ? error_code(asio::error::timed_out) : cec;
      fail(categorize(e, HttpPhase::connect), describe(e, HttpPhase::connect, setup->where));
      co_return false;
    }
    error_code ignored;
    socket().set_option(tcp::no_delay(true), ignored);
#if LOADTEST_HAS_TLS
    if (secure) {
      SSL* ssl = secure->native_handle();
      const auto& host = setup->base.host;
      if (!setup->literal) {
        SSL_set_tlsext_host_name(ssl, host.c_str());
        if (!setup->opts.insecure) secure->set_verify_callback(asio::ssl::host_name_verification(host));
      } else if (!setup->opts.insecure) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
      }
      auto [hec] = co_await secure->async_handshake(asio::ssl::stream_base::client, token);
      if (hec) {
        error_code e = expired ? error_code(asio::error::timed_out) : hec;
        fail(categorize(e, HttpPhase::handshake),
             describe(e, HttpPhase::handshake, setup->where));
        co_return false;
      }
      const unsigned char* alpn = nullptr;
      unsigned alpn_len = 0;
      SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
      std::string_view chosen(reinterpret_cast<const char*>(alpn), alpn_len);
      if (chosen != "h2") {
        if (!chosen.empty() && chosen != "http/1.1") {
          fail(ErrorCategory::protocol, "unknown ALPN answer '" + std::string(chosen) + "' (" + setup->where + ")");
          co_return false;
        }
        fallback = true;
        say_fallback(setup->where, chosen.empty() ? "chose no protocol by ALPN" : "chose http/1.1 by ALPN");
        dead = true;
        // A clean close_notify is not needed: the connection carried no request.
        close_socket();
        co_return false;
      }
    }
#endif
    std::string err;
    if (!start_session(err)) {
      fail(ErrorCategory::protocol, "HTTP/2 session: " + err);
      co_return false;
    }
    asio::co_spawn(ex, read_loop(self), asio::detached);
    kick_write();
    while (!settings && !dead && !expired) co_await settings_wait.async_wait(token);
    if (settings && !dead) co_return true;
    if (expired) {  // the timer closed the socket: the read loop may have ended as "cancelled"
      std::string msg = "no HTTP/2 SETTINGS from the server within " + format_duration(setup->opts.connect_timeout) +
                        " (" + setup->where + ")";
      if (!dead) die(ErrorCategory::connect_timeout, msg);
      if (dead_category == ErrorCategory::cancelled || dead_category == ErrorCategory::reset) {
        dead_category = ErrorCategory::connect_timeout;
        dead_message = std::move(msg);
      }
    }
    out.category = dead_category;
    out.error = dead_message;
    co_return false;
  }

  // One request on this connection.
  asio::awaitable<Exchange> exchange(const Request& req, Response& out, CookieJar* jar, Clock::time_point deadline) {
    auto self = shared_from_this();
    asio::steady_timer wake(ex);
    while (active >= setup->opts.max_streams && !dead && !goaway) {
      if (Clock::now() >= deadline) {
        out.category = ErrorCategory::timeout;
        out.error = "request timeout (" + setup->where + ")";
        co_return Exchange::done;
      }
      slot_waiters.push_back(&wake);
      wake.expires_at(deadline);
      co_await wake.async_wait(token);
      std::erase(slot_waiters, &wake);
    }
    if (dead || goaway) co_return Exchange::unsent;

    // Headers: pseudo-headers, then Options::headers, the request's own, cookies.
    const Options& opts = setup->opts;
    std::vector<std::string> store;
    store.reserve(2 * (opts.headers.size() + req.headers.size()) + 16);
    std::vector<nghttp2_nv> nva;
    nva.reserve(opts.headers.size() + req.headers.size() + 8);
    auto add = [&](std::string name, std::string_view value) {
      store.push_back(std::move(name));
      store.emplace_back(value);
      auto& n = store[store.size() - 2];
      auto& v = store.back();
      nva.push_back({reinterpret_cast<std::uint8_t*>(n.data()), reinterpret_cast<std::uint8_t*>(v.data()), n.size(),
                     v.size(), NGHTTP2_NV_FLAG_NONE});
    };
    std::string authority = setup->authority;
    bool own_agent = false, own_length = false, own_cookie = false;
    for (const auto* list : {&opts.headers, &req.headers})
      for (const auto& [k, v] : *list) {
        if (beast::iequals(k, "host")) authority = v;
        else if (beast::iequals(k, "user-agent")) own_agent = true;
        else if (beast::iequals(k, "content-length")) own_length = true;
        else if (beast::iequals(k, "cookie") && list == &req.headers) own_cookie = true;
      }
    add(":method", to_string(req.method));
    add(":scheme", setup->base.tls() ? "https" : "http");
    add(":authority", authority);
    add(":path", req.target.empty() ? std::string_view("/") : std::string_view(req.target));
    if (!own_agent && !opts.user_agent.empty()) add("user-agent", opts.user_agent);
    for (const auto* list : {&opts.headers, &req.headers})
      for (const auto& [k, v] : *list) {
        std::string name = lower(k);
        if (!connection_specific(name)) add(std::move(name), v);
      }
    const bool has_body = !req.body.empty() || req.method == Method::post || req.method == Method::put ||
                          req.method == Method::patch;
    if (has_body && !own_length) add("content-length", std::to_string(req.body.size()));
    if (jar && !own_cookie) {
      std::string cookie;
      if (jar->append_header_value(setup->base.host, req.target, setup->base.tls(), cookie) > 0)
        add("cookie", cookie);
    }

    StreamState state;
    state.req = &req;
    state.out = &out;
    state.wake = &wake;
    out.status = 0;
    out.body.clear();
    out.retry_after = Duration{0};
    nghttp2_data_provider provider{};
    provider.read_callback = read_body;
    std::int32_t id = nghttp2_submit_request(session, nullptr, nva.data(), nva.size(),
                                             req.body.empty() ? nullptr : &provider, nullptr);
    if (id < 0) {
      out.category = ErrorCategory::protocol;
      out.error = std::string("cannot send request: ") + nghttp2_strerror(id) + " (" + setup->where + ")";
      co_return Exchange::done;
    }
    streams.emplace(id, &state);
    ++active;
    // Also when this frame is destroyed mid-wait (its io_context destroyed): the stream must not
    // stay listed, or a later close() would finish a freed StreamState. `self` outlives this.
    struct Listed {
      Conn& conn;
      std::int32_t id;
      bool listed = true;
      void release() noexcept {
        if (!listed) return;
        listed = false;
        conn.streams.erase(id);
        --conn.active;
      }
      ~Listed() { release(); }
    } listed{*this, id};
    kick_write();
    while (!state.done) {
      if (Clock::now() >= deadline) {
        finish(state, ErrorCategory::timeout, "request timeout (" + setup->where + ")");
        if (!dead) {
          nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
          kick_write();
        }
        break;
      }
      wake.expires_at(deadline);
      co_await wake.async_wait(token);
    }
    listed.release();  // unlisted now: the slot waiters below may take the stream's place
    wake_slot_waiters(false);  // a stream is free
    check_end();
    out.headers.resize(state.header_count);
    if (out.category == ErrorCategory::none && jar) {
      const auto now = WallClock::now();
      for (const auto& [k, v] : out.headers)
        if (k == "set-cookie") jar->store(v, setup->base.host, req.target, now);
    }
    co_return state.refused ? Exchange::refused : Exchange::done;
  }
};

struct Http2Client::Impl : std::enable_shared_from_this<Http2Client::Impl> {
  asio::any_io_executor ex;
  std::shared_ptr<Setup> setup;
  tcp::resolver resolver;
  std::vector<tcp::endpoint> endpoints;
  Clock::time_point resolved_at{};
  std::shared_ptr<Conn> current;
  bool connecting = false;
  asio::steady_timer connect_wait;
  bool fallback = false;
  std::uint64_t opened = 0;
  std::uint64_t refused = 0;

  Impl(asio::any_io_executor e, const Url& base, const Options& opts)
      : ex(std::move(e)), setup(std::make_shared<Setup>()), resolver(ex), connect_wait(ex) {
    validate_protocol(base, opts);
    setup->base = base;
    setup->opts = opts;
    error_code ec;
    auto addr = asio::ip::make_address(base.host, ec);
    if (!ec) setup->literal = addr;
    std::string host = setup->literal && setup->literal->is_v6() ? "[" + base.host + "]" : base.host;
    setup->where = host + ":" + std::to_string(base.port);
    setup->authority = host;
    if (base.port != (base.tls() ? 443 : 80)) setup->authority += ":" + std::to_string(base.port);
    if (opts.protocol == Protocol::http2 && !base.tls()) fallback = true;  // said at the first request
#if LOADTEST_HAS_TLS
    if (base.tls()) setup->ssl_ctx = h2_tls_context(opts.insecure, opts.ca_file, true);
#endif
  }

  void close() noexcept {
    resolver.cancel();
    if (current) {
      current->die(ErrorCategory::cancelled, "request cancelled (" + setup->where + ")");
      current.reset();
    }
  }

  asio::awaitable<error_code> resolve(Clock::time_point deadline) {
    if (setup->literal) {
      if (endpoints.empty()) endpoints.emplace_back(*setup->literal, setup->base.port);
      co_return error_code{};
    }
    if (!endpoints.empty() && Clock::now() - resolved_at < dns_cache_ttl) co_return error_code{};
    asio::steady_timer timer(ex);
    timer.expires_at(deadline);
    timer.async_wait([weak = weak_from_this()](error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->resolver.cancel();
    });
    auto [ec, results] = co_await resolver.async_resolve(setup->base.host, std::to_string(setup->base.port), token);
    timer.cancel();
    if (ec == asio::error::operation_aborted && Clock::now() >= deadline) ec = asio::error::timed_out;
    if (!ec && results.empty()) ec = asio::error::host_not_found;
    if (ec) co_return ec;
    endpoints.clear();
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
    resolved_at = Clock::now();
    co_return error_code{};
  }

  // A usable connection, or null with `out` filled (or `fallback` set).
  asio::awaitable<std::shared_ptr<Conn>> acquire(Response& out) {
    auto self = shared_from_this();
    for (;;) {
      if (fallback) co_return nullptr;
      if (current && current->usable()) co_return current;
      if (!connecting) break;
      co_await connect_wait.async_wait(token);  // the opener set it to never expire
      if (connecting) continue;  // spurious
      if (current && current->usable()) co_return current;
      if (fallback) co_return nullptr;
      // the connection that was being opened failed: try once ourselves
      break;
    }
    connecting = true;
    connect_wait.expires_at(Clock::time_point::max());
    struct Done {
      Impl& i;
      ~Done() {
        i.connecting = false;
        i.connect_wait.cancel();
      }
    } done{*this};
    const auto deadline = Clock::now() + setup->opts.connect_timeout;
    if (auto ec = co_await resolve(deadline)) {
      out.category = categorize(ec, HttpPhase::resolve);
      out.error = describe(ec, HttpPhase::resolve, setup->base.host);
      co_return nullptr;
    }
    auto conn = std::make_shared<Conn>(ex, setup);
    bool fell_back = false;
    bool ok = co_await conn->open(endpoints, deadline, out, fell_back);
    if (fell_back) fallback = true;
    if (!ok) co_return nullptr;
    ++opened;
    current = conn;
    co_return conn;
  }

  static bool valid_request(const Request& req) noexcept {
    if (has_crlf(req.target) || req.target.find(' ') != std::string::npos) return false;
    return std::none_of(req.headers.begin(), req.headers.end(), [](const auto& h) {
      return h.first.empty() || h.first.find_first_of("\r\n: \t") != std::string::npos || has_crlf(h.second);
    });
  }

  asio::awaitable<bool> request(const Request& req, Response& out, CookieJar* jar) {
    auto self = shared_from_this();
    if (fallback) {
      if (!setup->base.tls()) say_fallback(setup->where, "is http:// (no ALPN on cleartext; h2c is prior knowledge)");
      co_return false;
    }
    out.category = ErrorCategory::none;
    out.error.clear();
    if (!valid_request(req)) {
      out.status = 0;
      out.body.clear();
      out.headers.clear();
      out.category = ErrorCategory::protocol;
      out.error = "invalid request: bad target or header (" + setup->where + ")";
      co_return true;
    }
    bool retried = false;
    for (int attempt = 0; attempt < 4; ++attempt) {
      out.category = ErrorCategory::none;
      out.error.clear();
      auto conn = co_await acquire(out);
      if (!conn) {
        if (fallback) co_return false;
        out.status = 0;
        out.body.clear();
        out.headers.clear();
        co_return true;
      }
      // As for HTTP/1.1, the request timeout starts once the connection is there (connect_timeout
      // bounds opening it).
      Exchange x = co_await conn->exchange(req, out, jar, Clock::now() + setup->opts.request_timeout);
      if (x == Exchange::unsent) continue;  // the connection went away before the request was sent
      if (x == Exchange::refused && !retried) {
        retried = true;
        ++refused;  // after GOAWAY acquire() opens a new connection; after REFUSED_STREAM it may reuse this one
        continue;
      }
      co_return true;
    }
    co_return true;
  }

  struct Batch {
    std::size_t pending = 0;
    asio::steady_timer timer;
    explicit Batch(asio::any_io_executor e) : timer(std::move(e)) {}
  };

  static asio::awaitable<void> one(std::shared_ptr<Impl> self, const Request* req, Response* out, CookieJar* jar) {
    const bool sent = co_await self->request(*req, *out, jar);
    if (!sent) {
      out->status = 0;
      out->body.clear();
      out->headers.clear();
      out->category = ErrorCategory::protocol;
      out->error = "server stopped offering h2 (" + self->setup->where + ")";
    }
    co_return;
  }

  asio::awaitable<bool> request_all(std::span<const Request> reqs, std::span<Response> outs, CookieJar* jar) {
    auto self = shared_from_this();
    if (fallback) co_return co_await request(reqs.front(), outs.front(), jar);  // false: nothing sent
    {
      Response probe;
      (void)co_await acquire(probe);  // learns about a fallback before fanning out
      if (fallback) co_return false;
    }
    auto batch = std::make_shared<Batch>(ex);
    batch->pending = reqs.size();
    batch->timer.expires_at(Clock::time_point::max());
    for (std::size_t i = 0; i < reqs.size(); ++i)
      asio::co_spawn(ex, one(self, &reqs[i], &outs[i], jar), [batch](std::exception_ptr) {
        if (--batch->pending == 0) batch->timer.cancel();
      });
    while (batch->pending > 0) co_await batch->timer.async_wait(token);
    co_return true;
  }
};

Http2Client::Http2Client(asio::any_io_executor ex, const Url& base, const Options& opts)
    : impl_(std::make_shared<Impl>(std::move(ex), base, opts)) {}

Http2Client::~Http2Client() {
  if (impl_) impl_->close();
}

asio::awaitable<bool> Http2Client::request(const Request& req, Response& out, CookieJar* jar) {
  auto self = impl_;
  co_return co_await self->request(req, out, jar);
}

asio::awaitable<bool> Http2Client::request_all(std::span<const Request> reqs, std::span<Response> outs,
                                               CookieJar* jar) {
  auto self = impl_;
  if (reqs.empty()) co_return !self->fallback;
  co_return co_await self->request_all(reqs, outs, jar);
}

Protocol Http2Client::protocol() const noexcept {
  return impl_->fallback ? Protocol::http1 : impl_->setup->opts.protocol;
}

void Http2Client::close() noexcept {
  if (impl_) impl_->close();
}

std::uint64_t Http2Client::connections_opened() const noexcept { return impl_->opened; }

std::uint64_t Http2Client::refused_retries() const noexcept { return impl_->refused; }

#endif  // LOADTEST_HAS_HTTP2

}  // namespace loadtest::detail
