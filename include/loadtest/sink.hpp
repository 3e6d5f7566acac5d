// loadtest: metrics sinks: where snapshots and the final result go.
//
// A sink is a plain type with three hooks (see `MetricsSink`). The engine owns the orchestration
// (when to call, on which thread); a sink only writes. Shipped: NullSink, RecordingSink (the test
// double), ConsoleSink, JsonFileSink, and Tee to combine several.
#pragma once

#include "loadtest/detail/config.hpp"

#if defined(__linux__)  // the terminal's width and isatty; elsewhere plain lines, no width limit
#include <sys/ioctl.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <filesystem>
#include <iterator>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "loadtest/outcome.hpp"
#include "loadtest/detail/bounded_history.hpp"
#include "loadtest/result.hpp"
#include "loadtest/results_io.hpp"
#include "loadtest/threshold.hpp"
#include "loadtest/time.hpp"

namespace loadtest {

/** One recorded sample, as seen by a `SampleSink`. Valid only during the `on_sample` call. */
struct Sample {
  std::string_view name;   ///< the endpoint it is recorded under
  const Outcome& outcome;  ///< how the action ended
  Duration response_time;  ///< the latency recorded (from the intended start in the open model)
  Duration service_time;   ///< send -> receive (equals response_time in the closed model)
  std::size_t user_id;     ///< the user that ran it
};

// MetricsSink: the named requirement of a sink. A type S models it when, for `S& s`, these compile:
//
//   s.on_start(const TestInfo& info)
//       Once, before any user starts. May throw std::runtime_error to refuse to start (e.g. an
//       unwritable results directory); the test then does not run.
//   s.on_interval(const RealTimeMetrics& m)
//       Once per monitor interval, on the monitor's thread. Keep it short.
//   s.on_finish(const LoadTestResult& r)
//       Once, with the final result, also when the test was interrupted.
//
// Return values are ignored. Optionally, also declare
//   s.on_sample(const Sample& x)
// to get every sample, on the worker thread that recorded it (it must be thread-safe); the type
// then models SampleSink too. If a static_assert names this concept, one of the three members
// above is missing or takes an argument it cannot bind.

/** A destination for a test's snapshots and final result (see the comment block above). */
template <class S>
concept MetricsSink = requires(S& s, const TestInfo& info, const RealTimeMetrics& m, const LoadTestResult& r) {
  s.on_start(info);
  s.on_interval(m);
  s.on_finish(r);
};

/** Opt-in: a sink that also declares `on_sample(const Sample&)` gets every sample, on the worker
 *  thread that recorded it (so `on_sample` must be thread-safe and cheap). */
template <class S>
concept SampleSink = MetricsSink<S> && requires(S& s, const Sample& x) { s.on_sample(x); };

// -------------------------------------------------------------------------------------------------

/** A sink that does nothing and takes no space (the engine stores sinks `[[no_unique_address]]`). */
struct NullSink {
  /** Does nothing. */
  void on_start(const TestInfo&) noexcept {}
  /** Does nothing. */
  void on_interval(const RealTimeMetrics&) noexcept {}
  /** Does nothing. */
  void on_finish(const LoadTestResult&) noexcept {}
};
static_assert(MetricsSink<NullSink>, "NullSink must model MetricsSink");
static_assert(std::is_empty_v<NullSink>, "NullSink must take no space");

// -------------------------------------------------------------------------------------------------

/** The test double: records everything it is told.
 *
 *  `on_start`, `on_interval` and `on_finish` store into plain public members; read them after the
 *  test ended. Samples (it is a `SampleSink`) are counted atomically and, with
 *  `Options::keep_last > 0`, the last few are kept under a mutex; both may be read at any time.
 */
struct RecordingSink {
  /** What to keep. */
  struct Options {
    std::size_t keep_last = 0;  ///< how many of the latest samples to keep (0: only count them)
  };
  /** What is kept of one sample. */
  struct RecordedSample {
    std::string name;
    Status status = Status::success;
    ErrorCategory category = ErrorCategory::none;
  };

