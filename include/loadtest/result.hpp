// loadtest: what a test reports: live snapshots and the final result.
#pragma once

#include "loadtest/detail/config.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "loadtest/outcome.hpp"
#include "loadtest/time.hpp"

namespace loadtest {

class Histogram;

/** Latency figures of a set of samples, in seconds (like the original framework). */
struct LatencySummary {
  std::uint64_t count = 0;
  double avg = 0, stddev = 0, min = 0, max = 0;
  double p50 = 0, p90 = 0, p95 = 0, p99 = 0, p999 = 0;
};

/** One aggregated error: how often (category, message) happened. */
struct ErrorEntry {
  ErrorCategory category = ErrorCategory::none;
  std::string message;
  std::uint64_t count = 0;
};

/** The totals of one endpoint (or of the whole test). */
struct EndpointResult {
  std::string name;
  std::uint64_t total_requests = 0;
  std::uint64_t successful_requests = 0;
  std::uint64_t failed_requests = 0;  ///< failures + errors, as in the original
  std::uint64_t failures = 0;         ///< ran, wrong result
  std::uint64_t errors = 0;           ///< could not complete
  double requests_per_second = 0;
  LatencySummary response_time;
  /// Counts by HTTP status class: index 0 = no status, 1 = 1xx ... 5 = 5xx.
  std::array<std::uint64_t, 6> status_classes{};
  /// Every response time of this endpoint (final results; null in live snapshots). Written to the
  /// result JSON as `"histogram"` in HdrHistogram's compressed V2 form and read back from it.
  std::shared_ptr<const Histogram> histogram;
};

/** Open-model schedule accuracy (empty in the closed model). */
struct ScheduleStats {
  std::uint64_t intended = 0;  ///< arrivals the schedule asked for
  std::uint64_t started = 0;   ///< arrivals that got a user and started
  std::uint64_t late = 0;      ///< started more than 1 ms after their intended time
  std::uint64_t dropped = 0;   ///< arrivals that found no user and no room in the queue
  double lag_p50 = 0, lag_p99 = 0, lag_max = 0;  ///< seconds between intended and actual start
};

/** What the monitor sees every interval (the original `RealTimeMetrics`). */
struct RealTimeMetrics {
  std::string timestamp;            ///< UTC, ISO 8601
  double elapsed = 0;               ///< seconds since the test started
  double planned_duration = 0;      ///< the pattern's total length, seconds
  std::uint64_t active_users = 0;
  double requests_per_second = 0;   ///< over this interval
  double current_error_rate = 0;    ///< (failures + errors) / requests over this interval, 0..1
  double avg_response_time = 0;     ///< over this interval, seconds
  double p50_response_time = 0;
  double p95_response_time = 0;
  double p99_response_time = 0;
  double memory_usage = 0;          ///< process resident set size, MB
  double cpu_usage = 0;             ///< process CPU time over wall time of this interval, percent
  std::uint64_t interval_requests = 0;
  std::uint64_t interval_errors = 0;    ///< failures + errors in this interval
  std::uint64_t total_requests = 0;     ///< since the start
  std::uint64_t total_errors = 0;       ///< failures + errors since the start
  std::vector<ErrorEntry> top_errors;   ///< the most frequent errors so far (at most 5)
  /// Since the start, per endpoint: counts and status classes (response_time left empty).
  std::vector<EndpointResult> endpoints;
  std::map<std::string, std::uint64_t> errors_by_category;  ///< since the start
  std::optional<ScheduleStats> schedule;                    ///< open model, since the start
  /// Users whose CircuitBreaker (backoff.hpp) is open or half-open: they send nothing but a probe.
  std::uint64_t users_in_open_circuit = 0;
  /// Since the start: attempts a Retry backoff re-ran (not counted in the requests; see Retry).
  std::uint64_t retries = 0;
  /// Parts of a scaled-out test (segments, MPI ranks) whose data this snapshot holds; 1 in one process.
  std::uint64_t parts_reported = 1;
  /// The length of the interval this snapshot covers, seconds (the last one may be shorter).
  double interval_seconds = 0;
};

/** One threshold's verdict at the end of a test (see threshold.hpp). */
struct ThresholdResult {
  std::string expression;  ///< as written, e.g. "GET /items: p(95)<300ms"
  std::string metric;      ///< normalised metric name, e.g. "p(95)", "error_rate", "lag_p99"
  /// What was measured: seconds for times, 0..1 for rates, requests/s, counts; NaN when the result
  /// has no such figure (unknown endpoint, open-model metric of a closed test, ...).
  double observed = 0;
  bool passed = false;
  std::string endpoint;    ///< empty: the whole test
};

/** The final record of a test (the original `LoadTestResult`, extended). Times in seconds. */
struct LoadTestResult {
  std::string name;
  std::string timestamp;  ///< UTC, ISO 8601, when the test started
  std::string model = "closed";  ///< "closed" (users) or "open" (arrival rate)
  std::uint64_t total_requests = 0;
  std::uint64_t successful_requests = 0;
  std::uint64_t failed_requests = 0;  ///< failures + errors
  std::uint64_t failures = 0;
  std::uint64_t errors_total = 0;
  std::uint64_t cancelled_requests = 0;  ///< in flight at the end, cancelled after the grace period
  /// Attempts a Retry backoff re-ran: the server saw `total_requests + retries` requests, the
  /// requests counted here are each action's final attempt (see Retry in backoff.hpp).
  std::uint64_t retries = 0;
  double duration = 0;                   ///< measured wall time of the test, seconds
  double avg_response_time = 0, min_response_time = 0, max_response_time = 0, stddev_response_time = 0;
  double p50_response_time = 0, p90_response_time = 0, p95_response_time = 0, p99_response_time = 0,
         p999_response_time = 0;
  double requests_per_second = 0;
  double error_rate = 0;    ///< failed / total, 0..1
  double success_rate = 0;  ///< successful / total, 0..1
  std::uint64_t max_active_users = 0;
  /// Up to 100 distinct messages, "category: message (xN)", most frequent first (original format).
  std::vector<std::string> errors;
  std::vector<ErrorEntry> error_table;                    ///< aggregated (category, message) counts
  std::uint64_t error_overflow = 0;                       ///< errors whose key did not fit the table
  std::map<std::string, std::uint64_t> errors_by_category;
  std::vector<EndpointResult> endpoints;                  ///< per endpoint, sorted by name
  std::optional<LatencySummary> service_time;             ///< open model: send -> receive
  std::optional<ScheduleStats> schedule;                  ///< open model only
  std::vector<RealTimeMetrics> history;                   ///< the monitor's snapshots
  /// Every response time of the test (for distributions, `.hgrm` export and merging). Shared and
  /// immutable, so copying a result stays cheap. Written to the result JSON as
  /// `histograms.response_time` (HdrHistogram compressed V2) and read back from it; null only
  /// for results of files without histograms.
  std::shared_ptr<const Histogram> response_histogram;
  /// Open model: every service time (send -> receive); null in the closed model. JSON:
  /// `histograms.service_time`.
  std::shared_ptr<const Histogram> service_histogram;
  /// Open model: every arrival's schedule lag (intended -> actual start); null in the closed
  /// model. JSON: `histograms.schedule_lag`.
  std::shared_ptr<const Histogram> schedule_lag_histogram;
  std::map<std::string, std::string> config;              ///< the test's configuration, for reports

