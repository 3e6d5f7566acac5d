#define BOOST_TEST_MODULE session
#include <boost/test/unit_test.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "loadtest/cookies.hpp"
#include "loadtest/feeder.hpp"
#include "loadtest/loadtest.hpp"
#include "loadtest/testing/target_server.hpp"
#include "test_support.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace loadtest;
using loadtest::http::Cookie;
using loadtest::http::CookieJar;
using loadtest::testing::RouteSpec;
using loadtest::testing::TargetServer;

namespace {

// A fixed "now" for the cookie tests: 2030-01-01T00:00:00Z.
const WallClock::time_point now = WallClock::from_time_t(1893456000);

std::time_t when(std::optional<WallClock::time_point> t) { return t ? WallClock::to_time_t(*t) : -1; }

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/** A file removed at the end of the scope. */
struct TempFile {
  explicit TempFile(const std::string& text) {
    path = fs::temp_directory_path() / ("loadtest_feeder_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(counter++) + ".csv");
    std::ofstream(path, std::ios::binary) << text;
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path, ec);
  }
  fs::path path;
  static inline int counter = 0;
};

using test_support::quick;

}  // namespace

BOOST_AUTO_TEST_SUITE(session)

// --- cookies: parsing --------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(set_cookie_is_parsed_as_rfc_6265_says) {
  struct Case {
    const char* header;
    const char* host;
    const char* path;
    bool kept;
    const char* name = "", *value = "", *domain = "", *cookie_path = "";
    bool host_only = true, secure = false, http_only = false;
  };
  const Case cases[] = {
      {"sid=abc", "Example.COM", "/shop/cart?x=1", true, "sid", "abc", "example.com", "/shop"},
      {"sid=abc; Path=/", "example.com", "/shop/cart", true, "sid", "abc", "example.com", "/"},
      {"sid=abc; Path=docs", "example.com", "/a/b/c", true, "sid", "abc", "example.com", "/a/b"},  // not absolute: default
      {"sid=abc; path=/x/", "example.com", "/", true, "sid", "abc", "example.com", "/x/"},
      {" a = b c ; Secure; HttpOnly", "example.com", "/", true, "a", "b c", "example.com", "/", true, true, true},
      {"q=\"quoted\"", "example.com", "/p", true, "q", "\"quoted\"", "example.com", "/"},
      {"e=", "example.com", "/", true, "e", "", "example.com", "/"},
      {"d=1; Domain=.Example.com", "www.example.com", "/", true, "d", "1", "example.com", "/", false},
      {"d=1; Domain=example.com", "example.com", "/", true, "d", "1", "example.com", "/", false},
      {"d=1; Domain=", "www.example.com", "/", true, "d", "1", "www.example.com", "/", true},  // empty: ignored
      {"ip=1; Domain=127.0.0.1", "127.0.0.1", "/", true, "ip", "1", "127.0.0.1", "/", false},
      {"d=1; Domain=other.com", "www.example.com", "/", false},
      {"d=1; Domain=ww.example.com", "www.example.com", "/", false},  // not on a dot boundary
      {"ip=1; Domain=0.0.1", "127.0.0.1", "/", false},               // never a suffix of an address
      {"noequals", "example.com", "/", false},
      {"=value", "example.com", "/", false},
      {"", "example.com", "/", false},
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT("'" << c.header << "' from " << c.host << c.path) {
      auto cookie = http::parse_set_cookie(c.header, c.host, c.path, now);
      BOOST_TEST_REQUIRE(cookie.has_value() == c.kept);
      if (!c.kept) continue;
      BOOST_TEST(cookie->name == c.name);
      BOOST_TEST(cookie->value == c.value);
      BOOST_TEST(cookie->domain == c.domain);
      BOOST_TEST(cookie->path == c.cookie_path);
      BOOST_TEST(cookie->host_only == c.host_only);
      BOOST_TEST(cookie->secure == c.secure);
      BOOST_TEST(cookie->http_only == c.http_only);
      BOOST_TEST(!cookie->persistent);
    }
  // Oversized cookies are ignored.
  BOOST_TEST(!http::parse_set_cookie("big=" + std::string(5000, 'x'), "example.com", "/", now));
}

