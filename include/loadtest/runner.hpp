// loadtest: LoadTestRunner: several tests in sequence, one summary and one report.
//
//   loadtest::LoadTestRunner runner({.results_dir = "results"});
//   runner.add("browse", browse_test, {"p(95)<300ms", "error_rate<1%"})   // a LoadTest, by reference
//         .add("checkout", [&] { return CheckoutTest(cfg, pattern).run(); });
//   runner.run_all();
//   return runner.all_passed() ? 0 : 99;
//
// Like the original framework's runner, it runs each test, keeps its result and writes it as
// JSON; then it writes `summary_{stamp}.json` (a verdict per test) and `report_{stamp}.html`
// (every test in one page, see html_report.hpp).
#pragma once

#include "loadtest/detail/config.hpp"

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "loadtest/html_report.hpp"
#include "loadtest/result.hpp"
#include "loadtest/results_io.hpp"
#include "loadtest/threshold.hpp"
#include "loadtest/time.hpp"

namespace loadtest {

/** A callable that runs a test: `f()` returns a `LoadTestResult`. */
template <class F>
concept TestCallable = std::invocable<F&> && std::convertible_to<std::invoke_result_t<F&>, LoadTestResult>;

/** An object that runs a test: `t.run()` returns a `LoadTestResult` (every `LoadTest` does). */
template <class T>
concept RunnableTest = requires(T& t) {
  { t.run() } -> std::convertible_to<LoadTestResult>;
};

/** What became of one test of a `LoadTestRunner`. */
struct TestRun {
  std::string name;
  bool ran = false;     ///< the test returned a result (it did not throw and was not skipped)
  bool passed = false;  ///< it ran and every threshold passed
  std::string error;    ///< why it did not run (what it threw, or that it was skipped)
  LoadTestResult result;                 ///< its result; only the name when it did not run
  std::filesystem::path result_path;     ///< its result file (empty when not written)
};

namespace detail {

// A JSON string literal: quotes, backslashes and control characters escaped, bytes that are not
// UTF-8 replaced by U+FFFD (so the file always parses).
inline void json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c == '"') out += "\\\"";
      else if (c == '\\') out += "\\\\";
      else if (c == '\n') out += "\\n";
      else if (c == '\r') out += "\\r";
      else if (c == '\t') out += "\\t";
      else if (c < 0x20 || c == 0x7f) out += fmt::format("\\u{:04x}", c);
      else out += static_cast<char>(c);
      ++i;
      continue;
    }
    std::size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    bool ok = n != 0 && i + n <= s.size();
    std::uint32_t cp = n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
    for (std::size_t k = 1; ok && k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      ok = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | (cc & 0x3F);
    }
    ok = ok && !(n == 3 && cp < 0x800) && !(n == 4 && cp < 0x10000) && !(cp >= 0xD800 && cp <= 0xDFFF) &&
         cp <= 0x10FFFF;
    if (ok) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
  out += '"';
}

// A JSON number; null when not finite.
inline std::string json_number(double d) {
  if (!std::isfinite(d)) return "null";
  std::string t = fmt::format("{}", d);
  if (t.find_first_of(".eE") == std::string::npos) t += ".0";
  return t;
}

}  // namespace detail

