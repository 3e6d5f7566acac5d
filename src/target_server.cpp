// loadtest: the embedded target server (Beast). One of the two translation units that hold Beast.
#include "loadtest/testing/target_server.hpp"

#include "loadtest/detail/write_message.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/asio/strand.hpp>
#if LOADTEST_HAS_TLS
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>
#endif
#if LOADTEST_HAS_HTTP2
#include <boost/asio/detached.hpp>
#include <nghttp2/nghttp2.h>
#include <unordered_map>
#endif

#include <array>
#include <atomic>
#include <charconv>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <stdexcept>
#include <thread>

namespace loadtest::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_body_size = 64 * 1024 * 1024;
constexpr auto tls_handshake_timeout = std::chrono::seconds(10);  // also bounds the TLS shutdown

// A route and the number of requests it answered since it was set (for fail_first).
struct RouteState {
  explicit RouteState(RouteSpec s) : spec(std::move(s)) {
    for (const auto& [k, v] : spec.headers)
      if (beast::iequals(k, "connection") && beast::iequals(v, "close")) closes = true;
  }
  RouteSpec spec;
  bool closes = false;  // its headers say `Connection: close`
  std::atomic<std::uint64_t> served{0};
};

// What the parser keeps of a request: the target and the cookies; the body is discarded.
struct RequestInfo {
  std::string target;
  std::string cookie;
  bool head = false;
};

class RequestParser final : public bhttp::basic_parser<true> {
 public:
  explicit RequestParser(RequestInfo& info) : info_(info) {
    info_.target.clear();
    info_.cookie.clear();
    info_.head = false;
    body_limit(max_body_size);
    header_limit(64 * 1024);
  }

 private:
  void on_request_impl(bhttp::verb method, beast::string_view, beast::string_view target, int,
                       error_code&) override {
    info_.head = method == bhttp::verb::head;
    info_.target.assign(target.data(), target.size());
  }
  void on_response_impl(int, beast::string_view, int, error_code&) override {}
  void on_field_impl(bhttp::field f, beast::string_view, beast::string_view value, error_code&) override {
    if (f != bhttp::field::cookie) return;
    if (!info_.cookie.empty()) info_.cookie.append("; ");
    info_.cookie.append(value.data(), value.size());
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(beast::string_view s, error_code&) override { return s.size(); }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view s, error_code&) override { return s.size(); }
  void on_finish_impl(error_code&) override {}

  RequestInfo& info_;
};

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

bool has_cookie(std::string_view header, std::string_view wanted) noexcept {
  while (!header.empty()) {
    auto semi = header.find(';');
    if (trim(header.substr(0, semi)) == wanted) return true;
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return false;
}

template <class T>
bool parse_number(std::string_view text, T& out) noexcept {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size() && !text.empty();
}

void append_number(std::string& s, std::uint64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  s.append(buf, p);
}

// The answer to one request: the route's settings after query overrides.
struct Plan {
  int status = 200;
  std::string_view body;
  std::string owned_body;  // a `size=` body, or an error text
  std::string_view content_type = "text/plain";
  Duration delay{0};
  Duration jitter{0};
  double error_rate = 0;
  int error_status = 500;
  RouteSpec::Fault fault = RouteSpec::Fault::none;
  bool bad_request = false;
};

// Applies `?delay=..&status=..` overrides; a bad value turns the plan into a 400.
void apply_query(std::string_view query, Plan& plan) {
  auto reject = [&](std::string_view item) {
    plan.bad_request = true;
    plan.owned_body = "bad query parameter '" + std::string(item) + "'\n";
  };
  while (!query.empty() && !plan.bad_request) {
    auto amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    try {
      if (key == "delay") {
        plan.delay = parse_duration(value);
      } else if (key == "jitter") {
        plan.jitter = parse_duration(value);
      } else if (key == "status" || key == "error_status") {
        int s = 0;
        if (!parse_number(value, s) || s < 100 || s > 599) reject(item);
        else (key == "status" ? plan.status : plan.error_status) = s;
      } else if (key == "error_rate") {
        double r = 0;
        if (!parse_number(value, r) || !(r >= 0 && r <= 1)) reject(item);
        else plan.error_rate = r;
      } else if (key == "size") {
        std::size_t n = 0;
        if (!parse_number(value, n) || n > max_body_size) reject(item);
        else {
          plan.owned_body.assign(n, 'x');
          plan.body = plan.owned_body;
        }
      } else if (key == "fault") {
        if (value == "none") plan.fault = RouteSpec::Fault::none;
        else if (value == "close_before_response") plan.fault = RouteSpec::Fault::close_before_response;
        else if (value == "close_mid_response") plan.fault = RouteSpec::Fault::close_mid_response;
        else reject(item);
      }
    } catch (const std::invalid_argument&) {
      reject(item);
    }
  }
}

}  // namespace

