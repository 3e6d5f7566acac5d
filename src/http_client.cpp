// loadtest: the HTTP/1.1 client (Beast). One of the two translation units that hold Beast.
#include "loadtest/http.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/url/parse.hpp>

#if LOADTEST_HAS_TLS
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#endif

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <array>
#include <charconv>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>

#include "loadtest/cookies.hpp"
#include "loadtest/detail/write_message.hpp"
#include "loadtest/detail/http_errors.hpp"
#include "loadtest/text.hpp"
#include "loadtest/http2.hpp"

namespace loadtest {
namespace detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace tls_errors {

bool is_ssl_error(const boost::system::error_code& ec) noexcept {
#if LOADTEST_HAS_TLS
  return ec.category() == asio::error::get_ssl_category() ||
         ec.category() == asio::ssl::error::get_stream_category();
#else
  (void)ec;
  return false;
#endif
}

bool is_stream_truncated(const boost::system::error_code& ec) noexcept {
#if LOADTEST_HAS_TLS
  return ec == asio::ssl::error::stream_truncated;
#else
  (void)ec;
  return false;
#endif
}

}  // namespace tls_errors
using tls_errors::is_ssl_error;
using tls_errors::is_stream_truncated;

bool is_local_resource_error(const boost::system::error_code& ec) noexcept {
  return ec == boost::system::errc::too_many_files_open || ec == boost::system::errc::too_many_files_open_in_system ||
         ec == boost::system::errc::address_not_available;
}

std::string describe_local_resource(const boost::system::error_code& ec) {
  if (ec == boost::system::errc::address_not_available)
    return "no free local port (EADDRNOTAVAIL): the ephemeral port range is used up; use fewer connections";
  if (ec == boost::system::errc::too_many_files_open_in_system)
    return "too many open files in the system (ENFILE): the kernel's limit fs.file-max is reached";
  struct rlimit rl{};
  std::string limit = "?";
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) limit = rl.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(rl.rlim_cur);
  return "too many open files (EMFILE): the descriptor limit RLIMIT_NOFILE (ulimit -n) is " + limit +
         "; raise it or use fewer users";
}

ErrorCategory categorize(const boost::system::error_code& ec, HttpPhase phase) noexcept {
  if (!ec) return ErrorCategory::none;
  const bool connecting = phase == HttpPhase::resolve || phase == HttpPhase::connect || phase == HttpPhase::handshake;
  if (ec == beast::error::timeout || ec == asio::error::timed_out)
    return connecting ? ErrorCategory::connect_timeout : ErrorCategory::timeout;
  if (ec == asio::error::operation_aborted) return ErrorCategory::cancelled;
  if (is_local_resource_error(ec)) return ErrorCategory::local_resources;
  switch (phase) {
    case HttpPhase::resolve: return ErrorCategory::dns;
    case HttpPhase::connect:
      return ec == asio::error::connection_refused ? ErrorCategory::connect_refused : ErrorCategory::reset;
    case HttpPhase::handshake: return ErrorCategory::tls;
    case HttpPhase::write:
    case HttpPhase::read: break;
  }
  if (is_stream_truncated(ec)) return ErrorCategory::reset;  // closed without close_notify
  if (is_ssl_error(ec)) return ErrorCategory::tls;
  if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category()) {
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) return ErrorCategory::reset;
    return ErrorCategory::protocol;
  }
  return ErrorCategory::reset;  // eof, connection_reset, broken_pipe and the rest
}

std::string describe(const boost::system::error_code& ec, HttpPhase phase, std::string_view where) {
  const std::string at = " (" + std::string(where) + ")";
  switch (categorize(ec, phase)) {
    case ErrorCategory::none: return {};
    case ErrorCategory::dns: return "cannot resolve host '" + std::string(where) + "': " + ec.message();
    case ErrorCategory::connect_refused: return "connection refused" + at;
    case ErrorCategory::connect_timeout:
      if (phase == HttpPhase::resolve) return "DNS timeout" + at;
      if (phase == HttpPhase::handshake) return "TLS handshake timeout" + at;
      return "connect timeout" + at;
    case ErrorCategory::timeout: return "request timeout" + at;
    case ErrorCategory::tls:
      return (phase == HttpPhase::handshake ? "TLS handshake failed: " : "TLS error: ") + ec.message() + at;
    case ErrorCategory::protocol: return "malformed HTTP response: " + ec.message() + at;
    case ErrorCategory::cancelled: return "request cancelled" + at;
    case ErrorCategory::local_resources: return describe_local_resource(ec) + at;
    default: break;
  }
  // reset
  if (ec == bhttp::error::end_of_stream) return "connection closed before response" + at;
  if (ec == bhttp::error::partial_message || ec == asio::error::eof || is_stream_truncated(ec))
    return "connection closed mid-response" + at;
  if (ec == asio::error::connection_reset) return "connection reset by peer" + at;
  if (ec == asio::error::broken_pipe) return "broken pipe" + at;
  return (phase == HttpPhase::connect ? "connect failed: " : "connection error: ") + ec.message() + at;
}

}  // namespace detail

