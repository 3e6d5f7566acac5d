// loadtest: user behaviour, the UserBehavior slot, and think time.
//
// A behaviour decides what one user does in one iteration: which of the test's tasks run, in which
// order, and how long the user thinks afterwards. Every user holds its own copy (per-user state).
// The engine calls `co_await behavior.run(test, user)` in a loop until the user is asked to leave.
//
// `user` is the engine's per-user runner. A behaviour uses only these members of it:
//   co_await user.execute(name, make)  runs `make()` (returns an awaitable of Outcome or bool), times
//                                      it, records it under `name` (unless the Outcome names its
//                                      endpoint), applies backoff, and returns the Outcome
//   user.session()                     the `Session<Data>&` handed to the test's tasks
//   co_await user.sleep(d)             pauses; ends early when the test ends
//   user.rng()                         the user's std::mt19937_64 (seeded from Config::seed)
//   user.stopping()                    true once the engine asked this user to leave
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>

#include "loadtest/outcome.hpp"
#include "loadtest/time.hpp"

namespace loadtest {

/** How long a user waits between iterations (Locust's wait_time, Gatling's pauses).
 *
 *  A small value type rather than a template, so that a command line can choose it at run time;
 *  `after()` is a switch, called once per iteration.
 */
struct ThinkTime {
  enum class Kind : std::uint8_t {
    none,         ///< no pause (the original framework)
    constant,     ///< `a`
    uniform,      ///< uniform in [a, b]
    exponential,  ///< exponential with mean `a` (Poisson-like users)
    pacing,       ///< each iteration takes at least `a` (Locust's constant_pacing)
  };
  Kind kind = Kind::none;
  Duration a{0};
  Duration b{0};

  static ThinkTime none() { return {}; }
  static ThinkTime constant(Duration d) { return {Kind::constant, d, d}; }
  static ThinkTime uniform(Duration lo, Duration hi) { return {Kind::uniform, lo, hi}; }
  static ThinkTime exponential(Duration mean) { return {Kind::exponential, mean, mean}; }
  static ThinkTime pacing(Duration period) { return {Kind::pacing, period, period}; }
  /** Constant throughput per user: `per_second` iterations a second (Locust's constant_throughput). */
  static ThinkTime throughput(double per_second) {
    if (!(per_second > 0) || !std::isfinite(per_second))
      throw std::invalid_argument("think time: throughput must be a positive number of iterations per second");
    return pacing(from_seconds(1.0 / per_second));
  }

  /** The pause after an iteration that took `took`. */
  Duration after(Duration took, std::mt19937_64& rng) const {
    switch (kind) {
      case Kind::none: return 0ns;
      case Kind::constant: return a;
      case Kind::uniform:
        return from_seconds(std::uniform_real_distribution<double>(to_seconds(a), to_seconds(b))(rng));
      case Kind::exponential: return from_seconds(std::exponential_distribution<double>(1.0 / to_seconds(a))(rng));
      case Kind::pacing: return took < a ? a - took : 0ns;
    }
    return 0ns;
  }

  void validate() const {
    if (a < 0ns || b < 0ns) throw std::invalid_argument("think time: durations must not be negative");
    if (kind == Kind::uniform && b < a) throw std::invalid_argument("think time: uniform needs min <= max");
    if ((kind == Kind::exponential || kind == Kind::pacing) && a <= 0ns)
      throw std::invalid_argument("think time: exponential mean and pacing period must be positive");
  }

  /** Parses `none`, `constant:1s`, `uniform:1s:3s`, `exponential:2s`, `pacing:5s`, `throughput:2`
   *  (iterations per second). Throws std::invalid_argument naming the bad part. */
  static ThinkTime parse(std::string_view spec) {
    auto inner = [](std::string_view kind, std::string_view rest) -> ThinkTime {
      auto why = [](const std::string& w) { return std::invalid_argument(w); };
      auto one = [&]() {
        if (rest.empty() || rest.find(':') != std::string_view::npos) throw why("expected one duration");
        return parse_duration(rest);
      };
      ThinkTime t;
      if (kind == "none" && rest.empty()) t = none();
      else if (kind == "constant") t = constant(one());
      else if (kind == "exponential") t = exponential(one());
      else if (kind == "pacing") t = pacing(one());
      else if (kind == "uniform") {
        auto c2 = rest.find(':');
        if (c2 == std::string_view::npos) throw why("uniform needs MIN:MAX");
        t = uniform(parse_duration(rest.substr(0, c2)), parse_duration(rest.substr(c2 + 1)));
      } else if (kind == "throughput") {
        std::size_t used = 0;
        double v = 0;
        try { v = std::stod(std::string(rest), &used); } catch (const std::exception&) { throw why("expected a rate"); }
        if (used != rest.size()) throw why("expected a rate");
        t = throughput(v);
      } else throw why("unknown kind '" + std::string(kind) + "'");
      t.validate();
      return t;
    };
    auto colon = spec.find(':');
    try {
      return inner(spec.substr(0, colon), colon == std::string_view::npos ? std::string_view{} : spec.substr(colon + 1));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("invalid think time '" + std::string(spec) + "': " + e.what() +
                                  " (use none, constant:1s, uniform:1s:3s, exponential:2s, pacing:5s, throughput:N)");
    }
  }
};

/** Any user behaviour, checked against the test type `Test` and the engine's runner `User`.
 *
 *  `B` must be copyable (each user gets a copy) and have
 *  `boost::asio::awaitable<void> run(Test& test, User& user)`, one iteration of one user.
 */
template <class B, class Test, class User>
concept UserBehavior = std::copy_constructible<B> && requires(B& b, Test& t, User& u) {
  { b.run(t, u) } -> std::same_as<boost::asio::awaitable<void>>;
};

/** Calls the test's one hook, `user_action`, then thinks: the classic behaviour.
 *
 *  The hook may be declared as any of
 *    `awaitable<Outcome> user_action(Session<Data>&)`, `awaitable<bool> user_action(Session<Data>&)`,
 *    `awaitable<Outcome> user_action(std::size_t user_id)`, `awaitable<bool> user_action(std::size_t)`
 *  (`bool` is the original framework's contract: true success, false failure; a thrown exception
 *  is an error). Recorded under `name` unless the Outcome names its endpoint.
 */
struct SingleAction {
  ThinkTime think{};
  std::string_view name = "user_action";

  template <class Test, class User>
  boost::asio::awaitable<void> run(Test& test, User& user) {
    auto start = Clock::now();
    co_await user.execute(name, [&] {
      if constexpr (requires { test.user_action(user.session()); }) return test.user_action(user.session());
      else return test.user_action(user.session().id());
    });
    if (think.kind != ThinkTime::Kind::none) co_await user.sleep(think.after(Clock::now() - start, user.rng()));
  }
  void validate() const { think.validate(); }
};

}  // namespace loadtest
