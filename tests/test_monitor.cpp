// Tests of the monitor (monitor.hpp), driven with explicit times: snapshots, the last partial
// interval, live thresholds and the whole-test accumulation of a collective run's root.
#define BOOST_TEST_MODULE monitor
#include "loadtest/monitor.hpp"

#include <boost/test/unit_test.hpp>

#include "loadtest/detail/run_state.hpp"

namespace lt = loadtest;
using namespace std::chrono_literals;

namespace {

struct Fixture {
  std::vector<std::unique_ptr<lt::detail::WorkerContext>> workers;
  boost::asio::io_context control;
  lt::Clock::time_point t0 = lt::Clock::now();
  std::unique_ptr<lt::detail::RunState> rs;
  lt::LocalReducer reducer;
  lt::Monitor monitor;
  std::vector<lt::RealTimeMetrics> delivered;
  bool stopped = false;

  explicit Fixture(lt::Monitor::Settings s) {
    workers.push_back(std::make_unique<lt::detail::WorkerContext>());
    rs = std::make_unique<lt::detail::RunState>(workers, control, t0, lt::Segment{});
    lt::Monitor::Hooks hooks;
    hooks.active_users = [] { return std::size_t{3}; };
    hooks.deliver = [this](const lt::RealTimeMetrics& m) { delivered.push_back(m); };
    hooks.stop = [this] { stopped = true; };
    monitor.begin(s, reducer, std::move(hooks), t0);
  }
  void requests(int n, lt::Duration latency) {
    for (int i = 0; i < n; ++i) rs->recorder.shard(0).record("GET /", lt::Outcome::success("GET /", 200), latency);
  }
};

lt::Monitor::Settings every_second() {
  lt::Monitor::Settings s;
  s.interval = 1s;
  s.planned = 10s;
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(monitor)

BOOST_AUTO_TEST_CASE(a_snapshot_divides_by_the_interval_it_covers) {
  Fixture f(every_second());
  f.requests(100, 2ms);
  f.monitor.report(*f.rs, f.t0 + 1s, false);
  f.requests(300, 2ms);
  f.monitor.report(*f.rs, f.t0 + 2s, false);
  f.requests(50, 2ms);
  f.monitor.report(*f.rs, f.t0 + 2500ms, true);  // a last interval of half the length
  BOOST_REQUIRE_EQUAL(f.delivered.size(), 3u);
  BOOST_TEST(f.delivered[0].requests_per_second == 100.0);
  BOOST_TEST(f.delivered[1].requests_per_second == 300.0);
  BOOST_TEST(f.delivered[2].requests_per_second == 100.0);  // 50 over 0.5 s, not over 1 s
  BOOST_TEST(f.delivered[2].interval_seconds == 0.5);
  BOOST_TEST(f.delivered[2].total_requests == 450u);
  BOOST_TEST(f.delivered[2].active_users == 3u);
  BOOST_TEST(f.monitor.history().size() == 3u);
}

BOOST_AUTO_TEST_CASE(a_last_interval_under_a_tenth_is_folded_into_the_previous_one) {
  Fixture f(every_second());
  f.requests(100, 2ms);
  f.monitor.report(*f.rs, f.t0 + 1s, false);
  f.requests(200, 2ms);
  f.monitor.report(*f.rs, f.t0 + 2s, false);
  f.requests(10, 2ms);                               // a burst in the last 5 ms
  f.monitor.report(*f.rs, f.t0 + 2005ms, true);
  BOOST_REQUIRE_EQUAL(f.delivered.size(), 3u);
  const auto& tail = f.delivered[2];
  BOOST_TEST(tail.interval_requests == 10u);          // its own counts still add up
  BOOST_TEST(tail.requests_per_second == 210.0 / 1.005, boost::test_tools::tolerance(1e-9));  // not 2000/s
  BOOST_TEST(tail.total_requests == 310u);
  BOOST_REQUIRE_EQUAL(f.monitor.history().size(), 2u);  // merged into the last entry
  const auto& last = f.monitor.history().back();
  BOOST_TEST(last.interval_requests == 210u);
  BOOST_TEST(last.interval_seconds == 1.005, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(last.total_requests == 310u);
}

BOOST_AUTO_TEST_CASE(a_live_threshold_breach_after_the_grace_stops_the_test) {
  lt::Monitor::Settings s = every_second();
  s.abort_on_fail = true;
  s.abort_grace = 2s;
  s.thresholds = lt::parse_thresholds({"p(95)<10ms"});
  Fixture f(s);
  f.requests(100, 50ms);
  f.monitor.report(*f.rs, f.t0 + 1s, false);  // breached, but within the grace
  BOOST_TEST(!f.stopped);
  f.requests(100, 50ms);
  f.monitor.report(*f.rs, f.t0 + 2s, false);
  BOOST_TEST(f.stopped);
  BOOST_TEST(f.monitor.aborted_by().find("p(95)<10ms") == 0u);
}

BOOST_AUTO_TEST_CASE(the_whole_test_so_far_adds_every_interval_exactly) {
  Fixture f(every_second());
  lt::Histogram all;
  for (int k = 1; k <= 4; ++k) {
    f.requests(100 * k, std::chrono::milliseconds(k));
    for (int i = 0; i < 100 * k; ++i) all.record(std::chrono::milliseconds(k));
    f.monitor.report(*f.rs, f.t0 + std::chrono::seconds(k), false);
  }
  lt::LoadTestResult r;
  f.monitor.fill_so_far(r, f.t0 + 4s);
  BOOST_TEST(r.total_requests == 1000u);
  BOOST_TEST(r.requests_per_second == 250.0);
  BOOST_TEST(r.p99_response_time == lt::to_seconds(all.value_at_percentile(99)));
  BOOST_REQUIRE(r.response_histogram);
  BOOST_TEST(r.response_histogram->count() == 1000u);
  BOOST_REQUIRE_EQUAL(r.endpoints.size(), 1u);
  BOOST_TEST(r.endpoints[0].total_requests == 1000u);
  BOOST_TEST(r.history.size() == 4u);
}

BOOST_AUTO_TEST_SUITE_END()