namespace http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using detail::HttpPhase;

namespace {

constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr std::array<std::string_view, 7> method_names{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};
constexpr std::uint32_t header_limit = 64 * 1024;
constexpr auto dns_cache_ttl = std::chrono::seconds(60);
constexpr std::uint64_t max_retry_after_s = 24 * 3600;  // a longer Retry-After is capped

bool has_crlf(std::string_view s) noexcept { return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos; }

// Why a header may not be sent, or null when it may.
const char* header_problem(std::string_view name, std::string_view value) noexcept {
  if (!text::is_token(name)) return "the name is not an RFC 9110 token (no spaces, tabs, colons or control characters)";
  if (has_crlf(value)) return "the value contains CR, LF or NUL";
  if (text::iequals(name, "content-length"))
    return "Content-Length is set by the client from the body; do not give it by hand";
  if (text::iequals(name, "transfer-encoding"))
    return "Transfer-Encoding is not supported: the client sends bodies with a Content-Length";
  return nullptr;
}

bool bad_target(std::string_view t) noexcept {
  return has_crlf(t) || t.find(' ') != std::string_view::npos || t.find('\t') != std::string_view::npos;
}

bool contains_header(const std::vector<std::pair<std::string, std::string>>& hs, std::string_view name) noexcept {
  return std::any_of(hs.begin(), hs.end(), [&](const auto& h) { return text::iequals(h.first, name); });
}


// Retry-After: delta-seconds or an IMF-fixdate HTTP-date; 0 when unparsable or in the past.
Duration parse_retry_after(std::string_view value) {
  value = text::trim_ows(value);
  if (value.empty()) return Duration{0};
  std::uint64_t secs = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), secs);
  if (ec == std::errc{} && end == value.data() + value.size())
    return std::chrono::seconds(std::min<std::uint64_t>(secs, max_retry_after_s));
  char buf[64];
  if (value.size() >= sizeof buf) return Duration{0};
  std::copy(value.begin(), value.end(), buf);
  buf[value.size()] = '\0';
  std::tm tm{};
  const char* rest = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (rest == nullptr || *rest != '\0') return Duration{0};
  // Compared in whole seconds first: a date in a far year would overflow the clock's nanoseconds
  // (found by fuzz/fuzz_http_response).
  const std::time_t when = timegm(&tm);
  const auto now = WallClock::now();
  const std::time_t now_s = WallClock::to_time_t(now);
  if (when == static_cast<std::time_t>(-1) || when <= now_s) return Duration{0};
  if (static_cast<std::uint64_t>(when - now_s) >= max_retry_after_s) return std::chrono::seconds(max_retry_after_s);
  const auto left = WallClock::from_time_t(when) - now;
  return left <= WallClock::duration{0} ? Duration{0} : std::chrono::duration_cast<Duration>(left);
}

void append_number(std::string& s, std::uint64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  s.append(buf, p);
}

void append_header(std::string& s, std::string_view name, std::string_view value) {
  s.append(name).append(": ").append(value).append("\r\n");
}

// Parses a response straight into a Response, reusing its strings (no allocation in steady state).
// A body longer than `keep` is read to its end and counted, but only its first `keep` bytes are stored.
// Beyond `keep` the parser also checks `deadline` itself: Beast's stream timeout never fires while
// data keeps arriving (each read completes and re-arms the timer), so an endless body would
// otherwise hold the user until the test ends.
class ResponseParser final : public bhttp::basic_parser<false> {
 public:
  ResponseParser(Response& out, std::size_t keep, Clock::time_point deadline) : out_(out), keep_(keep), deadline_(deadline) {
    out_.body.clear();
    out_.body_size = 0;
    out_.body_truncated = false;
    out_.status = 0;
    out_.retry_after = Duration{0};
    header_limit(loadtest::http::header_limit);
    body_limit(boost::none);  // memory is bounded by `keep`, time by the request timeout
  }
  std::size_t fields() const noexcept { return count_; }

