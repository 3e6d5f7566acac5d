#define BOOST_TEST_MODULE http
#include <boost/test/unit_test.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "loadtest/detail/http_errors.hpp"
#include "loadtest/http.hpp"
#include "loadtest/testing/target_server.hpp"
#include "test_support.hpp"

#if LOADTEST_HAS_TLS
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#endif

namespace loadtest {
std::ostream& operator<<(std::ostream& os, ErrorCategory c) { return os << to_string(c); }
std::ostream& operator<<(std::ostream& os, Status s) { return os << to_string(s); }
namespace http {
std::ostream& operator<<(std::ostream& os, Method m) { return os << to_string(m); }
}  // namespace http
}  // namespace loadtest

namespace asio = boost::asio;
using asio::ip::tcp;
using loadtest::Clock;
using loadtest::Duration;
using loadtest::ErrorCategory;
using loadtest::Status;
using loadtest::http::Client;
using loadtest::http::Method;
using loadtest::http::Options;
using loadtest::http::Request;
using loadtest::http::Response;
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
    ioc.stop();  // raw servers of the test may still be accepting
  });
  ioc.run_for(limit);
  BOOST_REQUIRE_MESSAGE(done, "the test coroutine did not finish in time");
  if (error) std::rethrow_exception(error);
}

Options quick_options() {
  Options o;
  o.connect_timeout = 5s;
  o.request_timeout = 5s;
  return o;
}

asio::awaitable<Response> get(Client& c, std::string target) {
  co_return co_await c.request(Request::make(Method::get, std::move(target)));
}

// A port nothing listens on: bind one, remember it, close it.
std::uint16_t closed_port() {
  asio::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto port = a.local_endpoint().port();
  a.close();
  return port;
}

// A raw TCP server on 127.0.0.1 (bounded in connections): reads one request head per connection,
// writes `reply` and closes.
class RawServer {
 public:
  RawServer(asio::any_io_executor ex, std::string reply, int max_connections = 8)
      : acceptor_(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), reply_(std::move(reply)) {
    asio::co_spawn(ex, serve(max_connections), [](std::exception_ptr) {});
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url(const char* path = "/") const { return "http://127.0.0.1:" + std::to_string(port()) + path; }
  int accepted() const { return accepted_; }
  /** The head of the last request read. */
  const std::string& last_request() const { return last_request_; }

 private:
  asio::awaitable<void> serve(int max_connections) {
    for (int i = 0; i < max_connections; ++i) {
      auto [ec, socket] = co_await acceptor_.async_accept(as_tuple_awaitable);
      if (ec) co_return;
      ++accepted_;
      std::string in;
      auto [rec, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(in, 64 * 1024), "\r\n\r\n",
                                                       as_tuple_awaitable);
      last_request_ = in.substr(0, n);
      if (!rec) co_await asio::async_write(socket, asio::buffer(reply_), as_tuple_awaitable);
      boost::system::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_send, ignored);
      socket.close(ignored);
    }
  }
  tcp::acceptor acceptor_;
  std::string reply_;
  int accepted_ = 0;
  std::string last_request_;
};

// How many times `name: ` starts a line of a request head (case-insensitive).
int count_header(const std::string& head, std::string name) {
  std::string lower_head = head;
  std::transform(lower_head.begin(), lower_head.end(), lower_head.begin(), [](unsigned char c) { return std::tolower(c); });
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  int n = 0;
  for (std::size_t at = lower_head.find("\r\n" + name + ":"); at != std::string::npos;
       at = lower_head.find("\r\n" + name + ":", at + 1))
    ++n;
  return n;
}

// A chunked response of `chunks` chunks of `chunk_size` bytes: a huge body in little memory.
std::string chunked_reply(std::size_t chunk_size, std::size_t chunks) {
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk_size);
  std::string chunk = size_line + std::string(chunk_size, 'b') + "\r\n";
  std::string out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
  out.reserve(out.size() + chunk.size() * chunks + 8);
  for (std::size_t i = 0; i < chunks; ++i) out += chunk;
  return out + "0\r\n\r\n";
}

#if LOADTEST_HAS_TLS
// PEM files of a key and its self-signed certificate.
struct CertFiles {
  std::string cert, key;
};

// Makes a P-256 key and a self-signed v3 certificate valid for a day whose subjectAltName is `san`
// (e.g. "IP:127.0.0.1,DNS:localhost"), with the OpenSSL C API; writes NAME.crt and NAME.key to `dir`.
CertFiles make_self_signed(const std::filesystem::path& dir, const std::string& name, const std::string& san,
                           long serial) {
  auto check = [](bool ok, const char* what) {
    if (!ok) throw std::runtime_error(std::string("making a test certificate: ") + what + " failed");
  };
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"),
                                                          &EVP_PKEY_free);
  check(key != nullptr, "EVP_PKEY_Q_keygen");
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), &X509_free);
  check(cert != nullptr, "X509_new");
  X509* x = cert.get();
  check(X509_set_version(x, 2) == 1, "X509_set_version");  // v3
  check(ASN1_INTEGER_set(X509_get_serialNumber(x), serial) == 1, "ASN1_INTEGER_set");
  check(X509_gmtime_adj(X509_getm_notBefore(x), -3600) != nullptr, "notBefore");
  check(X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600) != nullptr, "notAfter");
  check(X509_set_pubkey(x, key.get()) == 1, "X509_set_pubkey");
  X509_NAME* subject = X509_get_subject_name(x);
  check(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0) == 1,
        "X509_NAME_add_entry_by_txt");
  check(X509_set_issuer_name(x, subject) == 1, "X509_set_issuer_name");  // self-signed
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
  check(ext != nullptr, "X509V3_EXT_conf_nid(subjectAltName)");
  const int added = X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  check(added == 1, "X509_add_ext");
  check(X509_sign(x, key.get(), EVP_sha256()) > 0, "X509_sign");

  CertFiles files{(dir / (name + ".crt")).string(), (dir / (name + ".key")).string()};
  auto write = [&](const std::string& path, auto&& emit) {
    std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new_file(path.c_str(), "w"), &BIO_free);
    check(out != nullptr, "BIO_new_file");
    check(emit(out.get()) == 1, "PEM_write");
  };
  write(files.cert, [&](BIO* b) { return PEM_write_bio_X509(b, x); });
  write(files.key, [&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  return files;
}
#endif

}  // namespace

BOOST_AUTO_TEST_SUITE(http)

