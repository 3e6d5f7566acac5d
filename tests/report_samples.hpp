// loadtest tests: synthetic results and snapshots for the report and exporter tests.
#pragma once

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "loadtest/histogram.hpp"
#include "loadtest/result.hpp"

namespace loadtest::samples {

/** A snapshot `i` seconds into a ramp to 20 users (deterministic). */
inline RealTimeMetrics snapshot(std::size_t i, std::size_t of = 60) {
  RealTimeMetrics m;
  m.timestamp = "2026-01-02T03:04:" + std::to_string(10 + i % 50) + ".000000Z";
  m.elapsed = static_cast<double>(i + 1);
  m.planned_duration = static_cast<double>(of);
  m.active_users = std::min<std::uint64_t>(20, 1 + i / 2);
  m.requests_per_second = 40.0 * static_cast<double>(m.active_users) + 15 * std::sin(static_cast<double>(i));
  m.current_error_rate = i % 17 == 5 ? 0.12 : 0.01;
  m.avg_response_time = 0.020 + 0.001 * static_cast<double>(i % 7);
  m.p50_response_time = 0.018 + 0.0005 * static_cast<double>(i % 5);
  m.p95_response_time = 0.045 + 0.002 * static_cast<double>(i % 9);
  m.p99_response_time = 0.090 + (i == of / 2 ? 0.300 : 0.004 * static_cast<double>(i % 11));
  m.memory_usage = 18 + 0.1 * static_cast<double>(i);
  m.cpu_usage = 12 + static_cast<double>(i % 13);
  m.interval_requests = static_cast<std::uint64_t>(m.requests_per_second);
  m.interval_errors = static_cast<std::uint64_t>(m.requests_per_second * m.current_error_rate);
  return m;
}

/** Counts and totals of a result as they would be at snapshot time (for exporter tests). */
inline RealTimeMetrics snapshot_with_totals() {
  RealTimeMetrics m = snapshot(10);
  EndpointResult items;
  items.name = "GET /items?q=\"a\\b\"\nnext";  // quote, backslash and newline: label escaping
  items.total_requests = 1200;
  items.successful_requests = 1150;
  items.failed_requests = 50;
  items.failures = 40;
  items.errors = 10;
  items.status_classes = {10, 0, 1150, 0, 0, 40};
  EndpointResult cart;
  cart.name = "POST /cart \xff\xfe";  // invalid UTF-8
  cart.total_requests = 300;
  cart.successful_requests = 300;
  cart.status_classes = {0, 0, 280, 20, 0, 0};
  m.endpoints = {items, cart};
  m.total_requests = 1500;
  m.total_errors = 50;
  m.errors_by_category = {{"http_5xx", 40}, {"timeout", 10}};
  m.top_errors = {{ErrorCategory::http_5xx, "503 Service Unavailable", 40}};
  return m;
}

/** A closed-model result with a history of `snapshots` entries, a histogram, two endpoints
 *  (names that need escaping), errors of three categories, a configuration and thresholds. */
inline LoadTestResult closed_result(std::size_t snapshots = 60) {
  LoadTestResult r;
  r.name = "Checkout <flow> & \"friends\" 'quoted'";
  r.timestamp = "2026-01-02T03:04:05.000000Z";
  r.model = "closed";
  auto hist = std::make_shared<Histogram>();
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> slow(std::log(0.020), 0.5);
  for (int i = 0; i < 20000; ++i) hist->record(from_seconds(slow(rng)));
  hist->record(from_seconds(1.7));  // an outlier
  const LatencySummary s = hist->summary();
  r.total_requests = s.count;
  r.failed_requests = 412;
  r.failures = 350;
  r.errors_total = 62;
  r.successful_requests = r.total_requests - r.failed_requests;
  r.duration = static_cast<double>(snapshots);
  r.avg_response_time = s.avg;
  r.min_response_time = s.min;
  r.max_response_time = s.max;
  r.stddev_response_time = s.stddev;
  r.p50_response_time = s.p50;
  r.p90_response_time = s.p90;
  r.p95_response_time = s.p95;
  r.p99_response_time = s.p99;
  r.p999_response_time = s.p999;
  r.requests_per_second = static_cast<double>(r.total_requests) / r.duration;
  r.error_rate = static_cast<double>(r.failed_requests) / static_cast<double>(r.total_requests);
  r.success_rate = 1 - r.error_rate;
  r.max_active_users = 20;
  r.response_histogram = hist;
  r.errors_by_category = {{"http_5xx", 300}, {"business", 50}, {"timeout", 62}};
  r.error_table = {{ErrorCategory::http_5xx, "503 <b>Service</b> Unavailable", 300},
                   {ErrorCategory::business, "expected \"ok\" & got 'nope' <script>alert(1)</script>", 50},
                   {ErrorCategory::timeout, "no response within 2s", 62}};
  EndpointResult items;
  items.name = "GET /items?a=<1>&b=\"2\"";
  items.total_requests = r.total_requests - 3000;
  items.failed_requests = 400;
  items.failures = 338;
  items.errors = 62;
  items.successful_requests = items.total_requests - items.failed_requests;
  items.requests_per_second = static_cast<double>(items.total_requests) / r.duration;
  items.response_time = s;
  items.status_classes = {62, 0, items.successful_requests, 0, 38, 300};
  EndpointResult cart;
  cart.name = "POST /cart";
  cart.total_requests = 3000;
  cart.failed_requests = 12;
  cart.failures = 12;
  cart.successful_requests = 2988;
  cart.requests_per_second = 3000 / r.duration;
  cart.response_time = s;
  cart.status_classes = {0, 0, 2988, 0, 12, 0};
  r.endpoints = {items, cart};
  for (std::size_t i = 0; i < snapshots; ++i) r.history.push_back(snapshot(i, snapshots));
  r.config = {{"pattern", "ramp 1 -> 20 users over 30s, hold 30s"},
              {"target", "http://127.0.0.1:8080"},
              {"label <x>", "value & \"y\""}};
  r.thresholds = {{"p(95)<200ms", "p(95)", s.p95, true, ""},
                  {"GET /items?a=<1>&b=\"2\": error_rate<0.01", "error_rate", 0.0235, false, "GET /items?a=<1>&b=\"2\""}};
  return r;
}

/** An open-model result: service time and schedule blocks, no histogram (as read from JSON). */
inline LoadTestResult open_result() {
  LoadTestResult r = closed_result(5);
  r.name = "open model";
  r.model = "open";
  r.response_histogram.reset();
  LatencySummary service;
  service.count = r.total_requests;
  service.avg = 0.015;
  service.min = 0.002;
  service.p50 = 0.012;
  service.p90 = 0.025;
  service.p95 = 0.031;
  service.p99 = 0.060;
  service.p999 = 0.120;
  service.max = 0.400;
  r.service_time = service;
  ScheduleStats sched;
  sched.intended = 21000;
  sched.started = 20990;
  sched.late = 35;
  sched.dropped = 10;
  sched.lag_p50 = 0.0001;
  sched.lag_p99 = 0.0021;
  sched.lag_max = 0.015;
  r.schedule = sched;
  r.thresholds.clear();
  return r;
}

/** A test that did nothing: no requests, no history, no histogram. */
inline LoadTestResult empty_result() {
  LoadTestResult r;
  r.name = "nothing happened";
  r.timestamp = "2026-01-02T03:04:05.000000Z";
  return r;
}

}  // namespace loadtest::samples