 private:
  void on_request_impl(bhttp::verb, beast::string_view, beast::string_view, int, error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, error_code& ec) override {
    // Beast takes any three digits; RFC 9110 status codes are 100..599. "HTTP/1.1 000" would
    // otherwise read as status 0, which means "no response" (found by fuzz/fuzz_http_response).
    if (code < 100 || code > 599) {
      ec = bhttp::error::bad_status;
      return;
    }
    out_.status = code;
  }
  void on_field_impl(bhttp::field f, beast::string_view name, beast::string_view value, error_code&) override {
    if (count_ < out_.headers.size()) {
      out_.headers[count_].first.assign(name);
      out_.headers[count_].second.assign(value);
    } else {
      out_.headers.emplace_back(std::string(name), std::string(value));
    }
    ++count_;
    if (f == bhttp::field::retry_after) out_.retry_after = parse_retry_after(value);
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
    if (length) out_.body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(*length, keep_)));
  }
  std::size_t on_body_impl(beast::string_view s, error_code& ec) override {
    take(s, ec);
    return s.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view s, error_code& ec) override {
    take(s, ec);
    return s.size();
  }
  void on_finish_impl(error_code&) override {}

  void take(beast::string_view s, error_code& ec) {
    out_.body_size += s.size();
    const std::size_t room = keep_ - std::min(keep_, out_.body.size());
    if (s.size() > room) {
      out_.body_truncated = true;
      if (Clock::now() >= deadline_) ec = beast::error::timeout;  // only past the kept part: no cost for normal bodies
    }
    out_.body.append(s.data(), std::min(room, s.size()));
  }

  Response& out_;
  std::size_t keep_;
  Clock::time_point deadline_;
  std::size_t count_ = 0;
};

#if LOADTEST_HAS_TLS
// One context per (insecure, ca_file), shared by every client: set-up, not the hot path.
std::shared_ptr<asio::ssl::context> tls_context(bool insecure, const std::string& ca_file) {
  static std::mutex mutex;
  static std::map<std::pair<bool, std::string>, std::shared_ptr<asio::ssl::context>> contexts;
  std::lock_guard lock(mutex);
  auto& slot = contexts[{insecure, ca_file}];
  if (!slot) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3);
    error_code ec;
    ctx->set_default_verify_paths(ec);  // a missing system store is not fatal
    if (!ca_file.empty()) {
      ctx->load_verify_file(ca_file, ec);
      if (ec) throw std::invalid_argument("cannot load CA file '" + ca_file + "': " + ec.message());
    }
    ctx->set_verify_mode(insecure ? asio::ssl::verify_none : asio::ssl::verify_peer);
    slot = std::move(ctx);
  }
  return slot;
}
#endif

}  // namespace

// ---- free functions ----------------------------------------------------------------------------

std::string_view to_string(Method m) noexcept { return method_names[static_cast<std::size_t>(m)]; }

Method parse_method(std::string_view text) {
  for (std::size_t i = 0; i < method_names.size(); ++i)
    if (text::iequals(text, method_names[i])) return static_cast<Method>(i);
  throw std::invalid_argument("invalid HTTP method '" + std::string(text) +
                              "' (use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS)");
}

Url parse_url(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return std::invalid_argument("invalid URL '" + std::string(text) + "': " + why);
  };
  if (text.find("://") == std::string_view::npos) throw bad("no scheme (write http://HOST[:PORT]/PATH)");
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) throw bad("malformed (" + parsed.error().message() + ")");
  const auto& u = *parsed;
  Url url;
  url.scheme = std::string(u.scheme());
  std::transform(url.scheme.begin(), url.scheme.end(), url.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (url.scheme != "http" && url.scheme != "https") throw bad("scheme must be http or https");
  if (!u.has_authority() || u.encoded_host().empty()) throw bad("no host");
  if (u.has_userinfo()) throw bad("user info is not supported");
  url.host = u.host_address();
  if (u.has_port()) {
    std::string_view p = u.port();
    unsigned value = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    if (p.empty() || ec != std::errc{} || end != p.data() + p.size() || value == 0 || value > 65535)
      throw bad("port must be 1..65535");
    url.port = static_cast<std::uint16_t>(value);
  } else {
    url.port = url.tls() ? 443 : 80;
  }
  url.target = std::string(u.encoded_target());
  if (url.target.empty() || url.target.front() != '/') url.target.insert(0, "/");
  return url;
}