// ---- parsing -----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(parse_url_valid) {
  struct Case {
    const char* text;
    const char* scheme;
    const char* host;
    std::uint16_t port;
    const char* target;
    bool tls;
  };
  const Case cases[] = {
      {"http://127.0.0.1:8080/items?page=2", "http", "127.0.0.1", 8080, "/items?page=2", false},
      {"http://localhost", "http", "localhost", 80, "/", false},
      {"https://example.com", "https", "example.com", 443, "/", true},
      {"https://example.com:8443/api/v1", "https", "example.com", 8443, "/api/v1", true},
      {"HTTP://example.com/a#fragment", "http", "example.com", 80, "/a", false},
      {"http://[::1]:9000/x", "http", "::1", 9000, "/x", false},
      {"http://h/?q=1&r=2", "http", "h", 80, "/?q=1&r=2", false},
      {"http://h:65535/p%20q", "http", "h", 65535, "/p%20q", false},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.text) {
      auto u = loadtest::http::parse_url(c.text);
      BOOST_TEST(u.scheme == c.scheme);
      BOOST_TEST(u.host == c.host);
      BOOST_TEST(u.port == c.port);
      BOOST_TEST(u.target == c.target);
      BOOST_TEST(u.tls() == c.tls);
    }
  }
}

BOOST_AUTO_TEST_CASE(parse_url_invalid) {
  const char* cases[] = {"",          "127.0.0.1:8080",    "ftp://example.com/", "http://",
                         "http:///x", "http://h:0/",       "http://h:70000/",    "http://h:abc/",
                         "not a url", "/relative/path",    "http://user:pw@h/",  "mailto:someone@example.com"};
  for (const char* text : cases) {
    BOOST_TEST_CONTEXT("'" << text << "'") {
      BOOST_CHECK_EXCEPTION(loadtest::http::parse_url(text), std::invalid_argument, [&](const auto& e) {
        return std::string(e.what()).find("invalid URL '" + std::string(text) + "'") == 0;
      });
    }
  }
}

BOOST_AUTO_TEST_CASE(parse_method_table) {
  struct Case {
    const char* text;
    Method method;
    const char* wire;
  };
  const Case cases[] = {{"GET", Method::get, "GET"},          {"get", Method::get, "GET"},
                        {"Post", Method::post, "POST"},       {"PUT", Method::put, "PUT"},
                        {"patch", Method::patch, "PATCH"},    {"DELETE", Method::delete_, "DELETE"},
                        {"head", Method::head, "HEAD"},       {"OPTIONS", Method::options, "OPTIONS"}};
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.text) {
      BOOST_TEST(loadtest::http::parse_method(c.text) == c.method);
      BOOST_TEST(loadtest::http::to_string(c.method) == c.wire);
    }
  }
  for (const char* bad : {"", "FETCH", "GETS", " GET"}) {
    BOOST_TEST_CONTEXT("'" << bad << "'") {
      BOOST_CHECK_EXCEPTION(loadtest::http::parse_method(bad), std::invalid_argument, [&](const auto& e) {
        return std::string(e.what()).find("'" + std::string(bad) + "'") != std::string::npos;
      });
    }
  }
}

BOOST_AUTO_TEST_CASE(request_make_names_the_endpoint) {
  struct Case {
    Method m;
    const char* target;
    const char* name;
    const char* sent;
  };
  const Case cases[] = {{Method::get, "/items?page=2", "GET /items", "/items?page=2"},
                        {Method::post, "/orders", "POST /orders", "/orders"},
                        {Method::delete_, "", "DELETE /", "/"}};
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      auto r = Request::make(c.m, c.target, "x");
      BOOST_TEST(r.name == c.name);
      BOOST_TEST(r.target == c.sent);
      BOOST_TEST(r.body == "x");
    }
  }
}

BOOST_AUTO_TEST_CASE(response_header_is_case_insensitive) {
  Response r;
  r.headers = {{"Content-Type", "text/plain"}, {"X-Id", "7"}};
  BOOST_TEST(r.header("content-type") == "text/plain");
  BOOST_TEST(r.header("X-ID") == "7");
  BOOST_TEST(r.header("missing").empty());
}

BOOST_AUTO_TEST_CASE(check_status_table) {
  auto req = Request::make(Method::get, "/x");
  struct Case {
    const char* what;
    int status;
    ErrorCategory transport;
    int expected;
    Status outcome;
    ErrorCategory category;
    const char* message;
  };
  const Case cases[] = {
      {"200 ok", 200, ErrorCategory::none, 200, Status::success, ErrorCategory::none, ""},
      {"201 expected", 201, ErrorCategory::none, 201, Status::success, ErrorCategory::none, ""},
      {"503", 503, ErrorCategory::none, 200, Status::failure, ErrorCategory::http_5xx, "HTTP 503"},
      {"404", 404, ErrorCategory::none, 200, Status::failure, ErrorCategory::http_4xx, "HTTP 404"},
      {"302", 302, ErrorCategory::none, 200, Status::failure, ErrorCategory::business, "HTTP 302 (expected 200)"},
      {"transport", 0, ErrorCategory::reset, 200, Status::error, ErrorCategory::reset, "connection reset"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      Response res;
      res.status = c.status;
      res.category = c.transport;
      if (c.transport != ErrorCategory::none) res.error = "connection reset";
      res.retry_after = 3s;
      auto o = loadtest::http::check_status(req, res, c.expected);
      BOOST_TEST(o.status == c.outcome);
      BOOST_TEST(o.category == c.category);
      BOOST_TEST(o.message == c.message);
      BOOST_TEST(o.http_status == c.status);
      BOOST_TEST(o.name.data() == req.name.data());  // a view into the request
      BOOST_TEST((o.retry_after == 3s));
    }
  }
}

