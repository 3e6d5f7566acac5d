// loadtest tests: a helper program for the script tests of the HTML report and the Prometheus
// exporter (tests/html_screenshot_test.py, tests/prometheus_test.py).
//
//   report_fixture html FILE            writes a report of three sample tests to FILE
//   report_fixture prometheus-text      prints the exposition text of sample snapshots
//                                       (closed, open model, finished), one after the other,
//                                       separated by lines "--- NAME"
//   report_fixture prometheus-serve S   runs a real load test against the embedded target for at
//                                       most S seconds with a PrometheusSink on 127.0.0.1, prints
//                                       "port N" once it serves; SIGTERM/SIGINT end it early
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "loadtest/html_report.hpp"
#include "loadtest/loadtest.hpp"
#include "loadtest/prometheus.hpp"
#include "loadtest/results_io.hpp"
#include "loadtest/testing/target_server.hpp"
#include "report_samples.hpp"

namespace asio = boost::asio;
using namespace loadtest;

namespace {

// Prints the port once the sink serves, so the script knows where to point Prometheus.
struct AnnouncingSink : PrometheusSink {
  using PrometheusSink::PrometheusSink;
  void on_start(const TestInfo& info) {
    PrometheusSink::on_start(info);
    fmt::print("port {}\n", port());
    std::fflush(stdout);
  }
};

struct ServedTest : LoadTest<ServedTest, ConstantUsers, SingleAction, NoBackoff, AnnouncingSink> {
  using LoadTest::LoadTest;
  http::Request items = http::Request::make(http::Method::get, "/items");
  http::Request missing = http::Request::make(http::Method::get, "/missing");
  std::uint64_t n = 0;
  asio::awaitable<Outcome> user_action(Session<>& user) {
    const http::Request& req = ++n % 10 == 0 ? missing : items;  // some 404s for the error counters
    auto res = co_await user.http().request(req);
    co_return http::check_status(req, res);
  }
};

int serve(double seconds) {
  testing::TargetServer server;
  testing::RouteSpec slow;
  slow.delay = 20ms;  // 2 users: about 100 requests/s, gentle on a shared machine
  server.route("/items", slow);
  testing::RouteSpec missing;
  missing.status = 404;
  missing.delay = 20ms;
  server.route("/missing", missing);
  Config cfg;
  cfg.name = "prometheus \"scrape\" test";
  cfg.target = server.url("");
  cfg.monitor_interval = 250ms;
  cfg.grace_period = 1s;
  cfg.handle_signals = true;  // the script ends the test with SIGTERM
  cfg.seed = 1;
  ServedTest test(cfg, ConstantUsers{2, from_seconds(seconds)}, {}, {}, AnnouncingSink(PrometheusSink::Options{}));
  LoadTestResult r = test.run();
  fmt::print("done {} requests\n", r.total_requests);
  return r.total_requests > 0 ? 0 : 1;
}

int prometheus_texts() {
  PrometheusState state;
  state.test = "sample \"test\"\nwith\\newline";
  state.planned_duration = 60;
  state.max_users = 20;
  state.response_time_sum = 31.5;
  state.response_time_count = 1500;
  RealTimeMetrics m = samples::snapshot_with_totals();
  fmt::print("--- closed\n{}{}", prometheus_text(m, state), prometheus_process_text());
  state.model = "open";
  ScheduleStats sched;
  sched.intended = 1000;
  sched.started = 990;
  sched.late = 5;
  sched.dropped = 10;
  sched.lag_p50 = 0.0001;
  sched.lag_p99 = 0.002;
  sched.lag_max = 0.5;
  m.schedule = sched;
  fmt::print("--- open\n{}{}", prometheus_text(m, state), prometheus_process_text());
  state.running = false;
  fmt::print("--- empty\n{}{}", prometheus_text(RealTimeMetrics{}, PrometheusState{}), prometheus_process_text());
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string_view cmd = argc > 1 ? argv[1] : "";
  if (cmd == "html" && argc == 3) {
    std::vector<LoadTestResult> results{samples::closed_result(), samples::open_result(), samples::empty_result()};
    write_file_atomic(argv[2], render_html_report(results), /*overwrite=*/true);
    return 0;
  }
  if (cmd == "html-single" && argc == 3) {
    write_file_atomic(argv[2], render_html_report(samples::closed_result()), /*overwrite=*/true);
    return 0;
  }
  if (cmd == "prometheus-text" && argc == 2) return prometheus_texts();
  if (cmd == "prometheus-serve" && argc == 3) return serve(std::stod(argv[2]));
  std::fprintf(stderr, "usage: report_fixture html FILE | html-single FILE | prometheus-text | prometheus-serve SECONDS\n");
  return 2;
} catch (const std::exception& e) {
  std::fprintf(stderr, "report_fixture: %s\n", e.what());
  return 1;
}
