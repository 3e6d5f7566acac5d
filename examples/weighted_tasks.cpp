//
// weighted_tasks: a web shop's users, written as weighted tasks and a flow.
//
// Starts the embedded target on loopback as a small shop and runs about 10 s of users against it
// (2 s ramp-up to 20 users, 7 s hold, 1 s ramp-down). Each iteration a user picks, by weight, one of
//
//   browse      6   GET /                      the home page
//   view item   4   GET /items/1               a product page
//   search      3   GET /search?q=TERM         a term from an in-memory feeder (random record)
//   buy         1   a flow, in order:          (aborts at the first failed step)
//                     login       POST /login  the shop sets a session cookie (account from a feeder)
//                     add to cart POST /cart   needs the cookie: 401 without it
//                     checkout    POST /checkout  needs the cookie
//
// then thinks 20-80 ms. The cookie travels in the user's own cookie jar, as in a browser. Backoff:
// exponential from 100 ms to 2 s with full jitter after errors and after 503 (the search answers
// 503 now and then, with Retry-After: 1). Prints live progress and a summary; the result JSON (its
// `endpoints` list one entry per task and step, with their counts) goes to loadtest_results/ and,
// with --json, to FILE as well.
//
// Usage: weighted_tasks [--json FILE] [--quiet]
// Exit status: 0 the test ran and every task ran; 1 it could not run or a task never ran; 2 bad usage.
//

#include <boost/program_options.hpp>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#include <fmt/core.h>

#include "loadtest/loadtest.hpp"
#include "loadtest/testing/target_server.hpp"

namespace asio = boost::asio;
namespace po = boost::program_options;
namespace lt = loadtest;
using namespace std::chrono_literals;

namespace {

// The task set (Locust's TaskSet): the shop's tasks as member functions. A test type cannot name
// its own members in its base-specifier, so the tasks live here and the test derives from both.
struct ShopTasks {
  struct UserData {
    lt::http::Response response;  // reused by each request of this user
  };
  using User = lt::Session<UserData>;

  static lt::http::Request request(lt::http::Method m, std::string target, std::string body = {}) {
    auto r = lt::http::Request::make(m, std::move(target), std::move(body));
    r.name.clear();  // record under the task's name, not "GET /path"
    return r;
  }

  lt::http::Request home = request(lt::http::Method::get, "/");
  lt::http::Request item = request(lt::http::Method::get, "/items/1");
  lt::http::Request add = request(lt::http::Method::post, "/cart", R"({"item":1,"quantity":2})");
  lt::http::Request pay = request(lt::http::Method::post, "/checkout", R"({"payment":"card"})");

  lt::Feeder terms{{"term"}, {{"tea"}, {"coffee"}, {"green tea"}, {"mug"}, {"kettle"}}, lt::FeedStrategy::random, "terms"};
  lt::Feeder accounts{{"user", "password"},
                      {{"alice", "a-secret"}, {"bob", "b-secret"}, {"carol", "c-secret"}},
                      lt::FeedStrategy::circular,
                      "accounts"};

  asio::awaitable<lt::Outcome> get(User& user, const lt::http::Request& req, int expect = 200) {
    co_await user.http().request(req, user.data().response);
    co_return lt::http::check_status(req, user.data().response, expect);
  }

  asio::awaitable<lt::Outcome> browse(User& user) { return get(user, home); }
  asio::awaitable<lt::Outcome> view_item(User& user) { return get(user, item); }

  asio::awaitable<lt::Outcome> search(User& user) {
    // A request of its own: the target depends on the record.
    lt::Record r = user.feed(terms);
    std::string q(r["term"]);
    for (char& c : q)
      if (c == ' ') c = '+';
    auto req = request(lt::http::Method::get, "/search?q=" + q);
    co_await user.http().request(req, user.data().response);
    lt::Outcome o = lt::http::check_status(req, user.data().response);
    co_return o;  // its name is empty: recorded as "search"
  }

