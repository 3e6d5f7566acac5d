// loadtest: thresholds: k6-like pass/fail criteria for CI.
//
// An expression names a metric, an operator and a value, optionally for one endpoint:
//
//   p(99)<200ms   p(95)<=0.3s   avg<50ms   med<20ms   max<2s   error_rate<0.01   error_rate<1%
//   success_rate>0.99   rps>1000   requests>=100   failed==0   GET /items: p(95)<300ms
//   dropped==0   late<10   lag_p99<1ms   service_p(99)<100ms          (the last four: open model)
//
// It is parsed once into a small typed form (`Threshold`), evaluated against the final result
// (`evaluate`) and, where the snapshot has the figure, during the run (`observe_live` + `holds`).
#pragma once

#include "loadtest/detail/config.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "loadtest/histogram.hpp"
#include "loadtest/result.hpp"
#include "loadtest/text.hpp"
#include "loadtest/time.hpp"

namespace loadtest {

/** What a threshold measures. */
enum class ThresholdMetric : std::uint8_t {
  response_time,  ///< a statistic of the response time (`p(N)`, `avg`, `med`, `min`, `max`)
  service_time,   ///< open model: send -> receive (`service_p(N)`, `service_avg`, ...)
  schedule_lag,   ///< open model: intended -> actual start (`lag_p50`, `lag_p99`, `lag_max`)
  error_rate,     ///< failed / total, 0..1
  success_rate,   ///< successful / total, 0..1
  rps,            ///< requests per second over the whole test
  requests,       ///< number of requests
  failed,         ///< number of failed requests (failures + errors)
  dropped,        ///< open model: arrivals that found no user
  late,           ///< open model: arrivals started more than 1 ms late
};

/** Which statistic of a time metric. `med` is `percentile` 50. */
enum class ThresholdStatistic : std::uint8_t { percentile, avg, min, max };

/** The comparison of a threshold: `observed OP value` must hold. */
enum class ThresholdOp : std::uint8_t { lt, le, gt, ge, eq, ne };

/** A parsed threshold expression (see `parse_threshold`). */
struct Threshold {
  std::string expression;  ///< the text as given, surrounding blanks removed
  std::string endpoint;    ///< empty: the whole test
  ThresholdMetric metric = ThresholdMetric::response_time;
  ThresholdStatistic statistic = ThresholdStatistic::percentile;  ///< time metrics only
  double percentile = 0;   ///< 0 < percentile <= 100 for `ThresholdStatistic::percentile`
  ThresholdOp op = ThresholdOp::lt;
  /// Seconds for time metrics, 0..1 for rates, requests/s for rps, a count otherwise.
  double value = 0;
};

/** The operator as written: "<", "<=", ">", ">=", "==", "!=". */
constexpr std::string_view to_string(ThresholdOp op) noexcept {
  switch (op) {
    case ThresholdOp::lt: return "<";
    case ThresholdOp::le: return "<=";
    case ThresholdOp::gt: return ">";
    case ThresholdOp::ge: return ">=";
    case ThresholdOp::eq: return "==";
    case ThresholdOp::ne: return "!=";
  }
  return "<";
}

/** Whether a metric is a duration (its values are seconds). */
constexpr bool is_time_metric(ThresholdMetric m) noexcept {
  return m == ThresholdMetric::response_time || m == ThresholdMetric::service_time ||
         m == ThresholdMetric::schedule_lag;
}

/** Whether a metric only exists in the open model (arrival-rate patterns). */
constexpr bool is_open_model_metric(ThresholdMetric m) noexcept {
  return m == ThresholdMetric::service_time || m == ThresholdMetric::schedule_lag ||
         m == ThresholdMetric::dropped || m == ThresholdMetric::late;
}

namespace detail {

// A percentile as written in metric names: 95 -> "95", 99.9 -> "99.9".
inline std::string percentile_text(double p) { return fmt::format("{}", p); }

using text::trim;

// The percentiles a LatencySummary keeps (and so the only ones known per endpoint, for the
// service time and after a result was read back from JSON).
inline std::optional<double> summary_percentile(const LatencySummary& l, double p) {
  if (p == 50) return l.p50;
  if (p == 90) return l.p90;
  if (p == 95) return l.p95;
  if (p == 99) return l.p99;
  if (p == 99.9) return l.p999;
  if (p == 100) return l.max;
  return std::nullopt;
}
inline bool is_summary_percentile(double p) { return summary_percentile(LatencySummary{}, p).has_value(); }

inline double nan() noexcept { return std::numeric_limits<double>::quiet_NaN(); }

// The statistic of a summary, NaN for a percentile it does not keep.
inline double statistic_of(const LatencySummary& l, ThresholdStatistic s, double p) {
  switch (s) {
    case ThresholdStatistic::avg: return l.avg;
    case ThresholdStatistic::min: return l.min;
    case ThresholdStatistic::max: return l.max;
    case ThresholdStatistic::percentile: return summary_percentile(l, p).value_or(nan());
  }
  return nan();
}

// Seconds in the largest unit that keeps it readable: 0.3 -> "300ms", 1.5 -> "1.5s".
inline std::string duration_text(double seconds) {
  const double ns = std::round(seconds * 1e9);
  if (ns == 0) return "0s";
  if (ns >= 1e9) return fmt::format("{}s", ns / 1e9);
  if (ns >= 1e6) return fmt::format("{}ms", ns / 1e6);
  if (ns >= 1e3) return fmt::format("{}us", ns / 1e3);
  return fmt::format("{}ns", ns);
}

// Parses the metric at the start of `s` (blanks before it skipped) and advances `s` past it.
// Returns false, leaving `s` alone, if no metric name starts there; throws (via `fail`) when a
// metric name does start there but its percentile is malformed.
template <class Fail>
bool parse_metric(std::string_view& s, Threshold& t, Fail&& fail) {
  std::string_view in = trim(s);
  // the longest identifier [a-z_0-9.]
  std::size_t n = 0;
  while (n < in.size() && ((in[n] >= 'a' && in[n] <= 'z') || in[n] == '_' || (in[n] >= '0' && in[n] <= '9') ||
                           in[n] == '.'))
    ++n;
  std::string_view word = in.substr(0, n);
  std::string_view rest = in.substr(n);

  auto take_percentile = [&](std::string_view digits, std::string_view written) {
    double p = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || !std::isfinite(p))
      fail(fmt::format("bad percentile '{}' (write e.g. p(95) or p(99.9))", written));
    if (!(p > 0 && p <= 100)) fail(fmt::format("percentile '{}' must be in (0, 100]", written));
    t.statistic = ThresholdStatistic::percentile;
    t.percentile = p;
  };
  // "p(N)" right after `prefix` ("p" or "service_p"); `word` ended before the '('.
  auto take_call = [&]() {
    std::size_t close = rest.find(')');
    if (close == std::string_view::npos)
      fail(fmt::format("missing ')' after '{}{}'", word, rest.substr(0, std::min<std::size_t>(rest.size(), 12))));
    std::string_view inside = trim(rest.substr(1, close - 1));
    take_percentile(inside, std::string(word) + std::string(rest.substr(0, close + 1)));
    rest.remove_prefix(close + 1);
  };