/** Runs several tests in sequence, collects their results and writes a combined summary and report.
 *
 *  A test is anything that produces a `LoadTestResult`: a callable (`[&] { return t.run(); }`),
 *  an object with `run()` (a `LoadTest`, taken by reference: it must outlive the runner's
 *  `run_all`, as a `LoadTest` cannot be moved), or a `std::shared_ptr`/`std::unique_ptr` to one.
 *  Thresholds given to `add` are parsed there (a bad one throws `std::invalid_argument` before
 *  anything runs) and evaluated on the test's result after it ran; they are appended to the
 *  thresholds the result already carries (e.g. the engine's own).
 *
 *  `run_all` runs the tests in the order they were added. A test that throws is recorded as not
 *  run, with the exception's message, and the next test runs (unless `stop_on_failure`, which
 *  records the rest as skipped). Each result is written as it arrives to
 *  `{results_dir}/loadtest_{name}_{stamp}.json` (`write_results`; turn it off when the tests'
 *  own JsonFileSink writes them already), and at the end `{results_dir}/summary_{stamp}.json`
 *  (`write_summary`):
 *
 *      {"timestamp": ISO 8601, "passed": all tests passed,
 *       "tests": [{"name", "ran", "passed", "error"?, "result_file"?,
 *                  "metrics": {total_requests, successful_requests, failed_requests, duration,
 *                              requests_per_second, error_rate, avg_response_time,
 *                              p50_response_time, p90_response_time, p95_response_time,
 *                              p99_response_time, max_response_time},
 *                  "thresholds": [{expression, metric, endpoint?, observed, passed}]}]}
 *
 *  and `{results_dir}/report_{stamp}.html` (`write_report`): `render_html_report` of the tests
 *  that ran. Files never replace older ones (a `_1`, `_2`, ... suffix is added instead).
 */
class LoadTestRunner {
 public:
  /** Where to write and how to go on after a failure. */
  struct Options {
    std::string results_dir = "loadtest_results";  ///< created with mode 0700 if missing
    bool write_results = true;      ///< each test's result JSON
    bool write_summary = true;      ///< `summary_{stamp}.json`
    bool write_report = true;       ///< `report_{stamp}.html`
    bool stop_on_failure = false;   ///< after a test fails or throws, skip the rest
    std::FILE* log = nullptr;       ///< one line per test and the files written, when set
  };

  /** Writes into `loadtest_results`. */
  LoadTestRunner() : LoadTestRunner(Options{}) {}
  /** Throws `std::invalid_argument` for an empty results directory when something is to be written. */
  explicit LoadTestRunner(Options o) : options_(std::move(o)) {
    if (options_.results_dir.empty() && (options_.write_results || options_.write_summary || options_.write_report))
      throw std::invalid_argument("LoadTestRunner: the results directory must not be empty");
  }

  /** Adds a test under `name` (empty: the result's own name) with pass/fail `thresholds`
   *  (expressions as `parse_threshold` reads them; a bad one throws `std::invalid_argument`). */
  template <class Test>
  LoadTestRunner& add(std::string name, Test&& test, const std::vector<std::string>& thresholds = {}) {
    using T = std::remove_cvref_t<Test>;
    Entry e;
    e.name = std::move(name);
    e.thresholds = parse_thresholds(thresholds);
    if constexpr (TestCallable<T>) {
      auto held = std::make_shared<T>(std::forward<Test>(test));
      e.run = [held] { return LoadTestResult((*held)()); };
    } else if constexpr (std::is_lvalue_reference_v<Test> && RunnableTest<std::remove_reference_t<Test>>) {
      e.run = [p = &test] { return LoadTestResult(p->run()); };
    } else if constexpr (RunnableTest<T>) {
      static_assert(std::is_move_constructible_v<T>,
                    "LoadTestRunner::add: pass a LoadTest by reference (it cannot be moved), or a shared_ptr or "
                    "unique_ptr to it, or a lambda that runs it");
      auto held = std::make_shared<T>(std::forward<Test>(test));
      e.run = [held] { return LoadTestResult(held->run()); };
    } else if constexpr (requires(T& p) { { p->run() } -> std::convertible_to<LoadTestResult>; }) {
      if (!test) throw std::invalid_argument(fmt::format("LoadTestRunner::add: test '{}' is a null pointer", e.name));
      auto held = std::make_shared<T>(std::forward<Test>(test));
      e.run = [held] { return LoadTestResult((*held)->run()); };
    } else {
      static_assert(TestCallable<T>, "LoadTestRunner::add: a test is a callable returning LoadTestResult, an object "
                                     "with run() returning LoadTestResult, or a pointer to one");
    }
    entries_.push_back(std::move(e));
    return *this;
  }