  Options options;
  TestInfo info;                            ///< from the last `on_start`
  std::vector<RealTimeMetrics> intervals;   ///< every snapshot, in order
  LoadTestResult result;                    ///< from the last `on_finish`
  std::size_t starts = 0;                   ///< number of `on_start` calls
  std::size_t finishes = 0;                 ///< number of `on_finish` calls
  std::atomic<std::uint64_t> samples{0};    ///< number of `on_sample` calls

  /** Counts samples only. */
  RecordingSink() = default;
  /** Keeps the last `options.keep_last` samples too. */
  explicit RecordingSink(Options o) : options(o) {}
  /** Copies everything (the sample count and kept samples under the source's lock). */
  RecordingSink(const RecordingSink& other)
      : options(other.options),
        info(other.info),
        intervals(other.intervals),
        result(other.result),
        starts(other.starts),
        finishes(other.finishes),
        samples(other.samples.load()) {
    std::lock_guard lock(other.mutex_);
    last_ = other.last_;
  }
  /** Copies everything. */
  RecordingSink& operator=(const RecordingSink& other) {
    if (this == &other) return *this;
    options = other.options;
    info = other.info;
    intervals = other.intervals;
    result = other.result;
    starts = other.starts;
    finishes = other.finishes;
    samples.store(other.samples.load());
    std::scoped_lock lock(mutex_, other.mutex_);
    last_ = other.last_;
    return *this;
  }

  /** Stores `i` and counts the call. */
  void on_start(const TestInfo& i) {
    info = i;
    ++starts;
  }
  /** Appends the snapshot. */
  void on_interval(const RealTimeMetrics& m) { intervals.push_back(m); }
  /** Stores the result and counts the call. */
  void on_finish(const LoadTestResult& r) {
    result = r;
    ++finishes;
  }
  /** Counts the sample and keeps it if asked to. Thread-safe. */
  void on_sample(const Sample& x) {
    samples.fetch_add(1, std::memory_order_relaxed);
    if (options.keep_last == 0) return;
    RecordedSample kept{std::string(x.name), x.outcome.status, x.outcome.category};
    std::lock_guard lock(mutex_);
    last_.push_back(std::move(kept));
    while (last_.size() > options.keep_last) last_.pop_front();
  }

  /** The number of samples seen so far. */
  [[nodiscard]] std::uint64_t sample_count() const noexcept { return samples.load(); }
  /** A copy of the kept samples, oldest first. Thread-safe. */
  [[nodiscard]] std::vector<RecordedSample> last_samples() const {
    std::lock_guard lock(mutex_);
    return {last_.begin(), last_.end()};
  }

 private:
  mutable std::mutex mutex_;
  std::deque<RecordedSample> last_;
};
static_assert(SampleSink<RecordingSink>, "RecordingSink must model SampleSink");

// -------------------------------------------------------------------------------------------------

/** Live status and a final summary on a terminal (or any `FILE*`).
 *
 *  On a terminal, every interval redraws a small live view in place (the cursor moves back up
 *  over the previous frame, each line is cleared and rewritten, the whole frame goes out in one
 *  `fwrite`, so nothing flickers): a progress bar (elapsed of planned), the latency percentiles of
 *  the last interval, the request and error totals with the most frequent error categories (red
 *  from 5 % errors), in the open model the schedule (late, dropped, lag), and last the status
 *  line (users, requests/s, error rate, memory and CPU). Lines are cut to the terminal's width.
 *  When the stream is not a terminal, one plain status line is printed per interval. `quiet`
 *  silences the live part; the header and the summary are always printed.
 *
 *  `on_finish` prints the summary: totals, throughput, error rate, latency percentiles, a
 *  per-endpoint table, the most frequent errors, in the open model the service time and the
 *  schedule accuracy, and the thresholds with their verdicts (✓/✗) and observed values.
 */
class ConsoleSink {
 public:
  /** Where and how to print. */
  struct Options {
    std::FILE* out = stdout;  ///< the stream, not owned
    bool quiet = false;       ///< no live status, only the header and the summary
    int tty = -1;             ///< -1: detect with isatty(fileno(out)); 0: plain lines; 1: live view
    int width = 0;            ///< columns of the live view; 0: the terminal's (no limit if it cannot tell)
  };

