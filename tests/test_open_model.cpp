#define BOOST_TEST_MODULE open_model
#include <boost/test/unit_test.hpp>

#include <atomic>

#include "loadtest/loadtest.hpp"
#include "loadtest/testing/target_server.hpp"

namespace asio = boost::asio;
using namespace loadtest;
using loadtest::testing::RouteSpec;
using loadtest::testing::TargetServer;

namespace {

Config open_config(const TargetServer& server, std::string name) {
  Config c;
  c.name = std::move(name);
  c.handle_signals = false;
  c.monitor_interval = 250ms;
  c.grace_period = 3s;
  c.seed = 42;
  c.target = server.url("");
  return c;
}

/** GET /items; the first request after `stall_at` makes the target stall for `stall` (once). */
template <class Pattern>
struct ArrivalTest : LoadTest<ArrivalTest<Pattern>, Pattern, SingleAction, NoBackoff, RecordingSink> {
  using Base = LoadTest<ArrivalTest<Pattern>, Pattern, SingleAction, NoBackoff, RecordingSink>;
  using Base::Base;
  struct UserData {
    http::Response response;
  };
  http::Request req = http::Request::make(http::Method::get, "/items");
  TargetServer* server = nullptr;
  Duration stall_at = Duration::max(), stall{0};
  std::atomic<bool> stalled{false};

  asio::awaitable<Outcome> user_action(Session<UserData>& user) {
    if (user.elapsed() >= stall_at && !stalled.exchange(true)) server->pause_for(stall);
    co_await user.http().request(req, user.data().response);
    co_return http::check_status(req, user.data().response);
  }
};

BOOST_AUTO_TEST_SUITE(open_model)

BOOST_AUTO_TEST_CASE(constant_rate_completes_its_schedule) {
  TargetServer server;
  RouteSpec fast;
  fast.delay = 1ms;
  server.route("/items", fast);
  ArrivalTest<ConstantRate> test(open_config(server, "rate1000"), ConstantRate{1000, 5s});
  LoadTestResult r = test.run();

  BOOST_TEST(r.model == "open");
  BOOST_REQUIRE(r.schedule.has_value());
  BOOST_REQUIRE(r.service_time.has_value());
  BOOST_TEST(r.schedule->intended == 5000u);  // the schedule is exact, whatever the server does
  BOOST_TEST(static_cast<double>(r.total_requests) == 5000.0, boost::test_tools::tolerance(0.01));
  BOOST_TEST(r.schedule->started == r.total_requests + r.cancelled_requests);
  BOOST_TEST(r.schedule->dropped == 0u);
  BOOST_TEST(r.successful_requests == r.total_requests);
  BOOST_TEST(server.requests("/items") == r.total_requests);
  // Response time counts from the intended start, so it is never below the service time.
  BOOST_TEST(r.p50_response_time >= r.service_time->p50);
  BOOST_TEST(r.service_time->p50 >= 0.001);
  // The monitor saw the schedule too.
  const auto& last = test.sink().intervals.back();
  BOOST_REQUIRE(last.schedule.has_value());
  BOOST_TEST(last.schedule->intended == 5000u);
}

BOOST_AUTO_TEST_CASE(a_stall_shows_in_corrected_latency_but_not_in_service_time) {
  // 300 arrivals/s for 4 s served by at most 5 users; the target stalls for 1 s at 1.5 s. The
  // arrivals during the stall wait in the queue: their response time (from the intended start)
  // includes the wait, their service time does not. Only the ~5 requests caught inside the stall
  // (~0.4 %) have a long service time, so the service p99 stays small.
  TargetServer server;
  Config cfg = open_config(server, "stall");
  cfg.open.max_users = 5;
  cfg.open.preallocated_users = 5;
  ArrivalTest<ConstantRate> test(cfg, ConstantRate{300, 4s});
  test.server = &server;
  test.stall_at = 1500ms;
  test.stall = 1s;
  LoadTestResult r = test.run();

  BOOST_TEST_REQUIRE(test.stalled.load());
  BOOST_REQUIRE(r.service_time.has_value());
  BOOST_REQUIRE(r.schedule.has_value());
  BOOST_TEST(r.schedule->dropped == 0u);
  BOOST_TEST(r.schedule->intended == 1200u);
  BOOST_TEST(r.p99_response_time >= 0.5);      // the stall, seen as the users saw it
  BOOST_TEST(r.service_time->p99 < 0.2);       // the server's own view hides it
  BOOST_TEST(r.service_time->max >= 0.9);      // the requests caught inside the stall
  BOOST_TEST(r.schedule->lag_p99 >= 0.5);      // arrivals started late...
  BOOST_TEST(r.schedule->late >= 100u);        // ...and were counted
  BOOST_TEST(r.max_active_users <= 5u);
}

BOOST_AUTO_TEST_CASE(arrivals_beyond_the_queue_are_dropped_and_counted) {
  TargetServer server;
  Config cfg = open_config(server, "drop");
  cfg.open.max_users = 2;
  cfg.open.preallocated_users = 2;
  cfg.open.queue_limit = 20;
  ArrivalTest<ConstantRate> test(cfg, ConstantRate{200, 2s});
  test.server = &server;
  test.stall_at = 500ms;
  test.stall = 1s;
  LoadTestResult r = test.run();

  BOOST_REQUIRE(r.schedule.has_value());
  const ScheduleStats& s = *r.schedule;
  BOOST_TEST(s.intended == 400u);
  BOOST_TEST(s.dropped > 100u);  // ~200 arrivals during the stall, 2 users and 20 places
  // Every intended arrival either started or was dropped: none is silently lost.
  BOOST_TEST(s.intended == s.started + s.dropped);
}

BOOST_AUTO_TEST_CASE(arrivals_are_shared_by_worker_threads) {
  TargetServer server;
  Config cfg = open_config(server, "threads");
  cfg.threads = 2;
  ArrivalTest<ConstantRate> test(cfg, ConstantRate{500, 1s});
  LoadTestResult r = test.run();
  BOOST_REQUIRE(r.schedule.has_value());
  BOOST_TEST(r.schedule->intended == 500u);
  BOOST_TEST(r.schedule->started == 500u);
  BOOST_TEST(r.total_requests == 500u);
}

BOOST_AUTO_TEST_CASE(poisson_arrivals_through_the_engine) {
  TargetServer server;
  ArrivalTest<PoissonRate> test(open_config(server, "poisson"), PoissonRate{ConstantRate{400, 2s}});
  LoadTestResult r = test.run();
  BOOST_REQUIRE(r.schedule.has_value());
  BOOST_TEST(static_cast<double>(r.schedule->intended) == 800.0, boost::test_tools::tolerance(0.1));
  BOOST_TEST(r.schedule->intended == r.schedule->started + r.schedule->dropped);
  BOOST_TEST(r.config.at("model") == "open");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