struct TargetServer::Impl {
  Options opts;
#if LOADTEST_HAS_TLS
  std::optional<asio::ssl::context> tls;  // set: every connection speaks TLS (outlives ioc)
#endif
  std::optional<asio::io_context> ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::uint16_t port = 0;
  std::string base_url;

  mutable std::shared_mutex routes_mutex;
  std::map<std::string, std::shared_ptr<RouteState>, std::less<>> routes;
  std::shared_ptr<RouteState> fallback;

  mutable std::mutex counts_mutex;
  std::map<std::string, std::uint64_t, std::less<>> counts;

  std::atomic<std::uint64_t> total{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<Clock::rep> pause_until{0};
  std::mutex stop_mutex;
  bool stopped = false;

  std::shared_ptr<RouteState> lookup(std::string_view path) const {
    std::shared_lock lock(routes_mutex);
    auto it = routes.find(path);
    return it != routes.end() ? it->second : fallback;
  }

  void count(std::string_view path) {
    total.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(counts_mutex);
    auto it = counts.find(path);
    if (it != counts.end()) ++it->second;
    else counts.emplace(std::string(path), 1);
  }

  // What to answer to one request, and when: the route after query overrides; status from a bad
  // query, a missing cookie, fail_first, error_rate, else normal; due after delay + jitter, held
  // further while the server is paused. Counts the request.
  struct Answer {
    std::shared_ptr<RouteState> route;
    Plan plan;  // its body may view its own owned_body: fill in place, do not move
    bool extra_headers = true;
    Clock::time_point due{};
  };

  void plan_for(Answer& a, std::string_view target, std::string_view cookie, std::mt19937_64& rng,
                std::uniform_real_distribution<double>& unit) {
    auto qpos = target.find('?');
    std::string_view path = target.substr(0, qpos);
    count(path);
    a.route = lookup(path);
    const RouteSpec& spec = a.route->spec;
    Plan& plan = a.plan;
    plan.status = spec.status;
    plan.body = spec.body;
    plan.content_type = spec.content_type;
    plan.delay = spec.delay;
    plan.jitter = spec.delay_jitter;
    plan.error_rate = spec.error_rate;
    plan.error_status = spec.error_status;
    plan.fault = spec.fault;
    if (qpos != std::string_view::npos) apply_query(target.substr(qpos + 1), plan);

    const auto nth = a.route->served.fetch_add(1, std::memory_order_relaxed);
    if (plan.bad_request) {
      plan.status = 400;
      plan.body = plan.owned_body;
      plan.content_type = "text/plain";
      a.extra_headers = false;
    } else if (!spec.require_cookie.empty() && !has_cookie(cookie, spec.require_cookie)) {
      plan.status = 401;
      plan.body = "unauthorized\n";
      plan.content_type = "text/plain";
      a.extra_headers = false;
    } else if (nth < static_cast<std::uint64_t>(std::max(spec.fail_first, 0)) ||
               (plan.error_rate > 0 && unit(rng) < plan.error_rate)) {
      plan.status = plan.error_status;
      plan.body = "error\n";
      plan.content_type = "text/plain";
    }

    a.due = Clock::now() + plan.delay;
    if (plan.jitter > Duration::zero()) a.due += std::chrono::duration_cast<Duration>(plan.jitter * unit(rng));
    const auto paused = Clock::time_point(Clock::duration(pause_until.load(std::memory_order_relaxed)));
    if (paused > a.due) a.due = paused;
  }

  asio::awaitable<void> accept_loop(tcp::acceptor acceptor) {
    asio::steady_timer backoff(acceptor.get_executor());
    for (std::uint64_t index = 0;; ++index) {
      // Each session on its own strand: a TLS handshake timer and an HTTP/2 connection's reader,
      // writer and delayed responses share the session's state.
      asio::any_io_executor session_ex = asio::make_strand(*ioc);
      auto [ec, socket] = co_await acceptor.async_accept(session_ex, as_tuple_awaitable);
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) {  // e.g. out of file descriptors: do not spin
        backoff.expires_after(std::chrono::milliseconds(10));
        co_await backoff.async_wait(as_tuple_awaitable);
        continue;
      }
      accepted.fetch_add(1, std::memory_order_relaxed);
      error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
#if LOADTEST_HAS_TLS
      if (tls) {
        asio::co_spawn(session_ex, tls_session(std::move(socket), index), [](std::exception_ptr) {});
        continue;
      }
#endif
      asio::co_spawn(session_ex, session(std::move(socket), index), [](std::exception_ptr) {});
    }
  }

