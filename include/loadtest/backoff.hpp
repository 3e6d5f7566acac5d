// loadtest: backoff policies, the BackoffPolicy slot.
//
// Every user holds its own copy of the policy (per-user state). After an action whose outcome
// triggers backoff (by default: errors), the engine asks `delay(attempt)` (attempt = 1 for the first
// consecutive trigger) and pauses that user; after a success it calls `reset()`.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>

#include "loadtest/time.hpp"

namespace loadtest {

/** A backoff policy.
 *
 *  A type `B` models `BackoffPolicy` when it is copyable (every user gets a copy) and, for `B b`:
 *  - `b.delay(attempt)` returns how long the user pauses after its `attempt`-th consecutive
 *    triggering outcome (`attempt` >= 1), as a `Duration`;
 *  - `b.reset()` forgets the streak (called after a success).
 *  Optional members the engine uses when present: `b.seed(std::uint64_t)` (per-user RNG seed, for
 *  jitter), `b.validate()` (throws std::invalid_argument), `b.cap()` (upper bound of a delay; a
 *  server's Retry-After is honoured up to it).
 */
template <class B>
concept BackoffPolicy = std::copy_constructible<B> && requires(B& b, unsigned attempt) {
  { b.delay(attempt) } -> std::convertible_to<Duration>;
  b.reset();
};

/** Never pause. */
struct NoBackoff {
  Duration delay(unsigned) const noexcept { return 0ns; }
  void reset() noexcept {}
};
static_assert(BackoffPolicy<NoBackoff>);

/** Pause a fixed time after each error: the original framework's 1 s. */
struct FixedBackoff {
  Duration interval = 1s;

  Duration delay(unsigned) const noexcept { return interval; }
  void reset() noexcept {}
  Duration cap() const noexcept { return interval; }
  void validate() const {
    if (interval < 0ns) throw std::invalid_argument("FixedBackoff: the interval must not be negative");
  }
};
static_assert(BackoffPolicy<FixedBackoff>);

/** Pause `step * attempt`, at most `max`. */
struct LinearBackoff {
  Duration step = 1s;
  Duration max = 30s;

  Duration delay(unsigned attempt) const noexcept { return std::min(max, step * static_cast<long>(attempt)); }
  void reset() noexcept {}
  Duration cap() const noexcept { return max; }
  void validate() const {
    if (step < 0ns || max < 0ns) throw std::invalid_argument("LinearBackoff: step and cap must not be negative");
  }
};
static_assert(BackoffPolicy<LinearBackoff>);

/** How an exponential backoff randomises its delays (the AWS Architecture Blog definitions). */
enum class Jitter : std::uint8_t {
  none,          ///< min(cap, base * factor^(attempt-1))
  full,          ///< uniform(0, that)
  equal,         ///< that/2 + uniform(0, that/2)
  decorrelated,  ///< min(cap, uniform(base, previous * 3)), starting from previous = base
};

/** Exponential backoff `min(cap, base * factor^(attempt-1))`, with optional jitter. */
struct ExponentialBackoff {
  Duration base = 100ms;
  Duration max = 30s;
  double factor = 2.0;
  Jitter jitter = Jitter::none;

  ExponentialBackoff() = default;
  ExponentialBackoff(Duration base_delay, Duration cap_delay, double growth = 2.0, Jitter j = Jitter::none)
      : base(base_delay), max(cap_delay), factor(growth), jitter(j) {}

  Duration delay(unsigned attempt) {
    double b = to_seconds(base), c = to_seconds(max);
    if (jitter == Jitter::decorrelated) {
      double prev = previous_ > 0 ? previous_ : b;
      double next = std::min(c, uniform(b, std::max(b, prev * 3)));
      previous_ = next;
      return from_seconds(next);
    }
    double exp = std::min(c, b * std::pow(factor, attempt == 0 ? 0.0 : static_cast<double>(attempt - 1)));
    switch (jitter) {
      case Jitter::full: exp = uniform(0, exp); break;
      case Jitter::equal: exp = exp / 2 + uniform(0, exp / 2); break;
      default: break;
    }
    return from_seconds(exp);
  }
  void reset() noexcept { previous_ = 0; }
  void seed(std::uint64_t s) { rng_.seed(s); }
  Duration cap() const noexcept { return max; }
  void validate() const {
    if (base <= 0ns) throw std::invalid_argument("ExponentialBackoff: base must be positive");
    if (max < base) throw std::invalid_argument("ExponentialBackoff: cap must be at least base");
    if (!(factor >= 1.0)) throw std::invalid_argument("ExponentialBackoff: factor must be at least 1");
  }

 private:
  double uniform(double lo, double hi) { return hi <= lo ? lo : std::uniform_real_distribution<double>(lo, hi)(rng_); }
  std::mt19937_64 rng_{0x5eed};
  double previous_ = 0;  // seconds; decorrelated jitter's recurrence
};
static_assert(BackoffPolicy<ExponentialBackoff>);

}  // namespace loadtest