BOOST_AUTO_TEST_CASE(expiry_from_max_age_and_expires) {
  struct Case { const char* header; bool persistent; std::time_t expires; bool expired; };
  const std::time_t t0 = WallClock::to_time_t(now);
  const Case cases[] = {
      {"a=1", false, WallClock::to_time_t(WallClock::time_point::max()), false},
      {"a=1; Max-Age=60", true, t0 + 60, false},
      {"a=1; Max-Age=0", true, 0, true},
      {"a=1; Max-Age=-5", true, 0, true},
      {"a=1; Max-Age=12x", false, 0, false},  // not a number: ignored
      {"a=1; Expires=Tue, 01 Jan 2030 01:00:00 GMT", true, t0 + 3600, false},
      {"a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT", true, 0, true},
      {"a=1; Expires=Tue, 01 Jan 2030 01:00:00 GMT; Max-Age=10", true, t0 + 10, false},  // Max-Age wins
      {"a=1; Expires=someday", false, 0, false},
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT(c.header) {
      auto cookie = http::parse_set_cookie(c.header, "example.com", "/", now);
      BOOST_TEST_REQUIRE(cookie.has_value());
      BOOST_TEST(cookie->persistent == c.persistent);
      BOOST_TEST(cookie->expired(now) == c.expired);
      if (c.persistent && !c.expired) BOOST_TEST(WallClock::to_time_t(cookie->expires) == c.expires);
    }
}

BOOST_AUTO_TEST_CASE(cookie_dates_are_read_leniently) {
  const std::time_t t = 1445412480;  // 2015-10-21T07:28:00Z
  struct Case { const char* text; std::time_t expected; };
  const Case cases[] = {
      {"Wed, 21 Oct 2015 07:28:00 GMT", t},  // IMF-fixdate
      {"Wednesday, 21-Oct-15 07:28:00 GMT", t},  // RFC 850
      {"Wed Oct 21 07:28:00 2015", t},  // asctime
      {"21 october 2015 7:28:0", t},
      {"Thu, 01 Jan 1970 00:00:00 GMT", 0},
      {"Fri, 01 Jan 1960 00:00:00 GMT", 0},  // before the epoch: the epoch (long expired)
      {"Wed, 21 Oct 2015 25:28:00 GMT", -1},  // hour out of range
      {"Wed, 31 Feb 2015 07:28:00 GMT", -1},  // no such day
      {"Wed, 21 Foo 2015 07:28:00 GMT", -1},  // no month
      {"Wed, 21 Oct 07:28:00 GMT", -1},  // no year
      {"", -1},
  };
  for (const auto& c : cases) BOOST_TEST_CONTEXT(c.text) { BOOST_TEST(when(http::parse_cookie_date(c.text)) == c.expected); }
  auto far = http::parse_cookie_date("Fri, 31 Dec 9999 23:59:59 GMT");  // clamped to the clock's range
  BOOST_TEST_REQUIRE(far.has_value());
  BOOST_TEST((*far > now));
}

BOOST_AUTO_TEST_CASE(domain_and_path_matching) {
  struct D { const char* host; const char* domain; bool match; };
  for (const D& d : {D{"example.com", "example.com", true}, D{"www.example.com", "example.com", true},
                     D{"a.b.example.com", "example.com", true}, D{"wwwexample.com", "example.com", false},
                     D{"example.com", "www.example.com", false}, D{"127.0.0.1", "0.0.1", false},
                     D{"127.0.0.1", "127.0.0.1", true}})
    BOOST_TEST_CONTEXT(d.host << " ~ " << d.domain) { BOOST_TEST(http::domain_match(d.host, d.domain) == d.match); }
  struct P { const char* request; const char* cookie; bool match; };
  for (const P& p : {P{"/", "/", true}, P{"/docs", "/docs", true}, P{"/docs/a", "/docs", true},
                     P{"/docs/a", "/docs/", true}, P{"/docsx", "/docs", false}, P{"/doc", "/docs", false},
                     P{"/docs?x=1", "/docs", true}, P{"", "/", true}, P{"/a", "/", true}})
    BOOST_TEST_CONTEXT(p.request << " ~ " << p.cookie) { BOOST_TEST(http::path_match(p.request, p.cookie) == p.match); }
  struct F { const char* request; const char* dir; };
  for (const F& f : {F{"/", "/"}, F{"/a", "/"}, F{"/a/b", "/a"}, F{"/a/b/", "/a/b"}, F{"", "/"}, F{"x", "/"}})
    BOOST_TEST_CONTEXT(f.request) { BOOST_TEST(http::default_cookie_path(f.request) == f.dir); }
}

// --- cookies: the jar --------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(the_jar_sends_what_matches_in_rfc_order) {
  CookieJar jar;
  BOOST_TEST(jar.store("root=1; Path=/", "shop.example.com", "/", now));
  BOOST_TEST(jar.store("deep=2; Path=/account/orders", "shop.example.com", "/", now));
  BOOST_TEST(jar.store("mid=3; Path=/account", "shop.example.com", "/", now));
  BOOST_TEST(jar.store("wide=4; Domain=example.com; Path=/", "shop.example.com", "/", now));
  BOOST_TEST(jar.store("safe=5; Secure; Path=/", "shop.example.com", "/", now));
  BOOST_TEST(!jar.store("bad=6; Domain=evil.com", "shop.example.com", "/", now));
  BOOST_TEST(jar.size() == 5u);
  struct Case { const char* host; const char* path; bool secure; const char* header; };
  const Case cases[] = {
      // Longer paths first, then older first.
      {"shop.example.com", "/account/orders/7", false, "deep=2; mid=3; root=1; wide=4"},
      {"shop.example.com", "/account", false, "mid=3; root=1; wide=4"},
      {"shop.example.com", "/", true, "root=1; wide=4; safe=5"},  // Secure only over https
      {"SHOP.example.com", "/", false, "root=1; wide=4"},          // host names ignore case
      {"api.example.com", "/account", false, "wide=4"},            // only the Domain cookie
      {"example.com", "/", false, "wide=4"},
      {"example.org", "/", false, ""},
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT(c.host << c.path << (c.secure ? " (https)" : "")) {
      BOOST_TEST(jar.header_value(c.host, c.path, c.secure, now) == c.header);
    }
}

BOOST_AUTO_TEST_CASE(the_jar_replaces_deletes_and_expires) {
  CookieJar jar;
  jar.store("sid=old; Path=/", "example.com", "/", now);
  jar.store("other=1; Path=/", "example.com", "/", now);
  jar.store("sid=new; Path=/", "example.com", "/", now);  // same name, domain, path: replaced in place
  BOOST_TEST(jar.size() == 2u);
  BOOST_TEST(jar.header_value("example.com", "/", false, now) == "sid=new; other=1");
  jar.store("sid=x; Path=/other", "example.com", "/", now);  // another path: another cookie
  BOOST_TEST(jar.size() == 3u);
  BOOST_TEST(!jar.store("sid=gone; Path=/; Max-Age=0", "example.com", "/", now));  // deletes sid at /
  BOOST_TEST(jar.size() == 2u);
  BOOST_TEST(jar.find("sid")->path == "/other");
  // A cookie that expires in 60 s is sent until then, and dropped after.
  jar.store("short=1; Max-Age=60", "example.com", "/", now);
  BOOST_TEST(jar.header_value("example.com", "/", false, now + 59s) == "other=1; short=1");
  BOOST_TEST(jar.header_value("example.com", "/", false, now + 61s) == "other=1");
  BOOST_TEST(jar.find("short") == nullptr);
  // A full jar ignores new cookies (but still replaces).
  CookieJar small;
  small.max_cookies = 2;
  BOOST_TEST(small.store("a=1", "h", "/", now));
  BOOST_TEST(small.store("b=1", "h", "/", now));
  BOOST_TEST(!small.store("c=1", "h", "/", now));
  BOOST_TEST(small.store("a=2", "h", "/", now));
  small.clear();
  BOOST_TEST(small.empty());
}

// --- cookies: against the embedded target ------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_client_with_a_jar_logs_in_and_stays_logged_in) {
  TargetServer server;
  RouteSpec login;
  login.headers = {{"Set-Cookie", "session=abc123; Path=/; HttpOnly"}, {"Set-Cookie", "theme=dark; Path=/prefs"}};
  server.route("/login", login);
  RouteSpec cart;
  cart.require_cookie = "session=abc123";
  server.route("/cart", cart);
  RouteSpec prefs;
  prefs.require_cookie = "theme=dark";
  server.route("/prefs/colour", prefs);

  asio::io_context ctx;
  CookieJar jar;
  std::vector<int> statuses;
  std::string own_cookie_status;
  asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
    http::Options opts;
    opts.connect_timeout = opts.request_timeout = 5s;
    http::Client client(ctx.get_executor(), server.url(""), opts);
    client.set_cookie_jar(&jar);
    BOOST_TEST(client.cookie_jar() == &jar);
    const auto cart_req = http::Request::make(http::Method::get, "/cart");
    const auto login_req = http::Request::make(http::Method::get, "/login");
    const auto prefs_req = http::Request::make(http::Method::get, "/prefs/colour");
    statuses.push_back((co_await client.request(cart_req)).status);   // 401: no cookie yet
    statuses.push_back((co_await client.request(login_req)).status);  // 200, sets two cookies
    statuses.push_back((co_await client.request(cart_req)).status);   // 200: session sent
    statuses.push_back((co_await client.request(prefs_req)).status);  // 200: theme sent below /prefs
    // A request's own Cookie header replaces the jar's.
    auto own = http::Request::make(http::Method::get, "/cart");
    own.headers = {{"Cookie", "session=wrong"}};
    statuses.push_back((co_await client.request(own)).status);  // 401
    // Another client without the jar is a stranger.
    http::Client stranger(ctx.get_executor(), server.url(""), opts);
    statuses.push_back((co_await stranger.request(cart_req)).status);
  }, asio::detached);
  ctx.run_for(20s);
  BOOST_TEST((statuses == std::vector<int>{401, 200, 200, 200, 401, 401}));
  BOOST_TEST(jar.size() == 2u);
  BOOST_TEST_REQUIRE(jar.find("session") != nullptr);
  BOOST_TEST(jar.find("session")->http_only);
}

