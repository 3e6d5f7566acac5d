#define BOOST_TEST_MODULE behavior
#include <boost/test/unit_test.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <climits>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "loadtest/loadtest.hpp"
#include "loadtest/testing/target_server.hpp"
#include "test_support.hpp"

namespace asio = boost::asio;
using namespace loadtest;
using loadtest::testing::RouteSpec;
using loadtest::testing::TargetServer;

namespace {

// --- a scripted task set and a stand-in user, to drive behaviours without the engine ------------

/** Tasks whose outcomes follow a script: `fail[name]` says, call by call, which calls fail (the
 *  last entry repeats); a task without a script succeeds. */
struct Script {
  std::map<std::string, std::deque<bool>, std::less<>> fail;
  std::map<std::string, int, std::less<>> calls;
  bool succeed(std::string_view name) {
    ++calls[std::string(name)];
    auto it = fail.find(name);
    if (it == fail.end() || it->second.empty()) return true;
    bool failed = it->second.front();
    if (it->second.size() > 1) it->second.pop_front();
    return !failed;
  }
  asio::awaitable<Outcome> login(Session<>&) { co_return Outcome::from_bool(succeed("login")); }
  asio::awaitable<Outcome> browse(Session<>&) { co_return Outcome::from_bool(succeed("browse")); }
  asio::awaitable<bool> search(Session<>&) { co_return succeed("search"); }  // the bool form
  asio::awaitable<Outcome> cart(std::size_t) { co_return Outcome::from_bool(succeed("cart")); }  // by user id
  asio::awaitable<Outcome> checkout(Session<>&) {  // names its own endpoint
    if (succeed("checkout")) co_return Outcome::success("POST /orders");
    co_return Outcome::failure("HTTP 409", ErrorCategory::http_4xx, "POST /orders");
  }
  asio::awaitable<Outcome> user_action(Session<>&) { co_return Outcome::from_bool(succeed("user_action")); }
};

/** The members of the engine's User that behaviours use (behavior.hpp's contract), recording
 *  instead of timing; sleeps return at once. */
class FakeUser {
 public:
  FakeUser(asio::io_context& ctx, std::uint64_t seed) : session_(0, ctx.get_executor(), cfg_, Clock::now(), seed) {}

  template <class Make>
  asio::awaitable<Outcome> execute(std::string_view name, Make&& make) {
    auto aw = make();
    Outcome o;
    if constexpr (std::is_same_v<decltype(aw), asio::awaitable<bool>>) o = Outcome::from_bool(co_await std::move(aw));
    else o = co_await std::move(aw);
    log.emplace_back(o.name.empty() ? name : o.name);
    co_return o;
  }
  asio::awaitable<void> sleep(Duration d) {
    sleeps.push_back(d);
    co_return;
  }
  Session<>& session() noexcept { return session_; }
  std::mt19937_64& rng() noexcept { return session_.rng(); }
  bool stopping() const noexcept { return log.size() >= stop_after; }

  std::vector<std::string> log;  ///< the endpoint of every action, in order
  std::vector<Duration> sleeps;  ///< every pause asked for
  std::size_t stop_after = SIZE_MAX;  ///< stopping() once this many actions ran

 private:
  Config cfg_;
  Session<> session_;
};

/** Runs `iterations` iterations of `b` for `user`; returns what run_checked said each time. */
template <class B>
std::vector<bool> drive(B& b, Script& script, FakeUser& user, int iterations) {
  asio::io_context ctx;
  std::vector<bool> results;
  asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < iterations; ++i) results.push_back(co_await b.run_checked(script, user));
  }, asio::detached);
  ctx.run();
  return results;
}

template <class B>
std::vector<std::string> picks(B b, std::uint64_t seed, int iterations) {
  asio::io_context ctx;
  Script script;
  FakeUser user(ctx, seed);
  drive(b, script, user, iterations);
  return user.log;
}

/** Pearson's chi-square of observed counts against expected proportions `weights`. */
double chi_square(const std::vector<double>& observed, const std::vector<double>& weights) {
  double n = 0, w = 0, chi = 0;
  for (double o : observed) n += o;
  for (double x : weights) w += x;
  for (std::size_t i = 0; i < observed.size(); ++i) {
    double e = n * weights[i] / w;
    chi += (observed[i] - e) * (observed[i] - e) / e;
  }
  return chi;
}

