// loadtest: a self-contained HTML report with SVG charts, and the sink that writes it.
//
// The page is one file: inline CSS and inline SVG drawn by the library, no scripts, no remote
// fonts, styles or images (a Content-Security-Policy meta tag forbids loading anything), so it
// reads the same offline, attached to a CI job or mailed around. The rendering lives in
// src/html_report.cpp.
#pragma once

#include "loadtest/detail/config.hpp"

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "loadtest/detail/bounded_history.hpp"
#include "loadtest/result.hpp"
#include "loadtest/results_io.hpp"
#include "loadtest/sink.hpp"
#include "loadtest/time.hpp"

namespace loadtest {

/** The HTML report of one test, as a complete page.
 *
 *  Sections: a summary (name, model, start, duration, requests, throughput, error rate, latency
 *  avg/min/p50/p90/p95/p99/p99.9/max, the service time and the schedule in the open model),
 *  charts over time from `r.history` (requests/s and errors/s, p50/p95/p99 response time, active
 *  users, error rate, the load generator's CPU and memory), the latency distribution (a
 *  percentile curve on a log axis and a histogram, from `r.response_histogram`, or a coarse
 *  curve from the summary percentiles when the histogram is missing), error categories (bar
 *  chart), the per-endpoint table, the error table and the test configuration (`r.config`).
 *  Every text is HTML-escaped. Empty histories, zero requests and single snapshots render as
 *  such ("no data" notes, a single marked point).
 */
std::string render_html_report(const LoadTestResult& r);

/** One page for several tests (e.g. a suite run in sequence): a table with a row per test that
 *  links to the test's section, then each test's section as `render_html_report(r)` draws it.
 *  An empty vector gives a page that says there are no results. */
std::string render_html_report(const std::vector<LoadTestResult>& results);

namespace detail {
/** `s` with `& < > " '` replaced by entities and control characters (but tab, CR, LF) by spaces:
 *  safe in HTML text, attribute values and SVG. */
std::string html_escape(std::string_view s);
}  // namespace detail

/** Writes the HTML report of a test when it finishes (a MetricsSink).
 *
 *  `on_start` prepares the directory the report goes to (created with mode 0700 if missing) and
 *  throws `std::runtime_error` if it is not writable, so a test never runs only to lose its
 *  report. `on_finish` writes the page atomically (`write_file_atomic`): to `Options::path`
 *  (replacing an older file there) or, when that is empty, to
 *  `{TestInfo::results_dir}/report_{name}_{stamp}.html` (never replacing a file: a `_1`, `_2`,
 *  ... suffix is added instead). Snapshots are kept too (bounded, as JsonFileSink does) and used
 *  when the result carries no history.
 */
class HtmlReportSink {
 public:
  /** Where to write. */
  struct Options {
    std::string path;  ///< the report file; empty: `{results_dir}/report_{name}_{stamp}.html`
  };

  /** Writes into `TestInfo::results_dir`. */
  HtmlReportSink() : HtmlReportSink(Options{}) {}
  /** Writes where `o` says. */
  explicit HtmlReportSink(Options o) : options_(std::move(o)) {}

  /** Prepares the report's directory; throws `std::runtime_error` if it is not writable. */
  void on_start(const TestInfo& info) {
    info_ = info;
    started_ = true;
    history_.clear();
    report_path_.clear();
    prepare_results_dir(target_dir());
  }

  /** Keeps the snapshot (bounded history, used if the result has none). */
  void on_interval(const RealTimeMetrics& m) {
    RealTimeMetrics kept = m;
    kept.top_errors.clear();
    kept.endpoints.clear();
    history_.push(std::move(kept));
  }

  /** Renders and writes the report; throws `std::runtime_error` naming the path on failure. */
  void on_finish(const LoadTestResult& r) {
    if (!started_) {  // finished without a start: make do with what the result says
      info_.name = r.name;
      info_.results_dir.clear();
    }
    std::string html;
    if (r.history.empty() && !history_.empty()) {
      LoadTestResult copy = r;
      copy.history = history_.entries();
      html = render_html_report(copy);
    } else {
      html = render_html_report(r);
    }
    if (!options_.path.empty()) {
      report_path_ = write_result_file(options_.path, html, /*overwrite=*/true);
    } else {
      const std::string stamp = info_.file_stamp.empty() ? file_stamp_utc(WallClock::now()) : info_.file_stamp;
      const std::string name = sanitize_name(info_.name.empty() ? r.name : info_.name);
      report_path_ = write_result_file(target_dir() / fmt::format("report_{}_{}.html", name, stamp), html);
    }
  }

  /** The file written by `on_finish` (empty before). */
  [[nodiscard]] const std::filesystem::path& report_path() const noexcept { return report_path_; }
  /** The snapshots kept so far. */
  [[nodiscard]] const std::vector<RealTimeMetrics>& history() const noexcept { return history_.entries(); }

 private:
  std::filesystem::path target_dir() const {
    if (!options_.path.empty()) {
      auto parent = std::filesystem::path(options_.path).parent_path();
      return parent.empty() ? std::filesystem::path(".") : parent;
    }
    return info_.results_dir.empty() ? std::filesystem::path(".") : std::filesystem::path(info_.results_dir);
  }

  Options options_;
  TestInfo info_;
  bool started_ = false;
  detail::BoundedHistory history_;
  std::filesystem::path report_path_;
};
static_assert(MetricsSink<HtmlReportSink>, "HtmlReportSink must model MetricsSink");

}  // namespace loadtest
