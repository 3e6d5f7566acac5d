// loadtest: user behaviour, the UserBehavior slot, and think time.
//
// A behaviour decides what one user does in one iteration: which of the test's tasks run, in which
// order, and how long the user thinks afterwards. Every user holds its own copy (per-user state).
// The engine calls `co_await behavior.run(test, user)` in a loop until the user is asked to leave.
//
// `user` is the engine's per-user runner. A behaviour uses only these members of it:
//   co_await user.execute(name, make)  runs `make()` (returns an awaitable of Outcome or bool), times
//                                      it, records it under `name` (unless the Outcome names its
//                                      endpoint), applies backoff, returns the Outcome; with a Retry
//                                      backoff it may call `make()` again for another attempt
//   user.session()                     the `Session<Data>&` handed to the test's tasks
//   co_await user.sleep(d)             pauses; ends early when the test ends
//   user.rng()                         the user's std::mt19937_64 (seeded from Config::seed)
//   user.stopping()                    true once the engine asked this user to leave
//
// Shipped behaviours:
//   SingleAction                         the test's `user_action`, the classic hook
//   WeightedTasks<Task<&T::f, 5, "f">..> one task per iteration, picked by weight (Locust's @task(5))
//   Sequence<Step<&T::login, "login">..> an ordered flow with a failure policy (abort, proceed, restart)
//   OneOf<Weighted<Flow, 70>, ...>       a weighted choice between whole behaviours ("70 % browse")
// They nest: a Sequence step may be a OneOf, a OneOf item a Sequence. Each has a `think` member
// (ThinkTime) applied after its iteration. Picks and think times draw from `user.rng()` only, so a
// run with the same Config::seed makes the same choices.
//
// Tasks are member functions, named as `&Type::task`. A test type cannot name its own members in
// its own base-specifier (it is incomplete there), so put the tasks in a struct of their own (the
// task set, like Locust's TaskSet) and derive the test from both:
//
//   struct ShopTasks {
//     awaitable<Outcome> browse(Session<>& user);
//     awaitable<Outcome> cart(Session<>& user);
//   };
//   struct Shop : LoadTest<Shop, RampUsers,
//                          WeightedTasks<Task<&ShopTasks::browse, 5, "browse">,
//                                        Task<&ShopTasks::cart, 1, "cart">>>,
//                 ShopTasks {
//     using LoadTest::LoadTest;
//   };
#pragma once

#include "loadtest/detail/config.hpp"

#include <boost/asio/awaitable.hpp>

#include <algorithm>
#include <charconv>
#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "loadtest/outcome.hpp"
#include "loadtest/session.hpp"
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
    if (!(per_second >= 1e-3 && per_second <= 1e7))
      throw std::invalid_argument("think time: throughput must be 0.001..1e7 iterations per second");
    return pacing(from_seconds(1.0 / per_second));
  }

  /** Marks the start of an iteration for `after_iteration`: only pacing reads the clock, so the
   *  other kinds cost nothing on the per-request path. */
  Clock::time_point start_iteration() const noexcept {
    return kind == Kind::pacing ? Clock::now() : Clock::time_point{};
  }
  /** The pause after an iteration that started at `mark` (from `start_iteration`). */
  Duration after_iteration(Clock::time_point mark, std::mt19937_64& rng) const {
    return after(kind == Kind::pacing ? Clock::now() - mark : Duration{0}, rng);
  }

  /** The pause after an iteration that took `took`. */
  Duration after(Duration took, std::mt19937_64& rng) const {
    switch (kind) {
      case Kind::none: return 0ns;
      case Kind::constant: return a;
      case Kind::uniform:
        return from_seconds(std::uniform_real_distribution<double>(to_seconds(a), to_seconds(b))(rng));
      case Kind::exponential:  // a draw beyond the clock's reach is cut at 1e9 s
        return from_seconds(std::min(max_duration_seconds, std::exponential_distribution<double>(1.0 / to_seconds(a))(rng)));
      case Kind::pacing: return took < a ? a - took : 0ns;
    }
    return 0ns;
  }

  void validate() const {
    if (a < 0ns || b < 0ns) throw std::invalid_argument("think time: durations must not be negative");
    if (to_seconds(a) > max_duration_seconds || to_seconds(b) > max_duration_seconds)
      throw std::invalid_argument("think time: durations must be at most 1e9 s");
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
        double v = 0;
        auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
        if (rest.empty() || ec != std::errc{} || end != rest.data() + rest.size()) throw why("expected a rate");
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

  /** A readable form for results: "none", "constant 1.00s", "uniform 1.00s..3.00s", ... */
  std::string describe() const {
    switch (kind) {
      case Kind::none: return "none";
      case Kind::constant: return "constant " + format_duration(a);
      case Kind::uniform: return "uniform " + format_duration(a) + ".." + format_duration(b);
      case Kind::exponential: return "exponential mean " + format_duration(a);
      case Kind::pacing: return "pacing " + format_duration(a);
    }
    return "none";
  }
};

