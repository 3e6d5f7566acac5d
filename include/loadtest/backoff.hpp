// loadtest: backoff policies, the BackoffPolicy slot.
//
// Every user holds its own copy of the policy (per-user state). After an action whose outcome
// triggers backoff (by default: errors; see Config::backoff_on and Config::backoff_statuses), the
// engine asks `delay(attempt)` (attempt = 1 for the first consecutive trigger) and pauses that user;
// an outcome that does not trigger ends the streak and the engine calls `reset()`. A server's
// `Retry-After` on a triggering outcome lengthens the pause, up to the policy's `cap()`.
//
// Shipped: NoBackoff, FixedBackoff, LinearBackoff, ExponentialBackoff (with the AWS Architecture
// Blog's jitters), the wrappers Retry<Backoff, N> (re-run the same action) and
// CircuitBreaker<Backoff> (stop sending after K consecutive triggers), and AnyBackoff, a run-time
// choice for command lines (`AnyBackoff::parse("exponential:100ms:30s:full")`).
#pragma once

#include "loadtest/detail/config.hpp"

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "loadtest/detail/hooks.hpp"
#include "loadtest/time.hpp"

namespace loadtest {

/** A backoff policy.
 *
 *  A type `B` models `BackoffPolicy` when it is copyable (every user gets a copy) and, for `B b`:
 *  - `b.delay(attempt)` returns how long the user pauses after its `attempt`-th consecutive
 *    triggering outcome (`attempt` >= 1), as a `Duration`;
 *  - `b.reset()` forgets the streak (called after an outcome that does not trigger backoff, e.g. a
 *    success).
 *  Optional members the engine uses when present:
 *  - `b.seed(std::uint64_t)`: per-user RNG seed, for jitter (derived from Config::seed);
 *  - `b.validate()`: throws std::invalid_argument naming a bad parameter, before the test starts;
 *  - `b.cap()`: upper bound of a delay; a server's `Retry-After` is honoured up to it;
 *  - `b.max_attempts()`: attempts per action (see Retry): a triggering outcome re-runs the action;
 *  - `b.open()`: true while the user's circuit is open (see CircuitBreaker), counted in snapshots.
 */
template <class B>
concept BackoffPolicy = std::copy_constructible<B> && requires(B& b, unsigned attempt) {
  { b.delay(attempt) } -> std::convertible_to<Duration>;
  b.reset();
};

/** The optional hooks of a BackoffPolicy, as concepts. A policy that declares a member of a
 *  hook's name must model the hook's concept: `check_backoff_hooks<B>()` (run by the engine)
 *  turns a wrong signature into a compile error that names the hook. */
template <class B>
concept SeedableBackoff = requires(B& b, std::uint64_t s) { b.seed(s); };
template <class B>
concept CappedBackoff = requires(const B& b) { { b.cap() } -> std::convertible_to<Duration>; };
template <class B>
concept RetryingBackoff = requires(const B& b) { { b.max_attempts() } -> std::convertible_to<unsigned>; };
template <class B>
concept CircuitBackoff = requires(const B& b) { { b.open() } -> std::convertible_to<bool>; };

/** Compile-time check of `B`'s optional hooks (see above); true when they are all well formed. */
template <class B>
consteval bool check_backoff_hooks() {
  static_assert(!requires { &B::seed; } || SeedableBackoff<B>,
                "BackoffPolicy hook 'seed' must be callable as `b.seed(std::uint64_t)`");
  static_assert(!requires { &B::cap; } || CappedBackoff<B>,
                "BackoffPolicy hook 'cap' must be callable as `Duration cap() const`");
  static_assert(!requires { &B::max_attempts; } || RetryingBackoff<B>,
                "BackoffPolicy hook 'max_attempts' must be callable as `unsigned max_attempts() const`");
  static_assert(!requires { &B::open; } || CircuitBackoff<B>,
                "BackoffPolicy hook 'open' must be callable as `bool open() const`");
  return true;
}


/** Never pause. */
struct NoBackoff {
  /** Zero. */
  Duration delay(unsigned) const noexcept { return 0ns; }
  /** Nothing to forget. */
  void reset() noexcept {}
};
static_assert(BackoffPolicy<NoBackoff>);

/** Pause a fixed time after each error: the original framework's 1 s. */
struct FixedBackoff {
  Duration interval = 1s;  ///< the pause