  /** Prints to stdout, terminal detected. */
  ConsoleSink() : ConsoleSink(Options{}) {}
  /** Throws `std::invalid_argument` for a null stream, a `tty` other than -1, 0, 1 or a negative
   *  width. */
  explicit ConsoleSink(Options o) : options_(o) {
    if (options_.out == nullptr) throw std::invalid_argument("ConsoleSink: the output stream is null");
    if (options_.tty < -1 || options_.tty > 1)
      throw std::invalid_argument(fmt::format("ConsoleSink: tty must be -1, 0 or 1, not {}", options_.tty));
    if (options_.width < 0)
      throw std::invalid_argument(fmt::format("ConsoleSink: width must not be negative, not {}", options_.width));
  }

  /** Prints a one-line header: name, model, planned duration, users. */
  void on_start(const TestInfo& info) {
#if defined(__linux__)
    tty_ = options_.tty == -1 ? ::isatty(::fileno(options_.out)) == 1 : options_.tty == 1;
#else
    tty_ = options_.tty == 1;
#endif
    live_open_ = false;
    frame_lines_ = 0;
    std::string planned =
        info.planned_duration > 0 ? format_duration(from_seconds(info.planned_duration)) : std::string("open-ended");
    fmt::print(options_.out, "loadtest: {} | {} model | {} | up to {} users\n", info.name, info.model, planned,
               info.max_users);
    std::fflush(options_.out);
  }

  /** Shows the interval (unless quiet): redraws the live view on a terminal, else prints one line. */
  void on_interval(const RealTimeMetrics& m) {
    if (options_.quiet) return;
    if (tty_) {
      std::string frame = live_frame(m, frame_lines_, terminal_width());
      std::fwrite(frame.data(), 1, frame.size(), options_.out);
      frame_lines_ = 1 + static_cast<std::size_t>(std::count(frame.begin(), frame.end(), '\n'));
      live_open_ = true;
    } else {
      fmt::print(options_.out, "{}\n", status_line(m));
    }
    std::fflush(options_.out);
  }

  /** Ends the live view and prints the summary (also when quiet). */
  void on_finish(const LoadTestResult& r) {
    if (live_open_) fmt::print(options_.out, "\n");
    live_open_ = false;
    frame_lines_ = 0;
    fmt::print(options_.out, "{}", summary(r));
    std::fflush(options_.out);
  }

  /** One status line, e.g.
   *  `[ 12.0s/60.0s] users 10 | 1523 req/s | p50 1.2ms p95 4.1ms | err 0.00% | rss 12 MB cpu 35%`. */
  static std::string status_line(const RealTimeMetrics& m) {
    std::string clock = m.planned_duration > 0 ? fmt::format("[{:5.1f}s/{:.1f}s]", m.elapsed, m.planned_duration)
                                               : fmt::format("[{:5.1f}s]", m.elapsed);
    return fmt::format("{} users {} | {:.0f} req/s | p50 {} p95 {} | err {:.2f}% | rss {:.0f} MB cpu {:.0f}%", clock,
                       m.active_users, m.requests_per_second, secs(m.p50_response_time), secs(m.p95_response_time),
                       m.current_error_rate * 100, m.memory_usage, m.cpu_usage);
  }