/** Any user behaviour, checked against the test type `Test` and the engine's runner `User`.
 *
 *  `B` must be copyable (each user gets a copy) and have
 *  `boost::asio::awaitable<void> run(Test& test, User& user)`, one iteration of one user.
 *  Optionally `boost::asio::awaitable<bool> run_checked(Test&, User&)`: the same iteration, telling
 *  whether every action in it succeeded (used when the behaviour is nested in a Sequence).
 */
template <class B, class Test, class User>
concept UserBehavior = std::copy_constructible<B> && requires(B& b, Test& t, User& u) {
  { b.run(t, u) } -> std::same_as<boost::asio::awaitable<void>>;
};

/** A string usable as a template argument: `Task<&Shop::browse, 5, "browse">`. */
template <std::size_t N>
struct FixedString {
  char chars[N]{};  ///< the characters and the terminating zero
  /** From a string literal. */
  constexpr FixedString(const char (&s)[N]) noexcept {  // NOLINT: implicit on purpose
    for (std::size_t i = 0; i < N; ++i) chars[i] = s[i];
  }
  /** The text, without the terminating zero. */
  constexpr std::string_view view() const noexcept { return {chars, N - 1}; }
};

namespace detail {

template <class A>
concept ActionAwaitable =
    std::same_as<A, boost::asio::awaitable<Outcome>> || std::same_as<A, boost::asio::awaitable<bool>>;

/** `Test` has the classic hook for `User`'s session: user_action(Session<Data>&) or (std::size_t). */
template <class Test, class User>
concept HasUserAction = requires(Test& t, User& u) {
  { t.user_action(u.session()) } -> ActionAwaitable;
} || requires(Test& t, User& u) {
  { t.user_action(u.session().id()) } -> ActionAwaitable;
};

/** `Fn` is a task of `Test` for `User`: `(test.*Fn)(session)` or `(test.*Fn)(user_id)` returning
 *  awaitable<Outcome> or awaitable<bool>. */
template <auto Fn, class Test, class User>
concept TaskOf = requires(Test& t, User& u) {
  { (t.*Fn)(u.session()) } -> ActionAwaitable;
} || requires(Test& t, User& u) {
  { (t.*Fn)(u.session().id()) } -> ActionAwaitable;
};

template <class B, class Test, class User>
concept CheckedRunnable = requires(B& b, Test& t, User& u) {
  { b.run_checked(t, u) } -> std::same_as<boost::asio::awaitable<bool>>;
};

/** An item of a WeightedTasks / OneOf / Sequence that can run for `Test` and `User`. */
template <class B, class Test, class User>
concept Runnable = CheckedRunnable<B, Test, User> || UserBehavior<B, Test, User>;

template <class B>
void validate_item(const B& b) {
  if constexpr (requires { b.validate(); }) b.validate();
}

template <class B>
std::string describe_item(const B& b) {
  if constexpr (requires { b.describe(); }) return std::string(b.describe());
  else return "behavior";
}

inline boost::asio::awaitable<bool> ready(bool v) { co_return v; }

template <class B, class Test, class User>
boost::asio::awaitable<bool> run_plain(B& b, Test& t, User& u) {
  co_await b.run(t, u);
  co_return true;
}

}  // namespace detail

/** One of the test's tasks, for WeightedTasks (with its weight) and Sequence (weight ignored).
 *
 *  `Fn` is a member function of the test (or of a base of it) taking the user's `Session<Data>&` or
 *  `std::size_t` user id and returning `awaitable<Outcome>` or `awaitable<bool>` (the accepted
 *  forms of `user_action`). `Name` is the endpoint it records under, unless its Outcome names one.
 */
