#define BOOST_TEST_MODULE backoff
#include <boost/test/unit_test.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "loadtest/backoff.hpp"
#include "loadtest/loadtest.hpp"
#include "loadtest/testing/target_server.hpp"

namespace asio = boost::asio;
using namespace loadtest;
using loadtest::testing::RouteSpec;
using loadtest::testing::TargetServer;

namespace {

Config quick(std::string name) {
  Config c;
  c.name = std::move(name);
  c.handle_signals = false;
  c.monitor_interval = 20ms;
  c.grace_period = 2s;
  c.seed = 42;
  return c;
}

double secs(Duration d) { return to_seconds(d); }

template <class B>
concept HasCap = requires(const B& b) { b.cap(); };

}  // namespace

BOOST_AUTO_TEST_SUITE(backoff)

BOOST_AUTO_TEST_CASE(no_and_fixed_backoff) {
  NoBackoff n;
  FixedBackoff f;  // the original framework's 1 s
  for (unsigned a = 1; a < 5; ++a) {
    BOOST_TEST(n.delay(a).count() == 0);
    BOOST_TEST((f.delay(a) == 1s));
  }
  BOOST_CHECK_THROW(FixedBackoff{-1s}.validate(), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(linear_backoff_is_capped) {
  LinearBackoff l{2s, 5s};
  const Duration expected[] = {2s, 4s, 5s, 5s};
  for (unsigned a = 1; a <= 4; ++a) BOOST_TEST_CONTEXT("attempt " << a) { BOOST_TEST((l.delay(a) == expected[a - 1])); }
}

BOOST_AUTO_TEST_CASE(exponential_without_jitter_is_exact) {
  ExponentialBackoff e{100ms, 1s, 2.0, Jitter::none};
  const Duration expected[] = {100ms, 200ms, 400ms, 800ms, 1s, 1s};
  for (unsigned a = 1; a <= 6; ++a)
    BOOST_TEST_CONTEXT("attempt " << a) {
      BOOST_TEST(std::abs(to_seconds(e.delay(a)) - to_seconds(expected[a - 1])) < 1e-9);
    }
}

BOOST_AUTO_TEST_CASE(jitter_stays_within_bounds) {
  for (Jitter j : {Jitter::full, Jitter::equal}) {
    ExponentialBackoff e{100ms, 2s, 2.0, j};
    e.seed(42);
    for (int round = 0; round < 200; ++round)
      for (unsigned a = 1; a <= 8; ++a) {
        double full = std::min(2.0, 0.1 * std::pow(2.0, a - 1));
        double d = to_seconds(e.delay(a));
        double lo = j == Jitter::equal ? full / 2 : 0;
        BOOST_TEST_CONTEXT("jitter " << int(j) << " attempt " << a) { BOOST_TEST((d >= lo - 1e-9 && d <= full + 1e-9)); }
      }
  }
}

BOOST_AUTO_TEST_CASE(decorrelated_jitter_follows_its_recurrence) {
  // sleep = min(cap, uniform(base, previous * 3)), previous starting at base.
  ExponentialBackoff e{100ms, 5s, 2.0, Jitter::decorrelated};
  e.seed(7);
  double prev = 0.1;
  bool reached_cap = false;
  for (unsigned a = 1; a <= 60; ++a) {
    double d = to_seconds(e.delay(a));
    BOOST_TEST_CONTEXT("attempt " << a) {
      BOOST_TEST(d >= 0.1 - 1e-9);
      BOOST_TEST(d <= std::min(5.0, prev * 3) + 1e-9);
    }
    reached_cap = reached_cap || d > 4.0;
    prev = d;
  }
  BOOST_TEST(reached_cap);
  e.reset();  // back to base
  BOOST_TEST(to_seconds(e.delay(1)) <= 0.3 + 1e-9);
}

BOOST_AUTO_TEST_CASE(same_seed_same_sequence) {
  ExponentialBackoff a{100ms, 5s, 2.0, Jitter::full}, b = a;
  a.seed(99);
  b.seed(99);
  for (unsigned i = 1; i < 20; ++i) BOOST_TEST(a.delay(i).count() == b.delay(i).count());
}

BOOST_AUTO_TEST_CASE(invalid_parameters_throw) {
  BOOST_CHECK_THROW((ExponentialBackoff{0s, 1s}.validate()), std::invalid_argument);
  BOOST_CHECK_THROW((ExponentialBackoff{2s, 1s}.validate()), std::invalid_argument);
  BOOST_CHECK_THROW((ExponentialBackoff{1s, 2s, 0.5}.validate()), std::invalid_argument);
  BOOST_CHECK_THROW((LinearBackoff{-1s, 1s}.validate()), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(exact_sequences_without_jitter) {
  // attempt 1, 2, ... as the engine passes it; the AWS blog's attempt 0 is our attempt 1.
  struct Case {
    const char* what;
    std::function<Duration(unsigned)> delay;
    std::vector<Duration> expected;
  };
  ExponentialBackoff e2{100ms, 1s, 2.0}, e3{10ms, 500ms, 3.0};
  LinearBackoff lin{250ms, 1s};
  FixedBackoff fix{40ms};
  const Case cases[] = {
      {"exponential x2", [&](unsigned a) { return e2.delay(a); }, {100ms, 200ms, 400ms, 800ms, 1s, 1s, 1s}},
      {"exponential x3", [&](unsigned a) { return e3.delay(a); }, {10ms, 30ms, 90ms, 270ms, 500ms, 500ms}},
      {"linear", [&](unsigned a) { return lin.delay(a); }, {250ms, 500ms, 750ms, 1s, 1s}},
      {"fixed", [&](unsigned a) { return fix.delay(a); }, {40ms, 40ms, 40ms}},
  };
  for (const auto& c : cases)
    for (unsigned a = 1; a <= c.expected.size(); ++a)
      BOOST_TEST_CONTEXT(c.what << ", attempt " << a) {
        BOOST_TEST(std::abs(secs(c.delay(a)) - secs(c.expected[a - 1])) < 1e-9);
      }
  // Huge attempts neither overflow nor exceed the cap.
  BOOST_TEST((lin.delay(4'000'000'000u) == 1s));
  BOOST_TEST(std::abs(secs(e2.delay(4'000'000'000u)) - 1.0) < 1e-9);
}

BOOST_AUTO_TEST_CASE(full_and_equal_jitter_spread_over_their_range) {
  // AWS: full = uniform(0, x), equal = x/2 + uniform(0, x/2), x = min(cap, base * 2^n).
  struct Case { Jitter j; double lo_fraction, mean_fraction; };
  for (const Case c : {Case{Jitter::full, 0.0, 0.5}, Case{Jitter::equal, 0.5, 0.75}})
    BOOST_TEST_CONTEXT("jitter " << to_string(c.j)) {
      ExponentialBackoff e{100ms, 800ms, 2.0, c.j};
      e.seed(3);
      for (unsigned a : {1u, 3u, 6u}) {
        const double x = std::min(0.8, 0.1 * std::pow(2.0, a - 1));
        double sum = 0, lo = 1e9, hi = 0;
        for (int i = 0; i < 4000; ++i) {
          double d = secs(e.delay(a));
          sum += d, lo = std::min(lo, d), hi = std::max(hi, d);
        }
        BOOST_TEST_CONTEXT("attempt " << a) {
          BOOST_TEST(lo >= c.lo_fraction * x - 1e-9);
          BOOST_TEST(hi <= x + 1e-9);
          BOOST_TEST(sum / 4000 == c.mean_fraction * x, boost::test_tools::tolerance(0.03));
          // It really spreads: the draws cover most of the range.
          BOOST_TEST(hi - lo > 0.9 * (1 - c.lo_fraction) * x);
        }
      }
    }
}

BOOST_AUTO_TEST_CASE(decorrelated_reset_starts_over_and_other_jitters_need_no_reset) {
  ExponentialBackoff d{100ms, 10s, 2.0, Jitter::decorrelated};
  d.seed(11);
  for (unsigned a = 1; a <= 30; ++a) (void)d.delay(a);  // grows towards the cap
  d.reset();
  // After reset the recurrence starts again from base: uniform(base, 3 * base).
  for (int i = 0; i < 50; ++i) {
    double first = secs(d.delay(1));
    BOOST_TEST_REQUIRE((first >= 0.1 - 1e-9 && first <= 0.3 + 1e-9));
    d.reset();
  }
}

BOOST_AUTO_TEST_CASE(retry_after_is_honoured_within_the_cap) {
  struct Case { Duration delay, retry_after, cap, expected; };
  const Case cases[] = {
      {100ms, 0s, 30s, 100ms},   // no Retry-After: the policy's delay
      {100ms, 2s, 30s, 2s},      // longer Retry-After wins
      {100ms, 2s, 500ms, 500ms}, // but only up to the cap
      {3s, 1s, 30s, 3s},         // a shorter Retry-After never shortens the pause
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT(format_duration(c.delay) << " / " << format_duration(c.retry_after) << " / cap "
                                                << format_duration(c.cap)) {
      BOOST_TEST(honour_retry_after(c.delay, c.retry_after, c.cap).count() == c.expected.count());
    }
}

BOOST_AUTO_TEST_CASE(what_triggers_backoff) {
  Config errors, failures, statuses;
  failures.backoff_on = BackoffTrigger::errors_and_failures;
  statuses.backoff_statuses = {429, 503};
  auto failed = [](int status) {
    Outcome o = Outcome::failure("HTTP " + std::to_string(status), category_of_http_status(status));
    o.http_status = status;
    return o;
  };
  struct Case { const char* what; Outcome o; bool on_errors, on_failures, on_statuses; };
  const Case cases[] = {
      {"success", Outcome::success(), false, false, false},
      {"success 200", Outcome::success({}, 200), false, false, false},
      {"error", Outcome::error(ErrorCategory::timeout, "t"), true, true, true},
      {"business failure", Outcome::failure("wrong body"), false, true, false},
      {"503", failed(503), false, true, true},
      {"429", failed(429), false, true, true},
      {"500", failed(500), false, true, false},
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT(c.what) {
      BOOST_TEST(triggers_backoff(errors, c.o) == c.on_errors);
      BOOST_TEST(triggers_backoff(failures, c.o) == c.on_failures);
      BOOST_TEST(triggers_backoff(statuses, c.o) == c.on_statuses);
    }
  Config bad;
  bad.backoff_statuses = {503, 42};
  BOOST_CHECK_EXCEPTION(bad.validate(), std::invalid_argument,
                        [](const std::invalid_argument& e) { return std::string(e.what()).find("'42'") != std::string::npos; });
}

BOOST_AUTO_TEST_CASE(retry_wraps_a_policy) {
  using R = Retry<ExponentialBackoff, 4>;
  static_assert(BackoffPolicy<R>);
  static_assert(R::max_attempts() == 4);
  R r{ExponentialBackoff{100ms, 1s}};
  BOOST_TEST((r.cap() == 1s));
  BOOST_TEST(std::abs(secs(r.delay(3)) - 0.4) < 1e-9);
  r.seed(5);  // forwarded
  BOOST_CHECK_THROW((Retry<ExponentialBackoff, 2>{ExponentialBackoff{0s, 1s}}.validate()), std::invalid_argument);
  static_assert(!HasCap<Retry<NoBackoff, 2>>);  // only what the inner policy has
  static_assert(HasCap<Retry<FixedBackoff, 2>>);
}

BOOST_AUTO_TEST_CASE(circuit_breaker_state_machine) {
  CircuitBreaker<LinearBackoff> cb{LinearBackoff{10ms, 1s}, 3, 2s};
  struct Step { unsigned attempt; Duration delay; bool open; };
  // Closed: the inner policy; the third consecutive trigger opens it for the open interval; a
  // failed probe (attempt 4) opens it again.
  const Step steps[] = {{1, 10ms, false}, {2, 20ms, false}, {3, 2s, true}, {4, 2s, true}};
  for (const auto& s : steps)
    BOOST_TEST_CONTEXT("attempt " << s.attempt) {
      BOOST_TEST(cb.delay(s.attempt).count() == s.delay.count());
      BOOST_TEST(cb.open() == s.open);
    }
  BOOST_TEST(cb.trips() == 2u);
  cb.reset();  // a successful probe closes it
  BOOST_TEST(!cb.open());
  BOOST_TEST((cb.delay(1) == 10ms));
  BOOST_TEST((cb.cap() == 2s));  // a Retry-After may lengthen the pause up to the open interval
  BOOST_CHECK_EXCEPTION((CircuitBreaker<NoBackoff>{NoBackoff{}, 0, 1s}.validate()), std::invalid_argument,
                        [](const std::invalid_argument& e) { return std::string(e.what()).find("threshold") != std::string::npos; });
  static_assert(BackoffPolicy<Retry<CircuitBreaker<FixedBackoff>, 3>>);
  static_assert(Retry<CircuitBreaker<FixedBackoff>, 3>::max_attempts() == 3);
  static_assert(requires(const Retry<CircuitBreaker<FixedBackoff>, 3>& r) { r.open(); });
}

BOOST_AUTO_TEST_CASE(any_backoff_parses_specs) {
  struct Case { const char* spec; AnyBackoff::Kind kind; std::vector<Duration> delays; };
  const Case cases[] = {
      {"none", AnyBackoff::Kind::none, {0s, 0s}},
      {"fixed:1s", AnyBackoff::Kind::fixed, {1s, 1s}},
      {"fixed:250ms", AnyBackoff::Kind::fixed, {250ms, 250ms}},
      {"linear:1s:3s", AnyBackoff::Kind::linear, {1s, 2s, 3s, 3s}},
      {"exponential:100ms:1s", AnyBackoff::Kind::exponential, {100ms, 200ms, 400ms, 800ms, 1s}},
      {"exponential:100ms:1s:none", AnyBackoff::Kind::exponential, {100ms, 200ms}},
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT(c.spec) {
      AnyBackoff b = AnyBackoff::parse(c.spec);
      BOOST_TEST(int(b.kind()) == int(c.kind));
      BOOST_TEST(b.max_attempts() == 1u);
      for (unsigned a = 1; a <= c.delays.size(); ++a)
        BOOST_TEST(std::abs(secs(b.delay(a)) - secs(c.delays[a - 1])) < 1e-9);
    }
  for (const char* spec : {"exponential:100ms:1s:full", "exponential:100ms:1s:equal", "exponential:100ms:1s:decorrelated"})
    BOOST_TEST_CONTEXT(spec) {
      AnyBackoff b = AnyBackoff::parse(spec);
      b.seed(1);
      for (unsigned a = 1; a < 10; ++a) {
        double d = secs(b.delay(a));
        BOOST_TEST((d >= 0 && d <= 1.0 + 1e-9));
      }
      BOOST_TEST((b.cap() == 1s));
    }
  AnyBackoff r = AnyBackoff::parse("fixed:10ms").with_retries(2);
  BOOST_TEST(r.max_attempts() == 3u);
  BOOST_TEST(r.describe() == "fixed 10.0ms; 2 retries");
  BOOST_TEST(AnyBackoff::parse("exponential:100ms:30s:full").describe() == "exponential 100.0ms..30.00s, full jitter");
  BOOST_TEST(AnyBackoff{}.describe() == "fixed 1.00s");  // the original framework's 1 s
  BOOST_CHECK_THROW(AnyBackoff{}.with_retries(1000), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(any_backoff_bad_specs_name_the_bad_part) {
  struct Case { const char* spec; const char* names; };
  const Case cases[] = {
      {"", "unknown kind ''"},
      {"sometimes", "unknown kind 'sometimes'"},
      {"fixed", "fixed:DURATION"},
      {"fixed:1x", "DURATION '1x'"},
      {"fixed:1s:2s", "fixed:DURATION"},
      {"none:1s", "'none'"},
      {"linear:1s", "linear:STEP:CAP"},
      {"linear:abc:1s", "STEP 'abc'"},
      {"linear:1s:-2s", "CAP '-2s'"},
      {"exponential:100ms", "exponential:BASE:CAP"},
      {"exponential:0s:1s", "base"},
      {"exponential:2s:1s", "cap"},
      {"exponential:100ms:1s:wobbly", "jitter 'wobbly'"},
      {"exponential:100ms:1s:full:x", "exponential:BASE:CAP[:JITTER]"},
      // hardening (issue 9): durations fit the clock
      {"fixed:1e30s", "DURATION '1e30s'"},
      {"linear:1s:1e10s", "CAP '1e10s'"},
      {"exponential:1s:inf", "CAP 'inf'"},
  };
  for (const auto& c : cases)
    BOOST_TEST_CONTEXT(c.spec) {
      BOOST_CHECK_EXCEPTION(AnyBackoff::parse(c.spec), std::invalid_argument, [&](const std::invalid_argument& e) {
        std::string w = e.what();
        return w.find(std::string("invalid backoff '") + c.spec + "'") != std::string::npos &&
               w.find(c.names) != std::string::npos;
      });
    }
}

// --- against the embedded target ---------------------------------------------------------------

namespace {

// One GET per action to `path`; remembers when each action started (one user, one worker thread:
// read after run() only).
template <class Backoff>
struct Getter : LoadTest<Getter<Backoff>, ConstantUsers, SingleAction, Backoff, RecordingSink> {
  using Base = LoadTest<Getter<Backoff>, ConstantUsers, SingleAction, Backoff, RecordingSink>;
  Getter(const TargetServer& server, const char* path, Config cfg, Duration length, Backoff b)
      : Base(with_target(std::move(cfg), server), ConstantUsers{1, length}, SingleAction{}, std::move(b)),
        req(http::Request::make(http::Method::get, path)) {}
  http::Request req;
  std::vector<Clock::time_point> starts;
  asio::awaitable<Outcome> user_action(Session<>& user) {
    starts.push_back(Clock::now());
    co_return http::check_status(req, co_await user.http().request(req));
  }
  static Config with_target(Config c, const TargetServer& server) {
    c.target = server.url("");
    return c;
  }
};

Duration min_gap(const std::vector<Clock::time_point>& ts) {
  Duration m = Duration::max();
  for (std::size_t i = 1; i < ts.size(); ++i) m = std::min<Duration>(m, ts[i] - ts[i - 1]);
  return m;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_listed_status_triggers_backoff_and_its_retry_after_is_honoured) {
  TargetServer server;
  RouteSpec busy;
  busy.status = 503;
  busy.headers = {{"Retry-After", "1"}};
  server.route("/busy", busy);
  Config cfg = quick("retry-after");
  cfg.backoff_statuses = {503};
  // The policy alone would pause 10 ms, 20 ms, ...; the server asks for 1 s, within the 5 s cap.
  Getter test(server, "/busy", cfg, 1500ms, ExponentialBackoff{10ms, 5s});
  LoadTestResult r = test.run();
  BOOST_TEST(r.failures == r.total_requests);
  BOOST_TEST(r.errors_by_category.at("http_5xx") == r.total_requests);
  BOOST_TEST_REQUIRE(r.total_requests >= 1u);
  BOOST_TEST(r.total_requests <= 2u);  // at 0 s and 1 s at most: the pause is never shorter
  if (test.starts.size() > 1) BOOST_TEST(secs(min_gap(test.starts)) >= 1.0 - 1e-3);
}

BOOST_AUTO_TEST_CASE(unlisted_failures_do_not_trigger_but_listed_ones_do) {
  TargetServer server;
  RouteSpec busy;
  busy.status = 503;
  server.route("/busy", busy);
  Config listed = quick("listed");
  listed.backoff_statuses = {429, 503};
  Getter test(server, "/busy", listed, 1s, FixedBackoff{300ms});
  LoadTestResult r = test.run();
  BOOST_TEST(r.total_requests >= 1u);
  BOOST_TEST(r.total_requests <= 4u);  // 300 ms apart in 1 s
  if (test.starts.size() > 1) BOOST_TEST(secs(min_gap(test.starts)) >= 0.3 - 1e-3);
}

BOOST_AUTO_TEST_CASE(retry_reruns_an_action_and_counts_each_attempt) {
  // fail_first = 5 answers 500 five times, then 200. With three attempts per action:
  //   action 1: 500, 500, 500  -> recorded once, as a failure (2 retries)
  //   action 2: 500, 500, 200  -> recorded once, as a success (2 retries)
  //   then successes. The server sees every attempt: requests = actions + retries.
  TargetServer server;
  RouteSpec flaky;
  flaky.fail_first = 5;
  server.route("/flaky", flaky);
  Config cfg = quick("retry");
  cfg.backoff_statuses = {500};
  Getter test(server, "/flaky", cfg, 500ms, Retry<NoBackoff, 3>{});
  LoadTestResult r = test.run();
  BOOST_TEST_REQUIRE(r.total_requests >= 2u);
  BOOST_TEST(r.failures == 1u);
  BOOST_TEST(r.errors_total == 0u);
  BOOST_TEST(r.successful_requests == r.total_requests - 1);
  BOOST_TEST(r.retries == 4u);
  BOOST_TEST(server.requests("/flaky") == r.total_requests + r.retries);
  BOOST_TEST(test.starts.size() == server.requests("/flaky"));  // each attempt called the task again
  const auto& last = test.sink().intervals.back();
  BOOST_TEST(last.retries == 4u);
  BOOST_TEST(last.total_requests == r.total_requests);
}

BOOST_AUTO_TEST_CASE(run_time_retries_pause_between_attempts) {
  TargetServer server;
  RouteSpec down;
  down.status = 500;
  server.route("/down", down);
  Config cfg = quick("retry-any");
  cfg.backoff_on = BackoffTrigger::errors_and_failures;
  // Two retries 100 ms apart, then the usual pause: 100 ms per attempt in all.
  Getter test(server, "/down", cfg, 1s, AnyBackoff::parse("fixed:100ms").with_retries(2));
  LoadTestResult r = test.run();
  BOOST_TEST_REQUIRE(r.total_requests >= 1u);
  BOOST_TEST(r.failures == r.total_requests);
  BOOST_TEST(server.requests("/down") == r.total_requests + r.retries);
  BOOST_TEST(r.retries <= 2 * r.total_requests);
  BOOST_TEST(server.requests("/down") <= 11u);  // 100 ms apart in 1 s
  if (test.starts.size() > 1) BOOST_TEST(secs(min_gap(test.starts)) >= 0.1 - 1e-3);
}

namespace {

// A sink that keeps the most users ever seen in an open circuit (thread-safe: the probe polls it).
struct CircuitWatch {
  std::shared_ptr<std::atomic<std::uint64_t>> most_open = std::make_shared<std::atomic<std::uint64_t>>(0);
  std::shared_ptr<std::vector<std::uint64_t>> seen = std::make_shared<std::vector<std::uint64_t>>();  // control thread
  void on_start(const TestInfo&) {}
  void on_interval(const RealTimeMetrics& m) {
    seen->push_back(m.users_in_open_circuit);
    auto cur = most_open->load();
    while (m.users_in_open_circuit > cur && !most_open->compare_exchange_weak(cur, m.users_in_open_circuit)) {}
  }
  void on_finish(const LoadTestResult&) {}
};

struct Breaker : LoadTest<Breaker, ConstantUsers, SingleAction, CircuitBreaker<NoBackoff>, CircuitWatch> {
  using LoadTest::LoadTest;
  http::Request req = http::Request::make(http::Method::get, "/flaky");
  std::vector<Clock::time_point> starts;
  bool probe_saw_open_snapshot = false;
  asio::awaitable<Outcome> user_action(Session<>& user) {
    starts.push_back(Clock::now());
    if (starts.size() == 4) {
      // The first probe: the user is half-open now, so the monitor must report it. Wait for that
      // snapshot (bounded) instead of hoping the open interval overlapped one.
      asio::steady_timer t(co_await asio::this_coro::executor);
      for (int i = 0; i < 300 && sink().most_open->load() == 0; ++i) {
        t.expires_after(10ms);
        co_await t.async_wait(asio::use_awaitable);
      }
      probe_saw_open_snapshot = sink().most_open->load() == 1;
    }
    co_return http::check_status(req, co_await user.http().request(req));
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(circuit_breaker_opens_probes_and_closes) {
  // The target fails four times, then recovers. Threshold 3, open 200 ms:
  //   1 2 3 fail -> open, 200 ms silence -> 4 (probe) fails -> open again -> 5 (probe) succeeds
  //   -> closed, and the user goes on without pauses.
  TargetServer server;
  RouteSpec flaky;
  flaky.fail_first = 4;
  server.route("/flaky", flaky);
  Config cfg = quick("breaker");
  cfg.target = server.url("");
  cfg.backoff_statuses = {500};
  Breaker test(cfg, ConstantUsers{1, 2s}, SingleAction{}, CircuitBreaker<NoBackoff>{NoBackoff{}, 3, 200ms});
  LoadTestResult r = test.run();
  BOOST_TEST(r.failures == 4u);
  BOOST_TEST_REQUIRE(test.starts.size() >= 5u);
  BOOST_TEST(r.successful_requests == r.total_requests - 4);
  BOOST_TEST(secs(test.starts[3] - test.starts[2]) >= 0.2 - 1e-3);  // open: nothing sent
  BOOST_TEST(secs(test.starts[4] - test.starts[3]) >= 0.2 - 1e-3);  // the failed probe re-opened it
  BOOST_TEST(test.probe_saw_open_snapshot);
  BOOST_TEST(test.sink().most_open->load() == 1u);
  BOOST_TEST_REQUIRE(!test.sink().seen->empty());
  BOOST_TEST(test.sink().seen->back() == 0u);  // closed again at the end
  BOOST_TEST(server.requests("/flaky") == r.total_requests);
}

BOOST_AUTO_TEST_SUITE_END()