  // Plain HTTP: HTTP/1.1, or h2c when the connection opens with the HTTP/2 client preface.
  asio::awaitable<void> session(tcp::socket socket, std::uint64_t index) {
    beast::flat_buffer buffer;
#if LOADTEST_HAS_HTTP2
    if (opts.http2 && co_await starts_with_preface(socket, buffer)) co_await serve_h2(socket, index, buffer);
    else
#endif
      co_await serve(socket, index, buffer);
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    socket.close(ignored);
  }

#if LOADTEST_HAS_TLS
  // HTTPS: a bounded server handshake, serve, a bounded close_notify when the server chose to close.
  asio::awaitable<void> tls_session(tcp::socket socket, std::uint64_t index) {
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
    auto& low = beast::get_lowest_layer(stream);
    low.expires_after(tls_handshake_timeout);
    auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, as_tuple_awaitable);
    low.expires_never();
    beast::flat_buffer buffer;
#if LOADTEST_HAS_HTTP2
    const unsigned char* alpn = nullptr;
    unsigned alpn_len = 0;
    if (!hec) SSL_get0_alpn_selected(stream.native_handle(), &alpn, &alpn_len);
    if (!hec && std::string_view(reinterpret_cast<const char*>(alpn), alpn_len) == "h2") {
      co_await serve_h2(stream, index, buffer);
    } else
#endif
    if (!hec && co_await serve(stream, index, buffer)) {
      low.expires_after(tls_handshake_timeout);
      co_await stream.async_shutdown(as_tuple_awaitable);
    }
    error_code ignored;
    low.socket().shutdown(tcp::socket::shutdown_send, ignored);
    low.socket().close(ignored);
  }
#endif