using ShopTasks = WeightedTasks<Task<&Script::browse, 5, "browse">, Task<&Script::search, 3, "search">,
                                Task<&Script::cart, 2, "cart">>;
using Checkout = Sequence<Step<&Script::login, "login">, Step<&Script::cart, "cart">, Step<&Script::checkout, "checkout">>;

}  // namespace

BOOST_AUTO_TEST_SUITE(behavior)

BOOST_AUTO_TEST_CASE(think_time_parses_specs) {
  struct Case { const char* spec; ThinkTime::Kind kind; Duration a, b; };
  const Case cases[] = {
      {"none", ThinkTime::Kind::none, 0s, 0s},
      {"constant:1s", ThinkTime::Kind::constant, 1s, 1s},
      {"uniform:1s:3s", ThinkTime::Kind::uniform, 1s, 3s},
      {"exponential:2s", ThinkTime::Kind::exponential, 2s, 2s},
      {"pacing:5s", ThinkTime::Kind::pacing, 5s, 5s},
      {"throughput:4", ThinkTime::Kind::pacing, 250ms, 250ms},
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT(c.spec) {
      ThinkTime t = ThinkTime::parse(c.spec);
      BOOST_TEST(int(t.kind) == int(c.kind));
      BOOST_TEST(t.a.count() == c.a.count());
      BOOST_TEST(t.b.count() == c.b.count());
    }
}

BOOST_AUTO_TEST_CASE(think_time_bad_specs_name_the_spec) {
  for (const char* spec : {"", "sometimes", "constant", "constant:1x", "uniform:3s:1s", "uniform:1s", "pacing:0s",
                           "throughput:0", "none:1s",
                           // hardening (issue 9): ranges and strict numbers
                           "throughput:1e-30", "throughput:1e30", "throughput:nan", "throughput:inf", "throughput: 2",
                           "throughput:2x", "constant:1e30s", "exponential:inf", "uniform:1s:1e10"})
    BOOST_TEST_CONTEXT(spec) {
      BOOST_CHECK_EXCEPTION(ThinkTime::parse(spec), std::invalid_argument, [&](const std::invalid_argument& e) {
        return std::string(e.what()).find(std::string("'") + spec + "'") != std::string::npos;
      });
    }
}

BOOST_AUTO_TEST_CASE(think_time_pauses) {
  std::mt19937_64 rng(1);
  BOOST_TEST(ThinkTime::none().after(1s, rng).count() == 0);
  BOOST_TEST((ThinkTime::constant(2s).after(1s, rng) == 2s));
  BOOST_TEST((ThinkTime::pacing(5s).after(2s, rng) == 3s));
  BOOST_TEST(ThinkTime::pacing(5s).after(6s, rng).count() == 0);
  double sum = 0;
  for (int i = 0; i < 20000; ++i) {
    Duration u = ThinkTime::uniform(1s, 3s).after(0s, rng);
    BOOST_TEST_REQUIRE((u >= 1s && u <= 3s));
    sum += to_seconds(ThinkTime::exponential(2s).after(0s, rng));
  }
  BOOST_TEST(sum / 20000 == 2.0, boost::test_tools::tolerance(0.05));  // mean of the exponential
}

BOOST_AUTO_TEST_CASE(think_time_describes_itself) {
  struct Case { ThinkTime t; const char* text; };
  const Case cases[] = {{ThinkTime::none(), "none"},
                        {ThinkTime::constant(1s), "constant 1.00s"},
                        {ThinkTime::uniform(1s, 3s), "uniform 1.00s..3.00s"},
                        {ThinkTime::exponential(2s), "exponential mean 2.00s"},
                        {ThinkTime::pacing(5s), "pacing 5.00s"}};
  for (const auto& c : cases) BOOST_TEST_CONTEXT(c.text) { BOOST_TEST(c.t.describe() == c.text); }
}

// --- WeightedTasks -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(weighted_choice_follows_the_weights) {
  // 5 : 3 : 2 over 20 000 iterations with a fixed seed. Chi-square with 2 degrees of freedom stays
  // below 13.8 with probability 0.999; the seed makes the outcome fixed, not lucky.
  static_assert(ShopTasks::total_weight == 10);
  for (std::uint64_t seed : {1u, 2u, 3u})
    BOOST_TEST_CONTEXT("seed " << seed) {
      auto log = picks(ShopTasks{}, seed, 20000);
      BOOST_TEST_REQUIRE(log.size() == 20000u);
      std::vector<double> counts(3, 0);
      for (const auto& name : log) counts[name == "browse" ? 0 : name == "search" ? 1 : 2] += 1;
      BOOST_TEST(counts[0] + counts[1] + counts[2] == 20000.0);
      BOOST_TEST(chi_square(counts, {5, 3, 2}) < 13.8);
    }
  // The static pick alone, with an uneven set of weights.
  using Skewed = WeightedTasks<Task<&Script::browse, 1, "a">, Task<&Script::browse, 10, "b">,
                               Task<&Script::browse, 100, "c">, Task<&Script::browse, 1000, "d">>;
  std::mt19937_64 rng(9);
  std::vector<double> counts(4, 0);
  for (int i = 0; i < 200000; ++i) counts[Skewed::pick(rng)] += 1;
  BOOST_TEST(chi_square(counts, {1, 10, 100, 1000}) < 16.3);  // 3 degrees of freedom, p = 0.001
  BOOST_TEST(counts[0] > 0);  // even a weight of 1 in 1111 comes up
}

