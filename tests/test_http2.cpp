// Tests of the HTTP/2 client (h2 by ALPN, h2c by prior knowledge): against the embedded target,
// against nginx (suite `nginx`, run as its own meson test; exit 77 when nginx is missing), and
// against a raw-socket fake server that writes hand-made frames for every error path.
#define BOOST_TEST_MODULE http2
#include <boost/test/unit_test.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "loadtest/cookies.hpp"
#include "loadtest/http.hpp"
#include "loadtest/testing/target_server.hpp"
#include "test_support.hpp"

namespace loadtest {
std::ostream& operator<<(std::ostream& os, ErrorCategory c) { return os << to_string(c); }
std::ostream& operator<<(std::ostream& os, Status s) { return os << to_string(s); }
namespace http {
std::ostream& operator<<(std::ostream& os, Protocol p) { return os << to_string(p); }
}  // namespace http
}  // namespace loadtest

namespace asio = boost::asio;
namespace fs = std::filesystem;
using asio::ip::tcp;
using loadtest::ErrorCategory;
using loadtest::Status;
using loadtest::http::Client;
using loadtest::http::Method;
using loadtest::http::Options;
using loadtest::http::Protocol;
using loadtest::http::Request;
using loadtest::http::Response;
using loadtest::test_support::TempDir;
using loadtest::testing::RouteSpec;
using loadtest::testing::TargetServer;
using namespace std::chrono_literals;

namespace {

constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);
using Body = std::function<asio::awaitable<void>(asio::any_io_executor)>;

// Runs `body` on a fresh io_context for at most `limit`, then rethrows what it threw.
void run_bounded(const Body& body, std::chrono::seconds limit = 30s) {
  asio::io_context ioc;
  bool done = false;
  std::exception_ptr error;
  asio::co_spawn(ioc, body(ioc.get_executor()), [&](std::exception_ptr e) {
    done = true;
    error = e;
    ioc.stop();  // fake servers of the test may still be accepting
  });
  ioc.run_for(limit);
  BOOST_REQUIRE_MESSAGE(done, "the test coroutine did not finish in time");
  if (error) std::rethrow_exception(error);
}

Options h2_options(Protocol p) {
  Options o;
  o.protocol = p;
  o.connect_timeout = 5s;
  o.request_timeout = 5s;
  return o;
}

asio::awaitable<Response> get(Client& c, std::string target) {
  co_return co_await c.request(Request::make(Method::get, std::move(target)));
}

std::uint16_t closed_port() {
  asio::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto port = a.local_endpoint().port();
  a.close();
  return port;
}

// A key and a self-signed certificate for 127.0.0.1 and localhost, made with `openssl req`.
struct Cert {
  std::string cert, key;
};

Cert make_cert(const fs::path& dir) {
  Cert c{(dir / "server.crt").string(), (dir / "server.key").string()};
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "
                          "/CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout '" +
                          c.key + "' -out '" + c.cert + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl req failed: " + cmd);
  return c;
}

// ---- hand-made HTTP/2 frames -------------------------------------------------------------------

std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, std::string_view payload) {
  std::string f;
  const auto n = payload.size();
  f.push_back(static_cast<char>((n >> 16) & 0xff));
  f.push_back(static_cast<char>((n >> 8) & 0xff));
  f.push_back(static_cast<char>(n & 0xff));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  for (int shift : {24, 16, 8, 0}) f.push_back(static_cast<char>((stream >> shift) & 0xff));
  f.append(payload);
  return f;
}

std::string u32(std::uint32_t v) {
  std::string s;
  for (int shift : {24, 16, 8, 0}) s.push_back(static_cast<char>((v >> shift) & 0xff));
  return s;
}

constexpr std::uint8_t DATA = 0, HEADERS = 1, RST_STREAM = 3, SETTINGS = 4, GOAWAY = 7, CONTINUATION = 9;
constexpr std::uint8_t END_STREAM = 1, ACK = 1, END_HEADERS = 4;