#if LOADTEST_HAS_HTTP2
  // Reads until the buffer holds the 24-byte HTTP/2 client preface or differs from it.
  static asio::awaitable<bool> starts_with_preface(tcp::socket& socket, beast::flat_buffer& buffer) {
    static constexpr std::string_view preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    for (;;) {
      std::string_view got(static_cast<const char*>(buffer.data().data()), buffer.size());
      const std::size_t n = std::min(got.size(), preface.size());
      if (got.substr(0, n) != preface.substr(0, n)) co_return false;
      if (n == preface.size()) co_return true;
      auto [ec, r] = co_await socket.async_read_some(buffer.prepare(4096), as_tuple_awaitable);
      if (ec) co_return false;  // serve() sees the end of stream
      buffer.commit(r);
    }
  }

  // One HTTP/2 connection: nghttp2's server session fed from the socket. The reader runs in
  // serve_h2(); the writer and each delayed response are coroutines on the session's strand.
  template <class Stream>
  struct H2Conn : std::enable_shared_from_this<H2Conn<Stream>> {
    struct StreamData {
      std::string target, cookie;
      bool head = false;
      bool answered = false;
      std::string body;
      std::size_t sent = 0, limit = 0;  // limit < body.size(): close_mid_response
    };
    Impl& impl;
    Stream& stream;
    asio::any_io_executor ex;
    nghttp2_session* session = nullptr;
    std::unordered_map<std::int32_t, StreamData> streams;
    std::mt19937_64 rng;
    std::uniform_real_distribution<double> unit{0.0, 1.0};
    std::string wbuf;
    bool writing = false, closed = false, close_after_write = false;
    asio::steady_timer writer_done;

    H2Conn(Impl& i, Stream& s, std::uint64_t index)
        : impl(i), stream(s), ex(s.get_executor()), rng(i.opts.seed + index * 0x9E3779B97F4A7C15ull), writer_done(ex) {}
    ~H2Conn() {
      if (session) nghttp2_session_del(session);
    }

    void close() {
      if (closed) return;
      closed = true;
      error_code ignored;
      auto& low = beast::get_lowest_layer(stream);
      if constexpr (requires { low.socket(); }) low.socket().close(ignored);
      else low.close(ignored);
    }

    void kick_write() {
      if (writing || closed) return;
      writing = true;
      asio::co_spawn(ex, write_loop(this->shared_from_this()), asio::detached);
    }

    static asio::awaitable<void> write_loop(std::shared_ptr<H2Conn> self) {
      while (!self->closed) {
        self->wbuf.clear();
        for (;;) {
          const std::uint8_t* data = nullptr;
          ssize_t n = nghttp2_session_mem_send(self->session, &data);
          if (n < 0) {
            self->close();
            break;
          }
          if (n == 0) break;
          self->wbuf.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
          if (self->wbuf.size() >= 64 * 1024) break;
        }
        if (self->wbuf.empty() || self->closed) break;
        auto [ec, n] = co_await asio::async_write(self->stream, asio::buffer(self->wbuf), as_tuple_awaitable);
        (void)n;
        if (ec) self->close();
        if (self->close_after_write) self->close();  // close_mid_response: half the body is out
      }
      if (!self->closed && !nghttp2_session_want_read(self->session) && !nghttp2_session_want_write(self->session))
        self->close();
      self->writing = false;
      self->writer_done.cancel();
    }

    static H2Conn& of(void* user) { return *static_cast<H2Conn*>(user); }

    static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
      if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
        of(user).streams.try_emplace(frame->hd.stream_id);
      return 0;
    }

    static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                         const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
      auto it = of(user).streams.find(frame->hd.stream_id);
      if (it == of(user).streams.end()) return 0;
      std::string_view n(reinterpret_cast<const char*>(name), namelen);
      std::string_view v(reinterpret_cast<const char*>(value), valuelen);
      auto& sd = it->second;
      if (n == ":path") sd.target.assign(v);
      else if (n == ":method") sd.head = v == "HEAD";
      else if (n == "cookie") {
        if (!sd.cookie.empty()) sd.cookie.append("; ");
        sd.cookie.append(v);
      }
      return 0;
    }

    static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
      auto& c = of(user);
      if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
          (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        c.on_request(frame->hd.stream_id);
      return 0;
    }

    static int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t, void* user) {
      of(user).streams.erase(id);
      return 0;
    }

    static ssize_t read_body(nghttp2_session*, std::int32_t id, std::uint8_t* buf, std::size_t len,
                             std::uint32_t* flags, nghttp2_data_source*, void* user) {
      auto& c = of(user);
      auto it = c.streams.find(id);
      if (it == c.streams.end()) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      auto& sd = it->second;
      const std::size_t n = std::min(len, sd.limit - sd.sent);
      std::memcpy(buf, sd.body.data() + sd.sent, n);
      sd.sent += n;
      if (sd.sent == sd.body.size()) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
      } else if (sd.sent == sd.limit) {
        c.close_after_write = true;
        if (n == 0) return NGHTTP2_ERR_DEFERRED;
      }
      return static_cast<ssize_t>(n);
    }

    void on_request(std::int32_t id) {
      auto it = streams.find(id);
      if (it == streams.end() || it->second.answered) return;
      it->second.answered = true;
      asio::co_spawn(ex, respond(this->shared_from_this(), id), asio::detached);
    }

    static asio::awaitable<void> respond(std::shared_ptr<H2Conn> self, std::int32_t id) {
      auto it = self->streams.find(id);
      Answer answer;
      self->impl.plan_for(answer, it->second.target, it->second.cookie, self->rng, self->unit);
      const Plan& plan = answer.plan;
      if (answer.due > Clock::now()) {
        asio::steady_timer timer(self->ex);
        timer.expires_at(answer.due);
        co_await timer.async_wait(as_tuple_awaitable);
      }
      if (self->closed) co_return;
      it = self->streams.find(id);
      if (it == self->streams.end()) co_return;  // reset by the client meanwhile
      if (plan.fault == RouteSpec::Fault::close_before_response) {
        self->close();
        co_return;
      }
      auto& sd = it->second;
      if (!sd.head) sd.body.assign(plan.body);
      sd.limit = plan.fault == RouteSpec::Fault::close_mid_response ? sd.body.size() / 2 : sd.body.size();
      std::vector<std::string> store;
      store.reserve(8 + 2 * answer.route->spec.headers.size());
      std::vector<nghttp2_nv> nva;
      auto add = [&](std::string name, std::string value) {
        store.push_back(std::move(name));
        store.push_back(std::move(value));
        auto& n = store[store.size() - 2];
        auto& v = store.back();
        nva.push_back({reinterpret_cast<std::uint8_t*>(n.data()), reinterpret_cast<std::uint8_t*>(v.data()), n.size(),
                       v.size(), NGHTTP2_NV_FLAG_NONE});
      };
      add(":status", std::to_string(plan.status));
      add("content-type", std::string(plan.content_type));
      add("content-length", std::to_string(plan.body.size()));
      if (answer.extra_headers)
        for (const auto& [k, v] : answer.route->spec.headers) {
          std::string name = k;
          std::transform(name.begin(), name.end(), name.begin(),
                         [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
          if (name == "connection" || name == "keep-alive" || name == "transfer-encoding" || name == "upgrade")
            continue;  // connection-specific: not in HTTP/2
          add(std::move(name), v);
        }
      nghttp2_data_provider provider{};
      provider.read_callback = read_body;
      nghttp2_submit_response(self->session, id, nva.data(), nva.size(), sd.head ? nullptr : &provider);
      // `Connection: close` in the route's headers: a graceful GOAWAY after this response (the
      // streams already received still get their answers; then the connection closes).
      if (answer.extra_headers && answer.route->closes)
        nghttp2_submit_goaway(self->session, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(self->session),
                              NGHTTP2_NO_ERROR, nullptr, 0);
      self->kick_write();
    }

    bool start() {
      static nghttp2_session_callbacks* callbacks = [] {
        nghttp2_session_callbacks* cb = nullptr;
        nghttp2_session_callbacks_new(&cb);
        nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
        return cb;
      }();
      if (nghttp2_session_server_new(&session, callbacks, this) != 0) return false;
      const nghttp2_settings_entry entries[] = {
          {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 256},
          {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
      };
      nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, entries, std::size(entries));
      return true;
    }

    bool feed(const void* data, std::size_t n) {
      if (nghttp2_session_mem_recv(session, static_cast<const std::uint8_t*>(data), n) < 0) return false;
      kick_write();
      return true;
    }
  };

  // Serves one HTTP/2 connection until it ends; `buffer` holds what was read already (the preface).
  template <class Stream>
  asio::awaitable<void> serve_h2(Stream& stream, std::uint64_t index, beast::flat_buffer& buffer) {
    auto conn = std::make_shared<H2Conn<Stream>>(*this, stream, index);
    if (!conn->start()) co_return;
    conn->writer_done.expires_at(Clock::time_point::max());
    bool ok = conn->feed(buffer.data().data(), buffer.size());
    buffer.consume(buffer.size());
    conn->kick_write();
    std::vector<char> rbuf(32 * 1024);
    while (ok && !conn->closed) {
      auto [ec, n] = co_await stream.async_read_some(asio::buffer(rbuf), as_tuple_awaitable);
      if (ec) break;
      ok = conn->feed(rbuf.data(), n);
      if (!nghttp2_session_want_read(conn->session) && !nghttp2_session_want_write(conn->session)) break;
    }
    conn->close();
    while (conn->writing) co_await conn->writer_done.async_wait(as_tuple_awaitable);
  }
#endif

  // Answers requests on one connection until it ends; true when the server closed it after a
  // complete response (`Connection: close`), false on end of stream, an error or a fault.
  template <class Stream>
  asio::awaitable<bool> serve(Stream& stream, std::uint64_t index, beast::flat_buffer& buffer) {
    bool graceful = false;
    RequestInfo info;
    std::string head;
    std::mt19937_64 rng(opts.seed + index * 0x9E3779B97F4A7C15ull);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    asio::steady_timer timer(stream.get_executor());
    for (;;) {
      bool keep_alive = false;
      {
        RequestParser parser(info);
        auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, as_tuple_awaitable);
        (void)n;
        if (ec) break;  // end of stream, or garbage: just close
        keep_alive = parser.keep_alive();
      }
      Answer answer;
      plan_for(answer, info.target, info.cookie, rng, unit);
      const RouteSpec& spec = answer.route->spec;
      const auto& route = answer.route;
      Plan& plan = answer.plan;
      const bool extra_headers = answer.extra_headers;
      if (answer.due > Clock::now()) {
        timer.expires_at(answer.due);
        auto [tec] = co_await timer.async_wait(as_tuple_awaitable);
        if (tec) break;
      }

      if (plan.fault == RouteSpec::Fault::close_before_response) break;

      const bool close = !keep_alive || (extra_headers && route->closes);
      head.clear();
      head.append("HTTP/1.1 ");
      append_number(head, static_cast<std::uint64_t>(plan.status));
      head.append(" ");
      auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(plan.status));
      head.append(reason.data(), reason.size());
      head.append("\r\nContent-Type: ").append(plan.content_type);
      head.append("\r\nContent-Length: ");
      append_number(head, plan.body.size());
      head.append("\r\n");
      if (extra_headers)
        for (const auto& [k, v] : spec.headers) head.append(k).append(": ").append(v).append("\r\n");
      if (close && !(extra_headers && route->closes)) head.append("Connection: close\r\n");
      head.append("\r\n");

      std::string_view body = info.head ? std::string_view{} : plan.body;
      const bool mid = plan.fault == RouteSpec::Fault::close_mid_response;
      if (mid) body = body.substr(0, body.size() / 2);
      boost::system::error_code wec = co_await detail::write_message(stream, head, body);
      if (wec || mid) break;
      if (close) {
        graceful = true;
        break;
      }
    }
    co_return graceful;
  }
};