BOOST_AUTO_TEST_CASE(categorize_table) {
  using loadtest::detail::categorize;
  using loadtest::detail::HttpPhase;
  namespace bhttp = boost::beast::http;
  struct Case {
    const char* what;
    boost::system::error_code ec;
    HttpPhase phase;
    ErrorCategory expected;
  };
  const Case cases[] = {
      {"none", {}, HttpPhase::read, ErrorCategory::none},
      {"host not found", asio::error::host_not_found, HttpPhase::resolve, ErrorCategory::dns},
      {"try again", asio::error::host_not_found_try_again, HttpPhase::resolve, ErrorCategory::dns},
      {"service", asio::error::service_not_found, HttpPhase::resolve, ErrorCategory::dns},
      {"no data", asio::error::no_data, HttpPhase::resolve, ErrorCategory::dns},
      {"resolve timeout", boost::beast::error::timeout, HttpPhase::resolve, ErrorCategory::connect_timeout},
      {"refused", asio::error::connection_refused, HttpPhase::connect, ErrorCategory::connect_refused},
      {"connect timeout", boost::beast::error::timeout, HttpPhase::connect, ErrorCategory::connect_timeout},
      {"os connect timeout", asio::error::timed_out, HttpPhase::connect, ErrorCategory::connect_timeout},
      {"unreachable", asio::error::host_unreachable, HttpPhase::connect, ErrorCategory::reset},
      {"handshake timeout", boost::beast::error::timeout, HttpPhase::handshake, ErrorCategory::connect_timeout},
      {"handshake eof", asio::error::eof, HttpPhase::handshake, ErrorCategory::tls},
      {"write timeout", boost::beast::error::timeout, HttpPhase::write, ErrorCategory::timeout},
      {"read timeout", boost::beast::error::timeout, HttpPhase::read, ErrorCategory::timeout},
      {"reset", asio::error::connection_reset, HttpPhase::read, ErrorCategory::reset},
      {"broken pipe", asio::error::broken_pipe, HttpPhase::write, ErrorCategory::reset},
      {"eof", asio::error::eof, HttpPhase::read, ErrorCategory::reset},
      {"end of stream", bhttp::error::end_of_stream, HttpPhase::read, ErrorCategory::reset},
      {"partial", bhttp::error::partial_message, HttpPhase::read, ErrorCategory::reset},
      {"bad version", bhttp::error::bad_version, HttpPhase::read, ErrorCategory::protocol},
      {"bad status", bhttp::error::bad_status, HttpPhase::read, ErrorCategory::protocol},
      {"body limit", bhttp::error::body_limit, HttpPhase::read, ErrorCategory::protocol},
      {"aborted", asio::error::operation_aborted, HttpPhase::read, ErrorCategory::cancelled},
      {"emfile on connect", asio::error::no_descriptors, HttpPhase::connect, ErrorCategory::local_resources},
      {"emfile on read", asio::error::no_descriptors, HttpPhase::read, ErrorCategory::local_resources},
      {"enfile", make_error_code(boost::system::errc::too_many_files_open_in_system), HttpPhase::connect,
       ErrorCategory::local_resources},
      {"no local port", make_error_code(boost::system::errc::address_not_available), HttpPhase::connect, ErrorCategory::local_resources},
      {"other", asio::error::network_down, HttpPhase::read, ErrorCategory::reset},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      BOOST_TEST(categorize(c.ec, c.phase) == c.expected);
      auto msg = loadtest::detail::describe(c.ec, c.phase, "127.0.0.1:9");
      BOOST_TEST(msg.empty() == (c.expected == ErrorCategory::none));
    }
  }
  BOOST_TEST(loadtest::detail::describe(asio::error::connection_refused, HttpPhase::connect, "127.0.0.1:9") ==
             "connection refused (127.0.0.1:9)");
  // the message names the limit
  const auto emfile = loadtest::detail::describe(asio::error::no_descriptors, HttpPhase::connect, "127.0.0.1:9");
  BOOST_TEST(emfile.find("RLIMIT_NOFILE") != std::string::npos, emfile);
  BOOST_TEST(emfile.find("EMFILE") != std::string::npos, emfile);
}

BOOST_AUTO_TEST_CASE(client_rejects_bad_configuration) {
  asio::io_context ioc;
  auto ex = ioc.get_executor();
  BOOST_CHECK_EXCEPTION(Client(ex, "ftp://127.0.0.1/"), std::invalid_argument,
                        [](const auto& e) { return std::string(e.what()).find("ftp://127.0.0.1/") != std::string::npos; });
  Options zero = quick_options();
  zero.request_timeout = 0s;
  BOOST_CHECK_EXCEPTION(Client(ex, "http://127.0.0.1/", zero), std::invalid_argument,
                        [](const auto& e) { return std::string(e.what()).find("request_timeout") != std::string::npos; });
  Options bad_header = quick_options();
  bad_header.headers = {{"Bad Name", "x"}};
  BOOST_CHECK_EXCEPTION(Client(ex, "http://127.0.0.1/", bad_header), std::invalid_argument,
                        [](const auto& e) { return std::string(e.what()).find("'Bad Name'") != std::string::npos; });
  Options bad_value = quick_options();
  bad_value.headers = {{"X-A", "x\r\nInjected: 1"}};
  BOOST_CHECK_THROW(Client(ex, "http://127.0.0.1/", bad_value), std::invalid_argument);
#if LOADTEST_HAS_TLS
  Client secure(ex, "https://127.0.0.1:8443/");
  BOOST_TEST(secure.base().tls());
  Options missing_ca = quick_options();
  missing_ca.ca_file = "/nonexistent/ca.pem";
  BOOST_CHECK_EXCEPTION(Client(ex, "https://127.0.0.1/", missing_ca), std::invalid_argument,
                        [](const auto& e) { return std::string(e.what()).find("/nonexistent/ca.pem") != std::string::npos; });
#else
  BOOST_CHECK_THROW(Client(ex, "https://127.0.0.1/"), std::invalid_argument);
#endif
}

// ---- client against the embedded target ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(get_and_post_round_trip) {
  TargetServer server;
  RouteSpec items;
  items.body = R"({"items":[1,2,3]})";
  items.content_type = "application/json";
  items.headers = {{"X-Served-By", "target"}, {"Retry-After", "7"}};
  server.route("/items", items);
  RouteSpec orders;
  orders.status = 201;
  orders.body = "created\n";
  orders.require_cookie = "session=abc";  // proves request headers are sent
  server.route("/orders", orders);

  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Client client(ex, server.url(), quick_options());
    auto res = co_await get(client, "/items?page=1");
    BOOST_TEST(res.transport_ok());
    BOOST_TEST(res.status == 200);
    BOOST_TEST(res.body == items.body);
    BOOST_TEST(res.header("content-type") == "application/json");
    BOOST_TEST(res.header("x-served-by") == "target");
    BOOST_TEST((res.retry_after == 7s));

    auto post = Request::make(Method::post, "/orders", "{\"sku\":42}");
    post.headers = {{"Content-Type", "application/json"}, {"Cookie", "theme=dark; session=abc"}};
    res = co_await client.request(post);
    BOOST_TEST(res.status == 201);
    BOOST_TEST(res.body == "created\n");
    BOOST_TEST(loadtest::http::check_status(post, res, 201).ok());

    post.headers.clear();  // without the cookie
    res = co_await client.request(post);
    BOOST_TEST(res.status == 401);
    BOOST_TEST((loadtest::http::check_status(post, res, 201).category == ErrorCategory::http_4xx));

    auto head = Request::make(Method::head, "/items");
    res = co_await client.request(head);
    BOOST_TEST(res.status == 200);
    BOOST_TEST(res.body.empty());
    BOOST_TEST(client.connections_opened() == 1u);
  });
  BOOST_TEST(server.requests("/items") == 2u);
  BOOST_TEST(server.requests("/orders") == 2u);
}