  /** The lines of the live view for a snapshot, plain text, the status line last:
   *
   *      [==========>                   ]  33%  20.0s of 1m00s
   *      latency (last 1s)  p50 1.2ms  p95 4.1ms  p99 9.0ms  avg 1.5ms
   *      requests 30512, failed 12 (0.04%) | http_5xx 8, timeout 4
   *      schedule  intended 1010, started 1000, late 12, dropped 10 | lag p99 1.2ms   (open model)
   *      [ 20.0s/60.0s] users 10 | 1523 req/s | p50 1.2ms p95 4.1ms | err 0.00% | rss 12 MB cpu 35%
   */
  static std::vector<std::string> live_lines(const RealTimeMetrics& m) {
    std::vector<std::string> lines;
    if (m.planned_duration > 0) {
      constexpr int bar = 30;
      const double done = std::clamp(m.elapsed / m.planned_duration, 0.0, 1.0);
      const int filled = static_cast<int>(done * bar);
      std::string b(static_cast<std::size_t>(filled), '=');
      if (filled < bar) b += '>';
      b.resize(bar, ' ');
      lines.push_back(fmt::format("[{}] {:3.0f}%  {} of {}", b, done * 100, secs(m.elapsed), secs(m.planned_duration)));
    } else {
      lines.push_back(fmt::format("elapsed {} (open-ended)", secs(m.elapsed)));
    }
    if (m.interval_requests > 0)
      lines.push_back(fmt::format("latency (last interval)  p50 {}  p95 {}  p99 {}  avg {}", secs(m.p50_response_time),
                                  secs(m.p95_response_time), secs(m.p99_response_time), secs(m.avg_response_time)));
    else
      lines.push_back("latency (last interval)  no requests completed");
    const double total_rate =
        m.total_requests ? static_cast<double>(m.total_errors) / static_cast<double>(m.total_requests) : 0.0;
    std::string errors = fmt::format("requests {}, failed {} ({:.2f}%)", m.total_requests, m.total_errors,
                                     total_rate * 100);
    std::vector<std::pair<std::string, std::uint64_t>> top(m.errors_by_category.begin(), m.errors_by_category.end());
    std::stable_sort(top.begin(), top.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    if (top.size() > 3) top.resize(3);
    for (std::size_t i = 0; i < top.size(); ++i)
      errors += fmt::format("{}{} {}", i == 0 ? " | " : ", ", top[i].first, top[i].second);
    lines.push_back(std::move(errors));
    if (m.schedule) {
      const auto& s = *m.schedule;
      lines.push_back(fmt::format("schedule  intended {}, started {}, late {}, dropped {} | lag p99 {}", s.intended,
                                  s.started, s.late, s.dropped, secs(s.lag_p99)));
    }
    lines.push_back(status_line(m));
    return lines;
  }

  /** The bytes that redraw the live view: with `previous_lines` > 0 the cursor first goes back to
   *  the start of the previous frame (`\r` and `ESC[nA`); then every line but the last is cleared
   *  (`ESC[2K`), written and ended; the last (the status line) is written after a `\r` and
   *  cleared to its end (`ESC[K`) without a newline, so the next frame or the summary follows.
   *  Lines are cut to `width - 1` columns when `width > 0`; a frame shorter than the previous one
   *  is padded with empty lines. The failed-requests line is red from 5 % errors. */
  static std::string live_frame(const RealTimeMetrics& m, std::size_t previous_lines = 0, int width = 0) {
    std::vector<std::string> lines = live_lines(m);
    const std::size_t red_line = 2;  // "requests N, failed M (x%)"
    const bool alarming = m.total_requests > 0 &&
                          static_cast<double>(m.total_errors) / static_cast<double>(m.total_requests) >= 0.05;
    std::string status = std::move(lines.back());
    lines.pop_back();
    while (lines.size() + 1 < previous_lines) lines.emplace_back();
    std::string frame;
    if (previous_lines > 1) frame += fmt::format("\r\x1b[{}A", previous_lines - 1);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      frame += "\x1b[2K";
      if (i == red_line && alarming) frame += "\x1b[31m" + fit(lines[i], width) + "\x1b[0m";
      else frame += fit(lines[i], width);
      frame += '\n';
    }
    frame += '\r';
    frame += fit(status, width);
    frame += "\x1b[K";
    return frame;
  }