TargetServer::TargetServer() : TargetServer(Options{}) {}

TargetServer::TargetServer(Options opts) : impl_(std::make_unique<Impl>()) {
  if (opts.threads == 0) throw std::invalid_argument("invalid thread count '0': must be at least 1");
  error_code ec;
  auto address = asio::ip::make_address(opts.address, ec);
  if (ec) throw std::invalid_argument("invalid address '" + opts.address + "': " + ec.message());
  auto& impl = *impl_;
  impl.opts = std::move(opts);
  impl.fallback = std::make_shared<RouteState>(RouteSpec{});
  impl.routes.emplace("/", std::make_shared<RouteState>(RouteSpec{}));
  impl.routes.emplace("/health", std::make_shared<RouteState>(RouteSpec{}));
  if (!impl.opts.tls_cert_file.empty() || !impl.opts.tls_key_file.empty()) {
    const auto& cert = impl.opts.tls_cert_file;
    const auto& key = impl.opts.tls_key_file;
#if LOADTEST_HAS_TLS
    if (cert.empty() || key.empty())
      throw std::invalid_argument("invalid TLS options: tls_cert_file '" + cert + "' and tls_key_file '" + key +
                                  "' must both be set");
    auto& ctx = impl.tls.emplace(asio::ssl::context::tls_server);
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3);
    ctx.use_certificate_chain_file(cert, ec);
    if (ec) throw std::invalid_argument("cannot load TLS certificate '" + cert + "': " + ec.message());
    ctx.use_private_key_file(key, asio::ssl::context::pem, ec);  // also checks it matches the certificate
    if (ec) throw std::invalid_argument("cannot load TLS key '" + key + "': " + ec.message());
#if LOADTEST_HAS_HTTP2
    // ALPN: h2 when the client offers it (and Options::http2), else http/1.1.
    SSL_CTX_set_alpn_select_cb(
        ctx.native_handle(),
        [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
           void* arg) -> int {
          const bool h2 = *static_cast<bool*>(arg);
          for (const char* want : {h2 ? "h2" : "", "http/1.1"}) {
            const std::size_t wl = std::strlen(want);
            if (wl == 0) continue;
            for (unsigned i = 0; i < inlen;) {
              const unsigned l = in[i];
              if (i + 1 + l > inlen) break;
              if (l == wl && std::memcmp(in + i + 1, want, wl) == 0) {
                *out = in + i + 1;
                *outlen = static_cast<unsigned char>(l);
                return SSL_TLSEXT_ERR_OK;
              }
              i += 1 + l;
            }
          }
          return SSL_TLSEXT_ERR_NOACK;
        },
        &impl.opts.http2);
#endif
#else
    throw std::invalid_argument("invalid TLS options: tls_cert_file '" + cert + "', tls_key_file '" + key +
                                "': built without TLS support (OpenSSL)");
#endif
  }
  impl.ioc.emplace(static_cast<int>(impl.opts.threads));

  tcp::endpoint endpoint(address, impl.opts.port);
  tcp::acceptor acceptor(*impl.ioc);
  auto fail = [&](const char* what) {
    return std::runtime_error("cannot listen on " + impl.opts.address + ":" + std::to_string(impl.opts.port) +
                              ": " + what + ": " + ec.message());
  };
  acceptor.open(endpoint.protocol(), ec);
  if (ec) throw fail("open");
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) throw fail("reuse_address");
  acceptor.bind(endpoint, ec);
  if (ec) throw fail("bind");
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw fail("listen");
  impl.port = acceptor.local_endpoint().port();
  std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  bool https = false;