  /** The number of tests added. */
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

  /** Runs every test in order and writes the files (see the class comment). Returns the runs,
   *  one per test. Throws `std::runtime_error` if the results directory is not writable (before
   *  any test runs) or a file could not be written (after every test ran; `runs()` has them). */
  const std::vector<TestRun>& run_all() {
    runs_.clear();
    summary_path_.clear();
    report_path_.clear();
    const auto started = WallClock::now();
    const std::string stamp = file_stamp_utc(started);
    const bool writes = options_.write_results || options_.write_summary || options_.write_report;
    if (writes) prepare_results_dir(options_.results_dir);

    std::exception_ptr write_error;
    auto attempt = [&](auto&& write) {
      try {
        write();
      } catch (...) {
        if (!write_error) write_error = std::current_exception();
      }
    };
    bool stop = false;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const Entry& e = entries_[i];
      TestRun run;
      run.name = e.name;
      if (stop) {
        run.error = "skipped: an earlier test failed";
      } else {
        const std::string test_stamp = file_stamp_utc(WallClock::now());
        try {
          run.result = e.run();
          run.ran = true;
        } catch (const std::exception& ex) {
          run.error = ex.what();
        } catch (...) {
          run.error = "unknown exception";
        }
        if (run.ran) {
          if (run.name.empty()) run.name = run.result.name;
          for (const auto& t : e.thresholds) run.result.thresholds.push_back(evaluate(t, run.result));
          run.passed = loadtest::all_passed(run.result.thresholds);
          if (options_.write_results)
            attempt([&] {
              run.result_path = write_result_file(std::filesystem::path(options_.results_dir) /
                                                      fmt::format("loadtest_{}_{}.json", sanitize_name(run.name),
                                                                  test_stamp),
                                                  to_json(run.result));
            });
        }
        if (!run.passed && options_.stop_on_failure) stop = true;
      }
      if (run.name.empty()) run.name = fmt::format("test {}", i + 1);
      if (run.result.name.empty()) run.result.name = run.name;
      log_run(i, run);
      runs_.push_back(std::move(run));
    }