template <auto Fn, unsigned Weight, FixedString Name>
struct Task {
  static_assert(std::is_member_function_pointer_v<decltype(Fn)>,
                "Task<Fn, Weight, Name>: Fn must be a pointer to a member function of the test, e.g. &Shop::browse");
  static_assert(Weight > 0, "Task<Fn, Weight, Name>: the weight must be at least 1");
  static_assert(!Name.view().empty(), "Task<Fn, Weight, Name>: give the task a name (it is its endpoint name)");

  static constexpr unsigned weight = Weight;              ///< relative frequency in a WeightedTasks
  static constexpr std::string_view name = Name.view();  ///< the endpoint it records under

  /** Runs the task once through `user.execute`; true when its outcome is a success. */
  template <class Test, class User>
    requires detail::TaskOf<Fn, Test, User>
  boost::asio::awaitable<bool> run_checked(Test& test, User& user) const {
    Outcome o = co_await user.execute(name, [&] {
      if constexpr (requires { (test.*Fn)(user.session()); }) return (test.*Fn)(user.session());
      else return (test.*Fn)(user.session().id());
    });
    co_return o.ok();
  }
  /** Its name. */
  std::string describe() const { return std::string(name); }
};

/** A step of a Sequence: a task without a weight. */
template <auto Fn, FixedString Name>
using Step = Task<Fn, 1, Name>;

/** A whole behaviour (a Sequence, a WeightedTasks, SingleAction, your own) with a weight, as an item
 *  of OneOf / WeightedTasks. */
template <class Behavior, unsigned Weight>
struct Weighted {
  static_assert(Weight > 0, "Weighted<Behavior, Weight>: the weight must be at least 1");
  static constexpr unsigned weight = Weight;  ///< relative frequency in a OneOf
  Behavior behavior{};                        ///< its settings (think time, failure policy, ...)

  /** One iteration of the behaviour; true when all its actions succeeded. */
  template <class Test, class User>
    requires detail::Runnable<Behavior, Test, User>
  boost::asio::awaitable<bool> run_checked(Test& test, User& user) {
    if constexpr (detail::CheckedRunnable<Behavior, Test, User>) return behavior.run_checked(test, user);
    else return detail::run_plain(behavior, test, user);
  }
  /** Validates the behaviour (throws std::invalid_argument). */
  void validate() const { detail::validate_item(behavior); }
  /** The behaviour's description. */
  std::string describe() const { return detail::describe_item(behavior); }
};

namespace detail {

template <class T>
inline constexpr bool is_weighted_item = false;
template <auto Fn, unsigned W, FixedString N>
inline constexpr bool is_weighted_item<Task<Fn, W, N>> = true;
template <class B, unsigned W>
inline constexpr bool is_weighted_item<Weighted<B, W>> = true;

// Runs item `k` of `items` (a runtime index into a tuple): one coroutine, no recursion at run time.
template <std::size_t I = 0, class Tuple, class Test, class User>
boost::asio::awaitable<bool> run_nth(Tuple& items, std::size_t k, Test& t, User& u) {
  if constexpr (I + 1 < std::tuple_size_v<Tuple>) {
    if (k != I) return run_nth<I + 1>(items, k, t, u);
  }
  using Item = std::tuple_element_t<I, Tuple>;
  Item& item = std::get<I>(items);
  if constexpr (CheckedRunnable<Item, Test, User>) return item.run_checked(t, u);
  else if constexpr (UserBehavior<Item, Test, User>) return run_plain(item, t, u);
  else return ready(true);  // a Sequence's policy tag: never run
}

}  // namespace detail

/** Calls the test's one hook, `user_action`, then thinks: the classic behaviour.
 *
 *  The hook may be declared as any of
 *    `awaitable<Outcome> user_action(Session<Data>&)`, `awaitable<bool> user_action(Session<Data>&)`,
 *    `awaitable<Outcome> user_action(std::size_t user_id)`, `awaitable<bool> user_action(std::size_t)`
 *  (`bool` is the original framework's contract: true success, false failure; a thrown exception
 *  is an error). Recorded under `name` unless the Outcome names its endpoint.
 */
struct SingleAction {
  ThinkTime think{};                      ///< after each action
  std::string_view name = "user_action";  ///< the endpoint it records under (must outlive the test)