  auto time_statistic = [&](std::string_view name) -> bool {  // avg, med, min, max
    if (name == "avg") t.statistic = ThresholdStatistic::avg;
    else if (name == "min") t.statistic = ThresholdStatistic::min;
    else if (name == "max") t.statistic = ThresholdStatistic::max;
    else if (name == "med") {
      t.statistic = ThresholdStatistic::percentile;
      t.percentile = 50;
    } else return false;
    return true;
  };

  bool call = !rest.empty() && rest.front() == '(';
  if (word == "p" && call) {
    t.metric = ThresholdMetric::response_time;
    take_call();
  } else if (word == "service_p" && call) {
    t.metric = ThresholdMetric::service_time;
    take_call();
  } else if (call) {
    return false;
  } else if (time_statistic(word)) {
    t.metric = ThresholdMetric::response_time;
  } else if (word.size() > 1 && word[0] == 'p' && word[1] >= '0' && word[1] <= '9') {
    t.metric = ThresholdMetric::response_time;  // p95, p99.9: shorthand for p(95), p(99.9)
    take_percentile(word.substr(1), word);
  } else if (word.starts_with("service_")) {
    std::string_view stat = word.substr(8);
    t.metric = ThresholdMetric::service_time;
    if (!time_statistic(stat)) {
      if (stat.size() < 2 || stat[0] != 'p') return false;
      take_percentile(stat.substr(1), word);
    }
  } else if (word == "lag_p50" || word == "lag_p99" || word == "lag_max" || word == "lag_med") {
    t.metric = ThresholdMetric::schedule_lag;
    if (word == "lag_max") t.statistic = ThresholdStatistic::max;
    else {
      t.statistic = ThresholdStatistic::percentile;
      t.percentile = word == "lag_p99" ? 99 : 50;
    }
  } else if (word == "error_rate") t.metric = ThresholdMetric::error_rate;
  else if (word == "success_rate") t.metric = ThresholdMetric::success_rate;
  else if (word == "rps") t.metric = ThresholdMetric::rps;
  else if (word == "requests") t.metric = ThresholdMetric::requests;
  else if (word == "failed") t.metric = ThresholdMetric::failed;
  else if (word == "dropped") t.metric = ThresholdMetric::dropped;
  else if (word == "late") t.metric = ThresholdMetric::late;
  else return false;
  s = rest;
  return true;
}

// Whether a metric name starts at `s` (used to find the endpoint separator).
inline bool starts_with_metric(std::string_view s) {
  Threshold scratch;
  try {
    return parse_metric(s, scratch, [](const std::string& why) { throw std::invalid_argument(why); });
  } catch (const std::invalid_argument&) {
    return true;  // a metric name with a malformed percentile is still a metric name
  }
}

}  // namespace detail