  /** `interval`. */
  Duration delay(unsigned) const noexcept { return interval; }
  /** Nothing to forget. */
  void reset() noexcept {}
  /** `interval`. */
  Duration cap() const noexcept { return interval; }
  /** Throws std::invalid_argument for a negative interval. */
  void validate() const {
    if (interval < 0ns)
      throw std::invalid_argument("FixedBackoff: the interval (" + format_duration(interval) + ") must not be negative");
    if (to_seconds(interval) > max_duration_seconds)
      throw std::invalid_argument("FixedBackoff: the interval must be at most 1e9 s");
  }
};
static_assert(BackoffPolicy<FixedBackoff>);

/** Pause `step * attempt`, at most `max`. */
struct LinearBackoff {
  Duration step = 1s;  ///< added per attempt
  Duration max = 30s;  ///< the cap

  /** min(max, step * attempt). */
  Duration delay(unsigned attempt) const noexcept {
    // step * attempt without overflow: beyond the cap in steps, the cap
    if (step <= 0ns) return 0ns;
    if (static_cast<std::uint64_t>(attempt) > static_cast<std::uint64_t>(max / step)) return max;
    return std::min(max, step * static_cast<Duration::rep>(attempt));
  }
  /** Nothing to forget. */
  void reset() noexcept {}
  /** `max`. */
  Duration cap() const noexcept { return max; }
  /** Throws std::invalid_argument for a negative step or cap. */
  void validate() const {
    if (step < 0ns || max < 0ns)
      throw std::invalid_argument("LinearBackoff: step (" + format_duration(step) + ") and cap (" +
                                  format_duration(max) + ") must not be negative");
    if (to_seconds(step) > max_duration_seconds || to_seconds(max) > max_duration_seconds)
      throw std::invalid_argument("LinearBackoff: step and cap must be at most 1e9 s");
  }
};
static_assert(BackoffPolicy<LinearBackoff>);

/** How an exponential backoff randomises its delays: the definitions of the AWS Architecture Blog,
 *  "Exponential Backoff And Jitter" (Marc Brooker, 2015), with `attempt` counted from 1, so that
 *  the first delay is `base` (the blog counts from 0 with `base * 2 ** attempt`). */
enum class Jitter : std::uint8_t {
  none,          ///< min(cap, base * factor^(attempt-1))
  full,          ///< uniform(0, that)
  equal,         ///< that/2 + uniform(0, that/2)
  decorrelated,  ///< min(cap, uniform(base, previous * 3)), starting from previous = base
};

/** The name of a jitter ("none", "full", "equal", "decorrelated"). */
constexpr std::string_view to_string(Jitter j) noexcept {
  switch (j) {
    case Jitter::none: return "none";
    case Jitter::full: return "full";
    case Jitter::equal: return "equal";
    case Jitter::decorrelated: return "decorrelated";
  }
  return "none";
}

/** Exponential backoff `min(cap, base * factor^(attempt-1))`, with optional jitter.
 *
 *  Decorrelated jitter ignores `factor` and `attempt` (its growth is the recurrence itself) and
 *  remembers its previous delay until `reset()`. Jitter draws from the policy's own generator,
 *  seeded per user by the engine: runs with the same Config::seed pause the same.
 */
struct ExponentialBackoff {
  Duration base = 100ms;         ///< the first delay (and decorrelated jitter's floor)
  Duration max = 30s;            ///< the cap
  double factor = 2.0;           ///< growth per attempt (not used by decorrelated jitter)
  Jitter jitter = Jitter::none;  ///< how delays are randomised

  /** 100 ms doubling up to 30 s, no jitter. */
  ExponentialBackoff() = default;
  /** `base_delay` growing by `growth` up to `cap_delay`, with jitter `j`. */
  ExponentialBackoff(Duration base_delay, Duration cap_delay, double growth = 2.0, Jitter j = Jitter::none)
      : base(base_delay), max(cap_delay), factor(growth), jitter(j) {}

  /** The pause after the `attempt`-th consecutive trigger (see Jitter). */
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
  /** Forgets decorrelated jitter's previous delay. */
  void reset() noexcept { previous_ = 0; }
  /** Seeds the jitter's generator (the engine does, per user). */
  void seed(std::uint64_t s) { rng_.seed(s); }
  /** `max`. */
  Duration cap() const noexcept { return max; }
  /** Throws std::invalid_argument for base <= 0, cap < base or factor < 1. */
  void validate() const {
    if (base <= 0ns)
      throw std::invalid_argument("ExponentialBackoff: base (" + format_duration(base) + ") must be positive");
    if (max < base)
      throw std::invalid_argument("ExponentialBackoff: cap (" + format_duration(max) + ") must be at least base (" +
                                  format_duration(base) + ")");
    if (to_seconds(max) > max_duration_seconds)
      throw std::invalid_argument("ExponentialBackoff: cap (" + format_duration(max) + ") must be at most 1e9 s");
    if (!(factor >= 1.0) || !std::isfinite(factor))
      throw std::invalid_argument("ExponentialBackoff: factor (" + std::to_string(factor) + ") must be at least 1");
  }

