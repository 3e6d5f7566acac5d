// loadtest: UserRunner, the engine's runner for one user: what a UserBehavior drives.
//
// Its public members are what a behaviour may call (see behavior.hpp for the contract):
//
//   co_await user.execute(name, make)  runs `make()`, times it, records it, backs off
//   co_await user.finish(name, o, t0, t1)  records an outcome the behaviour timed itself
//   co_await user.sleep(d)             pauses; ends early when the test ends or the user leaves
//   user.session(), user.rng(), user.stopping(), user.behavior(), user.backoff()
//
// The engine's own hooks (construction, the open model's arrival start) are private and reached
// through `detail::user_runner_access`, as Beast reaches a RatePolicy through rate_policy_access.
// Thread safety: a UserRunner lives on its worker's thread and is only used there.
#pragma once

#include "loadtest/detail/config.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <exception>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>

#include "loadtest/backoff.hpp"
#include "loadtest/config.hpp"
#include "loadtest/detail/http_errors.hpp"
#include "loadtest/detail/run_state.hpp"
#include "loadtest/metrics.hpp"
#include "loadtest/outcome.hpp"
#include "loadtest/session.hpp"
#include "loadtest/sink.hpp"

namespace loadtest {

namespace detail {

struct user_runner_access;

template <class T>
struct UserDataOf {
  using type = NoUserData;
};
template <class T>
  requires requires { typename T::UserData; }
struct UserDataOf<T> {
  using type = typename T::UserData;
};

template <class T>
struct AwaitableValue {};
template <class T, class E>
struct AwaitableValue<boost::asio::awaitable<T, E>> {
  using type = T;
};

/** An action's awaitable: `boost::asio::awaitable<Outcome>` or `boost::asio::awaitable<bool>`. */
template <class A>
concept SupportedAction = requires { typename AwaitableValue<A>::type; } &&
                          (std::is_same_v<typename AwaitableValue<A>::type, Outcome> ||
                           std::is_same_v<typename AwaitableValue<A>::type, bool>);

/** The outcome of an exception thrown by an action: a `boost::system::system_error` is mapped by
 *  the HTTP client's table (connect_refused, timeout, reset, ...); anything else is `exception`. */
inline Outcome outcome_of_exception(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const boost::system::system_error& se) {
    // The phase is unknown: the codes that only connecting or resolving produce say it.
    namespace error = boost::asio::error;
    const auto& ec = se.code();
    HttpPhase phase = HttpPhase::read;
    if (ec == error::connection_refused || ec == error::network_unreachable || ec == error::host_unreachable)
      phase = HttpPhase::connect;
    else if (ec == error::host_not_found || ec == error::host_not_found_try_again || ec == error::no_data)
      phase = HttpPhase::resolve;
    ErrorCategory c = categorize(ec, phase);
    std::string text = se.what();
    return Outcome::error(c == ErrorCategory::none ? ErrorCategory::exception : c,
                          text.empty() ? std::string("system error") : std::move(text));
  } catch (const std::exception& ex) {
    std::string text = ex.what();
    return Outcome::error(ErrorCategory::exception, text.empty() ? std::string("exception") : std::move(text));
  } catch (...) {
    return Outcome::error(ErrorCategory::exception, "unknown exception");
  }
}

}  // namespace detail

/** The engine's runner for one user (see the file comment).
 *  @tparam Engine the LoadTest instantiation running this user. */
template <class Engine>
class UserRunner {
 public:
  using Test = typename Engine::derived_type;
  using SessionType = Session<typename detail::UserDataOf<Test>::type>;

  ~UserRunner() {
    if (circuit_open_) shard_.circuit(false);
  }
  UserRunner(const UserRunner&) = delete;
  UserRunner& operator=(const UserRunner&) = delete;