BOOST_AUTO_TEST_CASE(options_headers_are_sent_with_every_request) {
  TargetServer server;
  RouteSpec secret;
  secret.require_cookie = "token=t1";
  server.route("/secret", secret);
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Options o = quick_options();
    o.headers = {{"Cookie", "token=t1"}};
    Client client(ex, server.url(), o);
    for (int i = 0; i < 3; ++i) {
      auto res = co_await get(client, "/secret");
      BOOST_TEST(res.status == 200);
    }
  });
}

BOOST_AUTO_TEST_CASE(response_is_reused_between_requests) {
  TargetServer server;
  RouteSpec many;
  many.body = std::string(1000, 'a');
  many.headers = {{"X-1", "1"}, {"X-2", "2"}, {"X-3", "3"}};
  server.route("/many", many);
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Client client(ex, server.url(), quick_options());
    Response res;
    co_await client.request(Request::make(Method::get, "/many"), res);
    BOOST_TEST(res.body.size() == 1000u);
    BOOST_TEST(res.header("X-3") == "3");
    const auto headers_with_extras = res.headers.size();
    co_await client.request(Request::make(Method::get, "/"), res);
    BOOST_TEST(res.body == "ok\n");
    BOOST_TEST(res.headers.size() == headers_with_extras - 3);
    BOOST_TEST(res.header("X-1").empty());
    BOOST_TEST(res.body.capacity() >= 1000u);  // cleared, not reallocated
  });
}

BOOST_AUTO_TEST_CASE(keep_alive_reuses_one_connection) {
  TargetServer server;
  constexpr int n = 50;
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Client client(ex, server.url(), quick_options());
    Response res;
    auto req = Request::make(Method::get, "/");
    for (int i = 0; i < n; ++i) {
      co_await client.request(req, res);
      BOOST_TEST_REQUIRE(res.status == 200);
    }
    BOOST_TEST(client.connections_opened() == 1u);
  });
  BOOST_TEST(server.connections_accepted() == 1u);
  BOOST_TEST(server.requests("/") == std::uint64_t(n));
}

BOOST_AUTO_TEST_CASE(reconnects_after_the_server_closes) {
  TargetServer server;
  RouteSpec closing;
  closing.headers = {{"Connection", "close"}};
  server.route("/close", closing);
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Client client(ex, server.url(), quick_options());
    for (int i = 0; i < 3; ++i) {
      auto res = co_await get(client, "/close");
      BOOST_TEST(res.status == 200);
      BOOST_TEST(res.header("connection") == "close");
    }
    BOOST_TEST(client.connections_opened() == 3u);
    client.close();  // an explicit close also reconnects
    auto res = co_await get(client, "/");
    BOOST_TEST(res.status == 200);
    BOOST_TEST(client.connections_opened() == 4u);

    Options no_keep_alive = quick_options();
    no_keep_alive.keep_alive = false;
    Client once(ex, server.url(), no_keep_alive);
    for (int i = 0; i < 3; ++i) BOOST_TEST((co_await get(once, "/")).status == 200);
    BOOST_TEST(once.connections_opened() == 3u);
  });
  BOOST_TEST(server.connections_accepted() == 7u);
}

BOOST_AUTO_TEST_CASE(stale_keep_alive_connection_is_retried_once) {
  // The raw server answers one request per connection without saying so, then closes:
  // the second request finds a dead connection and must go out again on a fresh one.
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    RawServer raw(ex, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    Client client(ex, raw.url(), quick_options());
    for (int i = 0; i < 3; ++i) {
      auto res = co_await get(client, "/");
      BOOST_TEST_CONTEXT("request " << i) {
        BOOST_TEST(res.transport_ok(), res.error);
        BOOST_TEST(res.body == "ok");
      }
    }
    BOOST_TEST(client.connections_opened() == 3u);
    BOOST_TEST(raw.accepted() == 3);
  });
}

BOOST_AUTO_TEST_CASE(error_categories) {
  TargetServer server;
  RouteSpec slow;
  slow.delay = 10s;  // never waited for: the client gives up and the server stops
  server.route("/slow", slow);
  RouteSpec mid;
  mid.body = std::string(1000, 'm');
  mid.fault = RouteSpec::Fault::close_mid_response;
  server.route("/mid", mid);
  RouteSpec before;
  before.fault = RouteSpec::Fault::close_before_response;
  server.route("/before", before);
  RouteSpec fail;
  fail.status = 500;
  server.route("/500", fail);
  const auto refused_port = closed_port();

  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto expect = [](const Response& res, ErrorCategory cat, const char* what) {
      BOOST_TEST_MESSAGE(what << ": " << res.category << ": " << res.error);
      BOOST_TEST_CONTEXT(what) {
        BOOST_TEST(res.category == cat, res.error);
        BOOST_TEST(res.status == 0);
        BOOST_TEST(!res.error.empty());
        BOOST_TEST(!res.transport_ok());
      }
    };
    {
      const std::string where = "127.0.0.1:" + std::to_string(refused_port);
      Client c(ex, "http://" + where + "/", quick_options());
      auto res = co_await get(c, "/");
      expect(res, ErrorCategory::connect_refused, "closed port");
      BOOST_TEST(res.error == "connection refused (" + where + ")");
      auto o = loadtest::http::check_status(Request::make(Method::get, "/"), res);
      BOOST_TEST(o.status == Status::error);
      BOOST_TEST(o.category == ErrorCategory::connect_refused);
    }
    {
      Client c(ex, "http://nonexistent.invalid/", quick_options());
      expect(co_await get(c, "/"), ErrorCategory::dns, "dns");
    }
    {
      Options o = quick_options();
      o.request_timeout = 200ms;
      Client c(ex, server.url(), o);
      expect(co_await get(c, "/slow"), ErrorCategory::timeout, "slow path");
    }
    {
      Client c(ex, server.url(), quick_options());
      expect(co_await get(c, "/mid"), ErrorCategory::reset, "close mid-response");
    }
    {
      Client c(ex, server.url(), quick_options());
      expect(co_await get(c, "/before"), ErrorCategory::reset, "close before response");
    }
    {
      Client c(ex, server.url(), quick_options());
      auto req = Request::make(Method::get, "/500");
      auto res = co_await c.request(req);
      BOOST_TEST(res.transport_ok());
      auto o = loadtest::http::check_status(req, res);
      BOOST_TEST(o.status == Status::failure);
      BOOST_TEST(o.category == ErrorCategory::http_5xx);
      BOOST_TEST(o.message == "HTTP 500");
      req = Request::make(Method::get, "/missing?status=404");
      res = co_await c.request(req);
      o = loadtest::http::check_status(req, res);
      BOOST_TEST(o.category == ErrorCategory::http_4xx);
      BOOST_TEST(o.http_status == 404);
    }
    {
      RawServer garbage(ex, "garbage is not HTTP\r\n\r\n");
      Client c(ex, garbage.url(), quick_options());
      expect(co_await get(c, "/"), ErrorCategory::protocol, "garbage server");
    }
  });
  BOOST_TEST(server.requests("/before") == 1u);  // a fresh connection is not retried
}