 private:
  double uniform(double lo, double hi) { return hi <= lo ? lo : std::uniform_real_distribution<double>(lo, hi)(rng_); }
  std::mt19937_64 rng_{0x5eed};
  double previous_ = 0;  // seconds; decorrelated jitter's recurrence
};
static_assert(BackoffPolicy<ExponentialBackoff>);

/** The pause after a triggering outcome: the policy's `delay`, lengthened to a server's
 *  `retry_after` (Retry-After) when that is longer, but never beyond `cap` for it; a zero
 *  `retry_after` (none sent) leaves `delay` as is. */
constexpr Duration honour_retry_after(Duration delay, Duration retry_after, Duration cap) noexcept {
  if (retry_after <= 0ns) return delay;
  return std::max(delay, std::min(retry_after, cap));
}

// --- wrappers ----------------------------------------------------------------------------------

/** Retries the same action: up to `Attempts` attempts in all, pausing as `Backoff` says between them.
 *
 *  When an action's outcome triggers backoff (same rule as the pause: errors by default, see
 *  Config::backoff_on and Config::backoff_statuses), the user pauses `backoff.delay(attempt)` (a
 *  `Retry-After` is honoured up to the cap) and runs the same action again, until an outcome does
 *  not trigger, `Attempts` attempts were made, or the user is asked to leave. Then:
 *  - the final attempt is recorded as the action's one sample (its status, its own send-to-receive
 *    time), and it is what `User::execute` returns to the behaviour;
 *  - every earlier attempt is counted as a retry, not as a sample: `RealTimeMetrics::retries`
 *    (since the start). So `total_requests` counts actions, and the server saw
 *    `total_requests + retries` requests;
 *  - after a final triggering outcome the user pauses once more, as without Retry.
 *  `Retry<B, 1>` behaves exactly like `B`. The streak (the `attempt` passed to `delay`) runs across
 *  retries and actions alike and ends with the first outcome that does not trigger.
 */
template <class Backoff, unsigned Attempts>
struct Retry {
  static_assert(BackoffPolicy<Backoff>, "Retry<Backoff, N>: Backoff must model loadtest::BackoffPolicy");
  static_assert(Attempts >= 1, "Retry<Backoff, N>: N counts attempts in all (the first one included), at least 1");

  Backoff backoff{};  ///< the pauses between attempts (and after a final triggering one)

  /** Attempts per action, the first one included. */
  static constexpr unsigned max_attempts() noexcept { return Attempts; }
  /** The inner policy's delay. */
  Duration delay(unsigned attempt) { return backoff.delay(attempt); }
  /** Resets the inner policy. */
  void reset() { backoff.reset(); }
  /** Forwarded when the inner policy has it (and so are cap() and open()). */
  void seed(std::uint64_t s) requires requires(Backoff& b, std::uint64_t x) { b.seed(x); } { backoff.seed(s); }
  Duration cap() const requires requires(const Backoff& b) { b.cap(); } { return backoff.cap(); }
  bool open() const noexcept requires requires(const Backoff& b) { b.open(); } { return backoff.open(); }
  /** Validates the inner policy. */
  void validate() const { detail::validate_if_possible(backoff); }
};
static_assert(BackoffPolicy<Retry<ExponentialBackoff, 3>>);

/** A per-user circuit breaker around `Backoff`.
 *
 *  Closed: the user pauses as `backoff` says after each triggering outcome. The `threshold`-th
 *  consecutive triggering outcome opens the circuit: the user sends nothing for `open_interval`.
 *  Then its next action is the probe (half-open): an outcome that does not trigger closes the
 *  circuit (and resets `backoff`); a triggering one opens it again for `open_interval`.
 *  While open or half-open, `open()` is true and the engine counts the user in
 *  `RealTimeMetrics::users_in_open_circuit`.
 */
template <class Backoff>
struct CircuitBreaker {
  static_assert(BackoffPolicy<Backoff>, "CircuitBreaker<Backoff>: Backoff must model loadtest::BackoffPolicy");

  Backoff backoff{};            ///< the pauses while closed
  unsigned threshold = 5;       ///< consecutive triggering outcomes that open the circuit
  Duration open_interval = 5s;  ///< how long an open circuit sends nothing

