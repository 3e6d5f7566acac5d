// Fuzzes the HTTP client's response path with bytes from a fake server: every input is one
// response, written by a server on 127.0.0.1 (in this process) to a real http::Client request,
// then the server closes. This runs the client's own parser (header and body limits, chunked
// bodies, Content-Length, 1xx, Retry-After), its error categories and its cookie jar (Set-Cookie),
// exactly as a load test would.
//
// A response must end as a status (complete) or a transport error with a category; the request
// never hangs (the server closes after writing; the client's request timeout is the backstop).
#include "loadtest/cookies.hpp"
#include "loadtest/http.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cstdlib>
#include <exception>
#include <string>

#include "fuzz.hpp"

namespace asio = boost::asio;
namespace lt = loadtest;
using asio::ip::tcp;

namespace {

struct Fixture {
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::string url = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

// Accepts one connection, reads the request head, writes `bytes`, closes.
asio::awaitable<void> serve_once(tcp::acceptor& acceptor, std::string bytes) {
  boost::system::error_code ec;
  tcp::socket s = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  asio::streambuf head(64 * 1024);
  co_await asio::async_read_until(s, head, "\r\n\r\n", asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) co_await asio::async_write(s, asio::buffer(bytes), asio::redirect_error(asio::use_awaitable, ec));
  s.shutdown(tcp::socket::shutdown_both, ec);
  s.close(ec);
}

asio::awaitable<void> request_once(lt::http::Client& client, lt::http::Response& out) {
  static const lt::http::Request req = lt::http::Request::make(lt::http::Method::get, "/fuzz?x=1");
  co_await client.request(req, out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Fixture& f = fixture();
  lt::http::Options opts;
  opts.connect_timeout = std::chrono::seconds(2);
  opts.request_timeout = std::chrono::seconds(2);
  opts.keep_alive = false;  // one connection per input: no retry on a reused connection
  lt::http::Client client(f.ioc.get_executor(), f.url, opts);
  lt::http::CookieJar jar;
  client.set_cookie_jar(&jar);
  lt::http::Response res;

  auto rethrow = [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);  // an exception escaping the client is a finding
  };
  asio::co_spawn(f.ioc, serve_once(f.acceptor, std::string(lt::fuzz::text(data, size))), rethrow);
  asio::co_spawn(f.ioc, request_once(client, res), rethrow);
  f.ioc.run();
  f.ioc.restart();

  if (res.transport_ok() == (res.status == 0)) std::abort();  // a status exactly when complete
  if (!res.transport_ok() && res.error.empty()) std::abort();  // an error always says what
  (void)lt::http::check_status(lt::http::Request::make(lt::http::Method::get, "/fuzz"), res, 200);
  (void)jar.header_value("127.0.0.1", "/fuzz");
  return 0;
}
