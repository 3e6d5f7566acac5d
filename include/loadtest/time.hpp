// loadtest: the clock, durations and UTC labels.
#pragma once

#include "loadtest/detail/config.hpp"

#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

namespace loadtest {

/** The one clock every measurement uses. */
using Clock = std::chrono::steady_clock;
/** Durations are kept in nanoseconds. */
using Duration = std::chrono::nanoseconds;
/** Wall-clock time, only for labels (UTC). */
using WallClock = std::chrono::system_clock;

using namespace std::chrono_literals;

/** Seconds as a double, the unit results are reported in (like the original framework). */
constexpr double to_seconds(Duration d) noexcept { return std::chrono::duration<double>(d).count(); }

/** The longest duration a parsed or configured duration may have: 1e9 s (about 31.7 years).
 *  `Clock::now()` plus it still fits the clock (`Duration` holds about 292 years). */
inline constexpr double max_duration_seconds = 1e9;

/** A duration from (possibly fractional) seconds, rounded to the nearest nanosecond.
 *
 *  Saturates instead of overflowing: at or beyond the range of `Duration` (about +/-292 years) it
 *  returns `Duration::max()` / `Duration::min()`; NaN gives zero. Callers that add the result to a
 *  time point must compare in seconds first (see `rate.hpp`). */
constexpr Duration from_seconds(double s) noexcept {
  constexpr double limit = 9.2e9;  // seconds; Duration::max() is 9.223e9 s
  if (s != s) return Duration::zero();
  if (s >= limit) return Duration::max();
  if (s <= -limit) return Duration::min();
  return std::chrono::round<Duration>(std::chrono::duration<double>(s));
}

/** Parses a duration such as `500ms`, `30s`, `2m`, `1h`, `1.5s`, `250us` or `0`.
 *
 *  A bare number is seconds. Throws `std::invalid_argument` naming the text when it is not a
 *  finite, non-negative number followed by one of `ns`, `us`, `ms`, `s`, `m`/`min`, `h`, or when it is
 *  longer than `max_duration_seconds` (1e9 s).
 */
inline Duration parse_duration(std::string_view text) {
  auto bad = [&](const char* why) {
    return std::invalid_argument("invalid duration '" + std::string(text) + "': " + why +
                                 " (use e.g. 500ms, 30s, 2m, 1h)");
  };
  if (text.empty()) throw bad("empty");
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end == text.data()) throw bad("not a number");
  if (!std::isfinite(value) || value < 0) throw bad("must be a finite, non-negative number");
  std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  double scale = 0;
  if (unit.empty() || unit == "s") scale = 1;
  else if (unit == "ms") scale = 1e-3;
  else if (unit == "us") scale = 1e-6;
  else if (unit == "ns") scale = 1e-9;
  else if (unit == "m" || unit == "min") scale = 60;
  else if (unit == "h") scale = 3600;
  else throw bad("unknown unit");
  double seconds = value * scale;
  if (seconds > max_duration_seconds) throw bad("too long (at most 1e9 s)");
  return from_seconds(seconds);
}

/** A short human form of a duration: `850us`, `12.3ms`, `4.20s`, `2m05s`. */
inline std::string format_duration(Duration d) {
  char buf[32];
  double s = to_seconds(d);
  if (s < 0) s = 0;
  if (s < 1e-3) std::snprintf(buf, sizeof buf, "%.0fus", s * 1e6);
  else if (s < 1) std::snprintf(buf, sizeof buf, "%.1fms", s * 1e3);
  else if (s < 60) std::snprintf(buf, sizeof buf, "%.2fs", s);
  else {
    auto whole = static_cast<long long>(s);
    if (whole < 3600) std::snprintf(buf, sizeof buf, "%lldm%02llds", whole / 60, whole % 60);
    else std::snprintf(buf, sizeof buf, "%lldh%02lldm", whole / 3600, (whole % 3600) / 60);
  }
  return buf;
}

namespace detail {
inline std::tm utc_tm(WallClock::time_point tp) {
  std::time_t t = WallClock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm;
}
}  // namespace detail

/** ISO 8601 UTC with microseconds, e.g. `2026-11-29T12:03:04.123456Z`. */
inline std::string iso8601_utc(WallClock::time_point tp) {
  std::tm tm = detail::utc_tm(tp);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(tp.time_since_epoch()).count() % 1000000;
  if (us < 0) us += 1000000;
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(us));
  return buf;
}

/** The compact UTC stamp used in result file names: `YYYYmmdd_HHMMSS`. */
inline std::string file_stamp_utc(WallClock::time_point tp) {
  std::tm tm = detail::utc_tm(tp);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d_%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

}  // namespace loadtest