BOOST_AUTO_TEST_CASE(same_seed_same_sequence) {
  auto a = picks(ShopTasks{}, 77, 500), b = picks(ShopTasks{}, 77, 500), c = picks(ShopTasks{}, 78, 500);
  BOOST_TEST(a == b);
  BOOST_TEST(a != c);
}

BOOST_AUTO_TEST_CASE(each_task_records_under_its_name_with_any_accepted_signature) {
  asio::io_context ctx;
  Script script;
  script.fail["search"] = {true};  // the bool form: false is a failure
  FakeUser user(ctx, 5);
  WeightedTasks<Task<&Script::browse, 1, "browse">, Task<&Script::search, 1, "search">, Task<&Script::cart, 1, "cart">,
                Task<&Script::checkout, 1, "checkout">>
      tasks;
  auto results = drive(tasks, script, user, 400);
  std::map<std::string, int> by_name;
  for (const auto& n : user.log) ++by_name[n];
  // Every task ran; a task whose Outcome names an endpoint records under that name.
  BOOST_TEST(by_name.size() == 4u);
  for (const char* n : {"browse", "search", "cart", "POST /orders"}) BOOST_TEST_CONTEXT(n) { BOOST_TEST(by_name[n] > 50); }
  int failed = 0;
  for (bool r : results) failed += r ? 0 : 1;
  BOOST_TEST(failed == by_name["search"]);  // only the search task fails
}

BOOST_AUTO_TEST_CASE(think_time_follows_each_iteration) {
  asio::io_context ctx;
  Script script;
  FakeUser user(ctx, 1);
  ShopTasks tasks{ThinkTime::constant(1s)};
  drive(tasks, script, user, 10);
  BOOST_TEST(user.sleeps.size() == 10u);
  for (Duration d : user.sleeps) BOOST_TEST((d == 1s));
}

// --- Sequence ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(sequence_runs_in_order_and_applies_its_failure_policy) {
  using Log = std::vector<std::string>;
  struct Case {
    const char* what;
    OnFailure policy;
    std::deque<bool> cart_fails;  // the cart step's script
    Log expected;
    bool ok;
  };
  const Case cases[] = {
      {"all succeed", OnFailure::abort, {}, {"login", "cart", "POST /orders"}, true},
      {"abort", OnFailure::abort, {true, false}, {"login", "cart"}, false},
      {"proceed", OnFailure::proceed, {true, false}, {"login", "cart", "POST /orders"}, false},
      {"restart, then recovered", OnFailure::restart, {true, false}, {"login", "cart", "login", "cart", "POST /orders"}, true},
      {"restart gives up after max_restarts", OnFailure::restart, {true},
       {"login", "cart", "login", "cart", "login", "cart"}, false},
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT(c.what) {
      asio::io_context ctx;
      Script script;
      script.fail["cart"] = c.cart_fails;
      FakeUser user(ctx, 1);
      Checkout flow;
      flow.on_failure = c.policy;
      flow.max_restarts = 2;
      auto results = drive(flow, script, user, 1);
      BOOST_TEST(user.log == c.expected, boost::test_tools::per_element());
      BOOST_TEST(results.at(0) == c.ok);
    }
}