/** The normalised name of a threshold's metric, as `ThresholdResult::metric` carries it:
 *  "p(95)", "p(99.9)", "avg", "min", "max", "service_p(99)", "service_avg", "lag_p50",
 *  "lag_p99", "lag_max", "error_rate", "success_rate", "rps", "requests", "failed", "dropped",
 *  "late". (`med` is "p(50)".) */
inline std::string metric_name(const Threshold& t) {
  auto stat = [&](std::string_view prefix) -> std::string {
    switch (t.statistic) {
      case ThresholdStatistic::avg: return std::string(prefix) + "avg";
      case ThresholdStatistic::min: return std::string(prefix) + "min";
      case ThresholdStatistic::max: return std::string(prefix) + "max";
      case ThresholdStatistic::percentile: return fmt::format("{}p({})", prefix, detail::percentile_text(t.percentile));
    }
    return "";
  };
  switch (t.metric) {
    case ThresholdMetric::response_time: return stat("");
    case ThresholdMetric::service_time: return stat("service_");
    case ThresholdMetric::schedule_lag:
      if (t.statistic == ThresholdStatistic::max) return "lag_max";
      return t.percentile == 99 ? "lag_p99" : "lag_p50";
    case ThresholdMetric::error_rate: return "error_rate";
    case ThresholdMetric::success_rate: return "success_rate";
    case ThresholdMetric::rps: return "rps";
    case ThresholdMetric::requests: return "requests";
    case ThresholdMetric::failed: return "failed";
    case ThresholdMetric::dropped: return "dropped";
    case ThresholdMetric::late: return "late";
  }
  return "";
}

