// loadtest: load patterns, the LoadPattern policy slot.
//
// A closed-model pattern says how many users should be active at time t; the engine follows it
// up and down. (The open model, where a pattern says how many arrivals per second are due, lives
// in rate.hpp.) Every pattern is a pure function of the time since the test started.
#pragma once

#include "loadtest/detail/config.hpp"

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "loadtest/detail/hooks.hpp"
#include "loadtest/time.hpp"

namespace loadtest {

/** A closed-model load pattern: how many users should be active at each moment.
 *
 *  A type `P` models `UsersPattern` when, for `const P p` and `Duration t` (time since the start):
 *  - `p.users_at(t)` returns the number of users that should be active at `t` (`std::size_t`);
 *  - `p.duration()` returns the length of the test (`Duration`); the test ends there;
 *  - `p.max_users()` returns an upper bound of `users_at` over the whole test (`std::size_t`).
 *  Optionally `p.validate()` throws `std::invalid_argument` for bad parameters; the engine calls it
 *  before anything starts.
 */
template <class P>
concept UsersPattern = std::copy_constructible<P> && requires(const P& p, Duration t) {
  { p.users_at(t) } -> std::convertible_to<std::size_t>;
  { p.duration() } -> std::convertible_to<Duration>;
  { p.max_users() } -> std::convertible_to<std::size_t>;
};

/** The most users any pattern may ask for (and the CLI's `--users` / `--max-users` accept):
 *  1,000,000. Every closed-model pattern's `validate()` refuses a larger `max_users()`. */
inline constexpr std::size_t max_users_limit = 1'000'000;

namespace detail {
[[noreturn]] inline void bad_pattern(const std::string& what) { throw std::invalid_argument(what); }

/** A user count from a shape's value: rounded, clamped to [0, max_users_limit] (NaN: 0). Never
 *  overflows, whatever the double. */
inline std::size_t to_users(double v) noexcept {
  if (!(v > 0)) return 0;
  if (v >= static_cast<double>(max_users_limit)) return max_users_limit;
  return static_cast<std::size_t>(std::llround(v));
}

/** Throws unless `users` is at most `max_users_limit`. */
inline void check_user_cap(const char* what, double users) {
  if (!(users <= static_cast<double>(max_users_limit))) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", users);
    bad_pattern(std::string(what) + ": " + buf + " users is more than the limit of 1000000");
  }
}

/** A staircase's value at `t`: start + k * increment in step k, optionally ramped over `ramp`. */
inline double step_shape(double start, double increment, Duration step_length, Duration ramp, Duration t) {
  auto k = static_cast<double>(t / step_length);
  double level = start + k * increment;
  if (k == 0 || ramp <= 0ns) return level;
  Duration into = t - step_length * static_cast<long>(k);
  if (into >= ramp) return level;
  return level - increment + increment * (to_seconds(into) / to_seconds(ramp));
}

/** A spike's value at `t`: base, rising linearly to peak at `at` over `rise`, holding, falling. */
inline double spike_shape(double base, double peak, Duration at, Duration rise, Duration hold, Duration fall,
                          Duration t) {
  if (t < at) return base;
  if (t < at + rise) return base + (peak - base) * (to_seconds(t - at) / to_seconds(rise));
  if (t < at + rise + hold) return peak;
  if (t < at + rise + hold + fall) return peak + (base - peak) * (to_seconds(t - at - rise - hold) / to_seconds(fall));
  return base;
}

inline void validate_spike(const char* what, Duration at, Duration rise, Duration hold, Duration fall,
                           Duration length) {
  if (length <= 0ns) bad_pattern(std::string(what) + ": duration must be positive");
  if (at < 0ns || rise < 0ns || hold < 0ns || fall < 0ns)
    bad_pattern(std::string(what) + ": at, rise, hold and fall must not be negative");
  if (to_seconds(length) > max_duration_seconds || to_seconds(at) + to_seconds(rise) + to_seconds(hold) + to_seconds(fall) > max_duration_seconds)
    bad_pattern(std::string(what) + ": durations must be at most 1e9 s");
  if (at + rise + hold + fall > length)
    bad_pattern(std::string(what) + ": the spike (at + rise + hold + fall) ends after the duration");
}

inline void validate_steps(const char* what, std::size_t steps, Duration step_length, Duration ramp) {
  if (steps == 0) bad_pattern(std::string(what) + ": steps must be at least 1");
  if (step_length <= 0ns) bad_pattern(std::string(what) + ": the step length must be positive");
  if (ramp < 0ns || ramp > step_length) bad_pattern(std::string(what) + ": ramp must be between 0 and the step length");
  if (to_seconds(step_length) * static_cast<double>(steps) > max_duration_seconds)
    bad_pattern(std::string(what) + ": steps * step length is longer than 1e9 s");
}
}  // namespace detail

/** All users active from the start to the end. */
struct ConstantUsers {
  std::size_t users = 10;
  Duration length = 60s;