BOOST_AUTO_TEST_CASE(the_failure_policy_may_be_a_type) {
  using Restarting = Sequence<RestartOnFailure, Step<&Script::login, "login">, Step<&Script::cart, "cart">>;
  using Proceeding = Sequence<Step<&Script::login, "login">, ProceedOnFailure, Step<&Script::cart, "cart">>;
  BOOST_TEST(int(Restarting{}.on_failure) == int(OnFailure::restart));
  BOOST_TEST(int(Proceeding{}.on_failure) == int(OnFailure::proceed));
  BOOST_TEST(int(Checkout{}.on_failure) == int(OnFailure::abort));
  asio::io_context ctx;
  Script script;
  script.fail["login"] = {true, false};
  FakeUser user(ctx, 1);
  Proceeding flow;
  drive(flow, script, user, 1);
  BOOST_TEST((user.log == std::vector<std::string>{"login", "cart"}));  // the tag is no step
}

BOOST_AUTO_TEST_CASE(sequence_pauses_between_steps_thinks_after_and_stops_when_asked) {
  asio::io_context ctx;
  Script script;
  FakeUser user(ctx, 1);
  Checkout flow{ThinkTime::constant(2s), ThinkTime::constant(100ms)};
  drive(flow, script, user, 2);
  // Per pass: 100 ms before steps 2 and 3, then 2 s.
  const std::vector<Duration> expected{100ms, 100ms, 2s, 100ms, 100ms, 2s};
  BOOST_TEST_REQUIRE(user.sleeps.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) BOOST_TEST(user.sleeps[i].count() == expected[i].count());

  FakeUser leaving(ctx, 1);
  leaving.stop_after = 1;  // asked to leave during the first step
  Checkout again;
  auto results = drive(again, script, leaving, 1);
  BOOST_TEST((leaving.log == std::vector<std::string>{"login"}));
  BOOST_TEST(results.at(0));  // nothing failed
}

// --- Composition ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(one_of_picks_whole_flows_by_weight) {
  using Browse = Sequence<Step<&Script::browse, "browse">, Step<&Script::search, "search">>;
  using Buy = Sequence<Step<&Script::login, "login">, Step<&Script::cart, "cart">, Step<&Script::checkout, "checkout">>;
  using Mix = OneOf<Weighted<Browse, 70>, Weighted<Buy, 30>>;
  auto log = picks(Mix{}, 21, 10000);
  // Each flow runs whole and in order; count flows by their first step.
  std::vector<double> flows(2, 0);
  for (std::size_t i = 0; i < log.size();) {
    if (log[i] == "browse") {
      BOOST_TEST_REQUIRE(log.at(i + 1) == "search");
      flows[0] += 1;
      i += 2;
    } else {
      BOOST_TEST_REQUIRE(log[i] == "login");
      BOOST_TEST_REQUIRE(log.at(i + 1) == "cart");
      BOOST_TEST_REQUIRE(log.at(i + 2) == "POST /orders");
      flows[1] += 1;
      i += 3;
    }
  }
  BOOST_TEST(flows[0] + flows[1] == 10000.0);
  BOOST_TEST(chi_square(flows, {70, 30}) < 10.8);  // 1 degree of freedom, p = 0.001
}

BOOST_AUTO_TEST_CASE(flows_nest_and_a_nested_failure_is_a_failed_step) {
  // login, then one of two items, then checkout; the choice fails once.
  using Middle = OneOf<Task<&Script::browse, 1, "browse">, Task<&Script::browse, 1, "browse again">>;
  using Flow = Sequence<Step<&Script::login, "login">, Middle, Step<&Script::checkout, "checkout">>;
  asio::io_context ctx;
  Script script;
  script.fail["browse"] = {true, false};  // the first call fails, whichever item made it
  FakeUser user(ctx, 4);
  Flow flow;
  auto results = drive(flow, script, user, 3);
  BOOST_TEST((results == std::vector<bool>{false, true, true}));
  BOOST_TEST_REQUIRE(user.log.size() == 2u + 3u + 3u);  // the first pass aborted after the choice
  BOOST_TEST(user.log[0] == "login");
  BOOST_TEST((user.log[1] == "browse" || user.log[1] == "browse again"));
  BOOST_TEST(user.log[2] == "login");
  BOOST_TEST(user.log[4] == "POST /orders");
  // SingleAction nests too.
  using WithClassic = OneOf<Weighted<SingleAction, 1>, Weighted<Checkout, 1>>;
  auto mixed = picks(WithClassic{}, 3, 200);
  BOOST_TEST(std::count(mixed.begin(), mixed.end(), "user_action") > 0);
}