  /** One iteration: the action, then think time. */
  template <class Test, class User>
    requires detail::HasUserAction<Test, User>
  boost::asio::awaitable<void> run(Test& test, User& user) {
    // Not through run_checked: one coroutine frame less per request.
    auto start = think.start_iteration();
    co_await user.execute(name, [&] { return call(test, user); });
    if (think.kind != ThinkTime::Kind::none) co_await user.sleep(think.after_iteration(start, user.rng()));
  }
  /** One iteration; true when the action succeeded. */
  template <class Test, class User>
    requires detail::HasUserAction<Test, User>
  boost::asio::awaitable<bool> run_checked(Test& test, User& user) {
    auto start = think.start_iteration();
    Outcome o = co_await user.execute(name, [&] { return call(test, user); });
    if (think.kind != ThinkTime::Kind::none) co_await user.sleep(think.after_iteration(start, user.rng()));
    co_return o.ok();
  }
  /** Throws std::invalid_argument for a bad think time. */
  void validate() const { think.validate(); }

 private:
  // The classic hook, with either signature.
  template <class Test, class User>
  static auto call(Test& test, User& user) {
    if constexpr (requires { test.user_action(user.session()); }) return test.user_action(user.session());
    else return test.user_action(user.session().id());
  }
};

/** One item per iteration, picked at random in proportion to its weight (Locust's `@task(weight)`),
 *  then think time. Items are tasks of the test or whole weighted behaviours:
 *
 *      loadtest::WeightedTasks<loadtest::Task<&Shop::browse, 5, "browse">,
 *                              loadtest::Task<&Shop::search, 3, "search">,
 *                              loadtest::Task<&Shop::cart, 1, "cart">>
 *
 *  Each task records under its own name. The pick draws from `user.rng()` (seeded from
 *  Config::seed), so the same seed gives the same sequence of tasks.
 */
template <class... Items>
struct WeightedTasks {
  static_assert(sizeof...(Items) > 0, "WeightedTasks<...> / OneOf<...>: give at least one item");
  static_assert((detail::is_weighted_item<Items> && ...),
                "WeightedTasks<...> / OneOf<...>: every item must be a Task<&Test::fn, weight, \"name\"> or a "
                "Weighted<Behavior, weight>");

  /** The items' weights, in order. */
  static constexpr std::array<unsigned, sizeof...(Items)> weights{Items::weight...};
  /** The sum of the weights. */
  static constexpr std::uint64_t total_weight = (std::uint64_t{Items::weight} + ...);

  ThinkTime think{};            ///< after each iteration
  std::tuple<Items...> items{}; ///< per-user copies (a Weighted holds its behaviour's settings)

  /** No think time, default items. */
  WeightedTasks() = default;
  /** Thinks `t` after each iteration. */
  explicit WeightedTasks(ThinkTime t) : think(t) {}
  /** Thinks `t`; the items as given (e.g. Weighted flows with their own settings). */
  WeightedTasks(ThinkTime t, Items... xs) : think(t), items(std::move(xs)...) {}

  /** The index of the item to run next: item i with probability weights[i] / total_weight. */
  static std::size_t pick(std::mt19937_64& rng) {
    std::uint64_t r = std::uniform_int_distribution<std::uint64_t>(0, total_weight - 1)(rng);
    for (std::size_t i = 0; i < weights.size(); ++i) {
      if (r < weights[i]) return i;
      r -= weights[i];
    }
    return weights.size() - 1;
  }

  /** One iteration: a picked item, then think time. */
  template <class Test, class User>
    requires(detail::Runnable<Items, Test, User> && ...)
  boost::asio::awaitable<void> run(Test& test, User& user) {
    co_await run_checked(test, user);
  }
  /** One iteration; true when the picked item succeeded. */
  template <class Test, class User>
    requires(detail::Runnable<Items, Test, User> && ...)
  boost::asio::awaitable<bool> run_checked(Test& test, User& user) {
    auto start = think.start_iteration();
    bool ok = co_await detail::run_nth(items, pick(user.rng()), test, user);
    if (think.kind != ThinkTime::Kind::none) co_await user.sleep(think.after_iteration(start, user.rng()));
    co_return ok;
  }

  /** Throws std::invalid_argument for a bad think time here or in an item. */
  void validate() const {
    think.validate();
    std::apply([](const auto&... x) { (detail::validate_item(x), ...); }, items);
  }
  /** E.g. "weighted(browse:5, search:3, cart:1; think uniform 1.00s..3.00s)". */
  std::string describe() const {
    std::string s = "weighted(";
    std::size_t i = 0;
    auto add = [&](const auto& x) {
      if (i > 0) s += ", ";
      s += detail::describe_item(x) + ":" + std::to_string(weights[i]);
      ++i;
    };
    std::apply([&](const auto&... x) { (add(x), ...); }, items);
    if (think.kind != ThinkTime::Kind::none) s += "; think " + think.describe();
    return s + ")";
  }
};