  /** Opens after 5 consecutive triggers, for 5 s. */
  CircuitBreaker() = default;
  /** Pauses as `b` says; opens after `consecutive` triggers, for `open_for`. */
  CircuitBreaker(Backoff b, unsigned consecutive, Duration open_for)
      : backoff(std::move(b)), threshold(consecutive), open_interval(open_for) {}

  /** The inner delay below the threshold; from it on, `open_interval` (and the circuit opens). */
  Duration delay(unsigned attempt) {
    if (attempt >= threshold) {
      open_ = true;
      ++trips_;
      return open_interval;
    }
    return backoff.delay(attempt);
  }
  /** Closes the circuit and resets the inner policy (after a non-triggering outcome). */
  void reset() {
    open_ = false;
    backoff.reset();
  }
  /** True from the opening outcome until a probe succeeds (open and half-open). */
  bool open() const noexcept { return open_; }
  /** How often the circuit opened (re-openings after a failed probe included). */
  std::uint64_t trips() const noexcept { return trips_; }
  /** A Retry-After may lengthen a pause up to the longer of the open interval and the inner cap. */
  Duration cap() const {
    if constexpr (requires { backoff.cap(); }) return std::max<Duration>(open_interval, backoff.cap());
    else return open_interval;
  }
  /** Forwarded when the inner policy has it (and so is max_attempts()). */
  void seed(std::uint64_t s) requires requires(Backoff& b, std::uint64_t x) { b.seed(x); } { backoff.seed(s); }
  unsigned max_attempts() const noexcept requires requires(const Backoff& b) { b.max_attempts(); } {
    return backoff.max_attempts();
  }
  /** Throws std::invalid_argument for a zero threshold, a negative interval or a bad inner policy. */
  void validate() const {
    if (threshold == 0) throw std::invalid_argument("CircuitBreaker: threshold must be at least 1, got 0");
    if (open_interval < 0ns)
      throw std::invalid_argument("CircuitBreaker: open interval (" + format_duration(open_interval) +
                                  ") must not be negative");
    detail::validate_if_possible(backoff);
  }

 private:
  bool open_ = false;
  std::uint64_t trips_ = 0;
};
static_assert(BackoffPolicy<CircuitBreaker<ExponentialBackoff>>);

// --- run-time choice -----------------------------------------------------------------------------

/** A backoff chosen at run time (for command lines): one of NoBackoff, FixedBackoff, LinearBackoff,
 *  ExponentialBackoff, plus a retry count. A switch per call, no virtual dispatch.
 *
 *      auto b = loadtest::AnyBackoff::parse("exponential:100ms:30s:full").with_retries(2);
 *
 *  `with_retries(n)` makes each action up to `n + 1` attempts (the `--retry N` of loadtest-http),
 *  exactly as `Retry<Backoff, n + 1>` does.
 */
class AnyBackoff {
 public:
  /** Which policy it holds. */
  enum class Kind : std::uint8_t { none, fixed, linear, exponential };

  /** The original framework's pause: fixed 1 s, no retries. */
  AnyBackoff() = default;
  /** Holds `b`, no retries (implicit: any shipped policy converts). */
  AnyBackoff(NoBackoff b) : policy_(b) {}            // NOLINT: implicit on purpose
  AnyBackoff(FixedBackoff b) : policy_(b) {}         // NOLINT
  AnyBackoff(LinearBackoff b) : policy_(b) {}        // NOLINT
  AnyBackoff(ExponentialBackoff b) : policy_(b) {}   // NOLINT

  /** Parses `none`, `fixed:1s`, `linear:STEP:CAP` or `exponential:BASE:CAP[:full|equal|decorrelated]`
   *  (durations as parse_duration reads them: 500ms, 2s, 1m). Throws std::invalid_argument naming
   *  the spec and its bad part. */
  static AnyBackoff parse(std::string_view spec);

  /** Up to `n + 1` attempts per action. Throws std::invalid_argument above 100. */
  AnyBackoff& with_retries(unsigned n) {
    if (n > 100) throw std::invalid_argument("invalid retry count '" + std::to_string(n) + "': at most 100");
    retries_ = n;
    return *this;
  }
  /** Retries per action (attempts minus one). */
  unsigned retries() const noexcept { return retries_; }
  /** Attempts per action, the first one included. */
  unsigned max_attempts() const noexcept { return retries_ + 1; }

  /** Which policy it holds. */
  Kind kind() const noexcept { return static_cast<Kind>(policy_.index()); }