std::string settings(std::vector<std::pair<std::uint16_t, std::uint32_t>> entries = {}) {
  std::string p;
  for (auto [id, v] : entries) {
    p.push_back(static_cast<char>(id >> 8));
    p.push_back(static_cast<char>(id & 0xff));
    p += u32(v);
  }
  return frame(SETTINGS, 0, 0, p);
}
std::string goaway(std::uint32_t last, std::uint32_t code) { return frame(GOAWAY, 0, 0, u32(last) + u32(code)); }
std::string rst(std::uint32_t stream, std::uint32_t code) { return frame(RST_STREAM, 0, stream, u32(code)); }
// HEADERS ":status: 200" (HPACK static table index 8).
std::string ok_headers(std::uint32_t stream, bool end_stream) {
  return frame(HEADERS, END_HEADERS | (end_stream ? END_STREAM : 0), stream, "\x88");
}
// A literal header field without indexing, new name; both lengths below 127.
std::string literal(std::string_view name, std::string_view value) {
  std::string s;
  s.push_back('\0');
  s.push_back(static_cast<char>(name.size()));
  s.append(name);
  s.push_back(static_cast<char>(value.size()));
  s.append(value);
  return s;
}

// A fake HTTP/2 server on 127.0.0.1: runs `script(socket, connection index)` on each accepted
// connection (at most `max_connections`), then drains the socket until the client closes it.
class FakeServer {
 public:
  using Script = std::function<asio::awaitable<void>(tcp::socket&, int)>;
  FakeServer(asio::any_io_executor ex, Script script, int max_connections = 4)
      : acceptor_(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), script_(std::move(script)) {
    asio::co_spawn(ex, serve(max_connections), [](std::exception_ptr) {});
  }
  std::string url(const char* path = "/") const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + path;
  }
  int accepted() const { return accepted_; }

 private:
  asio::awaitable<void> serve(int max_connections) {
    for (int i = 0; i < max_connections; ++i) {
      auto [ec, socket] = co_await acceptor_.async_accept(as_tuple_awaitable);
      if (ec) co_return;
      ++accepted_;
      asio::co_spawn(acceptor_.get_executor(), run(std::move(socket), i), [](std::exception_ptr) {});
    }
  }
  asio::awaitable<void> run(tcp::socket socket, int index) {
    co_await script_(socket, index);
    std::array<char, 4096> buf;
    for (;;) {
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), as_tuple_awaitable);
      if (ec) break;
    }
  }
  tcp::acceptor acceptor_;
  Script script_;
  int accepted_ = 0;
};

asio::awaitable<void> send(tcp::socket& s, std::string bytes) {
  co_await asio::async_write(s, asio::buffer(bytes), as_tuple_awaitable);
}

// Reads the client's preface, then frames; next() returns the stream id of the next HEADERS frame
// (0 at the end of the stream).
struct FrameReader {
  std::string in;
  std::size_t pos = 24;  // after "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
  asio::awaitable<std::uint32_t> next(tcp::socket& s) {
    std::array<char, 4096> buf;
    for (;;) {
      while (in.size() >= pos + 9) {
        const auto* p = reinterpret_cast<const unsigned char*>(in.data() + pos);
        const std::size_t len = (std::size_t(p[0]) << 16) | (std::size_t(p[1]) << 8) | p[2];
        const std::uint32_t id = ((std::uint32_t(p[5]) & 0x7f) << 24) | (std::uint32_t(p[6]) << 16) |
                                 (std::uint32_t(p[7]) << 8) | p[8];
        if (in.size() < pos + 9 + len) break;
        const bool headers = p[3] == HEADERS;
        pos += 9 + len;
        if (headers) co_return id;
      }
      auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), as_tuple_awaitable);
      if (ec) co_return 0;
      in.append(buf.data(), n);
    }
  }
};

asio::awaitable<std::uint32_t> await_request(tcp::socket& s) {
  FrameReader r;
  co_return co_await r.next(s);
}

// The client's result for one GET against a fake server running `script`.
struct Ran {
  Response response;
  std::uint64_t refused_retries = 0, connections = 0;
  int accepted = 0;
};

Ran against_fake(FakeServer::Script script, Options o, Request req = Request::make(Method::get, "/")) {
  Ran ran;
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    FakeServer fake(ex, script);
    Client c(ex, fake.url(), o);
    co_await c.request(req, ran.response);
    ran.refused_retries = c.refused_retries();
    ran.connections = c.connections_opened();
    ran.accepted = fake.accepted();
  });
  return ran;
}

Options fault_options() {
  Options o = h2_options(Protocol::h2c);
  o.connect_timeout = 2s;
  o.request_timeout = 2s;
  return o;
}

}  // namespace

// ---- against the embedded target ---------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(target)