/** Parses a threshold expression: `[ENDPOINT ": "] METRIC OP VALUE`.
 *
 *  - METRIC: `p(N)` (also `pN`, 0 < N <= 100), `avg`, `med`, `min`, `max` (response time),
 *    `error_rate`, `success_rate`, `rps`, `requests`, `failed`; open model only: `dropped`,
 *    `late`, `lag_p50`, `lag_p99`, `lag_max`, and the service time `service_p(N)` (also
 *    `service_pN`), `service_avg`, `service_med`, `service_min`, `service_max`.
 *  - OP: `<`, `<=`, `>`, `>=`, `==`, `!=`; blanks around it are allowed.
 *  - VALUE: for times a duration with unit `ns`, `us`, `ms`, `s`, `m`, `h` (a bare number is
 *    seconds); for `error_rate`/`success_rate` a fraction 0..1 or a percentage `0%`..`100%`;
 *    otherwise a plain non-negative number.
 *  - ENDPOINT: everything before the last ": " that is followed by a metric name, e.g.
 *    `GET /items: p(95)<300ms`. Per endpoint only the response time (percentiles 50, 90, 95, 99,
 *    99.9, 100), `error_rate`, `success_rate`, `rps`, `requests` and `failed` exist.
 *  The service time has the percentiles 50, 90, 95, 99, 99.9 and 100 only.
 *
 *  Throws `std::invalid_argument("invalid threshold 'EXPR': WHAT")`, WHAT naming the bad part.
 */
inline Threshold parse_threshold(std::string_view text) {
  const std::string_view expr = detail::trim(text);
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument(fmt::format("invalid threshold '{}': {}", expr, why));
  };
  if (expr.empty()) fail("empty expression (write e.g. p(95)<300ms)");

  Threshold t;
  t.expression = std::string(expr);
  std::string_view body = expr;
  // The endpoint: before the last ": " that a metric name follows.
  constexpr auto none = std::string_view::npos;
  for (std::size_t at = expr.rfind(": "); at != none; at = at == 0 ? none : expr.rfind(": ", at - 1)) {
    if (detail::starts_with_metric(expr.substr(at + 2))) {
      std::string_view endpoint = detail::trim(expr.substr(0, at));
      if (endpoint.empty()) fail("empty endpoint name before ':'");
      t.endpoint = std::string(endpoint);
      body = expr.substr(at + 2);
      break;
    }
  }

  std::string_view rest = body;
  if (!detail::parse_metric(rest, t, fail)) {
    std::string_view s = detail::trim(body);
    if (t.endpoint.empty() && s.rfind(": ") != std::string_view::npos)
      s = detail::trim(s.substr(s.rfind(": ") + 2));  // "GET /items: latency<1s": name "latency"
    std::size_t end = s.find_first_of("<>=! \t(");
    std::string_view word = s.substr(0, end);
    if (word.empty()) fail("missing metric before the operator");
    fail(fmt::format("unknown metric '{}' (use p(N), avg, med, min, max, error_rate, success_rate, rps, "
                     "requests, failed, dropped, late, lag_p50, lag_p99, lag_max or service_p(N))",
                     word));
  }
  const std::string metric = metric_name(t);

  if (!t.endpoint.empty()) {
    if (is_open_model_metric(t.metric))
      fail(fmt::format("'{}' exists for the whole test only, not per endpoint ('{}')", metric, t.endpoint));
    if (t.metric == ThresholdMetric::response_time && t.statistic == ThresholdStatistic::percentile &&
        !detail::is_summary_percentile(t.percentile))
      fail(fmt::format("per endpoint only p(50), p(90), p(95), p(99), p(99.9) and p(100) are kept, not '{}'", metric));
  }
  if (t.metric == ThresholdMetric::service_time && t.statistic == ThresholdStatistic::percentile &&
      !detail::is_summary_percentile(t.percentile))
    fail(fmt::format("the service time keeps p(50), p(90), p(95), p(99), p(99.9) and p(100) only, not '{}'", metric));

  // The operator.
  rest = detail::trim(rest);
  auto starts = [&](std::string_view op) { return rest.substr(0, op.size()) == op; };
  if (starts("<=")) t.op = ThresholdOp::le, rest.remove_prefix(2);
  else if (starts(">=")) t.op = ThresholdOp::ge, rest.remove_prefix(2);
  else if (starts("==")) t.op = ThresholdOp::eq, rest.remove_prefix(2);
  else if (starts("!=")) t.op = ThresholdOp::ne, rest.remove_prefix(2);
  else if (starts("<")) t.op = ThresholdOp::lt, rest.remove_prefix(1);
  else if (starts(">")) t.op = ThresholdOp::gt, rest.remove_prefix(1);
  else if (starts("=")) fail("unknown operator '=' (use == to compare for equality)");
  else if (rest.empty()) fail(fmt::format("missing operator after '{}' (use <, <=, >, >=, == or !=)", metric));
  else fail(fmt::format("expected an operator (<, <=, >, >=, ==, !=) after '{}', found '{}'", metric, rest));
  const std::string op(to_string(t.op));
  if (!rest.empty() && (rest.front() == '=' || rest.front() == '<' || rest.front() == '>'))
    fail(fmt::format("unknown operator '{}{}'", op, rest.front()));

  // The value.
  std::string_view value = detail::trim(rest);
  if (value.empty()) fail(fmt::format("missing value after '{}'", op));
  if (is_time_metric(t.metric)) {
    if (value.front() == '-') fail(fmt::format("negative duration '{}'", value));
    try {
      t.value = to_seconds(parse_duration(value));
    } catch (const std::invalid_argument&) {
      fail(fmt::format("bad duration '{}' for '{}' (use e.g. 200ms, 0.3s, 500us, 1m; a bare number is seconds)",
                       value, metric));
    }
    return t;
  }
  const bool rate = t.metric == ThresholdMetric::error_rate || t.metric == ThresholdMetric::success_rate;
  std::string_view number = value;
  bool percent = false;
  if (number.back() == '%') {
    if (!rate) fail(fmt::format("'%' is only for error_rate and success_rate, not for '{}' ('{}')", metric, value));
    percent = true;
    number = detail::trim(number.substr(0, number.size() - 1));
  }
  double v = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
  if (number.empty() || ec != std::errc{} || end == number.data())
    fail(fmt::format("bad value '{}': not a number", value));
  if (end != number.data() + number.size()) {
    std::string_view suffix(end, static_cast<std::size_t>(number.data() + number.size() - end));
    fail(fmt::format("bad value '{}': unexpected '{}' ('{}' takes a plain number{})", value, suffix, metric,
                     rate ? " or a percentage" : ""));
  }
  if (!std::isfinite(v) || v < 0) fail(fmt::format("bad value '{}': must be a finite, non-negative number", value));
  if (percent) v /= 100;
  if (rate && v > 1)
    fail(fmt::format("bad value '{}': '{}' is a fraction between 0 and 1 (or 0% to 100%)", value, metric));
  t.value = v;
  return t;
}