void validate_header(std::string_view name, std::string_view value) {
  const char* why = header_problem(name, value);
  if (!why) return;
  if (!text::is_token(name)) throw std::invalid_argument("invalid header name '" + text::escape_control(name) + "': " + why);
  if (has_crlf(value))
    throw std::invalid_argument("invalid value of header '" + text::escape_control(name) + "' ('" +
                                text::escape_control(value) + "'): " + why);
  throw std::invalid_argument("header '" + std::string(name) + "' refused: " + why);
}

void Options::validate() const {
  auto timeout = [](const char* what, Duration d) {
    if (d <= Duration::zero() || to_seconds(d) > max_duration_seconds)
      throw std::invalid_argument(std::string("invalid ") + what + " '" + format_duration(d) +
                                  "': must be longer than 0 and at most 1e9 s");
  };
  timeout("connect_timeout", connect_timeout);
  timeout("request_timeout", request_timeout);
  if (max_body > max_body_limit)
    throw std::invalid_argument("invalid max_body " + std::to_string(max_body) + ": at most 1 GiB (1073741824)");
  if (max_streams == 0)
    throw std::invalid_argument("invalid max_streams '0': must be at least 1 (streams in flight per connection)");
  int hosts = 0;
  for (const auto& [k, v] : headers) {
    validate_header(k, v);
    if (text::iequals(k, "host") && ++hosts > 1) throw std::invalid_argument("invalid headers: 'Host' given twice");
  }
  if (has_crlf(user_agent))
    throw std::invalid_argument("invalid user agent '" + text::escape_control(user_agent) + "': contains CR, LF or NUL");
}

void Request::validate() const {
  if (bad_target(target))
    throw std::invalid_argument("invalid request target '" + text::escape_control(target) +
                                "': contains a space, tab, CR, LF or NUL");
  for (const auto& [k, v] : headers) validate_header(k, v);
}

Request Request::make(Method m, std::string target, std::string body) {
  Request r;
  r.method = m;
  r.target = target.empty() ? std::string("/") : std::move(target);
  r.body = std::move(body);
  std::string_view path = r.target;
  path = path.substr(0, path.find('?'));
  r.name.reserve(8 + path.size());
  r.name.append(to_string(m)).append(" ").append(path);
  return r;
}

std::string_view Response::header(std::string_view name) const noexcept {
  for (const auto& [k, v] : headers)
    if (text::iequals(k, name)) return v;
  return {};
}

Outcome check_status(const Request& req, const Response& res, int expected) {
  Outcome o;
  if (!res.transport_ok()) {
    o = Outcome::error(res.category, res.error, req.name);
  } else if (res.status == expected) {
    o = Outcome::success(req.name, res.status);
  } else {
    ErrorCategory cat = category_of_http_status(res.status);
    std::string msg = "HTTP " + std::to_string(res.status);
    if (cat == ErrorCategory::none) {
      cat = ErrorCategory::business;
      msg += " (expected " + std::to_string(expected) + ")";
    }
    o = Outcome::failure(std::move(msg), cat, req.name);
    o.http_status = res.status;
  }
  o.retry_after = res.retry_after;
  return o;
}

// ---- Client ------------------------------------------------------------------------------------

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
  asio::any_io_executor ex;
  Url base;
  Options opts;
  std::string where;         // "host:port" for messages
  std::string fixed_host;    // "Host: ...\r\n"
  std::string fixed_agent;   // "User-Agent: ...\r\n", empty when Options::headers has one
  std::string fixed_rest;    // Connection + Options::headers
  std::optional<asio::ip::address> literal;  // the host when it is an IP address
  tcp::resolver resolver;
  asio::steady_timer resolve_timer;
  std::vector<tcp::endpoint> endpoints;
  Clock::time_point resolved_at{};
  std::optional<beast::tcp_stream> plain;
#if LOADTEST_HAS_TLS
  std::shared_ptr<asio::ssl::context> ssl_ctx;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