BOOST_AUTO_TEST_CASE(h2c_get_and_injection) {
  TargetServer target;
  RouteSpec slow;
  slow.delay = 20ms;
  slow.body = "slow\n";
  target.route("/slow", slow);
  RouteSpec failing;
  failing.fail_first = 1;
  failing.error_status = 503;
  target.route("/flaky", failing);
  RouteSpec headed;
  headed.headers = {{"X-Extra", "yes"}, {"Connection", "close"}};
  target.route("/headed", headed);
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Client c(ex, target.url(""), h2_options(Protocol::h2c));
    Response r = co_await get(c, "/");
    BOOST_TEST(r.category == ErrorCategory::none);
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.body == "ok\n");
    BOOST_TEST(c.protocol() == Protocol::h2c);
    r = co_await get(c, "/slow");
    BOOST_TEST(r.body == "slow\n");
    auto req = Request::make(Method::get, "/flaky");
    r = co_await c.request(req);
    BOOST_TEST(r.status == 503);
    BOOST_TEST(loadtest::http::check_status(req, r).category == ErrorCategory::http_5xx);
    r = co_await c.request(req);
    BOOST_TEST(loadtest::http::check_status(req, r).status == Status::success);
    r = co_await get(c, "/x?status=404");
    BOOST_TEST(r.status == 404);
    r = co_await get(c, "/x?size=200000");
    BOOST_TEST(r.body.size() == 200000u);
    BOOST_TEST(r.header("content-length") == "200000");
    r = co_await c.request(Request::make(Method::head, "/x?size=1000"));
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.body.empty());
    r = co_await c.request(Request::make(Method::post, "/post", std::string(300000, 'b')));  // past the windows
    BOOST_TEST(r.status == 200);
    r = co_await get(c, "/headed");  // last: its Connection: close becomes a GOAWAY
    BOOST_TEST(r.header("x-extra") == "yes");
    BOOST_TEST(r.header("connection") == "");  // connection-specific: not sent in HTTP/2
    BOOST_TEST(c.connections_opened() == 1u);
  });
  BOOST_TEST(target.connections_accepted() == 1u);
  BOOST_TEST(target.requests("/flaky") == 2u);
}

BOOST_AUTO_TEST_CASE(goaway_from_the_target_moves_to_a_new_connection) {
  TargetServer target;
  RouteSpec closing;
  closing.headers = {{"Connection", "close"}};  // over HTTP/2: a graceful GOAWAY after the response
  closing.delay = 10ms;
  target.route("/bye", closing);
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Client c(ex, target.url(""), h2_options(Protocol::h2c));
    for (int i = 0; i < 3; ++i) BOOST_TEST((co_await get(c, "/bye")).status == 200);
    BOOST_TEST(c.connections_opened() == 3u);
    std::vector<Request> reqs(10, Request::make(Method::get, "/bye"));
    std::vector<Response> outs(reqs.size());
    co_await c.request_all(reqs, outs);  // all sent before the GOAWAY: all answered
    for (const auto& r : outs) BOOST_TEST(r.status == 200, r.error);
    BOOST_TEST((co_await get(c, "/")).status == 200);
    BOOST_TEST(c.refused_retries() == 0u);
  });
}

BOOST_AUTO_TEST_CASE(h2c_cookies_through_the_jar) {
  TargetServer target;
  RouteSpec login;
  login.headers = {{"Set-Cookie", "sid=42; Path=/"}};
  target.route("/login", login);
  RouteSpec secret;
  secret.require_cookie = "sid=42";
  target.route("/secret", secret);
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    loadtest::http::CookieJar jar;
    Client c(ex, target.url(""), h2_options(Protocol::h2c));
    c.set_cookie_jar(&jar);
    BOOST_TEST((co_await get(c, "/secret")).status == 401);
    BOOST_TEST((co_await get(c, "/login")).status == 200);
    BOOST_TEST((co_await get(c, "/secret")).status == 200);
  });
}