#if LOADTEST_HAS_TLS
BOOST_AUTO_TEST_CASE(tls_errors) {
  TargetServer server;
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    {
      // https:// to the plain-HTTP target: the handshake fails.
      Client c(ex, "https://127.0.0.1:" + std::to_string(server.port()) + "/", quick_options());
      auto res = co_await get(c, "/");
      BOOST_TEST_MESSAGE("https to plain HTTP: " << res.error);
      BOOST_TEST(res.category == ErrorCategory::tls, res.error);
    }
    {
      // A listener that never answers: the TLS handshake times out within connect_timeout.
      tcp::acceptor silent(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      Options o = quick_options();
      o.connect_timeout = 200ms;
      Client c(ex, "https://127.0.0.1:" + std::to_string(silent.local_endpoint().port()) + "/", o);
      auto res = co_await get(c, "/");
      BOOST_TEST_MESSAGE("silent TLS server: " << res.error);
      BOOST_TEST(res.category == ErrorCategory::connect_timeout, res.error);
    }
  });
}
#endif

#if LOADTEST_HAS_TLS
// HTTPS end to end: the embedded target with a self-signed certificate made at test time.
BOOST_AUTO_TEST_CASE(https_end_to_end) {
  loadtest::test_support::TempDir dir;
  const auto good = make_self_signed(dir.path, "loadtest-target", "IP:127.0.0.1,DNS:localhost", 1);
  const auto other = make_self_signed(dir.path, "elsewhere", "DNS:elsewhere.invalid", 2);
  TargetServer server({.tls_cert_file = good.cert, .tls_key_file = good.key});
  TargetServer mismatched({.tls_cert_file = other.cert, .tls_key_file = other.key});
  RouteSpec bye;
  bye.headers = {{"Connection", "close"}};
  server.route("/bye", bye);
  const std::string port = std::to_string(server.port());
  BOOST_TEST(server.url() == "https://127.0.0.1:" + port + "/");
  BOOST_TEST(server.url("") == "https://127.0.0.1:" + port);

  auto options = [](const std::string& ca_file, bool insecure) {
    Options o = quick_options();
    o.ca_file = ca_file;
    o.insecure = insecure;
    return o;
  };
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    {
      // Trusted through ca_file: keep-alive carries every request on one TLS connection.
      Client c(ex, server.url(), options(good.cert, false));
      for (int i = 0; i < 5; ++i) {
        auto res = co_await get(c, "/");
        BOOST_TEST(res.category == ErrorCategory::none, res.error);
        BOOST_TEST(res.status == 200);
        BOOST_TEST(res.body == "ok\n");
      }
      BOOST_TEST(c.connections_opened() == 1u);
      auto res = co_await get(c, "/big?size=100000");  // spans several TLS records
      BOOST_TEST(res.status == 200, res.error);
      BOOST_TEST(res.body.size() == 100000u);
      BOOST_TEST((res.body.find_first_not_of('x') == std::string::npos));
      res = co_await get(c, "/x?status=503");
      BOOST_TEST(res.status == 503, res.error);
      // A request body past one TLS record (16 KB) goes out whole.
      for (std::size_t size : {1000u, 16000u, 20000u, 100000u}) {
        auto post = Request::make(Method::post, "/upload", std::string(size, 'b'));
        auto up = co_await c.request(post);
        BOOST_TEST_CONTEXT("body of " << size << " bytes") { BOOST_TEST(up.status == 200, up.error); }
      }
      BOOST_TEST(c.connections_opened() == 1u);
      res = co_await get(c, "/bye");  // the server closes with close_notify
      BOOST_TEST(res.status == 200, res.error);
      res = co_await get(c, "/");
      BOOST_TEST(res.status == 200, res.error);
      BOOST_TEST(c.connections_opened() == 2u);
    }
    struct Case {
      const char* what;
      std::string url;
      std::string ca_file;
      bool insecure;
      ErrorCategory category;
    };
    const std::string mismatched_port = std::to_string(mismatched.port());
    const Case cases[] = {
        {"default verification rejects the self-signed certificate", server.url(), "", false, ErrorCategory::tls},
        {"insecure accepts it", server.url(), "", true, ErrorCategory::none},
        {"host name localhost matches the SAN DNS entry", "https://localhost:" + port + "/", good.cert, false,
         ErrorCategory::none},
        {"another certificate's CA file does not trust it", server.url(), other.cert, false, ErrorCategory::tls},
        {"IP 127.0.0.1 not in the SAN", mismatched.url(), other.cert, false, ErrorCategory::tls},
        {"host name localhost not in the SAN", "https://localhost:" + mismatched_port + "/", other.cert, false,
         ErrorCategory::tls},
        {"insecure skips the name check", mismatched.url(), "", true, ErrorCategory::none},
    };
    for (const auto& k : cases) {
      BOOST_TEST_CONTEXT(k.what) {
        Client c(ex, k.url, options(k.ca_file, k.insecure));
        auto res = co_await get(c, "/");
        BOOST_TEST_MESSAGE(k.what << ": " << (res.error.empty() ? "ok" : res.error));
        BOOST_TEST(res.category == k.category, res.error);
        BOOST_TEST(res.status == (k.category == ErrorCategory::none ? 200 : 0));
      }
    }
  });
  BOOST_TEST(server.requests("/") == 8u);  // 6 + insecure + localhost; none where the handshake failed
  BOOST_TEST(mismatched.requests("/") == 1u);

  // A connection that never starts its handshake does not hold up stop().
  const auto before = server.connections_accepted();
  asio::io_context ioc;
  tcp::socket idle(ioc);
  idle.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  const auto deadline = Clock::now() + 10s;
  while (server.connections_accepted() == before && Clock::now() < deadline)
    std::this_thread::sleep_for(1ms);  // polls a condition, bounded
  BOOST_TEST(server.connections_accepted() == before + 1);
  server.stop();
}