/** A weighted choice between whole behaviours, e.g. 70 % browse flow, 30 % buy flow:
 *  `OneOf<Weighted<BrowseFlow, 70>, Weighted<BuyFlow, 30>>`. The same template as WeightedTasks. */
template <class... Items>
using OneOf = WeightedTasks<Items...>;

/** What a Sequence does when a step does not succeed (its outcome is a failure or an error). */
enum class OnFailure : std::uint8_t {
  abort,    ///< end the flow here; the next iteration starts at step 1 (Gatling's exitHereIfFailed)
  proceed,  ///< go on with the next step
  restart,  ///< start the flow again from step 1, at most `max_restarts` times per iteration, then abort
};

/** A Sequence's failure policy as a type, given among its steps: `Sequence<RestartOnFailure, ...>`. */
template <OnFailure Policy>
struct OnStepFailure {
  static constexpr OnFailure value = Policy;  ///< the policy
};
using AbortOnFailure = OnStepFailure<OnFailure::abort>;
using ProceedOnFailure = OnStepFailure<OnFailure::proceed>;
using RestartOnFailure = OnStepFailure<OnFailure::restart>;

namespace detail {
template <class T>
inline constexpr bool is_failure_tag = false;
template <OnFailure P>
inline constexpr bool is_failure_tag<OnStepFailure<P>> = true;

}  // namespace detail

/** An ordered flow: every step in turn (login, browse, add to cart, checkout), then think time.
 *
 *      loadtest::Sequence<loadtest::RestartOnFailure,
 *                         loadtest::Step<&Shop::login, "login">,
 *                         loadtest::Step<&Shop::add_to_cart, "add to cart">,
 *                         loadtest::Step<&Shop::checkout, "checkout">>
 *
 *  Each step records under its own name. A step is a Step (a task of the test) or a whole behaviour
 *  (e.g. a OneOf of tasks); it fails when its outcome is not a success. The failure policy comes
 *  from an optional tag among the steps (AbortOnFailure, the default; ProceedOnFailure;
 *  RestartOnFailure) and may be changed per copy with `on_failure`. When the user is asked to leave,
 *  the flow ends after the current step.
 */
template <class... Steps>
struct Sequence {
  static constexpr std::size_t step_count = sizeof...(Steps);  ///< steps, a policy tag included
  static_assert(((detail::is_failure_tag<Steps> ? 1 : 0) + ... + 0) <= 1,
                "Sequence<...>: give at most one failure policy (AbortOnFailure, ProceedOnFailure, RestartOnFailure)");
  static_assert(((detail::is_failure_tag<Steps> ? 0 : 1) + ... + 0) >= 1, "Sequence<...>: give at least one step");

  ThinkTime think{};  ///< after the flow
  ThinkTime pause{};  ///< between two steps
  OnFailure on_failure = default_policy();  ///< from the policy tag among the steps, else abort
  unsigned max_restarts = 3;  ///< with OnFailure::restart: restarts per iteration before giving up
  std::tuple<Steps...> steps{};  ///< per-user copies of the steps

  /** No think time, no pauses. */
  Sequence() = default;
  /** Thinks `after` the flow and pauses `between` two steps. */
  explicit Sequence(ThinkTime after, ThinkTime between = {}) : think(after), pause(between) {}

  /** One pass through the flow, then think time. */
  template <class Test, class User>
    requires((detail::is_failure_tag<Steps> || detail::Runnable<Steps, Test, User>) && ...)
  boost::asio::awaitable<void> run(Test& test, User& user) {
    co_await run_checked(test, user);
  }