BOOST_AUTO_TEST_CASE(request_all_multiplexes_on_one_connection) {
  TargetServer target;
  RouteSpec slow;
  slow.delay = 50ms;
  target.route("/page", slow);
  for (std::uint32_t max_streams : {100u, 3u, 1u}) {
    BOOST_TEST_CONTEXT("max_streams " << max_streams) {
      const auto accepted_before = target.connections_accepted();
      run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
        Options o = h2_options(Protocol::h2c);
        o.max_streams = max_streams;
        Client c(ex, target.url(""), o);
        std::vector<Request> reqs;
        for (int i = 0; i < 20; ++i) reqs.push_back(Request::make(Method::get, "/page?i=" + std::to_string(i)));
        std::vector<Response> outs(reqs.size());
        co_await c.request_all(reqs, outs);
        for (const auto& r : outs) {
          BOOST_TEST(r.category == ErrorCategory::none);
          BOOST_TEST(r.status == 200);
        }
        BOOST_TEST(c.connections_opened() == 1u);
        BOOST_CHECK_THROW(co_await c.request_all(reqs, std::span<Response>(outs).first(3)), std::invalid_argument);
      });
      BOOST_TEST(target.connections_accepted() - accepted_before == 1u);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_multithreaded_target_serves_several_h2_clients) {
  TargetServer::Options so;
  so.threads = 2;
  TargetServer target(so);
  RouteSpec slow;
  slow.delay = 5ms;
  target.set_default(slow);
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 3; ++i)
      clients.push_back(std::make_unique<Client>(ex, target.url(""), h2_options(Protocol::h2c)));
    std::vector<Request> reqs(30, Request::make(Method::get, "/x?size=3000"));
    for (int round = 0; round < 3; ++round)
      for (auto& c : clients) {
        std::vector<Response> outs(reqs.size());
        co_await c->request_all(reqs, outs);
        for (const auto& r : outs) BOOST_TEST(r.body.size() == 3000u);
      }
  });
  BOOST_TEST(target.connections_accepted() == 3u);
  BOOST_TEST(target.total_requests() == 270u);
}

BOOST_AUTO_TEST_CASE(request_from_several_coroutines_at_once) {
  TargetServer target;
  RouteSpec slow;
  slow.delay = 30ms;
  target.set_default(slow);
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Client c(ex, target.url(""), h2_options(Protocol::h2c));
    int done = 0, ok = 0;
    asio::steady_timer all(ex, loadtest::Clock::time_point::max());
    for (int i = 0; i < 10; ++i)
      asio::co_spawn(
          ex,
          [](Client& c, int i, int& done, int& ok, asio::steady_timer& all) -> asio::awaitable<void> {
            Response r = co_await get(c, "/u" + std::to_string(i));
            if (r.status == 200) ++ok;
            if (++done == 10) all.cancel();
          }(c, i, done, ok, all),
          asio::detached);
    while (done < 10) co_await all.async_wait(as_tuple_awaitable);
    BOOST_TEST(ok == 10);
    BOOST_TEST(c.connections_opened() == 1u);
  });
}

BOOST_AUTO_TEST_CASE(faults_and_stalls_are_categorised) {
  TargetServer target;
  struct Case {
    const char* target;
    ErrorCategory category;
  };
  const Case cases[] = {
      {"/x?fault=close_before_response", ErrorCategory::reset},
      {"/x?fault=close_mid_response&size=100000", ErrorCategory::reset},
  };
  for (const auto& k : cases) {
    BOOST_TEST_CONTEXT(k.target) {
      run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
        Client c(ex, target.url(""), h2_options(Protocol::h2c));
        Response r = co_await get(c, k.target);
        BOOST_TEST(r.category == k.category);
        BOOST_TEST(r.status == 0);
        BOOST_TEST(!r.error.empty());
        r = co_await get(c, "/");  // a new connection after the fault
        BOOST_TEST(r.status == 200);
      });
    }
  }
  // A stall (pause_for) longer than the request timeout.
  target.pause_for(3s);
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Options o = h2_options(Protocol::h2c);
    o.request_timeout = 200ms;
    Client c(ex, target.url(""), o);
    Response r = co_await get(c, "/stalled");
    BOOST_TEST(r.category == ErrorCategory::timeout);
    BOOST_TEST(r.error.find("request timeout") != std::string::npos);
  });
}

BOOST_AUTO_TEST_CASE(h2_over_tls_by_alpn_and_fallback) {
  TempDir dir;
  Cert cert = make_cert(dir.path);
  for (bool server_h2 : {true, false}) {
    BOOST_TEST_CONTEXT("server offers h2: " << server_h2) {
      TargetServer::Options so;
      so.tls_cert_file = cert.cert;
      so.tls_key_file = cert.key;
      so.http2 = server_h2;
      TargetServer target(so);
      RouteSpec e;
      e.status = 418;
      target.route("/teapot", e);
      run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
        Options o = h2_options(Protocol::http2);
        o.ca_file = cert.cert;
        Client c(ex, target.url(""), o);
        Response r = co_await get(c, "/");
        BOOST_TEST(r.category == ErrorCategory::none, r.error);
        BOOST_TEST(r.status == 200);
        BOOST_TEST(c.protocol() == (server_h2 ? Protocol::http2 : Protocol::http1));
        r = co_await get(c, "/teapot");
        BOOST_TEST(r.status == 418);
        std::vector<Request> reqs(5, Request::make(Method::get, "/"));
        std::vector<Response> outs(5);
        co_await c.request_all(reqs, outs);
        for (const auto& x : outs) BOOST_TEST(x.status == 200);
      });
    }
  }
}