BOOST_AUTO_TEST_CASE(validate_and_describe_reach_nested_parts) {
  ShopTasks tasks{ThinkTime::uniform(1s, 3s)};
  BOOST_TEST(tasks.describe() == "weighted(browse:5, search:3, cart:2; think uniform 1.00s..3.00s)");
  BOOST_TEST(Checkout{}.describe() == "sequence(login, cart, checkout; abort on failure)");
  using Mix = OneOf<Weighted<Checkout, 3>, Weighted<ShopTasks, 1>>;
  Mix mix;
  BOOST_TEST(mix.describe() ==
             "weighted(sequence(login, cart, checkout; abort on failure):3, weighted(browse:5, search:3, cart:2):1)");
  mix.validate();
  std::get<0>(mix.items).behavior.think = ThinkTime{ThinkTime::Kind::uniform, 3s, 1s};  // min > max
  BOOST_CHECK_THROW(mix.validate(), std::invalid_argument);
}

// --- With the engine -----------------------------------------------------------------------------

namespace {

using test_support::quick;

/** A web shop's task set (a test type cannot name its own members in its base, so the tasks live
 *  in a base of their own, like a Locust TaskSet). Each task GETs its path and records under the
 *  task's name. */
struct WebShopTasks {
  static http::Request get(const char* path) {
    auto r = http::Request::make(http::Method::get, path);
    r.name.clear();  // record under the task's name
    return r;
  }
  http::Request browse_req = get("/browse"), search_req = get("/search"), cart_req = get("/cart"),
                login_req = get("/login"), checkout_req = get("/checkout");
  std::vector<std::string> order;  // task names in call order (one user, one worker: no lock)

  asio::awaitable<Outcome> call(Session<>& user, const http::Request& req, const char* name) {
    order.emplace_back(name);
    co_return http::check_status(req, co_await user.http().request(req));
  }
  asio::awaitable<Outcome> browse(Session<>& u) { return call(u, browse_req, "browse"); }
  asio::awaitable<Outcome> search(Session<>& u) { return call(u, search_req, "search"); }
  asio::awaitable<Outcome> cart(Session<>& u) { return call(u, cart_req, "cart"); }
  asio::awaitable<Outcome> login(Session<>& u) { return call(u, login_req, "login"); }
  asio::awaitable<Outcome> checkout(Session<>& u) { return call(u, checkout_req, "checkout"); }
};

template <class Behavior>
struct WebShop : LoadTest<WebShop<Behavior>, ConstantUsers, Behavior, NoBackoff, RecordingSink>, WebShopTasks {
  using LoadTest<WebShop<Behavior>, ConstantUsers, Behavior, NoBackoff, RecordingSink>::LoadTest;
};

using WebTasks = WeightedTasks<Task<&WebShopTasks::browse, 6, "browse">, Task<&WebShopTasks::search, 3, "search">,
                               Task<&WebShopTasks::cart, 1, "cart">>;
using WebFlow = Sequence<Step<&WebShopTasks::login, "login">, Step<&WebShopTasks::cart, "cart">,
                         Step<&WebShopTasks::checkout, "checkout">>;
using NoLoginFlow = Sequence<Step<&WebShopTasks::cart, "cart">, Step<&WebShopTasks::checkout, "checkout">>;

// The behaviours model the concept for the engine's real User, not only for behavior.hpp's probe.
template <class B>
using EngineUser = UserRunner<LoadTest<WebShop<B>, ConstantUsers, B, NoBackoff, RecordingSink>>;
static_assert(UserBehavior<WebTasks, WebShop<WebTasks>, EngineUser<WebTasks>>);
static_assert(UserBehavior<WebFlow, WebShop<WebFlow>, EngineUser<WebFlow>>);
using WebMix = OneOf<Weighted<WebFlow, 1>, Weighted<WebTasks, 3>>;
static_assert(UserBehavior<WebMix, WebShop<WebMix>, EngineUser<WebMix>>);
// ... and a task of some other type does not.
struct Stranger {
  asio::awaitable<Outcome> visit(Session<>&);
};
using Foreign = WeightedTasks<Task<&Stranger::visit, 1, "visit">>;
static_assert(!UserBehavior<Foreign, WebShop<WebTasks>, EngineUser<WebTasks>>);

std::uint64_t count(const LoadTestResult& r, const std::string& endpoint) {
  for (const auto& e : r.endpoints)
    if (e.name == endpoint) return e.total_requests;
  return 0;
}

}  // namespace

