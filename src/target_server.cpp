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
#if LOADTEST_HAS_TLS
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#endif

#include <array>
#include <atomic>
#include <charconv>
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

  asio::awaitable<void> accept_loop(tcp::acceptor acceptor) {
    asio::steady_timer backoff(acceptor.get_executor());
    for (std::uint64_t index = 0;; ++index) {
      // A TLS session times its handshake with a tcp_stream timer: it runs on its own strand.
      asio::any_io_executor session_ex = acceptor.get_executor();
#if LOADTEST_HAS_TLS
      if (tls) session_ex = asio::make_strand(*ioc);
#endif
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

  // Plain HTTP: serve, then close.
  asio::awaitable<void> session(tcp::socket socket, std::uint64_t index) {
    co_await serve(socket, index);
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
    if (!hec && co_await serve(stream, index)) {
      low.expires_after(tls_handshake_timeout);
      co_await stream.async_shutdown(as_tuple_awaitable);
    }
    error_code ignored;
    low.socket().shutdown(tcp::socket::shutdown_send, ignored);
    low.socket().close(ignored);
  }
#endif

  // Answers requests on one connection until it ends; true when the server closed it after a
  // complete response (`Connection: close`), false on end of stream, an error or a fault.
  template <class Stream>
  asio::awaitable<bool> serve(Stream& stream, std::uint64_t index) {
    bool graceful = false;
    beast::flat_buffer buffer;
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
      std::string_view target = info.target;
      auto qpos = target.find('?');
      std::string_view path = target.substr(0, qpos);
      count(path);

      auto route = lookup(path);
      const RouteSpec& spec = route->spec;
      Plan plan;
      plan.status = spec.status;
      plan.body = spec.body;
      plan.content_type = spec.content_type;
      plan.delay = spec.delay;
      plan.jitter = spec.delay_jitter;
      plan.error_rate = spec.error_rate;
      plan.error_status = spec.error_status;
      plan.fault = spec.fault;
      if (qpos != std::string_view::npos) apply_query(target.substr(qpos + 1), plan);

      // Status: bad query, missing cookie, fail_first, error_rate, else normal.
      const auto nth = route->served.fetch_add(1, std::memory_order_relaxed);
      bool extra_headers = true;
      if (plan.bad_request) {
        plan.status = 400;
        plan.body = plan.owned_body;
        plan.content_type = "text/plain";
        extra_headers = false;
      } else if (!spec.require_cookie.empty() && !has_cookie(info.cookie, spec.require_cookie)) {
        plan.status = 401;
        plan.body = "unauthorized\n";
        plan.content_type = "text/plain";
        extra_headers = false;
      } else if (nth < static_cast<std::uint64_t>(std::max(spec.fail_first, 0)) ||
                 (plan.error_rate > 0 && unit(rng) < plan.error_rate)) {
        plan.status = plan.error_status;
        plan.body = "error\n";
        plan.content_type = "text/plain";
      }

      // When: delay + jitter, held further while the server is paused.
      auto due = Clock::now() + plan.delay;
      if (plan.jitter > Duration::zero())
        due += std::chrono::duration_cast<Duration>(plan.jitter * unit(rng));
      const auto paused = Clock::time_point(Clock::duration(pause_until.load(std::memory_order_relaxed)));
      if (paused > due) due = paused;
      if (due > Clock::now()) {
        timer.expires_at(due);
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