  /** Runs one action: times it, records it, backs off if its outcome says so.
   *
   *  `make()` returns the action's awaitable: `boost::asio::awaitable<Outcome>` or
   *  `boost::asio::awaitable<bool>` (true: success, false: business failure). An exception is
   *  an error: a `boost::system::system_error` gets the HTTP client's category for its code,
   *  anything else `exception`.
   *
   *  With a backoff that has `max_attempts()` (Retry, AnyBackoff::with_retries), an outcome that
   *  triggers backoff re-runs the action (calling `make()` again) after the pause, up to that many
   *  attempts: earlier attempts are counted as retries (RealTimeMetrics::retries,
   *  LoadTestResult::retries), only the final one is recorded and returned. */
  template <class MakeAwaitable>
  boost::asio::awaitable<Outcome> execute(std::string_view name, MakeAwaitable&& make) {
    using A = std::invoke_result_t<MakeAwaitable&>;
    static_assert(detail::SupportedAction<A>,
                  "a user action must return boost::asio::awaitable<loadtest::Outcome> or "
                  "boost::asio::awaitable<bool>; wrap other awaitables (a future, a callback API) in a "
                  "coroutine that co_returns one of these");
    unsigned attempts = 1;
    if constexpr (requires { backoff_.max_attempts(); })
      attempts = std::max(1u, static_cast<unsigned>(backoff_.max_attempts()));
    for (unsigned n = 1;; ++n) {
      Outcome o;
      std::exception_ptr thrown;
      slot_.in_action.store(true, std::memory_order_relaxed);
      auto t0 = Clock::now();
      try {
        auto aw = make();
        if constexpr (std::is_same_v<typename detail::AwaitableValue<A>::type, bool>)
          o = Outcome::from_bool(co_await std::move(aw));
        else
          o = co_await std::move(aw);
      } catch (...) {
        thrown = std::current_exception();
      }
      auto t1 = Clock::now();
      slot_.in_action.store(false, std::memory_order_relaxed);
      if (thrown) o = detail::outcome_of_exception(thrown);
      if (n < attempts && !stopping() && triggers_backoff(engine_.config(), o)) {
        co_await back_off(o);
        if (!stopping()) {
          shard_.count_retry();  // this attempt is not the final one
          continue;
        }
        record(name, o, t0, t1);  // asked to leave during the pause: this attempt is the final one
        co_return o;
      }
      co_await finish(name, o, t0, t1);
      co_return o;
    }
  }

  /** Records an outcome that ran from `t0` to `t1` and applies backoff (used by execute and by
   *  behaviours that time things themselves). In the open model the first action of an arrival
   *  is measured from the arrival's intended start (response time) and from `t0` (service time).
   *  Every outcome of one action is recorded under the same endpoint: `o.name` when set, else
   *  `name`. */
  boost::asio::awaitable<void> finish(std::string_view name, const Outcome& o, Clock::time_point t0,
                                      Clock::time_point t1) {
    record(name, o, t0, t1);
    co_await back_off(o);
  }

  /** Pauses; returns early when the test ends or this user is asked to leave. */
  boost::asio::awaitable<void> sleep(Duration d) {
    if (d <= Duration{0} || stopping()) co_return;
    timer_.expires_after(d);
    auto [ec] = co_await timer_.async_wait(boost::asio::bind_cancellation_slot(slot_.wake.slot(), detail::use_tuple));
    (void)ec;
    slot_.wake.slot().clear();  // the handler points at timer_: no later emit may reach it
  }

  /** The user's session: id, user data, cookies, HTTP client, feeders. */
  SessionType& session() noexcept { return session_; }
  /** The user's random generator (seeded from the test seed and the user's global index). */
  std::mt19937_64& rng() noexcept { return session_.rng(); }
  /** True once the test ends or the engine asked this user to leave. */
  bool stopping() const noexcept {
    return rs_.ending.load(std::memory_order_relaxed) ||
           slot_.state.load(std::memory_order_relaxed) != detail::SlotState::running;
  }
  /** This user's copy of the behaviour policy. */
  typename Engine::behavior_type& behavior() noexcept { return behavior_; }
  /** This user's copy of the backoff policy. */
  typename Engine::backoff_type& backoff() noexcept { return backoff_; }
  /** Consecutive outcomes that triggered backoff so far. */
  unsigned backoff_attempt() const noexcept { return attempt_; }
  /** True while this user's circuit breaker is open or half-open (always false without one). */
  bool circuit_open() const noexcept { return circuit_open_; }

 private:
  friend struct detail::user_runner_access;

  UserRunner(Engine& engine, detail::RunState& rs, detail::UserSlot& slot, boost::asio::any_io_executor ex,
             std::uint64_t seed)
      : engine_(engine),
        rs_(rs),
        slot_(slot),
        shard_(rs.recorder.shard(slot.worker)),
        session_(slot.id, ex, engine.config(), rs.start, seed),
        behavior_(engine.behavior()),
        backoff_(engine.backoff()),
        timer_(ex) {
    if constexpr (SeedableBackoff<typename Engine::backoff_type>) backoff_.seed(detail::splitmix64(seed));
  }