  /** One pass through the flow (restarts included); true when it ended with every step done and
   *  successful. */
  template <class Test, class User>
    requires((detail::is_failure_tag<Steps> || detail::Runnable<Steps, Test, User>) && ...)
  boost::asio::awaitable<bool> run_checked(Test& test, User& user) {
    static constexpr std::array<bool, step_count> tag{detail::is_failure_tag<Steps>...};
    auto start = think.start_iteration();
    bool ok = true, first = true;
    unsigned restarts = 0;
    for (std::size_t i = 0; i < step_count;) {
      if (tag[i]) {
        ++i;
        continue;
      }
      if (user.stopping()) break;
      if (!first && pause.kind != ThinkTime::Kind::none) co_await user.sleep(pause.after(0ns, user.rng()));
      first = false;
      if (co_await detail::run_nth(steps, i, test, user)) {
        ++i;
        continue;
      }
      if (on_failure == OnFailure::restart && restarts < max_restarts && !user.stopping()) {
        ++restarts;
        i = 0;
        continue;
      }
      ok = false;
      if (on_failure != OnFailure::proceed) break;
      ++i;
    }
    if (think.kind != ThinkTime::Kind::none) co_await user.sleep(think.after_iteration(start, user.rng()));
    co_return ok;
  }

  /** Throws std::invalid_argument for a bad think time or pause here or in a step. */
  void validate() const {
    think.validate();
    pause.validate();
    std::apply([](const auto&... x) { (detail::validate_item(x), ...); }, steps);
  }
  /** E.g. "sequence(login, cart, checkout; restart on failure)". */
  std::string describe() const {
    std::string s = "sequence(";
    bool any = false;
    auto add = [&](const auto& x) {
      if constexpr (!detail::is_failure_tag<std::decay_t<decltype(x)>>) {
        if (any) s += ", ";
        s += detail::describe_item(x);
        any = true;
      }
    };
    std::apply([&](const auto&... x) { (add(x), ...); }, steps);
    s += on_failure == OnFailure::abort ? "; abort on failure"
         : on_failure == OnFailure::proceed ? "; proceed on failure"
                                            : "; restart on failure";
    if (think.kind != ThinkTime::Kind::none) s += "; think " + think.describe();
    return s + ")";
  }

 private:
  static constexpr OnFailure default_policy() {
    OnFailure p = OnFailure::abort;
    ((p = tag_policy<Steps>(p)), ...);
    return p;
  }
  template <class S>
  static constexpr OnFailure tag_policy(OnFailure current) {
    if constexpr (detail::is_failure_tag<S>) return S::value;
    else return current;
  }
};

// --- concept checks ----------------------------------------------------------------------------

namespace detail::probe {
// A stand-in for a test type and for the engine's User<Engine> (load_test.hpp), with exactly the
// members this file's contract lists; used only in the static_asserts below. tests/test_behavior.cpp
// checks the same behaviours against the real User.
struct Test {
  boost::asio::awaitable<Outcome> user_action(Session<>&);
  boost::asio::awaitable<Outcome> browse(Session<>&);
  boost::asio::awaitable<bool> cart(Session<>&);
  boost::asio::awaitable<Outcome> by_id(std::size_t);
};
struct Other {
  boost::asio::awaitable<Outcome> elsewhere(Session<>&);
};
struct User {
  template <class Make>
  boost::asio::awaitable<Outcome> execute(std::string_view name, Make&& make);
  boost::asio::awaitable<void> sleep(Duration d);
  Session<>& session() noexcept;
  std::mt19937_64& rng() noexcept;
  bool stopping() const noexcept;
};
using Tasks = WeightedTasks<Task<&Test::browse, 3, "browse">, Task<&Test::cart, 1, "cart">, Task<&Test::by_id, 1, "id">>;
using Flow = Sequence<RestartOnFailure, Step<&Test::browse, "browse">, Step<&Test::cart, "cart">>;
}  // namespace detail::probe

static_assert(UserBehavior<SingleAction, detail::probe::Test, detail::probe::User>);
static_assert(UserBehavior<detail::probe::Tasks, detail::probe::Test, detail::probe::User>);
static_assert(UserBehavior<detail::probe::Flow, detail::probe::Test, detail::probe::User>);
static_assert(UserBehavior<OneOf<Weighted<detail::probe::Flow, 70>, Weighted<detail::probe::Tasks, 30>>,
                           detail::probe::Test, detail::probe::User>);
static_assert(UserBehavior<Sequence<Step<&detail::probe::Test::browse, "browse">, detail::probe::Tasks>,
                           detail::probe::Test, detail::probe::User>);
// The checks have teeth: a task the test does not have, or no user_action, does not model it.
static_assert(!UserBehavior<WeightedTasks<Task<&detail::probe::Other::elsewhere, 1, "x">>, detail::probe::Test,
                            detail::probe::User>);
static_assert(!UserBehavior<SingleAction, detail::probe::Other, detail::probe::User>);

}  // namespace loadtest