#if LOADTEST_HAS_TLS
  https = impl.tls.has_value();
#endif
  impl.base_url = (https ? "https://" : "http://") + host + ":" + std::to_string(impl.port);

  asio::co_spawn(*impl.ioc, impl.accept_loop(std::move(acceptor)), [](std::exception_ptr) {});
  impl.work.emplace(impl.ioc->get_executor());
  for (unsigned i = 0; i < impl.opts.threads; ++i) impl.threads.emplace_back([&impl] { impl.ioc->run(); });
}

TargetServer::~TargetServer() { stop(); }

std::uint16_t TargetServer::port() const noexcept { return impl_->port; }

std::string TargetServer::url(std::string_view path) const {
  std::string u = impl_->base_url;
  if (!path.empty() && path.front() != '/') u += '/';
  u.append(path);
  return u;
}

void TargetServer::route(std::string path, RouteSpec spec) {
  auto state = std::make_shared<RouteState>(std::move(spec));
  std::unique_lock lock(impl_->routes_mutex);
  impl_->routes.insert_or_assign(std::move(path), std::move(state));
}

void TargetServer::set_default(RouteSpec spec) {
  auto state = std::make_shared<RouteState>(std::move(spec));
  std::unique_lock lock(impl_->routes_mutex);
  impl_->fallback = std::move(state);
}

void TargetServer::pause_for(Duration d) {
  const auto until = (Clock::now() + d).time_since_epoch().count();
  auto current = impl_->pause_until.load();
  while (current < until && !impl_->pause_until.compare_exchange_weak(current, until)) {
  }
}

std::uint64_t TargetServer::requests(std::string_view path) const {
  std::lock_guard lock(impl_->counts_mutex);
  auto it = impl_->counts.find(path);
  return it == impl_->counts.end() ? 0 : it->second;
}

std::uint64_t TargetServer::total_requests() const noexcept { return impl_->total.load(); }

std::uint64_t TargetServer::connections_accepted() const noexcept { return impl_->accepted.load(); }

void TargetServer::stop() {
  std::lock_guard lock(impl_->stop_mutex);
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->work.reset();
  if (impl_->ioc) impl_->ioc->stop();
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->threads.clear();
  impl_->ioc.reset();  // destroys the acceptor and every session: their sockets close
}

}  // namespace loadtest::testing