BOOST_AUTO_TEST_CASE(https_target_configuration) {
  loadtest::test_support::TempDir dir;
  const auto good = make_self_signed(dir.path, "one", "IP:127.0.0.1", 1);
  const auto other = make_self_signed(dir.path, "two", "IP:127.0.0.1", 2);
  struct Case {
    const char* what;
    std::string cert, key;
    std::string named;  // the message names it
  };
  const Case cases[] = {
      {"certificate without key", good.cert, "", "tls_key_file"},
      {"key without certificate", "", good.key, "tls_cert_file"},
      {"missing certificate file", "/nonexistent/cert.pem", good.key, "/nonexistent/cert.pem"},
      {"missing key file", good.cert, "/nonexistent/key.pem", "/nonexistent/key.pem"},
      {"key of another certificate", good.cert, other.key, other.key},
  };
  for (const auto& k : cases) {
    BOOST_TEST_CONTEXT(k.what) {
      BOOST_CHECK_EXCEPTION(TargetServer({.tls_cert_file = k.cert, .tls_key_file = k.key}), std::invalid_argument,
                            [&](const auto& e) { return std::string(e.what()).find(k.named) != std::string::npos; });
    }
  }
}
#else
BOOST_AUTO_TEST_CASE(https_target_needs_tls_support) {
  BOOST_CHECK_EXCEPTION(TargetServer({.tls_cert_file = "cert.pem", .tls_key_file = "key.pem"}),
                        std::invalid_argument,
                        [](const auto& e) { return std::string(e.what()).find("cert.pem") != std::string::npos; });
}
#endif

BOOST_AUTO_TEST_CASE(destroying_a_client_mid_request_cancels_it) {
  TargetServer server;
  RouteSpec slow;
  slow.delay = 10s;
  server.route("/slow", slow);
  asio::io_context ioc;
  auto client = std::make_unique<Client>(ioc.get_executor(), server.url(), quick_options());
  auto req = Request::make(Method::get, "/slow");
  Response res;
  bool done = false;
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
    co_await client->request(req, res);
    done = true;
  }, [](std::exception_ptr) {});
  const auto deadline = Clock::now() + 10s;
  while (server.requests("/slow") == 0 && Clock::now() < deadline) ioc.run_for(10ms);
  BOOST_TEST_REQUIRE(server.requests("/slow") == 1u);
  client.reset();
  ioc.run_for(5s);
  BOOST_TEST_REQUIRE(done);
  BOOST_TEST(res.category == ErrorCategory::cancelled, res.error);
}

BOOST_AUTO_TEST_CASE(destroying_the_io_context_mid_request_is_safe) {
  TargetServer server;
  RouteSpec slow;
  slow.delay = 10s;
  server.route("/slow", slow);
  {
    asio::io_context ioc;
    asio::co_spawn(ioc, [ex = ioc.get_executor(), url = server.url()]() -> asio::awaitable<void> {
      Client client(ex, url, quick_options());
      co_await client.request(Request::make(Method::get, "/slow"));
    }, [](std::exception_ptr) {});
    const auto deadline = Clock::now() + 10s;
    while (server.requests("/slow") == 0 && Clock::now() < deadline) ioc.run_for(10ms);
    BOOST_TEST(server.requests("/slow") == 1u);
  }  // the frame (and its client) is destroyed with the io_context
  BOOST_TEST(server.total_requests() == 1u);
}

// ---- the target server ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(target_server_configuration) {
  BOOST_CHECK_EXCEPTION(TargetServer({.address = "not-an-address"}), std::invalid_argument,
                        [](const auto& e) { return std::string(e.what()).find("not-an-address") != std::string::npos; });
  BOOST_CHECK_THROW(TargetServer({.threads = 0}), std::invalid_argument);
  TargetServer first;
  BOOST_CHECK_EXCEPTION(TargetServer({.port = first.port()}), std::runtime_error, [&](const auto& e) {
    return std::string(e.what()).find(std::to_string(first.port())) != std::string::npos;
  });
  const std::string base = "http://127.0.0.1:" + std::to_string(first.port());
  BOOST_TEST(first.url() == base + "/");
  BOOST_TEST(first.url("/a?b=1") == base + "/a?b=1");
  BOOST_TEST(first.url("a") == base + "/a");
  BOOST_TEST(first.url("") == base);
}

BOOST_AUTO_TEST_CASE(target_server_routes) {
  TargetServer server({.threads = 2});
  RouteSpec teapot;
  teapot.status = 418;
  teapot.body = "short and stout\n";
  teapot.content_type = "text/x-teapot";
  teapot.headers = {{"Set-Cookie", "session=abc"}};
  server.route("/teapot", teapot);
  RouteSpec dflt;
  dflt.status = 404;
  dflt.body = "nope\n";
  server.set_default(dflt);
  RouteSpec delayed;
  delayed.delay = 50ms;
  delayed.delay_jitter = 10ms;
  server.route("/delayed", delayed);
  RouteSpec recovering;
  recovering.fail_first = 3;
  recovering.error_status = 503;
  server.route("/recovering", recovering);

  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Client c(ex, server.url(), quick_options());
    auto res = co_await get(c, "/teapot?ignored=1");
    BOOST_TEST(res.status == 418);
    BOOST_TEST(res.body == "short and stout\n");
    BOOST_TEST(res.header("Content-Type") == "text/x-teapot");
    BOOST_TEST(res.header("Set-Cookie") == "session=abc");

    BOOST_TEST((co_await get(c, "/")).status == 200);  // built-in
    BOOST_TEST((co_await get(c, "/health")).status == 200);
    res = co_await get(c, "/unrouted");
    BOOST_TEST(res.status == 404);
    BOOST_TEST(res.body == "nope\n");

    auto t0 = Clock::now();
    res = co_await get(c, "/delayed");
    BOOST_TEST(res.status == 200);
    BOOST_TEST((Clock::now() - t0 >= 50ms));  // not faster than the delay

    std::vector<int> statuses;
    for (int i = 0; i < 5; ++i) statuses.push_back((co_await get(c, "/recovering")).status);
    BOOST_TEST(statuses == (std::vector<int>{503, 503, 503, 200, 200}), boost::test_tools::per_element());
  });
  BOOST_TEST(server.requests("/teapot") == 1u);
  BOOST_TEST(server.requests("/unrouted") == 1u);
  BOOST_TEST(server.requests("/recovering") == 5u);
  BOOST_TEST(server.requests("/never") == 0u);
  BOOST_TEST(server.total_requests() == 10u);
  BOOST_TEST(server.connections_accepted() == 1u);
}