/** Parses several expressions (see `parse_threshold`); throws at the first bad one. */
inline std::vector<Threshold> parse_thresholds(const std::vector<std::string>& expressions) {
  std::vector<Threshold> out;
  out.reserve(expressions.size());
  for (const auto& e : expressions) out.push_back(parse_threshold(e));
  return out;
}

/** The normalised text of a threshold: no blanks, durations in their largest fitting unit,
 *  rates as fractions, e.g. `GET /items: p(95)<300ms`, `error_rate<0.01`. Parses back to the
 *  same threshold. */
inline std::string describe(const Threshold& t) {
  std::string value;
  if (is_time_metric(t.metric)) value = detail::duration_text(t.value);
  else value = fmt::format("{}", t.value);
  std::string out = t.endpoint.empty() ? std::string() : t.endpoint + ": ";
  return out + metric_name(t) + std::string(to_string(t.op)) + value;
}

/** Whether `observed OP value` holds. NaN (no such figure) never holds. */
inline bool holds(const Threshold& t, double observed) noexcept {
  if (std::isnan(observed)) return false;
  switch (t.op) {
    case ThresholdOp::lt: return observed < t.value;
    case ThresholdOp::le: return observed <= t.value;
    case ThresholdOp::gt: return observed > t.value;
    case ThresholdOp::ge: return observed >= t.value;
    case ThresholdOp::eq: return observed == t.value;
    case ThresholdOp::ne: return observed != t.value;
  }
  return false;
}

