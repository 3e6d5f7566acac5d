// loadtest: CSV statistics in the layout of Locust's `--csv PREFIX` files.
//
//   {prefix}_stats.csv          one row per endpoint and an "Aggregated" row
//   {prefix}_stats_history.csv  one row per monitor interval
//
// RFC 4180: comma separated, CRLF line ends, fields quoted only when they hold a comma, a quote
// or a line break (quotes doubled), as Python's csv module (and so Locust) writes them.
#pragma once

#include "loadtest/detail/config.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "loadtest/detail/bounded_history.hpp"
#include "loadtest/histogram.hpp"
#include "loadtest/result.hpp"
#include "loadtest/results_io.hpp"
#include "loadtest/sink.hpp"
#include "loadtest/time.hpp"

namespace loadtest {

/** One CSV field, RFC 4180: as it is, or in double quotes (inner quotes doubled) when it holds a
 *  comma, a double quote, CR or LF. */
inline std::string csv_quote(std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

namespace detail {

// Seconds since the epoch of an ISO 8601 UTC label ("2024-01-02T03:04:05.123456Z").
inline std::optional<long long> unix_seconds(std::string_view iso) {
  if (iso.size() < 19) return std::nullopt;
  std::tm tm{};
  std::string head(iso.substr(0, 19));
  if (std::sscanf(head.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec) != 6)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::time_t t = ::timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return static_cast<long long>(t);
}

// "GET /items" -> {"GET", "/items"}; names that do not start with an HTTP method: {"", name}.
inline std::pair<std::string, std::string> split_endpoint(std::string_view name) {
  for (std::string_view method : {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE"}) {
    if (name.size() > method.size() && name.substr(0, method.size()) == method && name[method.size()] == ' ')
      return {std::string(method), std::string(name.substr(method.size() + 1))};
  }
  return {"", std::string(name)};
}

inline std::string csv_ms(double seconds) { return fmt::format("{:.3f}", seconds * 1e3); }

inline void csv_row(std::string& out, const std::vector<std::string>& fields) {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    out += csv_quote(fields[i]);
  }
  out += "\r\n";
}

}  // namespace detail

/** Writes Locust-style CSV statistics when a test finishes (a MetricsSink).
 *
 *  `{prefix}_stats.csv` has Locust's columns: "Type", "Name", "Request Count", "Failure Count",
 *  "Median Response Time", "Average Response Time", "Min Response Time", "Max Response Time",
 *  "Average Content Size", "Requests/s", "Failures/s", "50%", "66%", "75%", "80%", "90%", "95%",
 *  "98%", "99%", "99.9%", "99.99%", "100%"; one row per endpoint (sorted by name; "GET /items" is
 *  split into Type "GET" and Name "/items", other names keep an empty Type) and a last row with
 *  Name "Aggregated". Times are milliseconds with three decimals, rates per second with two.
 *  Figures the library does not keep are written as "N/A" (Locust's own word for a missing
 *  figure), never estimated: the content size; per endpoint the 66, 75, 80, 98 and 99.99
 *  percentiles (endpoints keep p50, p90, p95, p99, p99.9 and the max); every latency of an
 *  endpoint without requests. The Aggregated row has every percentile while the result carries
 *  its histogram (at the end of a run), else the same ones as an endpoint.
 *
 *  `{prefix}_stats_history.csv` has one row per monitor snapshot: "Timestamp" (Unix seconds),
 *  "User Count", "Type" (empty), "Name" ("Aggregated"), "Requests/s", "Failures/s", "50%",
 *  "95%", "99%" (over that interval; N/A when it had no requests), "Total Request Count",
 *  "Total Failure Count" (since the start). The engine's `LoadTestResult::history` is used when
 *  it is not empty, else the snapshots this sink saw (bounded as in JsonFileSink).
 *
 *  `on_start` prepares the prefix's directory (created with mode 0700 if missing) and throws
 *  `std::runtime_error` if it is not writable. `on_finish` writes both files atomically; with an
 *  explicit prefix they replace older files (as Locust does), with the default prefix
 *  `{results_dir}/loadtest_{name}_{stamp}` they never replace a file. If one write fails the
 *  other is still tried, then the first error is rethrown.
 */
class CsvSink {
 public:
  /** Where to write. */
  struct Options {
    std::string prefix;  ///< files are `{prefix}_stats.csv` ...; empty: `{results_dir}/loadtest_{name}_{stamp}`
  };

  /** Writes into `TestInfo::results_dir`. */
  CsvSink() = default;
  /** Writes to `o.prefix`. */
  explicit CsvSink(Options o) : options_(std::move(o)) {}

  /** Prepares the directory; throws `std::runtime_error` if it is not writable. */
  void on_start(const TestInfo& info) {
    info_ = info;
    started_ = true;
    history_.clear();
    stats_path_.clear();
    history_path_.clear();
    prefix_ = choose_prefix();
    prepare_results_dir(directory_of(prefix_));
  }

  /** Keeps the snapshot for the history file (bounded). */
  void on_interval(const RealTimeMetrics& m) {
    RealTimeMetrics kept = m;
    kept.top_errors.clear();  // not written
    kept.endpoints.clear();
    history_.push(std::move(kept));
  }

  /** Writes both files; throws `std::runtime_error` if one could not be written. */
  void on_finish(const LoadTestResult& r) {
    if (!started_) {  // finished without a start: make do with what the result says
      info_.name = r.name;
      info_.timestamp = r.timestamp;
      prefix_ = choose_prefix();
    }
    const bool overwrite = !options_.prefix.empty();
    std::exception_ptr first_error;
    auto attempt = [&](auto&& write) {
      try {
        write();
      } catch (...) {
        if (!first_error) first_error = std::current_exception();
      }
    };
    attempt([&] { stats_path_ = write_result_file(prefix_ + "_stats.csv", stats_csv(r), overwrite); });
    attempt([&] {
      history_path_ = write_result_file(prefix_ + "_stats_history.csv",
                                        history_csv(r.history.empty() ? history_.entries() : r.history), overwrite);
    });
    if (first_error) std::rethrow_exception(first_error);
  }

  /** The statistics file written by `on_finish` (empty before). */
  [[nodiscard]] const std::filesystem::path& stats_path() const noexcept { return stats_path_; }
  /** The history file written by `on_finish` (empty before). */
  [[nodiscard]] const std::filesystem::path& history_path() const noexcept { return history_path_; }

  /** The content of `{prefix}_stats.csv` for a result (see the class comment). */
  static std::string stats_csv(const LoadTestResult& r) {
    std::string out;
    detail::csv_row(out, {"Type", "Name", "Request Count", "Failure Count", "Median Response Time",
                          "Average Response Time", "Min Response Time", "Max Response Time", "Average Content Size",
                          "Requests/s", "Failures/s", "50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%",
                          "99.99%", "100%"});
    const std::string na = "N/A";
    auto per_second = [&](std::uint64_t n) {
      return fmt::format("{:.2f}", r.duration > 0 ? static_cast<double>(n) / r.duration : 0.0);
    };
    auto row = [&](std::string type, std::string name, std::uint64_t total, std::uint64_t failed, double rps,
                   const LatencySummary& l, const Histogram* h) {
      std::vector<std::string> f{std::move(type), std::move(name), std::to_string(total), std::to_string(failed)};
      const bool latency = total > 0;
      auto ms = [&](double s) { return latency ? detail::csv_ms(s) : na; };
      f.push_back(ms(l.p50));
      f.push_back(ms(l.avg));
      f.push_back(ms(l.min));
      f.push_back(ms(l.max));
      f.push_back(na);  // content size: not measured
      f.push_back(fmt::format("{:.2f}", rps));
      f.push_back(per_second(failed));
      for (double p : {50.0, 66.0, 75.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.9, 99.99, 100.0}) {
        if (!latency) f.push_back(na);
        else if (h && !h->empty()) f.push_back(detail::csv_ms(to_seconds(h->value_at_percentile(p))));
        else if (p == 50) f.push_back(ms(l.p50));
        else if (p == 90) f.push_back(ms(l.p90));
        else if (p == 95) f.push_back(ms(l.p95));
        else if (p == 99) f.push_back(ms(l.p99));
        else if (p == 99.9) f.push_back(ms(l.p999));
        else if (p == 100) f.push_back(ms(l.max));
        else f.push_back(na);
      }
      detail::csv_row(out, f);
    };
    std::vector<const EndpointResult*> endpoints;
    for (const auto& e : r.endpoints) endpoints.push_back(&e);
    std::stable_sort(endpoints.begin(), endpoints.end(), [](auto* a, auto* b) { return a->name < b->name; });
    for (const auto* e : endpoints) {
      auto [type, name] = detail::split_endpoint(e->name);
      row(std::move(type), std::move(name), e->total_requests, e->failed_requests, e->requests_per_second,
          e->response_time, nullptr);
    }
    const LatencySummary total = r.response_time();
    row("", "Aggregated", r.total_requests, r.failed_requests, r.requests_per_second, total,
        r.response_histogram.get());
    return out;
  }

  /** The content of `{prefix}_stats_history.csv` for a list of snapshots (see the class comment). */
  static std::string history_csv(const std::vector<RealTimeMetrics>& history) {
    std::string out;
    detail::csv_row(out, {"Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s", "50%", "95%", "99%",
                          "Total Request Count", "Total Failure Count"});
    for (const auto& m : history) {
      auto stamp = detail::unix_seconds(m.timestamp);
      const bool latency = m.interval_requests > 0;
      auto ms = [&](double s) { return latency ? detail::csv_ms(s) : std::string("N/A"); };
      detail::csv_row(out, {stamp ? std::to_string(*stamp) : std::string("N/A"), std::to_string(m.active_users), "",
                            "Aggregated", fmt::format("{:.2f}", m.requests_per_second),
                            fmt::format("{:.2f}", m.requests_per_second * m.current_error_rate),
                            ms(m.p50_response_time), ms(m.p95_response_time), ms(m.p99_response_time),
                            std::to_string(m.total_requests), std::to_string(m.total_errors)});
    }
    return out;
  }

 private:
  std::string choose_prefix() const {
    if (!options_.prefix.empty()) return options_.prefix;
    const std::filesystem::path dir = info_.results_dir.empty() ? "." : info_.results_dir;
    const std::string stamp = info_.file_stamp.empty() ? file_stamp_utc(WallClock::now()) : info_.file_stamp;
    return (dir / fmt::format("loadtest_{}_{}", sanitize_name(info_.name), stamp)).string();
  }
  static std::filesystem::path directory_of(const std::string& prefix) {
    std::filesystem::path parent = std::filesystem::path(prefix).parent_path();
    return parent.empty() ? std::filesystem::path(".") : parent;
  }

  Options options_;
  TestInfo info_;
  bool started_ = false;
  std::string prefix_;
  detail::BoundedHistory history_;
  std::filesystem::path stats_path_, history_path_;
};
static_assert(MetricsSink<CsvSink>, "CsvSink must model MetricsSink");

}  // namespace loadtest