  /** Sets the whole test's response-time figures (avg, min, max, stddev, percentiles) from `s`:
   *  the one place the flat legacy fields are filled (the inverse of `response_time()`). */
  void set_response_time(const LatencySummary& s) noexcept {
    avg_response_time = s.avg;
    min_response_time = s.min;
    max_response_time = s.max;
    stddev_response_time = s.stddev;
    p50_response_time = s.p50;
    p90_response_time = s.p90;
    p95_response_time = s.p95;
    p99_response_time = s.p99;
    p999_response_time = s.p999;
  }
  /** Requests per second over `seconds`, and the error and success rates, from the counts. */
  void derive_rates(double seconds) noexcept {
    const auto total = static_cast<double>(total_requests);
    requests_per_second = seconds > 0 ? total / seconds : 0.0;
    error_rate = total_requests ? static_cast<double>(failed_requests) / total : 0.0;
    success_rate = total_requests ? static_cast<double>(successful_requests) / total : 0.0;
  }
  /** The whole test's response-time figures as one summary (for tables and thresholds). */
  LatencySummary response_time() const {
    return LatencySummary{total_requests,     avg_response_time, stddev_response_time, min_response_time,
                          max_response_time,  p50_response_time, p90_response_time,    p95_response_time,
                          p99_response_time,  p999_response_time};
  }
  /// The threshold breach that ended the test early (Config::abort_on_fail); empty otherwise.
  std::string aborted_by;
  /// The signal that ended the test early ("SIGINT", "SIGTERM", "SIGHUP"); empty otherwise.
  std::string interrupted;
  /// True when parts of a scaled-out test did not report (a rank died, `--allow-partial`).
  bool incomplete = false;
  /// True in a checkpoint file: the result so far of a test still running (Config::checkpoint_interval).
  bool checkpoint = false;
  std::vector<ThresholdResult> thresholds;                ///< pass/fail criteria and their verdicts
};

/** What a sink learns when a test starts. */
struct TestInfo {
  std::string name;
  std::string timestamp;        ///< UTC, ISO 8601
  std::string file_stamp;       ///< `YYYYmmdd_HHMMSS`, shared by every file of this run
  std::string model = "closed";
  double planned_duration = 0;  ///< seconds
  std::uint64_t max_users = 0;
  std::map<std::string, std::string> config;
  std::string results_dir = "loadtest_results";  ///< where file sinks write, unless told otherwise
};

}  // namespace loadtest