/** The figure a threshold compares, from a final result; NaN when the result has no such figure:
 *  an endpoint the result does not list, an open-model metric of a closed-model result, or a
 *  percentile the result does not keep (any `p(N)` is exact while `response_histogram` is set;
 *  a result read back from JSON keeps p(50), p(90), p(95), p(99), p(99.9) and the max only). */
inline double observe(const Threshold& t, const LoadTestResult& r) {
  if (!t.endpoint.empty()) {
    auto it = std::find_if(r.endpoints.begin(), r.endpoints.end(), [&](const auto& e) { return e.name == t.endpoint; });
    if (it == r.endpoints.end()) return detail::nan();
    const EndpointResult& e = *it;
    const double total = static_cast<double>(e.total_requests);
    switch (t.metric) {
      case ThresholdMetric::response_time: return detail::statistic_of(e.response_time, t.statistic, t.percentile);
      case ThresholdMetric::error_rate: return total > 0 ? static_cast<double>(e.failed_requests) / total : 0.0;
      case ThresholdMetric::success_rate: return total > 0 ? static_cast<double>(e.successful_requests) / total : 0.0;
      case ThresholdMetric::rps: return e.requests_per_second;
      case ThresholdMetric::requests: return total;
      case ThresholdMetric::failed: return static_cast<double>(e.failed_requests);
      default: return detail::nan();  // rejected by the parser
    }
  }
  switch (t.metric) {
    case ThresholdMetric::response_time: {
      const LatencySummary l = r.response_time();
      double v = detail::statistic_of(l, t.statistic, t.percentile);
      if (std::isnan(v) && r.response_histogram)
        v = to_seconds(r.response_histogram->value_at_percentile(t.percentile));
      return v;
    }
    case ThresholdMetric::service_time:
      return r.service_time ? detail::statistic_of(*r.service_time, t.statistic, t.percentile) : detail::nan();
    case ThresholdMetric::schedule_lag:
      if (!r.schedule) return detail::nan();
      if (t.statistic == ThresholdStatistic::max) return r.schedule->lag_max;
      return t.percentile == 99 ? r.schedule->lag_p99 : r.schedule->lag_p50;
    case ThresholdMetric::error_rate: return r.error_rate;
    case ThresholdMetric::success_rate: return r.success_rate;
    case ThresholdMetric::rps: return r.requests_per_second;
    case ThresholdMetric::requests: return static_cast<double>(r.total_requests);
    case ThresholdMetric::failed: return static_cast<double>(r.failed_requests);
    case ThresholdMetric::dropped: return r.schedule ? static_cast<double>(r.schedule->dropped) : detail::nan();
    case ThresholdMetric::late: return r.schedule ? static_cast<double>(r.schedule->late) : detail::nan();
  }
  return detail::nan();
}

/** Evaluates a threshold against a final result: `observed` as `observe` gives it, `passed` as
 *  `holds` says. A figure the result does not have (NaN, see `observe`) fails the threshold, so
 *  a misspelt endpoint or an open-model threshold on a closed-model test never passes silently. */
inline ThresholdResult evaluate(const Threshold& t, const LoadTestResult& r) {
  ThresholdResult out;
  out.expression = t.expression.empty() ? describe(t) : t.expression;
  out.metric = metric_name(t);
  out.observed = observe(t, r);
  out.passed = holds(t, out.observed);
  out.endpoint = t.endpoint;
  return out;
}

/** Evaluates every threshold (in order). */
inline std::vector<ThresholdResult> evaluate(const std::vector<Threshold>& thresholds, const LoadTestResult& r) {
  std::vector<ThresholdResult> out;
  out.reserve(thresholds.size());
  for (const auto& t : thresholds) out.push_back(evaluate(t, r));
  return out;
}

