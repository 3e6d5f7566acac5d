// loadtest: open-model load patterns (arrival rates).
//
// In the open model the pattern says how many arrivals per second are due; each arrival gets an
// intended start time from the schedule, independent of how fast the server answers, and its
// latency is measured from that time (coordinated omission corrected, as wrk2 does).
#pragma once

#include "loadtest/detail/config.hpp"

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "loadtest/pattern.hpp"

namespace loadtest {

/** An open-model load pattern.
 *
 *  A type `P` models `RatePattern` when, for `const P p` and `Duration t` (time since the start):
 *  - `p.rate_at(t)` returns the arrivals per second due at `t` (`double`, >= 0);
 *  - `p.duration()` returns the length of the test.
 *  Optionally `p.next_arrival(t, rng)` returns the intended time of the arrival after one at `t`
 *  (for random arrival processes; `rng` is a seeded std::mt19937_64), and `p.validate()` throws
 *  std::invalid_argument. Without `next_arrival`, arrivals are evenly spaced at the current rate.
 */
template <class P>
concept RatePattern = std::copy_constructible<P> && requires(const P& p, Duration t) {
  { p.rate_at(t) } -> std::convertible_to<double>;
  { p.duration() } -> std::convertible_to<Duration>;
};

/** Any load pattern: closed (users) or open (rate). */
template <class P>
concept LoadPattern = UsersPattern<P> || RatePattern<P>;

/** The lowest positive arrival rate a rate pattern may state: 1e-3 per second (one arrival in
 *  about 17 minutes). A rate value is 0 (where a shape may pause) or in [min_rate, max_rate]. */
inline constexpr double min_rate = 1e-3;
/** The highest arrival rate a rate pattern may state: 1e7 per second. */
inline constexpr double max_rate_limit = 1e7;

namespace detail {

/** `t + seconds`, or `end` when that is at or after `end` (no overflow for any `seconds`). */
inline Duration advance_or_end(Duration t, double seconds, Duration end) noexcept {
  if (!(seconds < to_seconds(end - t))) return end;
  return t + std::max<Duration>(1ns, from_seconds(seconds));
}

/** The intended time of the arrival after one at `t`, or `duration()` if there is none before it.
 *
 *  Deterministic patterns space arrivals so that the integral of the rate between two arrivals is
 *  one: the rate is integrated with the midpoint rule in steps of at most 1 ms (one exact step for a
 *  constant rate above 1000/s), so ramps starting from 0 and stretches at rate 0 come out right.
 */
template <class P>
Duration next_arrival(const P& p, Duration t, std::mt19937_64& rng) {
  const Duration end = p.duration();
  if constexpr (requires { p.next_arrival(t, rng); }) {
    return std::min<Duration>(p.next_arrival(t, rng), end);
  } else {
    double remaining = 1.0;  // arrivals' worth of rate still to integrate
    while (t < end) {
      double r0 = p.rate_at(t);
      Duration h = 1ms;
      if (r0 > 0 && std::isfinite(r0)) h = std::min<Duration>(h, std::max<Duration>(1ns, from_seconds(remaining / r0)));
      double mid = p.rate_at(t + h / 2);
      if (!(mid > 0) || !std::isfinite(mid)) mid = 0;
      double area = mid * to_seconds(h);
      if (area >= remaining && mid > 0) return advance_or_end(t, remaining / mid, end);
      remaining -= area;
      t += h;
    }
    return end;
  }
}

/** The first arrival: at the first millisecond where the rate is positive. */
template <class P>
Duration first_arrival(const P& p, std::mt19937_64&) {
  const Duration end = p.duration();
  for (Duration t{0}; t < end; t += 1ms) {
    double r = p.rate_at(t);
    if (r > 0 && std::isfinite(r)) return t;
  }
  return end;
}

/** Throws unless `r` is 0 or in [min_rate, max_rate_limit]. */
inline void validate_rate_value(const char* what, double r) {
  if (!std::isfinite(r) || r < 0) bad_pattern(std::string(what) + ": rates must be finite and >= 0");
  if (r != 0 && (r < min_rate || r > max_rate_limit)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", r);
    bad_pattern(std::string(what) + ": the rate " + buf + "/s is outside 0.001..1e7 per second");
  }
}

/** Throws unless the highest rate of a pattern lies in [min_rate, max_rate_limit]. */
inline void validate_peak_rate(const char* what, double r) {
  if (!(r > 0)) bad_pattern(std::string(what) + ": the rate is never above 0");
  validate_rate_value(what, r);
}

}  // namespace detail

/** `rate` arrivals per second for `length`. */
struct ConstantRate {
  double rate = 10;
  Duration length = 60s;

  double rate_at(Duration t) const noexcept { return t >= 0ns && t < length ? rate : 0; }
  Duration duration() const noexcept { return length; }
  double max_rate() const noexcept { return rate; }
  void validate() const {
    if (!(rate > 0) || !std::isfinite(rate)) detail::bad_pattern("ConstantRate: the rate must be a positive number");
    detail::validate_rate_value("ConstantRate", rate);
    if (length <= 0ns) detail::bad_pattern("ConstantRate: duration must be positive");
    if (to_seconds(length) > max_duration_seconds) detail::bad_pattern("ConstantRate: duration must be at most 1e9 s");
  }
};
static_assert(RatePattern<ConstantRate>);

/** Stages of rates with linear interpolation (k6's ramping-arrival-rate). */
struct RampingRate {
  std::vector<Stage> stages;  ///< target = arrivals per second
  double start_rate = 0;