  std::size_t users_at(Duration t) const noexcept { return t >= 0ns && t < length ? users : 0; }
  Duration duration() const noexcept { return length; }
  std::size_t max_users() const noexcept { return users; }
  void validate() const {
    if (users == 0) detail::bad_pattern("ConstantUsers: users must be at least 1");
    detail::check_user_cap("ConstantUsers", static_cast<double>(users));
    if (length <= 0ns) detail::bad_pattern("ConstantUsers: duration must be positive");
  }
};
static_assert(UsersPattern<ConstantUsers>);

/** Ramp up to `users`, hold, then optionally ramp down (the original framework's pattern).
 *
 *  During ramp-up the users start evenly spread: user `i` (from 0) starts at `i * ramp_up / users`,
 *  as the original's staggered start did. During ramp-down they leave evenly spread, the last one at
 *  the end. `RampUsers::over(users, duration, ramp_up)` builds one from a total duration.
 */
struct RampUsers {
  std::size_t users = 10;
  Duration ramp_up = 5s;
  Duration hold = 55s;
  Duration ramp_down = 0s;

  /** A ramp whose whole length (ramp-up + hold + ramp-down) is `total`. */
  static RampUsers over(std::size_t users, Duration total, Duration ramp_up, Duration ramp_down = 0s) {
    if (ramp_up + ramp_down > total)
      detail::bad_pattern("RampUsers: ramp-up (" + format_duration(ramp_up) + ") + ramp-down (" +
                          format_duration(ramp_down) + ") exceed the duration (" + format_duration(total) + ")");
    return RampUsers{users, ramp_up, total - ramp_up - ramp_down, ramp_down};
  }

  std::size_t users_at(Duration t) const noexcept {
    if (t < 0ns || t >= duration()) return 0;
    if (t < ramp_up) {
      // floor(t * users / ramp_up) + 1: user i is due at i * ramp_up / users
      auto started = static_cast<std::size_t>(static_cast<long double>(t.count()) * users / ramp_up.count()) + 1;
      return std::min(started, users);
    }
    Duration down_start = ramp_up + hold;
    if (t < down_start) return users;
    // users leave evenly: after k * ramp_down / users, k users have left
    auto left = static_cast<std::size_t>(static_cast<long double>((t - down_start).count()) * users /
                                         ramp_down.count());
    return left >= users ? 0 : users - left;
  }
  Duration duration() const noexcept { return ramp_up + hold + ramp_down; }
  std::size_t max_users() const noexcept { return users; }
  void validate() const {
    if (users == 0) detail::bad_pattern("RampUsers: users must be at least 1");
    detail::check_user_cap("RampUsers", static_cast<double>(users));
    if (ramp_up < 0ns || hold < 0ns || ramp_down < 0ns)
      detail::bad_pattern("RampUsers: ramp-up, hold and ramp-down must not be negative");
    if (to_seconds(ramp_up) + to_seconds(hold) + to_seconds(ramp_down) > max_duration_seconds)
      detail::bad_pattern("RampUsers: the total duration must be at most 1e9 s");
    if (duration() <= 0ns) detail::bad_pattern("RampUsers: the total duration must be positive");
  }
};
static_assert(UsersPattern<RampUsers>);

/** A staircase: `start` users, then `increment` more every `step_length`, `steps` times in all.
 *
 *  With `ramp` > 0 each increase is spread linearly over `ramp` at the start of its step instead of
 *  happening at once. The test lasts `steps * step_length`.
 */
struct StepUsers {
  std::size_t start = 10;
  std::size_t increment = 10;
  Duration step_length = 30s;
  std::size_t steps = 5;
  Duration ramp = 0s;

  std::size_t users_at(Duration t) const noexcept {
    if (t < 0ns || t >= duration()) return 0;
    double v = detail::step_shape(static_cast<double>(start), static_cast<double>(increment), step_length, ramp, t);
    return detail::to_users(v);
  }
  Duration duration() const noexcept { return step_length * static_cast<long>(steps); }
  std::size_t max_users() const noexcept {
    return detail::to_users(static_cast<double>(start) +
                            static_cast<double>(steps == 0 ? 0 : steps - 1) * static_cast<double>(increment));
  }
  void validate() const {
    detail::validate_steps("StepUsers", steps, step_length, ramp);
    detail::check_user_cap("StepUsers", static_cast<double>(start) +
                                            static_cast<double>(steps == 0 ? 0 : steps - 1) * static_cast<double>(increment));
    if (max_users() == 0) detail::bad_pattern("StepUsers: the pattern never has a user");
  }
};
static_assert(UsersPattern<StepUsers>);

/** A spike: `base` users, rising to `peak` at `at` over `rise`, holding `hold`, falling back over
 *  `fall`, then `base` again until `length`. */
struct SpikeUsers {
  std::size_t base = 10;
  std::size_t peak = 100;
  Duration at = 30s;
  Duration rise = 5s;
  Duration hold = 30s;
  Duration fall = 5s;
  Duration length = 120s;