BOOST_AUTO_TEST_CASE(target_server_error_rate_is_seeded) {
  constexpr int n = 400;
  auto run = [&](std::uint64_t seed) {
    TargetServer server({.seed = seed});
    RouteSpec flaky;
    flaky.error_rate = 0.3;
    flaky.error_status = 502;
    server.route("/flaky", flaky);
    std::vector<int> statuses;
    run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
      Client c(ex, server.url(), quick_options());
      Response res;
      auto req = Request::make(Method::get, "/flaky");
      for (int i = 0; i < n; ++i) {
        co_await c.request(req, res);
        statuses.push_back(res.status);
      }
    });
    return statuses;
  };
  auto a = run(42), b = run(42), other = run(43);
  BOOST_TEST_REQUIRE(a.size() == std::size_t(n));
  const auto errors = std::count(a.begin(), a.end(), 502);
  BOOST_TEST(std::count(a.begin(), a.end(), 200) + errors == n);
  BOOST_TEST(errors >= n * 2 / 10);  // 0.3 +- 0.1 (about 4.4 standard deviations)
  BOOST_TEST(errors <= n * 4 / 10);
  BOOST_TEST((a == b));      // same seed, same answers
  BOOST_TEST((a != other));  // another seed, other answers
}

BOOST_AUTO_TEST_CASE(target_server_require_cookie) {
  TargetServer server;
  RouteSpec members;
  members.require_cookie = "session=abc";
  server.route("/members", members);
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Client c(ex, server.url(), quick_options());
    struct Case {
      const char* cookie;
      int status;
    };
    const Case cases[] = {{nullptr, 401},
                          {"session=abc", 200},
                          {"a=1; session=abc; b=2", 200},
                          {"session=abcd", 401},
                          {"xsession=abc", 401}};
    for (const auto& k : cases) {
      BOOST_TEST_CONTEXT((k.cookie ? k.cookie : "(none)")) {
        auto req = Request::make(Method::get, "/members");
        if (k.cookie) req.headers = {{"Cookie", k.cookie}};
        BOOST_TEST((co_await c.request(req)).status == k.status);
      }
    }
  });
}

BOOST_AUTO_TEST_CASE(target_server_query_overrides) {
  TargetServer server;
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Client c(ex, server.url(), quick_options());
    struct Case {
      const char* target;
      int status;
      std::size_t body_size;
    };
    const Case cases[] = {{"/x?status=503", 503, 3},
                          {"/x?size=1000", 200, 1000},
                          {"/x?status=204&size=0", 204, 0},
                          {"/x?error_rate=1&error_status=429", 429, 6},
                          {"/x?error_rate=0", 200, 3},
                          {"/x?status=abc", 400, 0},
                          {"/x?status=99", 400, 0},
                          {"/x?delay=soon", 400, 0},
                          {"/x?fault=sometimes", 400, 0}};
    for (const auto& k : cases) {
      BOOST_TEST_CONTEXT(k.target) {
        auto res = co_await get(c, k.target);
        BOOST_TEST(res.status == k.status);
        if (k.status != 400) BOOST_TEST(res.body.size() == k.body_size);
        else BOOST_TEST(res.body.find("bad query parameter") == 0u);
      }
    }
    auto t0 = Clock::now();
    BOOST_TEST((co_await get(c, "/x?delay=30ms")).status == 200);
    BOOST_TEST((Clock::now() - t0 >= 30ms));
    auto res = co_await get(c, "/x?fault=close_mid_response");
    BOOST_TEST(res.category == ErrorCategory::reset);
  });
  BOOST_TEST(server.requests("/x") == 11u);  // counted without the query
}

BOOST_AUTO_TEST_CASE(target_server_pause_holds_responses) {
  TargetServer server;
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Client c(ex, server.url(), quick_options());
    BOOST_TEST((co_await get(c, "/")).status == 200);  // connected before the stall
    auto t0 = Clock::now();
    server.pause_for(200ms);
    BOOST_TEST((co_await get(c, "/")).status == 200);
    BOOST_TEST((Clock::now() - t0 >= 200ms));  // held until the stall ended
  });
}

BOOST_AUTO_TEST_CASE(target_server_serves_many_clients_on_threads) {
  TargetServer server({.threads = 2});
  constexpr int clients = 8, each = 25;
  asio::io_context ioc;
  int finished = 0, ok = 0;
  for (int i = 0; i < clients; ++i) {
    asio::co_spawn(ioc, [&, ex = ioc.get_executor()]() -> asio::awaitable<void> {
      Client c(ex, server.url(), quick_options());
      Response res;
      auto req = Request::make(Method::get, "/work");
      for (int k = 0; k < each; ++k) {
        co_await c.request(req, res);
        if (res.status == 200) ++ok;
      }
      ++finished;
    }, [](std::exception_ptr) {});
  }
  ioc.run_for(30s);
  BOOST_TEST(finished == clients);
  BOOST_TEST(ok == clients * each);
  BOOST_TEST(server.requests("/work") == std::uint64_t(clients * each));
  BOOST_TEST(server.connections_accepted() == std::uint64_t(clients));
}

BOOST_AUTO_TEST_CASE(target_server_stop_is_idempotent_and_closes_the_port) {
  TargetServer server;
  const auto url = server.url();
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Client c(ex, url, quick_options());
    BOOST_TEST((co_await get(c, "/")).status == 200);
    server.stop();
    server.stop();
    auto res = co_await get(c, "/");  // the old connection is gone, and so is the listener
    BOOST_TEST(res.category == ErrorCategory::connect_refused, res.error);
  });
  BOOST_TEST(server.total_requests() == 1u);
}

// ---- hardening (issue 9): headers, limits, local resources ---------------------------------------