/** Whether every verdict passed (true for none). */
inline bool all_passed(const std::vector<ThresholdResult>& results) noexcept {
  return std::all_of(results.begin(), results.end(), [](const auto& x) { return x.passed; });
}

/** The figure a threshold compares, from a live snapshot, or nullopt when the snapshot cannot
 *  tell yet:
 *  - `error_rate`, `success_rate`: from the totals since the start (nullopt before the first
 *    request); `rps`: total requests / elapsed;
 *  - `p(50)`/`med`, `p(95)`, `p(99)`, `avg`: over the last interval (nullopt when it had no
 *    requests); other percentiles, `min`, `max` and the service time: nullopt;
 *  - `failed`, `dropped`, `late`, `requests`: the totals so far; but as these only grow, a lower
 *    bound on them (`>`, `>=`) cannot fail before the end and gives nullopt;
 *  - `lag_p50`, `lag_p99`, `lag_max`: since the start (open model);
 *  - per-endpoint thresholds: nullopt.
 */
inline std::optional<double> observe_live(const Threshold& t, const RealTimeMetrics& m) {
  if (!t.endpoint.empty()) return std::nullopt;
  const bool lower_bound = t.op == ThresholdOp::gt || t.op == ThresholdOp::ge;
  auto count = [&](std::uint64_t n) -> std::optional<double> {
    if (lower_bound) return std::nullopt;
    return static_cast<double>(n);
  };
  switch (t.metric) {
    case ThresholdMetric::response_time:
      if (m.interval_requests == 0) return std::nullopt;
      if (t.statistic == ThresholdStatistic::avg) return m.avg_response_time;
      if (t.statistic != ThresholdStatistic::percentile) return std::nullopt;
      if (t.percentile == 50) return m.p50_response_time;
      if (t.percentile == 95) return m.p95_response_time;
      if (t.percentile == 99) return m.p99_response_time;
      return std::nullopt;
    case ThresholdMetric::service_time: return std::nullopt;
    case ThresholdMetric::schedule_lag:
      if (!m.schedule) return std::nullopt;
      if (t.statistic == ThresholdStatistic::max) return m.schedule->lag_max;
      return t.percentile == 99 ? m.schedule->lag_p99 : m.schedule->lag_p50;
    case ThresholdMetric::error_rate:
    case ThresholdMetric::success_rate: {
      if (m.total_requests == 0) return std::nullopt;
      const double e = static_cast<double>(m.total_errors) / static_cast<double>(m.total_requests);
      return t.metric == ThresholdMetric::error_rate ? e : 1.0 - e;
    }
    case ThresholdMetric::rps:
      if (!(m.elapsed > 0)) return std::nullopt;
      return static_cast<double>(m.total_requests) / m.elapsed;
    case ThresholdMetric::requests: return count(m.total_requests);
    case ThresholdMetric::failed: return count(m.total_errors);
    case ThresholdMetric::dropped:
      if (!m.schedule) return std::nullopt;
      return count(m.schedule->dropped);
    case ThresholdMetric::late:
      if (!m.schedule) return std::nullopt;
      return count(m.schedule->late);
  }
  return std::nullopt;
}

/** An observed figure for people: durations as `format_duration` writes them ("12.3ms"), rates
 *  as percentages ("1.25%"), rps with one decimal ("1523.4/s"), counts as integers, "n/a" for
 *  NaN. `metric` is a `ThresholdResult::metric` (`metric_name`). */
inline std::string format_observed(std::string_view metric, double observed) {
  if (std::isnan(observed)) return "n/a";
  const bool time = metric.starts_with("p(") || metric.starts_with("service_") || metric.starts_with("lag_") ||
                    metric == "avg" || metric == "min" || metric == "max" || metric == "med";
  if (time) return format_duration(from_seconds(observed));
  if (metric == "error_rate" || metric == "success_rate") return fmt::format("{:.2f}%", observed * 100);
  if (metric == "rps") return fmt::format("{:.1f}/s", observed);
  return fmt::format("{:.0f}", observed);
}

}  // namespace loadtest