BOOST_AUTO_TEST_CASE(weighted_tasks_against_the_target) {
  TargetServer server;
  WebShop<WebTasks> test(quick("weighted", server), ConstantUsers{2, 1s});
  LoadTestResult r = test.run();
  BOOST_TEST_REQUIRE(r.total_requests > 0u);
  BOOST_TEST(r.successful_requests == r.total_requests);
  BOOST_TEST(r.endpoints.size() == 3u);
  // Each task's count is its own endpoint's, and matches what the server saw.
  for (const char* name : {"browse", "search", "cart"})
    BOOST_TEST_CONTEXT(name) { BOOST_TEST(count(r, name) == server.requests(std::string("/") + name)); }
  BOOST_TEST(count(r, "browse") + count(r, "search") + count(r, "cart") == r.total_requests);
  BOOST_TEST_MESSAGE("weighted tasks: " << r.total_requests << " requests");
  if (r.total_requests >= 500) {  // enough picks for the proportions to show (6 : 3 : 1)
    std::vector<double> c{double(count(r, "browse")), double(count(r, "search")), double(count(r, "cart"))};
    BOOST_TEST(chi_square(c, {6, 3, 1}) < 13.8);
  }
}

BOOST_AUTO_TEST_CASE(the_same_seed_picks_the_same_tasks_in_the_engine) {
  TargetServer server;
  WebShop<WebTasks> a(quick("seeded", server), ConstantUsers{1, 300ms});
  WebShop<WebTasks> b(quick("seeded", server), ConstantUsers{1, 300ms});
  a.run();
  b.run();
  std::size_t n = std::min(a.order.size(), b.order.size());
  BOOST_TEST_REQUIRE(n > 0u);
  BOOST_TEST(std::equal(a.order.begin(), a.order.begin() + static_cast<std::ptrdiff_t>(n), b.order.begin()));
}

BOOST_AUTO_TEST_CASE(a_flow_keeps_its_cookies_between_steps) {
  // /login sets a session cookie; /cart and /checkout answer 401 without it.
  TargetServer server;
  RouteSpec login;
  login.headers = {{"Set-Cookie", "session=s3cr3t; Path=/; HttpOnly"}};
  server.route("/login", login);
  RouteSpec guarded;
  guarded.require_cookie = "session=s3cr3t";
  server.route("/cart", guarded);
  server.route("/checkout", guarded);

  WebShop<WebFlow> flow(quick("flow", server), ConstantUsers{2, 1s});
  LoadTestResult r = flow.run();
  BOOST_TEST_REQUIRE(r.total_requests > 0u);
  BOOST_TEST(r.failed_requests == 0u);
  BOOST_TEST(count(r, "cart") >= count(r, "checkout"));
  BOOST_TEST(count(r, "login") >= count(r, "cart"));
  BOOST_TEST(count(r, "checkout") > 0u);

  // Without the login step the cart answers 401 and the aborting flow never reaches checkout.
  TargetServer fresh;
  fresh.route("/cart", guarded);
  fresh.route("/checkout", guarded);
  WebShop<NoLoginFlow> anonymous(quick("anonymous", fresh), ConstantUsers{1, 300ms});
  LoadTestResult a = anonymous.run();
  BOOST_TEST_REQUIRE(a.total_requests > 0u);
  BOOST_TEST(a.failures == a.total_requests);
  BOOST_TEST(a.errors_by_category.at("http_4xx") == a.total_requests);
  BOOST_TEST(count(a, "checkout") == 0u);
  BOOST_TEST(fresh.requests("/checkout") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