  /** The held policy's delay. */
  Duration delay(unsigned attempt) {
    return std::visit([&](auto& p) -> Duration { return p.delay(attempt); }, policy_);
  }
  /** Resets the held policy. */
  void reset() {
    std::visit([](auto& p) { p.reset(); }, policy_);
  }
  /** Seeds an exponential policy's jitter. */
  void seed(std::uint64_t s) {
    if (auto* e = std::get_if<ExponentialBackoff>(&policy_)) e->seed(s);
  }
  /** The held policy's cap (0 for none). */
  Duration cap() const {
    return std::visit(
        [](const auto& p) -> Duration {
          if constexpr (requires { p.cap(); }) return p.cap();
          else return 0ns;
        },
        policy_);
  }
  /** Validates the held policy. */
  void validate() const {
    std::visit([](const auto& p) { detail::validate_if_possible(p); }, policy_);
  }
  /** A readable form for results, e.g. "exponential 100.0ms..30.00s, full jitter; 2 retries". */
  std::string describe() const;

  /** The held policy, if it is a `P`. */
  template <class P>
  const P* get_if() const noexcept {
    return std::get_if<P>(&policy_);
  }

 private:
  std::variant<NoBackoff, FixedBackoff, LinearBackoff, ExponentialBackoff> policy_{FixedBackoff{}};
  unsigned retries_ = 0;
};
static_assert(BackoffPolicy<AnyBackoff>);

inline AnyBackoff AnyBackoff::parse(std::string_view spec) {
  const std::string usage = " (use none, fixed:1s, linear:STEP:CAP or exponential:BASE:CAP[:full|equal|decorrelated])";
  auto bad = [&](const std::string& why) {
    return std::invalid_argument("invalid backoff '" + std::string(spec) + "': " + why + usage);
  };
  std::vector<std::string_view> parts;
  for (std::size_t from = 0;;) {
    auto colon = spec.find(':', from);
    parts.push_back(spec.substr(from, colon == std::string_view::npos ? std::string_view::npos : colon - from));
    if (colon == std::string_view::npos) break;
    from = colon + 1;
  }
  auto duration = [&](std::size_t i, const char* what) {
    try {
      return parse_duration(parts[i]);
    } catch (const std::invalid_argument&) {
      throw bad(std::string(what) + " '" + std::string(parts[i]) + "' is not a duration such as 500ms or 2s");
    }
  };
  auto count = [&](std::size_t lo, std::size_t hi, const char* form) {
    if (parts.size() < lo || parts.size() > hi) throw bad(std::string("expected ") + form);
  };
  const std::string_view kind = parts[0];
  AnyBackoff b;
  if (kind == "none") {
    count(1, 1, "no parameters after 'none'");
    b = NoBackoff{};
  } else if (kind == "fixed") {
    count(2, 2, "fixed:DURATION");
    b = FixedBackoff{duration(1, "DURATION")};
  } else if (kind == "linear") {
    count(3, 3, "linear:STEP:CAP");
    b = LinearBackoff{duration(1, "STEP"), duration(2, "CAP")};
  } else if (kind == "exponential") {
    count(3, 4, "exponential:BASE:CAP[:JITTER]");
    Jitter j = Jitter::none;
    if (parts.size() == 4) {
      const std::string_view name = parts[3];
      if (name == "none") j = Jitter::none;
      else if (name == "full") j = Jitter::full;
      else if (name == "equal") j = Jitter::equal;
      else if (name == "decorrelated") j = Jitter::decorrelated;
      else throw bad("unknown jitter '" + std::string(name) + "' (none, full, equal or decorrelated)");
    }
    b = ExponentialBackoff{duration(1, "BASE"), duration(2, "CAP"), 2.0, j};
  } else {
    throw bad("unknown kind '" + std::string(kind) + "'");
  }
  try {
    b.validate();
  } catch (const std::invalid_argument& e) {
    throw bad(e.what());
  }
  return b;
}

inline std::string AnyBackoff::describe() const {
  std::string s;
  switch (kind()) {
    case Kind::none: s = "none"; break;
    case Kind::fixed: s = "fixed " + format_duration(std::get<FixedBackoff>(policy_).interval); break;
    case Kind::linear: {
      const auto& l = std::get<LinearBackoff>(policy_);
      s = "linear " + format_duration(l.step) + " per attempt, cap " + format_duration(l.max);
      break;
    }
    case Kind::exponential: {
      const auto& e = std::get<ExponentialBackoff>(policy_);
      s = "exponential " + format_duration(e.base) + ".." + format_duration(e.max);
      if (e.jitter != Jitter::none) s += ", " + std::string(to_string(e.jitter)) + " jitter";
      break;
    }
  }
  if (retries_ > 0) s += "; " + std::to_string(retries_) + (retries_ == 1 ? " retry" : " retries");
  return s;
}

}  // namespace loadtest