  std::size_t users_at(Duration t) const noexcept {
    if (t < 0ns || t >= length) return 0;
    double v = detail::spike_shape(static_cast<double>(base), static_cast<double>(peak), at, rise, hold, fall, t);
    return detail::to_users(v);
  }
  Duration duration() const noexcept { return length; }
  std::size_t max_users() const noexcept { return std::max(base, peak); }
  void validate() const {
    detail::validate_spike("SpikeUsers", at, rise, hold, fall, length);
    detail::check_user_cap("SpikeUsers", static_cast<double>(max_users()));
    if (max_users() == 0) detail::bad_pattern("SpikeUsers: the pattern never has a user");
  }
};
static_assert(UsersPattern<SpikeUsers>);

/** Any function of time, `f(seconds since start) -> users`, clamped to `[0, max]`.
 *
 *  The sibling framework's custom `f(second) -> users`. Non-finite results count as 0.
 */
struct CustomUsers {
  std::function<double(double)> users;
  std::size_t max = 100;
  Duration length = 60s;

  std::size_t users_at(Duration t) const {
    if (t < 0ns || t >= length || !users) return 0;
    double v = users(to_seconds(t));
    if (!std::isfinite(v) || v <= 0) return 0;
    return std::min(max, detail::to_users(v));
  }
  Duration duration() const noexcept { return length; }
  std::size_t max_users() const noexcept { return max; }
  void validate() const {
    if (!users) detail::bad_pattern("CustomUsers: no function given");
    if (max == 0) detail::bad_pattern("CustomUsers: max must be at least 1");
    detail::check_user_cap("CustomUsers", static_cast<double>(max));
    if (to_seconds(length) > max_duration_seconds) detail::bad_pattern("CustomUsers: duration must be at most 1e9 s");
    if (length <= 0ns) detail::bad_pattern("CustomUsers: duration must be positive");
  }
};
static_assert(UsersPattern<CustomUsers>);

/** One segment of a stage list: move linearly to `target` over `length` (k6's stages). */
struct Stage {
  Duration length{};
  double target = 0;
};

namespace detail {
/** The value of a piecewise-linear stage list at `t`, starting from `initial`. */
inline double stages_value(const std::vector<Stage>& stages, double initial, Duration t) {
  double from = initial;
  Duration start{0};
  for (const Stage& s : stages) {
    if (t < start + s.length) return from + (s.target - from) * (to_seconds(t - start) / to_seconds(s.length));
    from = s.target;
    start += s.length;
  }
  return from;
}
// Saturates instead of overflowing the clock (validate_stages refuses more than 1e9 s; duration()
// may be asked first).
inline Duration stages_length(const std::vector<Stage>& stages) {
  Duration d{0};
  for (const Stage& s : stages) {
    if (s.length > Duration{0} && d > Duration::max() - s.length) return Duration::max();
    if (s.length < Duration{0} && d < Duration::min() - s.length) return Duration::min();
    d += s.length;
  }
  return d;
}
inline void validate_stages(const std::vector<Stage>& stages, double initial, const char* what) {
  if (stages.empty()) bad_pattern(std::string(what) + ": at least one stage is needed");
  if (!std::isfinite(initial) || initial < 0) bad_pattern(std::string(what) + ": the start value must be >= 0");
  for (std::size_t i = 0; i < stages.size(); ++i) {
    if (stages[i].length < 0ns)
      bad_pattern(std::string(what) + ": stage " + std::to_string(i + 1) + " has a negative duration");
    if (!std::isfinite(stages[i].target) || stages[i].target < 0)
      bad_pattern(std::string(what) + ": stage " + std::to_string(i + 1) + " has a negative target");
  }
  double total = 0;
  for (const Stage& s : stages) total += to_seconds(s.length);
  if (total > max_duration_seconds) bad_pattern(std::string(what) + ": the stages last longer than 1e9 s");
  if (stages_length(stages) <= 0ns) bad_pattern(std::string(what) + ": the stages last no time");
}
}  // namespace detail

/** A list of (duration, target users) segments with linear interpolation, like k6's stages.
 *
 *  Starts from `start_users` (default 0). A zero-length stage jumps. Ramp, step and spike shapes
 *  can all be written as stages; the command-line tool's `--stages` builds one.
 */
struct Stages {
  std::vector<Stage> stages;
  double start_users = 0;

  std::size_t users_at(Duration t) const {
    if (t < 0ns || t >= duration()) return 0;
    return detail::to_users(detail::stages_value(stages, start_users, t));
  }
  Duration duration() const { return detail::stages_length(stages); }
  std::size_t max_users() const {
    double m = start_users;
    for (const Stage& s : stages) m = std::max(m, s.target);
    return detail::to_users(m);
  }
  void validate() const {
    detail::validate_stages(stages, start_users, "Stages");
    double m = start_users;
    for (const Stage& s : stages) m = std::max(m, s.target);
    detail::check_user_cap("Stages", m);
    if (max_users() == 0) detail::bad_pattern("Stages: the pattern never has a user");
  }
};
static_assert(UsersPattern<Stages>);

}  // namespace loadtest