#endif
  bool connected = false;
  std::uint64_t opened = 0;
  CookieJar* jar = nullptr;  // not owned
  beast::flat_buffer buffer;
  std::string head;  // the serialized request head, reused
  std::optional<detail::Http2Client> h2;  // Options::protocol http2 / h2c (src/http2_client.cpp)

  Impl(asio::any_io_executor e, std::string_view url, Options o)
      : ex(std::move(e)), base(parse_url(url)), opts(std::move(o)), resolver(ex), resolve_timer(ex) {
    opts.validate();
    if (base.tls()) {
#if LOADTEST_HAS_TLS
      ssl_ctx = tls_context(opts.insecure, opts.ca_file);
#else
      throw std::invalid_argument("invalid URL '" + std::string(url) + "': https needs TLS support (built without OpenSSL)");
#endif
    }
    error_code ec;
    auto addr = asio::ip::make_address(base.host, ec);
    if (!ec) literal = addr;
    const bool v6 = literal && literal->is_v6();
    std::string authority = v6 ? "[" + base.host + "]" : base.host;
    where = authority + ":" + std::to_string(base.port);
    if (base.port != (base.tls() ? 443 : 80)) authority += ":" + std::to_string(base.port);
    // Host and User-Agent from Options::headers replace the defaults (a request's own replace both)
    fixed_host = "Host: " + authority + "\r\n";
    if (!opts.user_agent.empty()) fixed_agent = "User-Agent: " + opts.user_agent + "\r\n";
    if (!contains_header(opts.headers, "connection"))
      fixed_rest = opts.keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
    for (const auto& [k, v] : opts.headers) {
      if (text::iequals(k, "host")) {
        fixed_host.clear();
        append_header(fixed_host, "Host", v);
      } else if (text::iequals(k, "user-agent")) {
        fixed_agent.clear();
        append_header(fixed_agent, k, v);
      } else {
        append_header(fixed_rest, k, v);
      }
    }
    buffer.reserve(16 * 1024);
    detail::validate_protocol(base, opts);
    if (opts.protocol != Protocol::http1) h2.emplace(ex, base, opts);
  }

  ~Impl() { close(); }

  void close() noexcept {
    if (h2) h2->close();
    error_code ignored;
    resolver.cancel();  // a request still resolving ends as cancelled
    // Close only: a pending operation still refers to the stream; connect() replaces it later.
    if (plain) plain->socket().close(ignored);
#if LOADTEST_HAS_TLS
    if (secure) beast::get_lowest_layer(*secure).socket().close(ignored);
#endif
    connected = false;
  }

  beast::tcp_stream& lowest() {
#if LOADTEST_HAS_TLS
    if (secure) return beast::get_lowest_layer(*secure);
#endif
    return *plain;
  }

  void build_head(const Request& req) {
    head.clear();
    head.append(to_string(req.method)).append(" ");
    head.append(req.target.empty() ? std::string_view("/") : std::string_view(req.target));
    head.append(" HTTP/1.1\r\n");
    bool own_host = false, own_agent = false, own_length = false, own_cookie = false;
    for (const auto& [k, v] : req.headers) {
      if (text::iequals(k, "host")) own_host = true;
      else if (text::iequals(k, "cookie")) own_cookie = true;
      else if (text::iequals(k, "user-agent")) own_agent = true;
      else if (text::iequals(k, "content-length") || text::iequals(k, "transfer-encoding")) own_length = true;
    }
    if (!own_host) head.append(fixed_host);
    if (!own_agent) head.append(fixed_agent);
    head.append(fixed_rest);
    if (!own_length && (!req.body.empty() || req.method == Method::post || req.method == Method::put ||
                        req.method == Method::patch)) {
      head.append("Content-Length: ");
      append_number(head, req.body.size());
      head.append("\r\n");
    }
    for (const auto& [k, v] : req.headers) append_header(head, k, v);
    if (jar && !own_cookie) {
      const auto before = head.size();
      head.append("Cookie: ");
      if (jar->append_header_value(base.host, req.target, base.tls(), head) > 0) head.append("\r\n");
      else head.resize(before);
    }
    head.append("\r\n");
  }

  // Stores the response's cookies in the jar.
  void store_cookies(const Request& req, const Response& out) {
    if (!jar) return;
    const auto now = WallClock::now();
    for (const auto& [k, v] : out.headers)
      if (text::iequals(k, "set-cookie")) jar->store(v, base.host, req.target, now);
  }

  static bool valid_request(const Request& req) noexcept {
    if (bad_target(req.target)) return false;
    return std::none_of(req.headers.begin(), req.headers.end(),
                        [](const auto& h) { return header_problem(h.first, h.second) != nullptr; });
  }

  static void fail(Response& out, ErrorCategory cat, std::string message) {
    out.status = 0;
    out.body.clear();
    out.body_size = 0;
    out.body_truncated = false;
    out.headers.clear();
    out.retry_after = Duration{0};
    out.category = cat;
    out.error = std::move(message);
  }

  void fail(Response& out, const error_code& ec, HttpPhase phase) {
    fail(out, detail::categorize(ec, phase), detail::describe(ec, phase, phase == HttpPhase::resolve ? base.host : where));
  }

  // Resolves (or reuses the cached endpoints) with a deadline.
  asio::awaitable<error_code> resolve(Clock::time_point deadline) {
    if (literal) {
      if (endpoints.empty()) endpoints.emplace_back(*literal, base.port);
      co_return error_code{};
    }
    if (!endpoints.empty() && Clock::now() - resolved_at < dns_cache_ttl) co_return error_code{};
    resolve_timer.expires_at(deadline);
    resolve_timer.async_wait([weak = weak_from_this()](error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->resolver.cancel();
    });
    auto [ec, results] = co_await resolver.async_resolve(base.host, std::to_string(base.port), as_tuple_awaitable);
    resolve_timer.cancel();
    if (ec == asio::error::operation_aborted && Clock::now() >= deadline) ec = beast::error::timeout;
    if (!ec && results.empty()) ec = asio::error::host_not_found;
    if (ec) co_return ec;
    endpoints.clear();
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
    resolved_at = Clock::now();
    co_return error_code{};
  }

  asio::awaitable<std::pair<error_code, HttpPhase>> connect() {
    const auto deadline = Clock::now() + opts.connect_timeout;
    if (auto ec = co_await resolve(deadline)) co_return std::pair{ec, HttpPhase::resolve};
    buffer.clear();
#if LOADTEST_HAS_TLS
    if (base.tls()) {
      plain.reset();
      secure.emplace(ex, *ssl_ctx);
    } else
#endif
    {
      plain.emplace(ex);
    }
    auto& stream = lowest();
    stream.expires_at(deadline);
    auto [ec, ep] = co_await stream.async_connect(endpoints, as_tuple_awaitable);
    (void)ep;
    if (ec) {
      close();
      // Asio's range connect hides a failed socket() (EMFILE) behind operation_aborted or
      // not_found: ask the kernel once more, on this error path only.
      if (ec != asio::error::connection_refused && !detail::is_local_resource_error(ec)) {
        const int fd = ::socket(endpoints.front().protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE))
          ec = error_code(errno, boost::system::system_category());
        else if (fd >= 0)
          ::close(fd);
      }
      co_return std::pair{ec, HttpPhase::connect};
    }
    error_code ignored;
    stream.socket().set_option(tcp::no_delay(true), ignored);