BOOST_AUTO_TEST_CASE(tls_certificate_is_verified) {
  TempDir dir;
  Cert cert = make_cert(dir.path);
  TargetServer::Options so;
  so.tls_cert_file = cert.cert;
  so.tls_key_file = cert.key;
  TargetServer target(so);
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Client c(ex, target.url(""), h2_options(Protocol::http2));  // no ca_file: not trusted
    Response r = co_await get(c, "/");
    BOOST_TEST(r.category == ErrorCategory::tls);
  });
}

BOOST_AUTO_TEST_CASE(request_all_over_http1_goes_in_turn) {
  TargetServer target;
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Client c(ex, target.url(""), h2_options(Protocol::http1));
    std::vector<Request> reqs{Request::make(Method::get, "/a"), Request::make(Method::get, "/b?status=404"),
                              Request::make(Method::get, "/c")};
    std::vector<Response> outs(reqs.size());
    co_await c.request_all(reqs, outs);
    BOOST_TEST(outs[0].status == 200);
    BOOST_TEST(outs[1].status == 404);
    BOOST_TEST(outs[2].status == 200);
    BOOST_TEST(c.protocol() == Protocol::http1);
    BOOST_TEST(c.refused_retries() == 0u);
    BOOST_TEST(c.connections_opened() == 1u);
  });
}

BOOST_AUTO_TEST_CASE(http2_on_cleartext_url_uses_http1) {
  TargetServer target;
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Client c(ex, target.url(""), h2_options(Protocol::http2));
    Response r = co_await get(c, "/");
    BOOST_TEST(r.status == 200);
    BOOST_TEST(c.protocol() == Protocol::http1);
  });
}

BOOST_AUTO_TEST_CASE(bad_options_throw) {
  asio::io_context ioc;
  Options o = h2_options(Protocol::h2c);
  o.max_streams = 0;
  BOOST_CHECK_THROW(Client(ioc.get_executor(), "http://127.0.0.1:1/", o), std::invalid_argument);
  o = h2_options(Protocol::h2c);
  try {
    Client c(ioc.get_executor(), "https://127.0.0.1:1/", o);
    BOOST_FAIL("h2c with https was accepted");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("h2c") != std::string::npos);
  }
  BOOST_TEST(to_string(Protocol::h2c) == "h2c");
}

BOOST_AUTO_TEST_CASE(closing_or_destroying_mid_request_is_safe) {
  TargetServer target;
  RouteSpec slow;
  slow.delay = 10s;
  target.set_default(slow);
  // close(): the waiting request ends as cancelled.
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Client c(ex, target.url(""), h2_options(Protocol::h2c));
    asio::steady_timer t(ex, 200ms);
    t.async_wait([&](boost::system::error_code) { c.close(); });
    Response r = co_await get(c, "/slow");
    BOOST_TEST(r.category == ErrorCategory::cancelled, r.error);
  });
  // The io_context goes away with requests, the reader and the writer suspended.
  for (int i = 0; i < 3; ++i) {
    asio::io_context ioc;
    auto c = std::make_shared<Client>(ioc.get_executor(), target.url(""), h2_options(Protocol::h2c));
    for (int k = 0; k < 4; ++k)
      asio::co_spawn(ioc, [](std::shared_ptr<Client> c) -> asio::awaitable<void> {
        co_await get(*c, "/slow");
      }(c), asio::detached);
    ioc.run_for(100ms);
    c.reset();
  }
}

BOOST_AUTO_TEST_CASE(connection_refused) {
  const auto port = closed_port();
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Client c(ex, "http://127.0.0.1:" + std::to_string(port), h2_options(Protocol::h2c));
    Response r = co_await get(c, "/");
    BOOST_TEST(r.category == ErrorCategory::connect_refused);
  });
}

BOOST_AUTO_TEST_SUITE_END()

// ---- a fake server: every error path ----------------------------------------------------------

BOOST_AUTO_TEST_SUITE(faults)