    if (options_.write_summary)
      attempt([&] {
        summary_path_ = write_result_file(std::filesystem::path(options_.results_dir) /
                                              fmt::format("summary_{}.json", stamp),
                                          summary_json(runs_, iso8601_utc(started)));
      });
    if (options_.write_report)
      attempt([&] {
        std::vector<LoadTestResult> results;
        for (const auto& r : runs_)
          if (r.ran) results.push_back(r.result);
        report_path_ = write_result_file(std::filesystem::path(options_.results_dir) /
                                             fmt::format("report_{}.html", stamp),
                                         render_html_report(results));
      });
    if (options_.log) {
      if (!summary_path_.empty()) fmt::print(options_.log, "summary: {}\n", summary_path_.string());
      if (!report_path_.empty()) fmt::print(options_.log, "report: {}\n", report_path_.string());
      std::fflush(options_.log);
    }
    if (write_error) std::rethrow_exception(write_error);
    return runs_;
  }

  /** The runs of the last `run_all`. */
  [[nodiscard]] const std::vector<TestRun>& runs() const noexcept { return runs_; }
  /** Whether the last `run_all` ran every test and every one passed (false before any run). */
  [[nodiscard]] bool all_passed() const noexcept {
    if (runs_.empty()) return false;
    return std::all_of(runs_.begin(), runs_.end(), [](const TestRun& r) { return r.passed; });
  }
  /** The summary written by the last `run_all` (empty if none). */
  [[nodiscard]] const std::filesystem::path& summary_path() const noexcept { return summary_path_; }
  /** The HTML report written by the last `run_all` (empty if none). */
  [[nodiscard]] const std::filesystem::path& report_path() const noexcept { return report_path_; }

  /** The summary JSON of some runs (the layout in the class comment), pretty-printed. */
  static std::string summary_json(const std::vector<TestRun>& runs, std::string_view timestamp) {
    using detail::json_number;
    using detail::json_string;
    std::string o = "{\n  \"timestamp\": ";
    json_string(o, timestamp);
    const bool passed = !runs.empty() && std::all_of(runs.begin(), runs.end(), [](const auto& r) { return r.passed; });
    o += fmt::format(",\n  \"passed\": {},\n  \"tests\": [", passed);
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const TestRun& t = runs[i];
      const LoadTestResult& r = t.result;
      o += i ? ",\n    {\n" : "\n    {\n";
      o += "      \"name\": ";
      json_string(o, t.name);
      o += fmt::format(",\n      \"ran\": {},\n      \"passed\": {}", t.ran, t.passed);
      if (!t.error.empty()) {
        o += ",\n      \"error\": ";
        json_string(o, t.error);
      }
      if (!t.result_path.empty()) {
        o += ",\n      \"result_file\": ";
        json_string(o, t.result_path.string());
      }
      o += ",\n      \"metrics\": {\n";
      o += fmt::format("        \"total_requests\": {},\n", r.total_requests);
      o += fmt::format("        \"successful_requests\": {},\n", r.successful_requests);
      o += fmt::format("        \"failed_requests\": {},\n", r.failed_requests);
      const std::pair<const char*, double> figures[] = {
          {"duration", r.duration},
          {"requests_per_second", r.requests_per_second},
          {"error_rate", r.error_rate},
          {"avg_response_time", r.avg_response_time},
          {"p50_response_time", r.p50_response_time},
          {"p90_response_time", r.p90_response_time},
          {"p95_response_time", r.p95_response_time},
          {"p99_response_time", r.p99_response_time},
          {"max_response_time", r.max_response_time},
      };
      for (std::size_t k = 0; k < std::size(figures); ++k)
        o += fmt::format("        \"{}\": {}{}\n", figures[k].first, json_number(figures[k].second),
                         k + 1 < std::size(figures) ? "," : "");
      o += "      },\n      \"thresholds\": [";
      for (std::size_t k = 0; k < r.thresholds.size(); ++k) {
        const ThresholdResult& th = r.thresholds[k];
        o += k ? ",\n        {" : "\n        {";
        o += "\"expression\": ";
        json_string(o, th.expression);
        o += ", \"metric\": ";
        json_string(o, th.metric);
        if (!th.endpoint.empty()) {
          o += ", \"endpoint\": ";
          json_string(o, th.endpoint);
        }
        o += fmt::format(", \"observed\": {}, \"passed\": {}}}", json_number(th.observed), th.passed);
      }
      o += r.thresholds.empty() ? "]\n    }" : "\n      ]\n    }";
    }
    o += runs.empty() ? "]\n}\n" : "\n  ]\n}\n";
    return o;
  }

 private:
  struct Entry {
    std::string name;
    std::function<LoadTestResult()> run;
    std::vector<Threshold> thresholds;
  };

  void log_run(std::size_t index, const TestRun& run) const {
    if (!options_.log) return;
    const std::string head = fmt::format("[{}/{}] {}", index + 1, entries_.size(), run.name);
    if (!run.ran) {
      fmt::print(options_.log, "{}: NOT RUN ({})\n", head, run.error);
    } else {
      const auto& r = run.result;
      std::size_t failed = 0;
      for (const auto& t : r.thresholds) failed += t.passed ? 0 : 1;
      std::string verdict = run.passed ? "passed" : fmt::format("FAILED ({} of {} thresholds)", failed,
                                                                r.thresholds.size());
      fmt::print(options_.log, "{}: {} | {} requests, {:.2f}% errors, p95 {}\n", head, verdict, r.total_requests,
                 r.error_rate * 100, format_duration(from_seconds(r.p95_response_time)));
    }
    std::fflush(options_.log);
  }

  Options options_;
  std::vector<Entry> entries_;
  std::vector<TestRun> runs_;
  std::filesystem::path summary_path_, report_path_;
};

}  // namespace loadtest