#if LOADTEST_HAS_TLS
    if (secure) {
      SSL* ssl = secure->native_handle();
      if (!literal) {
        SSL_set_tlsext_host_name(ssl, base.host.c_str());  // SNI
        if (!opts.insecure) secure->set_verify_callback(asio::ssl::host_name_verification(base.host));
      } else if (!opts.insecure) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), base.host.c_str());
      }
      stream.expires_at(deadline);
      auto [hec] = co_await secure->async_handshake(asio::ssl::stream_base::client, as_tuple_awaitable);
      if (hec) {
        close();
        co_return std::pair{hec, HttpPhase::handshake};
      }
    }
#endif
    stream.expires_never();
    connected = true;
    ++opened;
    co_return std::pair{error_code{}, HttpPhase::connect};
  }

  struct Exchange {
    error_code ec;
    HttpPhase phase = HttpPhase::write;
    bool got_bytes = false;   // some of the response arrived
    bool keep_alive = false;  // the connection may carry another request
  };

  template <class Stream>
  asio::awaitable<Exchange> exchange(Stream& stream, const Request& req, Response& out) {
    Exchange x;
    auto& low = lowest();
    const auto deadline = Clock::now() + opts.request_timeout;
    low.expires_at(deadline);
    error_code wec = co_await detail::write_message(stream, head, req.body);
    if (wec) {
      x.ec = wec;
      co_return x;
    }
    x.phase = HttpPhase::read;
    for (;;) {
      std::size_t fields = 0;
      {
        ResponseParser parser(out, opts.max_body, deadline);
        if (req.method == Method::head) parser.skip(true);
        auto [rec, n] = co_await bhttp::async_read(stream, buffer, parser, as_tuple_awaitable);
        (void)n;
        x.got_bytes = x.got_bytes || parser.got_some();
        fields = parser.fields();
        if (rec) {
          x.ec = rec;
          break;
        }
        x.keep_alive = parser.keep_alive() && !parser.need_eof();
      }
      out.headers.resize(fields);
      if (out.status >= 100 && out.status < 200 && out.status != 101) continue;  // interim response
      break;
    }
    low.expires_never();
    co_return x;
  }

  static bool stale(const error_code& ec) noexcept {
    return ec == asio::error::eof || ec == bhttp::error::end_of_stream || ec == asio::error::connection_reset ||
           ec == asio::error::broken_pipe || detail::tls_errors::is_stream_truncated(ec);
  }

  asio::awaitable<void> run(const Request& req, Response& out) {
    out.category = ErrorCategory::none;
    out.error.clear();
    if (!valid_request(req)) {
      fail(out, ErrorCategory::protocol, "invalid request: bad target or header (" + where + ")");
      co_return;
    }
    build_head(req);
    for (int attempt = 0;; ++attempt) {
      const bool reused = connected;
      if (!connected) {
        auto [ec, phase] = co_await connect();
        if (ec) {
          fail(out, ec, phase);
          co_return;
        }
      }
      Exchange x;
#if LOADTEST_HAS_TLS
      if (secure) x = co_await exchange(*secure, req, out);
      else
#endif
        x = co_await exchange(*plain, req, out);
      if (!x.ec) {
        out.category = ErrorCategory::none;
        store_cookies(req, out);
        if (!x.keep_alive || !opts.keep_alive) close();
        co_return;
      }
      close();
      if (reused && attempt == 0 && !x.got_bytes && stale(x.ec)) continue;  // stale keep-alive: once more
      fail(out, x.ec, x.phase);
      co_return;
    }
  }
};

