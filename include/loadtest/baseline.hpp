// loadtest: baselines: compare a run with an earlier one and decide whether it regressed.
//
//   LoadTestResult before = result_from_json(read_file("baseline.json"));
//   auto deltas = loadtest::compare(before, result);
//   fmt::print("{}", loadtest::format_comparison(deltas));
//   if (loadtest::regressed(deltas, loadtest::parse_percentage("10%"))) return 99;
#pragma once

#include "loadtest/detail/config.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "loadtest/result.hpp"
#include "loadtest/text.hpp"
#include "loadtest/time.hpp"

namespace loadtest {

/** One metric of a run next to the same metric of a baseline run. */
struct Comparison {
  std::string metric;  ///< "rps", "p50", "p95", "p99" or "error_rate"
  double baseline = 0; ///< the earlier run's figure (requests/s, seconds, or 0..1)
  double current = 0;  ///< this run's figure
  /// Signed relative change, (current - baseline) / reference: +0.25 is 25 % more. The reference
  /// is the baseline, except for the error rate, where it is max(baseline, `error_rate_floor`).
  /// +/-infinity when a latency or the rate was 0 in the baseline and is not now.
  double change = 0;
  bool worse = false;  ///< higher latency or error rate, or lower requests/s
};

/** The error rate a relative change is measured against at least (1 percentage point): on a clean
 *  baseline (0 errors), 0.1 % errors now is a +10 % change, not an infinite one. */
inline constexpr double error_rate_floor = 0.01;

/** Compares `current` with `baseline`: requests/s, p50, p95, p99 and the error rate, in that
 *  order. Latencies and the error rate are worse when higher, requests/s when lower. */
inline std::vector<Comparison> compare(const LoadTestResult& baseline, const LoadTestResult& current) {
  auto relative = [](double before, double now, double floor) {
    const double reference = std::max(before, floor);
    if (reference > 0) return (now - before) / reference;
    if (now == before) return 0.0;
    return now > before ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  };
  auto row = [&](std::string metric, double before, double now, bool higher_is_worse, double floor = 0) {
    Comparison c;
    c.metric = std::move(metric);
    c.baseline = before;
    c.current = now;
    c.change = relative(before, now, floor);
    c.worse = higher_is_worse ? c.change > 0 : c.change < 0;
    return c;
  };
  return {
      row("rps", baseline.requests_per_second, current.requests_per_second, false),
      row("p50", baseline.p50_response_time, current.p50_response_time, true),
      row("p95", baseline.p95_response_time, current.p95_response_time, true),
      row("p99", baseline.p99_response_time, current.p99_response_time, true),
      row("error_rate", baseline.error_rate, current.error_rate, true, error_rate_floor),
  };
}

/** Whether a comparison is worse by more than `max_regression` (0.10: 10 %). */
inline bool regressed(const Comparison& c, double max_regression) noexcept {
  return c.worse && std::abs(c.change) > max_regression;
}

/** Whether any metric is worse by more than `max_regression` (0.10: 10 %; see
 *  `Comparison::change` for how the error rate is measured). Exactly at the limit is not a
 *  regression. Throws `std::invalid_argument` for a negative or non-finite limit. */
inline bool regressed(const std::vector<Comparison>& comparisons, double max_regression) {
  if (!std::isfinite(max_regression) || max_regression < 0)
    throw std::invalid_argument(fmt::format("max regression must be a non-negative fraction, not {}", max_regression));
  return std::any_of(comparisons.begin(), comparisons.end(),
                     [&](const Comparison& c) { return regressed(c, max_regression); });
}

/** A small aligned table, one row per comparison:
 *
 *      Metric         Baseline     Current    Change
 *      rps              1000.0       950.0     -5.0%  worse
 *      p95              12.0ms      11.0ms     -8.3%  better
 *      error_rate        0.10%       0.10%     +0.0%
 *
 *  With `max_regression`, rows worse by more than it say "REGRESSION" instead of "worse". */
inline std::string format_comparison(const std::vector<Comparison>& comparisons,
                                     std::optional<double> max_regression = std::nullopt) {
  auto figure = [](const Comparison& c, double v) -> std::string {
    if (c.metric == "rps") return fmt::format("{:.1f}", v);
    if (c.metric == "error_rate") return fmt::format("{:.2f}%", v * 100);
    return format_duration(from_seconds(v));
  };
  fmt::memory_buffer b;
  auto out = std::back_inserter(b);
  fmt::format_to(out, "  {:<12}{:>12}{:>12}{:>10}\n", "Metric", "Baseline", "Current", "Change");
  for (const auto& c : comparisons) {
    std::string change = std::isinf(c.change) ? (c.change > 0 ? "+inf" : "-inf")
                                              : fmt::format("{:+.1f}%", c.change * 100);
    std::string verdict;
    if (max_regression && regressed(c, *max_regression)) verdict = "REGRESSION";
    else if (c.worse) verdict = "worse";
    else if (c.change != 0) verdict = "better";
    std::string line = fmt::format("  {:<12}{:>12}{:>12}{:>10}  {}", c.metric, figure(c, c.baseline),
                                   figure(c, c.current), change, verdict);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    fmt::format_to(out, "{}\n", line);
  }
  return fmt::to_string(b);
}

/** Parses a fraction written as a percentage, "10%" (also "10 %" and "2.5%"), or as a fraction
 *  0..1, "0.1". Throws `std::invalid_argument` naming the text when it is empty, not a number,
 *  negative, or a bare number above 1 (ambiguous: write "10%" or "0.1"). */
inline double parse_percentage(std::string_view text) {
  auto fail = [&](std::string_view why) {
    return std::invalid_argument(fmt::format("invalid percentage '{}': {} (write e.g. 10% or 0.1)", text, why));
  };
  std::string_view s = text;
  auto trim = [](std::string_view& v) { v = text::trim_ows(v); };
  trim(s);
  if (s.empty()) throw fail("empty");
  const bool percent = s.back() == '%';
  if (percent) {
    s.remove_suffix(1);
    trim(s);
  }
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) throw fail("not a number");
  if (!std::isfinite(v) || v < 0) throw fail("must be a finite, non-negative number");
  if (percent) return v / 100;
  if (v > 1) throw fail("a bare number above 1 is ambiguous");
  return v;
}

}  // namespace loadtest