  // Open model: an arrival intended for `intended` starts now; records the schedule lag.
  void begin_arrival(Clock::time_point intended) {
    intended_ = intended;
    shard_.record_schedule_lag(Clock::now() - intended);
  }

  void record(std::string_view name, const Outcome& o, Clock::time_point t0, Clock::time_point t1) {
    std::string_view endpoint = o.name.empty() ? name : o.name;
    Duration service = t1 - t0;
    Duration response = service;
    if (intended_) {
      response = t1 - *intended_;
      intended_.reset();
      shard_.record(endpoint, o, response, service);
    } else {
      shard_.record(endpoint, o, service);
    }
    if constexpr (SampleSink<typename Engine::sink_type>)
      engine_.sink().on_sample(Sample{endpoint, o, response, service, slot_.id});
  }

  // A triggering outcome (Config::backoff_on, Config::backoff_statuses) pauses the user for
  // backoff_.delay(streak), lengthened by a Retry-After up to the cap; any other outcome ends the
  // streak and resets the policy.
  boost::asio::awaitable<void> back_off(const Outcome& o) {
    if (!triggers_backoff(engine_.config(), o)) {
      if (attempt_ != 0) {
        attempt_ = 0;
        backoff_.reset();
        sync_circuit();
      }
      co_return;
    }
    Duration d = backoff_.delay(++attempt_);
    sync_circuit();
    if (o.retry_after > Duration{0}) {
      Duration cap = d;
      if constexpr (CappedBackoff<typename Engine::backoff_type>) cap = backoff_.cap();
      d = honour_retry_after(d, o.retry_after, cap);
    }
    co_await sleep(d);
  }

  // Keeps the shard's open-circuit gauge in step with this user's circuit breaker, if it has one.
  void sync_circuit() noexcept {
    if constexpr (CircuitBackoff<typename Engine::backoff_type>) {
      const bool open = backoff_.open();
      if (open == circuit_open_) return;
      circuit_open_ = open;
      shard_.circuit(open);
    }
  }

  Engine& engine_;
  detail::RunState& rs_;
  detail::UserSlot& slot_;
  RecorderShard& shard_;
  SessionType session_;
  typename Engine::behavior_type behavior_;
  typename Engine::backoff_type backoff_;
  boost::asio::steady_timer timer_;
  unsigned attempt_ = 0;
  bool circuit_open_ = false;                  // counted in the shard's open-circuit gauge
  std::optional<Clock::time_point> intended_;  // open model: the current arrival's intended start
};

namespace detail {

/** The engine's access to UserRunner's private hooks. */
struct user_runner_access {
  /** A new runner (returned as a prvalue: UserRunner is neither copied nor moved). */
  template <class Engine>
  static UserRunner<Engine> make(Engine& e, RunState& rs, UserSlot& slot, boost::asio::any_io_executor ex,
                                 std::uint64_t seed) {
    return UserRunner<Engine>(e, rs, slot, std::move(ex), seed);
  }
  /** Open model: the arrival intended for `intended` starts now. */
  template <class Engine>
  static void begin_arrival(UserRunner<Engine>& u, Clock::time_point intended) {
    u.begin_arrival(intended);
  }
  /** One iteration of the behaviour; an exception escaping the behaviour itself (its own bug) is
   *  counted like an action that threw, under "(behavior)". */
  template <class Engine>
  static boost::asio::awaitable<void> iterate(Engine& engine, UserRunner<Engine>& user) {
    std::exception_ptr thrown;
    try {
      co_await user.behavior().run(static_cast<typename Engine::derived_type&>(engine), user);
    } catch (...) {
      thrown = std::current_exception();
    }
    if (thrown) {
      auto now = Clock::now();
      co_await user.finish("(behavior)", outcome_of_exception(thrown), now, now);
    }
  }
};

/** Starts a user coroutine on `slot`'s worker, counted in the run's join count. */
template <class Coroutine>
void spawn_user(RunState& rs, UserSlot& slot, Coroutine&& coroutine) {
  rs.live_users.fetch_add(1);
  boost::asio::co_spawn(*rs.workers[slot.worker], std::forward<Coroutine>(coroutine),
                        [rsp = &rs](std::exception_ptr) { rsp->user_ended(); });
}

}  // namespace detail

}  // namespace loadtest