Client::Client(asio::any_io_executor ex, std::string_view base_url)
    : impl_(std::make_shared<Impl>(std::move(ex), base_url, Options{})) {}

Client::Client(asio::any_io_executor ex, std::string_view base_url, Options opts)
    : impl_(std::make_shared<Impl>(std::move(ex), base_url, std::move(opts))) {}

Client::~Client() {
  if (impl_) {
    impl_->jar = nullptr;  // an in-flight request that outlives the client stores no cookies
    impl_->close();
  }
}

Client::Client(Client&&) noexcept = default;

Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    if (impl_) impl_->close();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

asio::awaitable<void> Client::request(const Request& req, Response& out) {
  auto self = impl_;  // keeps the connection alive if the client is destroyed mid-request
  if (self->h2 && co_await self->h2->request(req, out, self->jar)) co_return;  // false: HTTP/1.1
  co_await self->run(req, out);
}

asio::awaitable<Response> Client::request(const Request& req) {
  Response out;
  co_await request(req, out);
  co_return out;
}

asio::awaitable<void> Client::request_all(std::span<const Request> reqs, std::span<Response> outs) {
  if (reqs.size() != outs.size())
    throw std::invalid_argument("request_all: " + std::to_string(reqs.size()) + " requests but " +
                                std::to_string(outs.size()) + " responses (they must match)");
  auto self = impl_;
  if (self->h2 && co_await self->h2->request_all(reqs, outs, self->jar)) co_return;
  for (std::size_t i = 0; i < reqs.size(); ++i) co_await self->run(reqs[i], outs[i]);  // HTTP/1.1: in turn
}

Protocol Client::protocol() const noexcept { return impl_->h2 ? impl_->h2->protocol() : Protocol::http1; }

std::uint64_t Client::refused_retries() const noexcept { return impl_->h2 ? impl_->h2->refused_retries() : 0; }

const Url& Client::base() const noexcept { return impl_->base; }

void Client::close() noexcept {
  if (impl_) impl_->close();
}

std::uint64_t Client::connections_opened() const noexcept {
  return impl_ ? impl_->opened + (impl_->h2 ? impl_->h2->connections_opened() : 0) : 0;
}

void Client::set_cookie_jar(CookieJar* jar) noexcept {
  if (impl_) impl_->jar = jar;
}

CookieJar* Client::cookie_jar() const noexcept { return impl_ ? impl_->jar : nullptr; }

}  // namespace http
}  // namespace loadtest