  /** The final summary as printed by `on_finish`. */
  static std::string summary(const LoadTestResult& r) {
    fmt::memory_buffer b;
    auto out = std::back_inserter(b);
    fmt::format_to(out, "\nResults: {} ({} model, started {})\n", r.name, r.model, r.timestamp);
    fmt::format_to(out, "  {:<14}{}\n", "Duration", secs(r.duration));
    fmt::format_to(out, "  {:<14}{} total, {} successful, {} failed ({} failures, {} errors)", "Requests",
                   r.total_requests, r.successful_requests, r.failed_requests, r.failures, r.errors_total);
    if (r.cancelled_requests) fmt::format_to(out, ", {} cancelled", r.cancelled_requests);
    fmt::format_to(out, "\n  {:<14}{:.1f} req/s\n", "Throughput", r.requests_per_second);
    fmt::format_to(out, "  {:<14}{:.2f}%\n", "Error rate", r.error_rate * 100);
    fmt::format_to(out, "  {:<14}{}\n", "Max users", r.max_active_users);

    // latency table
    fmt::format_to(out, "\n  {:<14}", "");
    for (auto h : {"avg", "min", "p50", "p90", "p95", "p99", "p99.9", "max"}) fmt::format_to(out, "{:>9}", h);
    fmt::format_to(out, "\n");
    auto latency_row = [&](std::string_view label, const LatencySummary& l) {
      fmt::format_to(out, "  {:<14}", label);
      for (double v : {l.avg, l.min, l.p50, l.p90, l.p95, l.p99, l.p999, l.max}) fmt::format_to(out, "{:>9}", secs(v));
      fmt::format_to(out, "\n");
    };
    const LatencySummary total = r.response_time();
    latency_row("Response time", total);
    if (r.service_time) latency_row("Service time", *r.service_time);

    if (r.schedule) {
      const auto& s = *r.schedule;
      fmt::format_to(out, "\n  {:<14}intended {}, started {}, late {}, dropped {}\n", "Schedule", s.intended,
                     s.started, s.late, s.dropped);
      fmt::format_to(out, "  {:<14}p50 {}, p99 {}, max {}\n", "Schedule lag", secs(s.lag_p50), secs(s.lag_p99),
                     secs(s.lag_max));
    }

    if (!r.endpoints.empty()) {
      std::size_t width = 8;
      for (const auto& e : r.endpoints) width = std::max(width, std::min<std::size_t>(clean(e.name, 48).size(), 48));
      fmt::format_to(out, "\n  {:<{}}{:>10}{:>9}{:>10}{:>9}{:>9}{:>9}\n", "Endpoint", width, "Requests", "Failed",
                     "Req/s", "p50", "p95", "p99");
      for (const auto& e : r.endpoints)
        fmt::format_to(out, "  {:<{}}{:>10}{:>9}{:>10.1f}{:>9}{:>9}{:>9}\n", clean(e.name, 48), width,
                       e.total_requests, e.failed_requests, e.requests_per_second, secs(e.response_time.p50),
                       secs(e.response_time.p95), secs(e.response_time.p99));
    }

    if (!r.error_table.empty()) {
      std::vector<const ErrorEntry*> top;
      for (const auto& e : r.error_table) top.push_back(&e);
      std::stable_sort(top.begin(), top.end(), [](auto* x, auto* y) { return x->count > y->count; });
      if (top.size() > 10) top.resize(10);
      fmt::format_to(out, "\n  Errors (top {} of {} distinct)\n", top.size(), r.error_table.size());
      fmt::format_to(out, "  {:<16}{:>10}  {}\n", "Category", "Count", "Message");
      for (const auto* e : top)
        fmt::format_to(out, "  {:<16}{:>10}  {}\n", to_string(e->category), e->count, clean(e->message, 100));
    }
    if (!r.errors_by_category.empty()) {
      fmt::format_to(out, "  By category: ");
      bool first = true;
      for (const auto& [category, count] : r.errors_by_category) {
        fmt::format_to(out, "{}{} {}", first ? "" : ", ", category, count);
        first = false;
      }
      fmt::format_to(out, "\n");
    }
    if (r.error_overflow)
      fmt::format_to(out, "  ({} more errors had messages beyond the table's capacity)\n", r.error_overflow);

    if (!r.thresholds.empty()) {
      std::size_t passed = 0, width = 10;
      for (const auto& t : r.thresholds) {
        passed += t.passed ? 1 : 0;
        width = std::max(width, std::min<std::size_t>(clean(t.expression, 60).size(), 60));
      }
      fmt::format_to(out, "\n  Thresholds ({} of {} passed)\n", passed, r.thresholds.size());
      for (const auto& t : r.thresholds)
        fmt::format_to(out, "    {} {:<{}}  {}\n", t.passed ? "\u2713" : "\u2717", clean(t.expression, 60), width,
                       format_observed(t.metric, t.observed));
    }
    return fmt::to_string(b);
  }