namespace {

struct LoginTest : LoadTest<LoginTest, ConstantUsers, SingleAction, NoBackoff, NullSink> {
  using LoadTest::LoadTest;
  struct UserData {
    bool logged_in = false;
  };
  http::Request login = http::Request::make(http::Method::get, "/login");
  http::Request cart = http::Request::make(http::Method::get, "/cart");
  asio::awaitable<Outcome> user_action(Session<UserData>& user) {
    const http::Request& req = user.data().logged_in ? cart : login;
    Outcome o = http::check_status(req, co_await user.http().request(req));
    user.data().logged_in = user.data().logged_in || o.ok();
    co_return o;
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(each_user_has_its_own_jar_in_the_engine) {
  // Every user logs in once, then only fetches the guarded cart: no 401 means every user's
  // Session::http() kept and sent its own cookie.
  TargetServer server;
  RouteSpec login, cart;
  login.headers = {{"Set-Cookie", "session=ok; Path=/"}};
  cart.require_cookie = "session=ok";
  server.route("/login", login);
  server.route("/cart", cart);
  Config cfg = quick("login", server);
  cfg.threads = 2;
  LoginTest test(cfg, ConstantUsers{4, 500ms});
  LoadTestResult r = test.run();
  BOOST_TEST_REQUIRE(r.total_requests > 8u);
  BOOST_TEST(r.failed_requests == 0u);
  BOOST_TEST(server.requests("/login") == 4u);
  BOOST_TEST(server.requests("/cart") == r.total_requests - 4);
}

// --- feeders: CSV ------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(csv_is_parsed_as_rfc_4180_says) {
  struct Case { const char* what; std::string text; std::vector<std::string> columns; std::vector<std::vector<std::string>> rows; };
  const Case cases[] = {
      {"plain", "user,password\nalice,a1\nbob,b2\n", {"user", "password"}, {{"alice", "a1"}, {"bob", "b2"}}},
      {"CRLF, no final newline", "a,b\r\n1,2\r\n3,4", {"a", "b"}, {{"1", "2"}, {"3", "4"}}},
      {"quotes", "name,quote\n\"Smith, J.\",\"He said \"\"hi\"\"\"\n", {"name", "quote"}, {{"Smith, J.", "He said \"hi\""}}},
      {"line break in quotes", "a,b\n\"one\ntwo\",x\n", {"a", "b"}, {{"one\ntwo", "x"}}},
      {"empty fields", "a,b,c\n,,\n\"\",x,\n", {"a", "b", "c"}, {{"", "", ""}, {"", "x", ""}}},
      {"blank lines skipped", "a\n\n1\n\r\n2\n", {"a"}, {{"1"}, {"2"}}},
      {"byte order mark", "\xEF\xBB\xBFid\n7\n", {"id"}, {{"7"}}},
      {"spaces kept", "a, b\n x ,y\n", {"a", " b"}, {{" x ", "y"}}},
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT(c.what) {
      FeederTable t = parse_csv(c.text, "t.csv");
      BOOST_TEST(t.columns == c.columns, boost::test_tools::per_element());
      BOOST_TEST_REQUIRE(t.rows.size() == c.rows.size());
      for (std::size_t i = 0; i < c.rows.size(); ++i) BOOST_TEST(t.rows[i] == c.rows[i], boost::test_tools::per_element());
    }
}

BOOST_AUTO_TEST_CASE(malformed_csv_names_the_file_and_line) {
  struct Case { const char* what; std::string text; int line; const char* why; };
  const Case cases[] = {
      {"short row", "a,b\n1,2\n3\n", 3, "1 field, the header has 2"},
      {"long row", "a,b\n1,2,3\n", 2, "3 fields"},
      {"unterminated quote", "a,b\n1,2\n\"open,3\n4,5\n", 3, "unterminated quoted field"},
      {"quote in unquoted field", "a,b\n1,x\"y\n", 2, "quote inside an unquoted field"},
      {"text after closing quote", "a,b\n\"1\"x,2\n", 2, "after the closing quote"},
      {"line count after a quoted line break", "a,b\n\"x\ny\",1\n1\n", 4, "1 field"},
      {"duplicate column", "id,name,id\n1,2,3\n", 1, "duplicate column 'id'"},
      {"empty column", "id,,x\n1,2,3\n", 1, "column 2 has an empty name"},
      {"no records", "id,name\n", 2, "no records"},
      {"empty", "", 1, "empty"},
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT(c.what) {
      BOOST_CHECK_EXCEPTION(parse_csv(c.text, "users.csv"), std::invalid_argument, [&](const std::invalid_argument& e) {
        std::string w = e.what();
        BOOST_TEST_MESSAGE(w);
        return contains(w, "'users.csv', line " + std::to_string(c.line) + ":") && contains(w, c.why);
      });
    }
}

BOOST_AUTO_TEST_CASE(csv_files_are_read_and_a_bad_one_fails_before_the_test_starts) {
  TempFile good("user,password\nalice,a1\nbob,\"b,2\"\n");
  Feeder f = Feeder::csv(good.path);
  BOOST_TEST(f.size() == 2u);
  BOOST_TEST(f.name() == good.path.string());
  BOOST_TEST(f.at(1)["password"] == "b,2");

  TempFile bad("user,password\nalice,a1\nbob\n");
  struct FedTest : LoadTest<FedTest, ConstantUsers, SingleAction, NoBackoff, NullSink> {
    FedTest(Config c, const fs::path& data)
        : LoadTest(std::move(c), ConstantUsers{1, 100ms}), accounts(Feeder::csv(data, FeedStrategy::unique)) {}
    Feeder accounts;
    int actions = 0;
    asio::awaitable<Outcome> user_action(Session<>& user) {
      ++actions;
      (void)user.feed(accounts);
      co_return Outcome::success();
    }
  };
  Config cfg;
  cfg.handle_signals = false;
  BOOST_CHECK_EXCEPTION(FedTest(cfg, bad.path), std::invalid_argument, [&](const std::invalid_argument& e) {
    return contains(e.what(), bad.path.string()) && contains(e.what(), "line 3");
  });
  BOOST_CHECK_EXCEPTION(Feeder::csv("/nonexistent/users.csv"), std::invalid_argument, [](const std::invalid_argument& e) {
    return contains(e.what(), "'/nonexistent/users.csv'");
  });
}

// --- feeders: strategies -----------------------------------------------------------------------

namespace {
Feeder letters(FeedStrategy s, std::size_t n = 4) {
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < n; ++i) rows.push_back({std::string(1, char('a' + i)), std::to_string(i)});
  return Feeder({"letter", "index"}, std::move(rows), s, "letters");
}
}  // namespace

BOOST_AUTO_TEST_CASE(strategies_hand_out_records_as_documented) {
  std::mt19937_64 rng(1);
  Feeder circular = letters(FeedStrategy::circular);
  std::string seen;
  for (int i = 0; i < 10; ++i) seen += circular.next(0, rng)["letter"];
  BOOST_TEST(seen == "abcdabcdab");

  Feeder unique = letters(FeedStrategy::unique);
  for (std::size_t user = 0; user < 4; ++user)
    for (int again = 0; again < 3; ++again) BOOST_TEST(unique.next(user, rng).index() == user);  // stable per user
  BOOST_CHECK_EXCEPTION(unique.next(4, rng), FeederExhausted, [](const FeederExhausted& e) {
    return contains(e.what(), "'letters'") && contains(e.what(), "user 4");
  });

  Feeder queue = letters(FeedStrategy::queue);
  seen.clear();
  for (int i = 0; i < 4; ++i) seen += queue.next(9, rng)["letter"];
  BOOST_TEST(seen == "abcd");
  for (int i = 0; i < 3; ++i) BOOST_CHECK_THROW(queue.next(0, rng), FeederExhausted);
  queue.rewind();
  BOOST_TEST(queue.next(0, rng)["letter"] == "a");

  // Random: reproducible for a seed, and every record comes up.
  Feeder random = letters(FeedStrategy::random);
  std::mt19937_64 r1(5), r2(5);
  std::string a, b;
  std::set<std::size_t> rows;
  for (int i = 0; i < 200; ++i) {
    a += random.next(0, r1)["letter"];
    b += random.next(0, r2)["letter"];
    rows.insert(random.next(0, rng).index());
  }
  BOOST_TEST(a == b);
  BOOST_TEST(rows.size() == 4u);
  BOOST_TEST((parse_feed_strategy("queue") == FeedStrategy::queue));
  BOOST_CHECK_THROW(parse_feed_strategy("shuffle"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(records_and_in_memory_tables) {
  Feeder f({"user", "password"}, {{"alice", "a1"}}, FeedStrategy::circular, "accounts");
  std::mt19937_64 rng(1);
  Record r = f.next(0, rng);
  BOOST_TEST(r["user"] == "alice");
  BOOST_TEST(r.at(1) == "a1");
  BOOST_TEST(r.has("password"));
  BOOST_TEST(!r.has("email"));
  BOOST_TEST(r.size() == 2u);
  BOOST_CHECK_EXCEPTION(r["email"], std::out_of_range, [](const std::out_of_range& e) { return contains(e.what(), "'email'"); });
  struct Case { const char* what; std::vector<std::string> columns; std::vector<std::vector<std::string>> rows; const char* why; };
  const Case bad[] = {
      {"no rows", {"a"}, {}, "no records"},
      {"short row", {"a", "b"}, {{"1", "2"}, {"3"}}, "row 2 has 1 fields, expected 2"},
      {"duplicate column", {"a", "a"}, {{"1", "2"}}, "duplicate column 'a'"},
      {"no columns", {}, {{}}, "no columns"},
  };
  for (const auto& c : bad)
    BOOST_TEST_CONTEXT(c.what) {
      BOOST_CHECK_EXCEPTION(Feeder(c.columns, c.rows, FeedStrategy::circular, "mem"), std::invalid_argument,
                            [&](const std::invalid_argument& e) { return contains(e.what(), "feeder 'mem'") && contains(e.what(), c.why); });
    }
}

BOOST_AUTO_TEST_CASE(users_on_many_threads_share_a_feeder) {
  constexpr int threads = 4, per_thread = 21000;
  Feeder circular = letters(FeedStrategy::circular, 7);
  Feeder queue = letters(FeedStrategy::queue, 1000);
  std::vector<std::vector<int>> counts(threads, std::vector<int>(7, 0));
  std::vector<std::vector<std::size_t>> taken(threads);
  std::atomic<int> exhausted{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      for (int i = 0; i < per_thread; ++i) ++counts[t][circular.next(t, rng).index()];
      for (int i = 0; i < 400; ++i) {
        try {
          taken[t].push_back(queue.next(t, rng).index());
        } catch (const FeederExhausted&) {
          ++exhausted;
        }
      }
    });
  for (auto& th : pool) th.join();
  // Circular: 84 000 draws over 7 records, each exactly 12 000 times (one atomic counter).
  for (int row = 0; row < 7; ++row) {
    int sum = 0;
    for (int t = 0; t < threads; ++t) sum += counts[t][row];
    BOOST_TEST_CONTEXT("row " << row) { BOOST_TEST(sum == threads * per_thread / 7); }
  }
  // Queue: 1 600 asks for 1 000 records: every record exactly once, 600 told it is exhausted.
  std::set<std::size_t> all;
  std::size_t total = 0;
  for (const auto& v : taken) {
    all.insert(v.begin(), v.end());
    total += v.size();
  }
  BOOST_TEST(total == 1000u);
  BOOST_TEST(all.size() == 1000u);
  BOOST_TEST(exhausted.load() == 600);
}

namespace {

struct AccountsTest : LoadTest<AccountsTest, ConstantUsers, SingleAction, NoBackoff, NullSink> {
  AccountsTest(Config c, std::size_t users)
      : LoadTest(std::move(c), ConstantUsers{users, 300ms}),
        accounts({"user"}, {{"alice"}, {"bob"}, {"carol"}}, FeedStrategy::unique, "accounts") {}
  Feeder accounts;
  std::mutex mutex;
  std::map<std::size_t, std::set<std::string>> users_by_id;  // session id -> records it got
  asio::awaitable<Outcome> user_action(Session<>& user) {
    Record r = user.feed(accounts);
    {
      std::lock_guard lock(mutex);
      users_by_id[user.id()].insert(std::string(r["user"]));
    }
    asio::steady_timer t(co_await asio::this_coro::executor, 2ms);
    co_await t.async_wait(asio::use_awaitable);
    co_return Outcome::success();
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(unique_records_per_user_in_the_engine) {
  TargetServer server;  // only for the config helper
  Config cfg = quick("accounts", server);
  cfg.threads = 2;
  AccountsTest three(cfg, 3);
  LoadTestResult r = three.run();
  BOOST_TEST(r.failed_requests == 0u);
  BOOST_TEST_REQUIRE(three.users_by_id.size() == 3u);
  std::set<std::string> names;
  for (const auto& [id, got] : three.users_by_id) {
    BOOST_TEST(got.size() == 1u);  // always the same record for one user
    names.insert(*got.begin());
  }
  BOOST_TEST(names.size() == 3u);  // and a different one for each

  // A fourth user has no record: its actions are errors that say so; the others go on.
  AccountsTest four(cfg, 4);
  LoadTestResult r4 = four.run();
  BOOST_TEST(r4.errors_total > 0u);
  BOOST_TEST(r4.successful_requests > 0u);
  BOOST_TEST_REQUIRE(!r4.error_table.empty());
  BOOST_TEST(to_string(r4.error_table[0].category) == "exception");
  BOOST_TEST(contains(r4.error_table[0].message, "feeder 'accounts'"));
}

BOOST_AUTO_TEST_SUITE_END()