BOOST_AUTO_TEST_CASE(header_validation_table) {
  struct Case {
    const char* name;
    const char* value;
    const char* refusal;  // null: accepted; otherwise a part of the message
  };
  const Case cases[] = {
      {"X-Test", "a value with spaces", nullptr},
      {"x!#$%&'*+-.^_`|~9", "v", nullptr},  // every tchar
      {"Accept", "", nullptr},              // an empty value is allowed
      {"X Y", "v", "not an RFC 9110 token"},
      {"X\tY", "v", "not an RFC 9110 token"},
      {"X:Y", "v", "not an RFC 9110 token"},
      {"", "v", "not an RFC 9110 token"},
      {"X\r\nInjected", "v", "not an RFC 9110 token"},
      {"X-\xc3\xbc", "v", "not an RFC 9110 token"},  // non-ASCII
      {"X", "a\r\nInjected: b", "CR, LF or NUL"},
      {"X", "a\nb", "CR, LF or NUL"},
      {"X", "a\rb", "CR, LF or NUL"},
      {"Content-Length", "5", "Content-Length is set by the client"},
      {"content-length", "5", "Content-Length is set by the client"},
      {"Transfer-Encoding", "chunked", "Transfer-Encoding is not supported"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.name << ": " << c.value) {
      if (!c.refusal) {
        BOOST_CHECK_NO_THROW(loadtest::http::validate_header(c.name, c.value));
        continue;
      }
      try {
        loadtest::http::validate_header(c.name, c.value);
        BOOST_ERROR("accepted");
      } catch (const std::invalid_argument& e) {
        const std::string what = e.what();
        BOOST_TEST(what.find(c.refusal) != std::string::npos, what);
        BOOST_TEST(what.find_first_of("\r\n") == std::string::npos, "one line: " << what);
      }
    }
  }
  // NUL in a value
  BOOST_CHECK_THROW(loadtest::http::validate_header("X", std::string_view("a\0b", 3)), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(options_and_request_validate) {
  Options ok = quick_options();
  BOOST_CHECK_NO_THROW(ok.validate());
  auto refused = [](const Options& o, const char* needle) {
    try {
      o.validate();
      BOOST_ERROR("accepted: " << needle);
    } catch (const std::invalid_argument& e) {
      BOOST_TEST(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
  };
  Options o = quick_options();
  o.connect_timeout = std::chrono::hours(24 * 365 * 100);  // beyond 1e9 s
  refused(o, "connect_timeout");
  o = quick_options();
  o.request_timeout = -1s;
  refused(o, "request_timeout");
  o = quick_options();
  o.max_body = loadtest::http::max_body_limit + 1;
  refused(o, "max_body");
  o = quick_options();
  o.headers = {{"Host", "a"}, {"host", "b"}};
  refused(o, "'Host' given twice");
  o = quick_options();
  o.headers = {{"Content-Length", "5"}};
  refused(o, "Content-Length");
  o = quick_options();
  o.user_agent = "ua\r\nX: y";
  refused(o, "user agent");
  BOOST_TEST(Options{}.max_body == 1024u * 1024u);  // the documented default

  Request r = Request::make(Method::get, "/a b");
  BOOST_CHECK_THROW(r.validate(), std::invalid_argument);
  r = Request::make(Method::get, "/ok");
  BOOST_CHECK_NO_THROW(r.validate());
  r.headers = {{"Transfer-Encoding", "chunked"}};
  BOOST_CHECK_THROW(r.validate(), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(host_and_user_agent_replace_the_defaults) {
  run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    RawServer raw(ex, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    Options o = quick_options();
    o.headers = {{"Host", "example.test"}, {"User-Agent", "mine/1"}};
    Client client(ex, raw.url(), o);
    auto res = co_await get(client, "/");
    BOOST_TEST(res.status == 200, res.error);
    BOOST_TEST(count_header(raw.last_request(), "host") == 1, raw.last_request());
    BOOST_TEST(raw.last_request().find("\r\nHost: example.test\r\n") != std::string::npos, raw.last_request());
    BOOST_TEST(count_header(raw.last_request(), "user-agent") == 1, raw.last_request());
    // a request's own Host replaces both
    auto req = Request::make(Method::get, "/");
    req.headers = {{"Host", "other.test"}};
    res = co_await client.request(req);
    BOOST_TEST(res.status == 200, res.error);
    BOOST_TEST(count_header(raw.last_request(), "host") == 1, raw.last_request());
    BOOST_TEST(raw.last_request().find("\r\nHost: other.test\r\n") != std::string::npos, raw.last_request());
    // a hand-given Content-Length never reaches the wire: the request fails as protocol at once
    req.headers = {{"Content-Length", "5"}};
    res = co_await client.request(req);
    BOOST_TEST(res.category == ErrorCategory::protocol, res.error);
    BOOST_TEST(raw.accepted() == 2);
  });
}

BOOST_AUTO_TEST_CASE(long_bodies_are_counted_not_kept) {
  struct Case {
    std::size_t max_body, chunk, chunks;
  };
  const Case cases[] = {
      {64 * 1024, 16 * 1024, 512},  // 8 MiB body, 64 KiB kept
      {0, 1000, 10},                // nothing kept, everything counted
      {1 << 20, 1000, 10},          // shorter than the limit: kept whole
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("max_body " << c.max_body << ", " << c.chunks << " x " << c.chunk) {
      const std::string reply = chunked_reply(c.chunk, c.chunks);
      run_bounded([&](asio::any_io_executor ex) -> asio::awaitable<void> {
        RawServer raw(ex, reply);
        Options o = quick_options();
        o.max_body = c.max_body;
        Client client(ex, raw.url(), o);
        auto res = co_await get(client, "/");
        const std::size_t total = c.chunk * c.chunks;
        BOOST_TEST(res.transport_ok(), res.error);
        BOOST_TEST(res.status == 200);
        BOOST_TEST(res.body_size == total);
        BOOST_TEST(res.body.size() == std::min(total, c.max_body));
        BOOST_TEST(res.body_truncated == (total > c.max_body));
        BOOST_TEST(res.body.capacity() <= std::max<std::size_t>(c.max_body, 64) * 2);  // memory stays bounded
      });
    }
  }
}

BOOST_AUTO_TEST_CASE(client_made_inside_a_co_await_expression) {
  // Issue 9 item 16: this exact line corrupted the heap under GCC 12 with a defaulted Options
  // parameter (the sanitizer run of the suite checks it).
  TargetServer server;
  run_bounded([&](asio::any_io_executor) -> asio::awaitable<void> {
    const std::string url = server.url();
    Client c(co_await asio::this_coro::executor, url);
    auto res = co_await get(c, "/");
    BOOST_TEST(res.status == 200, res.error);
  });
}

BOOST_AUTO_TEST_CASE(out_of_descriptors_is_local_resources) {
  asio::io_context ioc;
  const auto port = closed_port();
  Client client(ioc.get_executor(), "http://127.0.0.1:" + std::to_string(port) + "/", quick_options());
  struct rlimit saved {};
  BOOST_REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
  // a limit at the lowest free descriptor number: the next socket() fails with EMFILE
  const int lowest_free = ::fcntl(0, F_DUPFD, 0);
  BOOST_REQUIRE(lowest_free >= 0);
  ::close(lowest_free);
  struct rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(lowest_free);
  BOOST_REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
  Response res;
  const Request req = Request::make(Method::get, "/");
  asio::co_spawn(ioc, client.request(req, res), [](std::exception_ptr) {});
  ioc.run_for(10s);
  BOOST_REQUIRE(setrlimit(RLIMIT_NOFILE, &saved) == 0);
  BOOST_TEST(res.category == ErrorCategory::local_resources, res.error);
  BOOST_TEST(res.error.find("RLIMIT_NOFILE") != std::string::npos, res.error);
  BOOST_TEST(res.error.find(std::to_string(low.rlim_cur)) != std::string::npos, res.error);
}

BOOST_AUTO_TEST_SUITE_END()