  asio::awaitable<lt::Outcome> login(User& user) {
    user.cookies().clear();  // a new visit: log in afresh
    lt::Record account = user.feed(accounts);
    auto req = request(lt::http::Method::post, "/login",
                       fmt::format(R"({{"user":"{}","password":"{}"}})", account["user"], account["password"]));
    co_await user.http().request(req, user.data().response);
    lt::Outcome o = lt::http::check_status(req, user.data().response);
    if (o.ok() && user.cookies().find("session") == nullptr)
      co_return lt::Outcome::failure("login set no session cookie");
    co_return o;
  }
  asio::awaitable<lt::Outcome> add_to_cart(User& user) { return get(user, add); }
  asio::awaitable<lt::Outcome> checkout(User& user) { return get(user, pay); }
};

using BuyFlow = lt::Sequence<lt::AbortOnFailure,  //
                             lt::Step<&ShopTasks::login, "login">,
                             lt::Step<&ShopTasks::add_to_cart, "add to cart">,
                             lt::Step<&ShopTasks::checkout, "checkout">>;

using ShopBehavior = lt::OneOf<lt::Task<&ShopTasks::browse, 6, "browse">,  //
                               lt::Task<&ShopTasks::view_item, 4, "view item">,
                               lt::Task<&ShopTasks::search, 3, "search">,
                               lt::Weighted<BuyFlow, 1>>;

using ShopBackoff = lt::ExponentialBackoff;
using ShopSinks = lt::Tee<lt::ConsoleSink, lt::JsonFileSink>;

struct ShopTest : lt::LoadTest<ShopTest, lt::RampUsers, ShopBehavior, ShopBackoff, ShopSinks>, ShopTasks {
  using LoadTest::LoadTest;
};

// The embedded shop: fast pages, a search that is sometimes overloaded, a login that sets a
// session cookie, and a cart and checkout that need it.
void open_shop(lt::testing::TargetServer& shop) {
  lt::testing::RouteSpec page;
  page.body = "<html><body>shop</body></html>\n";
  page.content_type = "text/html";
  page.delay = 2ms;
  page.delay_jitter = 6ms;
  shop.route("/", page);
  shop.route("/items/1", page);

  lt::testing::RouteSpec search = page;
  search.error_rate = 0.02;
  search.error_status = 503;
  search.headers = {{"Retry-After", "1"}};
  shop.route("/search", search);

  lt::testing::RouteSpec login;
  login.body = R"({"ok":true})";
  login.content_type = "application/json";
  login.delay = 5ms;
  login.headers = {{"Set-Cookie", "session=7f3a9c; Path=/; HttpOnly"}};
  shop.route("/login", login);

  lt::testing::RouteSpec guarded = login;
  guarded.headers.clear();
  guarded.require_cookie = "session=7f3a9c";
  shop.route("/cart", guarded);
  shop.route("/checkout", guarded);
}

int run(const std::string& json, bool quiet) {
  lt::testing::TargetServer shop;
  open_shop(shop);

  lt::Config cfg;
  cfg.name = "weighted_tasks";
  cfg.target = shop.url("");
  cfg.backoff_statuses = {503};
  ShopTest test(cfg, lt::RampUsers{20, 2s, 7s, 1s}, ShopBehavior{lt::ThinkTime::uniform(20ms, 80ms)},
                ShopBackoff{100ms, 2s, 2.0, lt::Jitter::full},
                ShopSinks(lt::ConsoleSink({.out = stdout, .quiet = quiet, .tty = -1}),
                          lt::JsonFileSink({.results_dir = {}, .extra_path = json})));
  lt::LoadTestResult r = test.run();

  fmt::print("\n{:<14}{:>10}{:>10}\n", "endpoint", "requests", "failed");
  bool every_task_ran = true;
  for (const char* name : {"browse", "view item", "search", "login", "add to cart", "checkout"}) {
    std::uint64_t n = 0, failed = 0;
    for (const auto& e : r.endpoints)
      if (e.name == name) n = e.total_requests, failed = e.failed_requests;
    fmt::print("{:<14}{:>10}{:>10}\n", name, n, failed);
    every_task_ran = every_task_ran && n > 0;
  }
  fmt::print("result: {}\n", test.sink().get<1>().result_path().string());
  return every_task_ran ? EXIT_SUCCESS : EXIT_FAILURE;
}

}  // namespace

int main(int argc, char** argv) {
  std::string json;
  bool quiet = false;
  po::options_description visible("Options");
  visible.add_options()
    ("help,h", "show this help and exit")
    ("json", po::value(&json), "also write the result JSON to FILE")
    ("quiet,q", po::bool_switch(&quiet), "no live status line (the summary is still printed)");
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(visible).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: weighted_tasks [--json FILE] [--quiet]\n\n" << visible;
      return EXIT_SUCCESS;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    fmt::print(stderr, "weighted_tasks: {}\n", e.what());
    return 2;
  }
  try {
    return run(json, quiet);
  } catch (const std::exception& e) {
    fmt::print(stderr, "weighted_tasks: {}\n", e.what());
    return EXIT_FAILURE;
  }
}