BOOST_AUTO_TEST_CASE(malformed_frames_are_protocol_errors) {
  struct Case {
    const char* name;
    std::string bytes;  // sent after the client's request arrived
    bool before_settings;
  };
  const Case cases[] = {
      {"SETTINGS of 5 bytes", frame(SETTINGS, 0, 0, "12345"), true},
      {"not HTTP/2 at all", "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", true},
      {"DATA on stream 0", frame(DATA, 0, 0, "xx"), false},
      {"HEADERS with a bad HPACK index", frame(HEADERS, END_HEADERS | END_STREAM, 1, "\xff\xff\xff\x0f"), false},
      {"a response without :status", frame(HEADERS, END_HEADERS | END_STREAM, 1, literal("x-a", "b")), false},
  };
  for (const auto& k : cases) {
    BOOST_TEST_CONTEXT(k.name) {
      Ran ran = against_fake(
          [&](tcp::socket& s, int) -> asio::awaitable<void> {
            if (k.before_settings) {
              co_await send(s, k.bytes);
              co_return;
            }
            co_await send(s, settings());
            co_await await_request(s);
            co_await send(s, k.bytes);
          },
          fault_options());
      BOOST_TEST(ran.response.category == ErrorCategory::protocol, ran.response.error);
      BOOST_TEST(ran.response.status == 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(no_settings_is_a_connect_timeout) {
  Options o = fault_options();
  o.connect_timeout = 300ms;
  Ran ran = against_fake([](tcp::socket&, int) -> asio::awaitable<void> { co_return; }, o);
  BOOST_TEST(ran.response.category == ErrorCategory::connect_timeout);
  BOOST_TEST(ran.response.error.find("SETTINGS") != std::string::npos, ran.response.error);
}

BOOST_AUTO_TEST_CASE(goaway_before_processing_is_retried_once) {
  Ran ran = against_fake(
      [](tcp::socket& s, int index) -> asio::awaitable<void> {
        co_await send(s, settings());
        auto id = co_await await_request(s);
        if (index == 0) {
          co_await send(s, goaway(0, 0));  // stream 1 was not processed
          s.close();
        } else {
          co_await send(s, ok_headers(id, true));
        }
      },
      fault_options());
  BOOST_TEST(ran.response.category == ErrorCategory::none, ran.response.error);
  BOOST_TEST(ran.response.status == 200);
  BOOST_TEST(ran.refused_retries == 1u);
  BOOST_TEST(ran.connections == 2u);
}

BOOST_AUTO_TEST_CASE(goaway_paths) {
  struct Case {
    const char* name;
    std::function<std::string(std::uint32_t id, int index)> reply;
    ErrorCategory category;
    std::uint64_t retries;
    const char* message;
  };
  const Case cases[] = {
      {"refused twice", [](std::uint32_t, int) { return goaway(0, 0); }, ErrorCategory::reset, 1, "GOAWAY"},
      {"processed, then closed", [](std::uint32_t id, int) { return goaway(id, 0); }, ErrorCategory::reset, 0,
       "GOAWAY"},
      {"GOAWAY PROTOCOL_ERROR", [](std::uint32_t id, int) { return goaway(id, 1); }, ErrorCategory::protocol, 0,
       "PROTOCOL_ERROR"},
      {"RST_STREAM PROTOCOL_ERROR", [](std::uint32_t id, int) { return rst(id, 1); }, ErrorCategory::protocol, 0,
       "PROTOCOL_ERROR"},
      {"RST_STREAM INTERNAL_ERROR", [](std::uint32_t id, int) { return rst(id, 2); }, ErrorCategory::reset, 0,
       "INTERNAL_ERROR"},
      {"RST_STREAM REFUSED_STREAM", [](std::uint32_t id, int) { return rst(id, 7); }, ErrorCategory::reset, 1,
       "REFUSED"},
      {"closed mid-response", [](std::uint32_t id, int) { return ok_headers(id, false); }, ErrorCategory::reset, 0,
       "closed"},
  };
  for (const auto& k : cases) {
    BOOST_TEST_CONTEXT(k.name) {
      Ran ran = against_fake(
          [&](tcp::socket& s, int index) -> asio::awaitable<void> {
            co_await send(s, settings());
            FrameReader reader;
            for (int n = 0; n < 2; ++n) {  // a retry after REFUSED_STREAM comes on the same connection
              auto id = co_await reader.next(s);
              if (id == 0) break;
              co_await send(s, k.reply(id, index));
              if (std::string_view(k.name).find("RST") == std::string_view::npos) s.close();
            }
          },
          fault_options());
      BOOST_TEST(ran.response.category == k.category, ran.response.error);
      BOOST_TEST(ran.response.error.find(k.message) != std::string::npos, ran.response.error);
      BOOST_TEST(ran.refused_retries == k.retries);
    }
  }
}

BOOST_AUTO_TEST_CASE(huge_header_list_is_refused_with_bounded_memory) {
  // About 1 MB of header block in CONTINUATION frames; the client gives up at 64 KB.
  Ran ran = against_fake(
      [](tcp::socket& s, int) -> asio::awaitable<void> {
        co_await send(s, settings());
        auto id = co_await await_request(s);
        std::string block = "\x88";
        const std::string value(100, 'v');
        for (int i = 0; i < 150; ++i) block += literal("x-h" + std::to_string(i % 10), value);
        co_await send(s, frame(HEADERS, 0, id, block));
        for (int i = 0; i < 60; ++i) co_await send(s, frame(CONTINUATION, 0, id, block.substr(1)));
      },
      fault_options());
  BOOST_TEST(ran.response.category == ErrorCategory::protocol, ran.response.error);
  BOOST_TEST(ran.response.error.find("64 KB") != std::string::npos, ran.response.error);
  BOOST_TEST(ran.response.headers.empty());
}

BOOST_AUTO_TEST_CASE(huge_single_header_is_a_protocol_error) {
  Ran ran = against_fake(
      [](tcp::socket& s, int) -> asio::awaitable<void> {
        co_await send(s, settings());
        auto id = co_await await_request(s);
        // one literal header whose value claims 1 MB (HPACK integer 127 + continuation bytes)
        std::string block = "\x88";
        block += '\0';
        block += '\x01';
        block += 'x';
        block += '\x7f';
        std::uint32_t rest = (1u << 20) - 127;
        while (rest >= 128) {
          block += static_cast<char>((rest & 0x7f) | 0x80);
          rest >>= 7;
        }
        block += static_cast<char>(rest);
        block += std::string(16000, 'v');
        co_await send(s, frame(HEADERS, 0, id, block));
        for (int i = 0; i < 70; ++i) co_await send(s, frame(CONTINUATION, 0, id, std::string(16000, 'v')));
      },
      fault_options());
  BOOST_TEST(ran.response.category == ErrorCategory::protocol, ran.response.error);
}

BOOST_AUTO_TEST_CASE(random_bytes_after_settings_end_in_an_error) {
  // Seeded garbage in place of a response: always an error, never a crash or a hang.
  for (unsigned seed = 0; seed < 12; ++seed) {
    BOOST_TEST_CONTEXT("seed " << seed) {
      Options o = fault_options();
      o.request_timeout = 500ms;
      Ran ran = against_fake(
          [seed](tcp::socket& s, int) -> asio::awaitable<void> {
            co_await send(s, settings());
            co_await await_request(s);
            std::mt19937 rng(seed);
            std::string junk(1 + rng() % 4000, '\0');
            for (auto& ch : junk) ch = static_cast<char>(rng());
            co_await send(s, std::move(junk));
          },
          o);
      BOOST_TEST(!ran.response.transport_ok());
      BOOST_TEST(ran.response.status == 0);
      BOOST_TEST(!ran.response.error.empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(stream_window_stalled_at_zero_times_out) {
  Options o = fault_options();
  o.request_timeout = 300ms;
  Ran ran = against_fake(
      [](tcp::socket& s, int) -> asio::awaitable<void> {
        std::string zero_window = settings({{4, 0}});  // SETTINGS_INITIAL_WINDOW_SIZE = 0, never a WINDOW_UPDATE
        co_await send(s, std::move(zero_window));  // (no braced list inside co_await: GCC 12 rejects it)
        co_await await_request(s);
      },
      o, Request::make(Method::post, "/upload", std::string(100000, 'u')));
  BOOST_TEST(ran.response.category == ErrorCategory::timeout, ran.response.error);
  BOOST_TEST(ran.accepted == 1);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- against nginx (a separate meson test: exit 77 when nginx is missing) ----------------------

namespace {

// nginx on two loopback ports (h2 over TLS, h2c), from an nginx.conf written in a temp dir.
struct Nginx {
  TempDir dir;
  pid_t pid = -1;
  std::uint16_t tls_port = 0, h2c_port = 0;
  Cert cert;

  Nginx() {
    const char* bin = std::getenv("NGINX");
    std::string nginx = bin ? bin : "/usr/sbin/nginx";
    if (::access(nginx.c_str(), X_OK) != 0) {
      std::fprintf(stderr, "nginx not found at %s: skipping (scripts/setup installs nginx-light)\n", nginx.c_str());
      std::exit(77);
    }
    cert = make_cert(dir.path);
    tls_port = closed_port();
    h2c_port = closed_port();
    const auto conf = dir.path / "nginx.conf";
    std::ofstream(conf) << "worker_processes 1;\n"
                           "pid " << (dir.path / "nginx.pid").string() << ";\n"
                           "error_log " << (dir.path / "error.log").string() << " warn;\n"
                           "events { worker_connections 256; }\n"
                           "http {\n"
                           "  access_log off;\n"
                           "  client_body_temp_path " << (dir.path / "body").string() << ";\n"
                           "  proxy_temp_path " << (dir.path / "proxy").string() << ";\n"
                           "  fastcgi_temp_path " << (dir.path / "fastcgi").string() << ";\n"
                           "  uwsgi_temp_path " << (dir.path / "uwsgi").string() << ";\n"
                           "  scgi_temp_path " << (dir.path / "scgi").string() << ";\n"
                           "  server {\n"
                           "    listen 127.0.0.1:" << tls_port << " ssl http2;\n"
                           "    listen 127.0.0.1:" << h2c_port << " http2;\n"
                           "    ssl_certificate " << cert.cert << ";\n"
                           "    ssl_certificate_key " << cert.key << ";\n"
                           "    location / { return 200 \"ok\\n\"; }\n"
                           "    location /missing { return 404; }\n"
                           "  }\n"
                           "}\n";
    pid = ::fork();
    if (pid == 0) {
      ::execl(nginx.c_str(), nginx.c_str(), "-e", (dir.path / "error.log").c_str(), "-p", dir.path.c_str(), "-c",
              conf.c_str(), "-g", "daemon off; master_process off;", static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    // Wait (at most 10 s) until both ports accept.
    for (int i = 0; i < 100; ++i) {
      if (accepts(tls_port) && accepts(h2c_port)) return;
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        throw std::runtime_error("nginx exited early: " + loadtest::test_support::slurp(dir.path / "error.log"));
      }
      std::this_thread::sleep_for(100ms);
    }
    throw std::runtime_error("nginx did not listen within 10 s");
  }
  ~Nginx() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      int status = 0;
      for (int i = 0; i < 50 && ::waitpid(pid, &status, WNOHANG) == 0; ++i) std::this_thread::sleep_for(100ms);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
  }
  static bool accepts(std::uint16_t port) {
    asio::io_context ioc;
    tcp::socket s(ioc);
    boost::system::error_code ec;
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    return !ec;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(nginx)

BOOST_AUTO_TEST_CASE(h2_and_h2c_against_nginx) {
  Nginx nginx;
  struct Case {
    Protocol protocol;
    std::string url;
  };
  const Case cases[] = {
      {Protocol::http2, "https://127.0.0.1:" + std::to_string(nginx.tls_port)},
      {Protocol::h2c, "http://127.0.0.1:" + std::to_string(nginx.h2c_port)},
  };
  for (const auto& k : cases) {
    BOOST_TEST_CONTEXT(k.url) {
      run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
        Options o = h2_options(k.protocol);
        o.ca_file = nginx.cert.cert;
        Client c(ex, k.url, o);
        Response r = co_await get(c, "/");
        BOOST_TEST(r.category == ErrorCategory::none, r.error);
        BOOST_TEST(r.status == 200);
        BOOST_TEST(r.body == "ok\n");
        BOOST_TEST(c.protocol() == k.protocol);
        auto missing = Request::make(Method::get, "/missing");
        r = co_await c.request(missing);
        BOOST_TEST(loadtest::http::check_status(missing, r).category == ErrorCategory::http_4xx);
        std::vector<Request> reqs(50, Request::make(Method::get, "/"));
        std::vector<Response> outs(reqs.size());
        co_await c.request_all(reqs, outs);
        for (const auto& x : outs) BOOST_TEST(x.status == 200);
        r = co_await c.request(Request::make(Method::post, "/", std::string(100000, 'p')));
        BOOST_TEST(r.category == ErrorCategory::none, r.error);
        BOOST_TEST(c.connections_opened() == 1u);
      });
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