  double rate_at(Duration t) const {
    if (t < 0ns || t >= duration()) return 0;
    return std::max(0.0, detail::stages_value(stages, start_rate, t));
  }
  Duration duration() const { return detail::stages_length(stages); }
  double max_rate() const {
    double m = start_rate;
    for (const Stage& s : stages) m = std::max(m, s.target);
    return m;
  }
  void validate() const {
    detail::validate_stages(stages, start_rate, "RampingRate");
    detail::validate_rate_value("RampingRate", start_rate);
    for (const Stage& s : stages) detail::validate_rate_value("RampingRate", s.target);
    detail::validate_peak_rate("RampingRate", max_rate());
  }
};
static_assert(RatePattern<RampingRate>);

/** A staircase of rates: `start`, then `increment` more every `step_length`, `steps` times. */
struct StepRate {
  double start = 10;
  double increment = 10;
  Duration step_length = 30s;
  std::size_t steps = 5;
  Duration ramp = 0s;

  double rate_at(Duration t) const noexcept {
    if (t < 0ns || t >= duration()) return 0;
    return std::max(0.0, detail::step_shape(start, increment, step_length, ramp, t));
  }
  Duration duration() const noexcept { return step_length * static_cast<long>(steps); }
  double max_rate() const noexcept { return std::max(start, start + static_cast<double>(steps ? steps - 1 : 0) * increment); }
  void validate() const {
    detail::validate_steps("StepRate", steps, step_length, ramp);
    detail::validate_rate_value("StepRate", start);
    if (!std::isfinite(increment)) detail::bad_pattern("StepRate: the increment must be finite");
    detail::validate_rate_value("StepRate", std::max(0.0, start + static_cast<double>(steps ? steps - 1 : 0) * increment));
    detail::validate_peak_rate("StepRate", max_rate());
  }
};
static_assert(RatePattern<StepRate>);

/** A spike of rates: `base`, rising to `peak` at `at` over `rise`, holding, falling back. */
struct SpikeRate {
  double base = 10;
  double peak = 100;
  Duration at = 30s;
  Duration rise = 5s;
  Duration hold = 30s;
  Duration fall = 5s;
  Duration length = 120s;

  double rate_at(Duration t) const noexcept {
    if (t < 0ns || t >= length) return 0;
    return std::max(0.0, detail::spike_shape(base, peak, at, rise, hold, fall, t));
  }
  Duration duration() const noexcept { return length; }
  double max_rate() const noexcept { return std::max(base, peak); }
  void validate() const {
    detail::validate_spike("SpikeRate", at, rise, hold, fall, length);
    detail::validate_rate_value("SpikeRate", base);
    detail::validate_rate_value("SpikeRate", peak);
    detail::validate_peak_rate("SpikeRate", max_rate());
  }
};
static_assert(RatePattern<SpikeRate>);

/** Any function of time, `f(seconds since start) -> arrivals per second`, clamped to `[0, max]`. */
struct CustomRate {
  std::function<double(double)> rate;
  double max = 1000;
  Duration length = 60s;

  double rate_at(Duration t) const {
    if (t < 0ns || t >= length || !rate) return 0;
    double v = rate(to_seconds(t));
    if (!std::isfinite(v) || v <= 0) return 0;
    return std::min(max, v);
  }
  Duration duration() const noexcept { return length; }
  double max_rate() const noexcept { return max; }
  void validate() const {
    if (!rate) detail::bad_pattern("CustomRate: no function given");
    if (!(max > 0) || !std::isfinite(max)) detail::bad_pattern("CustomRate: max must be a positive number");
    detail::validate_peak_rate("CustomRate", max);
    if (length <= 0ns) detail::bad_pattern("CustomRate: duration must be positive");
    if (to_seconds(length) > max_duration_seconds) detail::bad_pattern("CustomRate: duration must be at most 1e9 s");
  }
};
static_assert(RatePattern<CustomRate>);

/** Poisson arrivals at the rate of another pattern: exponential gaps with mean 1 / rate(t).
 *  The generator is the engine's, seeded from Config::seed, so runs are reproducible. */
template <RatePattern Inner = ConstantRate>
struct Poisson {
  Inner inner{};

  double rate_at(Duration t) const { return inner.rate_at(t); }
  Duration duration() const { return inner.duration(); }
  Duration next_arrival(Duration t, std::mt19937_64& rng) const {
    const Duration end = duration();
    while (t < end) {
      double r = rate_at(t);
      if (r > 0 && std::isfinite(r)) return detail::advance_or_end(t, std::exponential_distribution<double>(r)(rng), end);
      t += 1ms;
    }
    return end;
  }
  void validate() const { detail::validate_if_possible(inner); }
};
static_assert(RatePattern<Poisson<>>);

/** Poisson arrivals at a constant rate. */
using PoissonRate = Poisson<ConstantRate>;

}  // namespace loadtest