 private:
  static std::string secs(double s) { return format_duration(from_seconds(s)); }
  // One line of at most `max` bytes: control characters become spaces.
  static std::string clean(std::string_view s, std::size_t max) {
    std::string t(s.substr(0, max));
    for (char& c : t)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    if (s.size() > max && max >= 3) t.replace(max - 3, 3, "...");
    return t;
  }
  // At most `width - 1` columns (one code point is one column), cut at a character boundary;
  // control characters become spaces. `width <= 0`: no limit.
  static std::string fit(std::string_view s, int width) {
    std::string t;
    t.reserve(s.size());
    std::size_t columns = 0;
    const std::size_t limit = width > 0 ? static_cast<std::size_t>(width - 1) : s.size() + 1;
    for (std::size_t i = 0; i < s.size(); ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      const bool continuation = (c & 0xC0) == 0x80;
      if (!continuation) {
        if (columns == limit) break;
        ++columns;
      }
      t += (c < 0x20 || c == 0x7f) ? ' ' : s[i];
    }
    return t;
  }
  // The live view's width: the option, else the terminal's columns, else 0 (no limit).
  int terminal_width() const {
    if (options_.width > 0) return options_.width;
#if defined(__linux__)
    struct winsize ws {};
    if (::ioctl(::fileno(options_.out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
#endif
    return 0;
  }

  Options options_;
  bool tty_ = false;
  bool live_open_ = false;        // a live frame is on screen without its final newline
  std::size_t frame_lines_ = 0;   // lines of the tallest frame drawn so far
};
static_assert(MetricsSink<ConsoleSink>, "ConsoleSink must model MetricsSink");

// -------------------------------------------------------------------------------------------------

/** Writes the result (and the monitor history) as JSON files, atomically.
 *
 *  `on_start` prepares the results directory (created with mode 0700 if missing) and throws
 *  `std::runtime_error` if it is not writable, so a test never runs only to lose its results.
 *  `on_finish` writes `loadtest_{name}_{stamp}.json` and, with `write_history`,
 *  `metrics_{name}_{stamp}.json` (name = `sanitize_name(info.name)`, stamp = `info.file_stamp`),
 *  never replacing an existing file (a `_1`, `_2`, ... suffix is added instead), and the result
 *  again at `extra_path` if set (replacing it). If one write fails the others are still tried,
 *  then the first error is rethrown.
 *
 *  The history is bounded: when it reaches `max_history` entries (86'400 by default, a day at
 *  one-second intervals), every second entry is dropped and from then on only every second
 *  snapshot is kept, i.e. the resolution halves instead of memory growing forever. Kept entries
 *  are evenly spaced. The engine's `LoadTestResult::history` is used when it is not empty.
 */
class JsonFileSink {
 public:
  /** Where to write. */
  struct Options {
    std::string results_dir;          ///< empty: `TestInfo::results_dir` (and "." if that is empty too)
    std::string extra_path;           ///< also write the result JSON here (e.g. the CLI's `--json FILE`)
    bool write_history = true;        ///< write `metrics_{name}_{stamp}.json`
    std::size_t max_history = 86'400; ///< history entries kept before the resolution halves (>= 2)
  };

  /** Writes into `TestInfo::results_dir`. */
  JsonFileSink() : JsonFileSink(Options{}) {}
  /** Throws `std::invalid_argument` if `max_history < 2`. */
  explicit JsonFileSink(Options o) : options_(std::move(o)), history_(checked_capacity(options_.max_history)) {}

  /** Prepares the results directory (and the directory of `extra_path`); throws
   *  `std::runtime_error` if one is not writable. */
  void on_start(const TestInfo& info) {
    info_ = info;
    started_ = true;
    history_.clear();
    result_path_.clear();
    history_path_.clear();
    extra_written_.clear();
    dir_ = choose_dir();
    prepare_results_dir(dir_);
    if (!options_.extra_path.empty()) {
      auto parent = std::filesystem::path(options_.extra_path).parent_path();
      if (!parent.empty()) prepare_results_dir(parent);
    }
  }

  /** Keeps the snapshot in the (bounded) history. */
  void on_interval(const RealTimeMetrics& m) {
    RealTimeMetrics kept = m;
    kept.top_errors.clear();  // not written to the history file
    history_.push(std::move(kept));
  }

  /** Writes the files; throws `std::runtime_error` if one could not be written. */
  void on_finish(const LoadTestResult& r) {
    if (!started_) {  // finished without a start: make do with what the result says
      info_.name = r.name;
      info_.timestamp = r.timestamp;
      info_.model = r.model;
      dir_ = choose_dir();
    }
    const std::string name = sanitize_name(info_.name.empty() ? r.name : info_.name);
    const std::string stamp = info_.file_stamp.empty() ? file_stamp_utc(WallClock::now()) : info_.file_stamp;
    const std::string json = to_json(r);
    std::exception_ptr first_error;
    auto attempt = [&](auto&& write) {
      try {
        write();
      } catch (...) {
        if (!first_error) first_error = std::current_exception();
      }
    };
    attempt([&] { result_path_ = write_result_file(dir_ / fmt::format("loadtest_{}_{}.json", name, stamp), json); });
    if (options_.write_history) {
      attempt([&] {
        TestInfo info = info_;
        if (info.name.empty()) info.name = r.name;
        if (info.timestamp.empty()) info.timestamp = r.timestamp;
        history_path_ = write_result_file(dir_ / fmt::format("metrics_{}_{}.json", name, stamp),
                                          history_to_json(info, r.history.empty() ? history_.entries() : r.history));
      });
    }
    if (!options_.extra_path.empty())
      attempt([&] { extra_written_ = write_result_file(options_.extra_path, json, /*overwrite=*/true); });
    if (first_error) std::rethrow_exception(first_error);
  }

  /** The result file written by `on_finish` (empty before). */
  [[nodiscard]] const std::filesystem::path& result_path() const noexcept { return result_path_; }
  /** The history file written by `on_finish` (empty before, or without `write_history`). */
  [[nodiscard]] const std::filesystem::path& history_path() const noexcept { return history_path_; }
  /** The copy written to `Options::extra_path` (empty if none). */
  [[nodiscard]] const std::filesystem::path& extra_path() const noexcept { return extra_written_; }
  /** The results directory in use (set by `on_start`). */
  [[nodiscard]] const std::filesystem::path& results_dir() const noexcept { return dir_; }
  /** The history kept so far (bounded, see the class comment). */
  [[nodiscard]] const std::vector<RealTimeMetrics>& history() const noexcept { return history_.entries(); }

 private:
  std::filesystem::path choose_dir() const {
    if (!options_.results_dir.empty()) return options_.results_dir;
    if (!info_.results_dir.empty()) return info_.results_dir;
    return ".";
  }

  Options options_;
  TestInfo info_;
  bool started_ = false;
  std::filesystem::path dir_;
  static std::size_t checked_capacity(std::size_t n) {
    if (n < 2) throw std::invalid_argument(fmt::format("JsonFileSink: max_history must be at least 2, not {}", n));
    return n;
  }

  detail::BoundedHistory history_;
  std::filesystem::path result_path_, history_path_, extra_written_;
};
static_assert(MetricsSink<JsonFileSink>, "JsonFileSink must model MetricsSink");

// -------------------------------------------------------------------------------------------------

/** Several sinks as one: each hook goes to every sink, in the order given.
 *
 *  `on_sample` exists only if at least one member is a `SampleSink`, and goes only to those, so
 *  a Tee of sinks that do not want samples does not make the engine produce them. If an
 *  `on_start` throws, the sinks after it are not started and the exception propagates.
 */
template <MetricsSink... Sinks>
class Tee {
 public:
  /** Default-constructs every sink. */
  Tee() = default;
  /** Takes the sinks. */
  explicit Tee(Sinks... sinks)
    requires(sizeof...(Sinks) > 0)
      : sinks_(std::move(sinks)...) {}

  /** Forwards to every sink, in order. */
  void on_start(const TestInfo& info) {
    std::apply([&](auto&... s) { (s.on_start(info), ...); }, sinks_);
  }
  /** Forwards to every sink, in order. */
  void on_interval(const RealTimeMetrics& m) {
    std::apply([&](auto&... s) { (s.on_interval(m), ...); }, sinks_);
  }
  /** Forwards to every sink, in order. */
  void on_finish(const LoadTestResult& r) {
    std::apply([&](auto&... s) { (s.on_finish(r), ...); }, sinks_);
  }
  /** Forwards to the sinks that are `SampleSink`s, in order. */
  void on_sample(const Sample& x)
    requires(SampleSink<Sinks> || ...)
  {
    std::apply([&](auto&... s) { (forward_sample(s, x), ...); }, sinks_);
  }

  /** The I-th sink. */
  template <std::size_t I>
  [[nodiscard]] auto& get() noexcept {
    return std::get<I>(sinks_);
  }
  /** The I-th sink. */
  template <std::size_t I>
  [[nodiscard]] const auto& get() const noexcept {
    return std::get<I>(sinks_);
  }

 private:
  template <class S>
  static void forward_sample(S& s, const Sample& x) {
    if constexpr (SampleSink<S>) s.on_sample(x);
  }

  std::tuple<Sinks...> sinks_;
};
static_assert(MetricsSink<Tee<NullSink, ConsoleSink>>, "Tee must model MetricsSink");
static_assert(!SampleSink<Tee<NullSink, ConsoleSink>>, "Tee has on_sample only if a member has");
static_assert(SampleSink<Tee<NullSink, RecordingSink>>, "Tee forwards samples when a member takes them");

/** A sink chosen at run time, e.g. a report a command-line flag asked for: forwards every hook to
 *  its `S` when it holds one, does nothing otherwise. A `SampleSink` when `S` is. */
template <MetricsSink S>
class Maybe {
 public:
  /** Holds no sink. */
  Maybe() = default;
  /** Holds `sink`. */
  explicit Maybe(S sink) : sink_(std::move(sink)) {}

  void on_start(const TestInfo& info) {
    if (sink_) sink_->on_start(info);
  }
  void on_interval(const RealTimeMetrics& m) {
    if (sink_) sink_->on_interval(m);
  }
  void on_finish(const LoadTestResult& r) {
    if (sink_) sink_->on_finish(r);
  }
  void on_sample(const Sample& x)
    requires SampleSink<S>
  {
    if (sink_) sink_->on_sample(x);
  }

  /** The sink, or null. */
  [[nodiscard]] S* get() noexcept { return sink_ ? &*sink_ : nullptr; }
  /** The sink, or null. */
  [[nodiscard]] const S* get() const noexcept { return sink_ ? &*sink_ : nullptr; }

 private:
  std::optional<S> sink_;
};
static_assert(MetricsSink<Maybe<ConsoleSink>>, "Maybe must model MetricsSink");
static_assert(SampleSink<Maybe<RecordingSink>> && !SampleSink<Maybe<NullSink>>, "Maybe forwards samples when S takes them");

}  // namespace loadtest
