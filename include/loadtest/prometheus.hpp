// loadtest: a Prometheus exporter: `GET /metrics` served while a test runs.
//
// The exposition text (format 0.0.4) is rendered from the monitor's snapshots on the engine's
// control thread; a small HTTP/1.1 server (Beast, in src/prometheus_exporter.cpp, behind a pimpl)
// hands the latest text to every scrape from its own thread.
#pragma once

#include "loadtest/detail/config.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "loadtest/result.hpp"
#include "loadtest/sink.hpp"
#include "loadtest/time.hpp"

namespace loadtest {

/** What the exposition says besides a snapshot: the test's identity and the running sums. */
struct PrometheusState {
  std::string test;                        ///< the test's name (a label of `loadtest_info`)
  std::string model = "closed";            ///< "closed" or "open" (a label of `loadtest_info`)
  bool running = true;                     ///< `loadtest_running`
  double planned_duration = 0;             ///< seconds, `loadtest_planned_duration_seconds`
  std::uint64_t max_users = 0;             ///< `loadtest_max_users`
  double response_time_sum = 0;            ///< seconds since the start: the summary's `_sum`
  std::uint64_t response_time_count = 0;   ///< requests since the start: the summary's `_count`
};

/** The Prometheus text exposition (format 0.0.4) of a snapshot. Every family has `# HELP` and
 *  `# TYPE`; names start with `loadtest_`:
 *
 *  - `loadtest_info{test, model}` 1, `loadtest_running`, `loadtest_elapsed_seconds`,
 *    `loadtest_planned_duration_seconds`, `loadtest_max_users`, `loadtest_active_users` (gauges);
 *  - `loadtest_requests_total{endpoint, status_class}` (`1xx`..`5xx`, `none` without an HTTP
 *    status), `loadtest_failed_requests_total{endpoint, kind}` (`failure`, `error`) and
 *    `loadtest_errors_total{category}` (counters since the start);
 *  - `loadtest_requests_per_second` and `loadtest_error_ratio` over the last interval (gauges);
 *  - `loadtest_response_time_seconds` (summary): quantiles 0.5, 0.95, 0.99 over the last
 *    interval (as a Prometheus client's sliding window), `_sum` and `_count` since the start;
 *  - open model only: `loadtest_arrivals_{intended,started,late,dropped}_total` (counters) and
 *    `loadtest_schedule_lag_seconds{statistic="p50"|"p99"|"max"}` (gauge, since the start).
 *
 *  Label values are escaped (`\\`, `\"`, `\n`) and made valid UTF-8 (bad bytes become U+FFFD);
 *  endpoints whose names become equal that way are added up.
 */
std::string prometheus_text(const RealTimeMetrics& m, const PrometheusState& s);

/** `loadtest_process_resident_memory_bytes` and `loadtest_process_cpu_seconds_total` of this
 *  process, read now (Linux; zeros elsewhere), as exposition text. Appended to every scrape. */
std::string prometheus_process_text();

/** Serves the test's metrics to Prometheus at `http://ADDRESS:PORT/metrics` (a MetricsSink).
 *
 *  `on_start` binds the port and starts serving on a thread of its own (throws
 *  `std::runtime_error` naming the address when it cannot listen); a scrape before the first
 *  snapshot gets zeros. `on_interval` renders the snapshot (on the engine's control thread) and
 *  swaps it in under a mutex; scrapes only copy a pointer under that mutex. `on_finish` renders the
 *  final values (`loadtest_running 0`, `loadtest_active_users 0`, the result's counts) and keeps
 *  serving them: the server runs until the sink is destroyed or `stop()` is called, so a scraper
 *  can still collect the end of a test (a later `on_start` reuses the same port). With
 *  `Options::linger > 0`, `on_finish` also waits, at most that long, until one scrape has
 *  collected the final values, for programs that exit right after the test.
 *
 *  `GET`/`HEAD /metrics` answers `200` with `Content-Type: text/plain; version=0.0.4;
 *  charset=utf-8`, `/` a short plain-text pointer to `/metrics`, other paths `404`, other methods
 *  `405`. HTTP/1.1 keep-alive; at most 64 connections at a time, idle ones closed after 30 s.
 *  Movable, not copyable; a moved-from sink may only be assigned to or destroyed.
 */
class PrometheusSink {
 public:
  /** Where to listen. */
  struct Options {
    std::string address = "127.0.0.1";  ///< an IP address or "localhost"; loopback unless `allow_remote`
    std::uint16_t port = 0;             ///< 0: any free port (see `port()` after `on_start`)
    bool allow_remote = false;          ///< allow a non-loopback address (exposes the metrics to the network)
    Duration linger{0};                 ///< `on_finish` waits up to this long for a final scrape
  };

  /** Parses a listen address as the CLI takes it: `HOST:PORT`, `[IPV6]:PORT`, `:PORT` or `PORT`
   *  (the last two on 127.0.0.1). Throws `std::invalid_argument` naming the text when it is
   *  malformed or the port is not 0..65535. Whether the address is allowed is checked by the
   *  constructor. */
  static Options parse_listen(std::string_view host_port);

  /** Listens on 127.0.0.1, any free port. */
  PrometheusSink();
  /** Throws `std::invalid_argument` if `o.address` is not an IP address (or "localhost"), or is
   *  not a loopback address while `o.allow_remote` is false, or `o.linger` is negative. Nothing
   *  is bound until `on_start`. */
  explicit PrometheusSink(Options o);
  /** Stops serving. */
  ~PrometheusSink();
  /** Takes over the server (it keeps serving on the same port). */
  PrometheusSink(PrometheusSink&&) noexcept;
  /** Stops this sink's server, then takes over `other`'s. */
  PrometheusSink& operator=(PrometheusSink&&) noexcept;
  PrometheusSink(const PrometheusSink&) = delete;
  PrometheusSink& operator=(const PrometheusSink&) = delete;

  /** Starts serving (if not already) and resets the metrics to this test's zeros. */
  void on_start(const TestInfo& info);
  /** Renders the snapshot; the next scrape gets it. */
  void on_interval(const RealTimeMetrics& m);
  /** Renders the final values and, with a linger, waits for a scrape to collect them. */
  void on_finish(const LoadTestResult& r);

  /** The port listened on (0 before `on_start`). */
  [[nodiscard]] std::uint16_t port() const noexcept;
  /** `http://ADDRESS:PORT/metrics` (empty before `on_start`). */
  [[nodiscard]] std::string url() const;
  /** What a scrape gets now (the rendered snapshot plus the process metrics). */
  [[nodiscard]] std::string metrics_text() const;
  /** The number of `/metrics` scrapes answered so far. */
  [[nodiscard]] std::uint64_t scrapes() const noexcept;
  /** Stops serving now and closes the port (idempotent). */
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
static_assert(MetricsSink<PrometheusSink>, "PrometheusSink must model MetricsSink");

namespace detail {
/** `s` as a label value of the text format: valid UTF-8, with `\`, `"` and newline escaped. */
std::string prometheus_label_value(std::string_view s);
}  // namespace detail

}  // namespace loadtest
