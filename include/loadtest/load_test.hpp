// loadtest: the engine, `LoadTest<Derived, Pattern, Behavior, Backoff, Sink>`.
//
// Threads: the thread calling run() drives a control io_context (the scheduler that follows the
// pattern, the monitor, signal handling); `Config::threads` worker threads each run an io_context
// with their share of the users and own one recorder shard. A user is a coroutine on its worker;
// everything it records goes into its worker's shard, so the per-request path takes no lock and
// makes no virtual call. The monitor collects interval data by posting onto each worker in turn.
#pragma once

#include "loadtest/detail/config.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/core/demangle.hpp>

#include <atomic>
#include <csignal>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include "loadtest/backoff.hpp"
#include "loadtest/behavior.hpp"
#include "loadtest/config.hpp"
#include "loadtest/detail/bounded_history.hpp"
#include "loadtest/detail/process_stats.hpp"
#include "loadtest/metrics.hpp"
#include "loadtest/pattern.hpp"
#include "loadtest/rate.hpp"
#include "loadtest/result.hpp"
#include "loadtest/session.hpp"
#include "loadtest/sink.hpp"

namespace loadtest {

namespace detail {

namespace asio = boost::asio;
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

enum class SlotState : std::uint8_t { idle, running, stopping };

/** The engine's handle on one user: shared between the control thread and the user's worker. */
struct UserSlot {
  UserSlot(std::size_t i, unsigned w) : id(i), worker(w) {}
  const std::size_t id;
  const unsigned worker;
  std::atomic<SlotState> state{SlotState::idle};
  std::atomic<bool> in_action{false};
  asio::steady_timer* timer = nullptr;  // the user's sleep timer; touched on the worker only
  // Open model, worker only: the arrival handed to this idle user.
  Clock::time_point arrival{};
  bool has_arrival = false;
};

/** Open model: one worker's users and arrivals. Touched on its worker only, but for `busy`. */
struct OpenPool {
  std::deque<UserSlot> slots;                 // this worker's users; elements never move
  std::vector<UserSlot*> idle;                // users waiting for an arrival
  std::deque<Clock::time_point> queue;        // arrivals waiting for a user
  std::size_t max_users = 0, queue_limit = 0; // this worker's share
  bool done = false;                          // no more arrivals will come
  asio::steady_timer* scheduler_timer = nullptr;
  std::atomic<std::size_t> busy{0};           // users running an iteration (read by the monitor)
};

inline std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

template <class T>
std::string describe(const T& policy) {
  if constexpr (requires { policy.describe(); }) return std::string(policy.describe());
  else return boost::core::demangle(typeid(T).name());
}

/** The state of one run, shared by the control thread and the workers. */
struct RunState {
  RunState(unsigned threads, Clock::time_point s) : recorder(threads), start(s) {
    for (unsigned i = 0; i < threads; ++i) workers.push_back(std::make_unique<asio::io_context>(1));
  }
  Recorder recorder;
  std::deque<UserSlot> slots;  // closed model; grows on the control thread only; elements never move
  std::vector<std::unique_ptr<OpenPool>> pools;  // open model, one per worker
  std::atomic<std::size_t> busy_max{0};          // open model: most users busy at once
  std::atomic<bool> ending{false};
  std::atomic<std::uint64_t> retries{0};       // attempts re-run by a Retry backoff, since the start
  std::atomic<std::int64_t> open_circuits{0};  // users whose circuit breaker is open or half-open
  const Clock::time_point start;
  // Declared last, destroyed first: the users' coroutine frames point into the slots and shards.
  std::vector<std::unique_ptr<asio::io_context>> workers;
};

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
struct AwaitableValue;
template <class T, class E>
struct AwaitableValue<asio::awaitable<T, E>> {
  using type = T;
};

}  // namespace detail

/** The engine's per-user runner: what a UserBehavior drives (see behavior.hpp for the contract). */
template <class Engine>
class User {
 public:
  using Test = typename Engine::derived_type;
  using SessionType = Session<typename detail::UserDataOf<Test>::type>;

  User(Engine& engine, detail::RunState& rs, detail::UserSlot& slot, boost::asio::any_io_executor ex,
       std::uint64_t seed)
      : engine_(engine),
        rs_(rs),
        slot_(slot),
        shard_(rs.recorder.shard(slot.worker)),
        session_(slot.id, ex, engine.config(), rs.start, seed),
        behavior_(engine.behavior()),
        backoff_(engine.backoff()),
        timer_(ex) {
    slot_.timer = &timer_;
    if constexpr (requires { backoff_.seed(seed); }) backoff_.seed(detail::splitmix64(seed));
  }
  ~User() {
    if (slot_.timer == &timer_) slot_.timer = nullptr;
    if (circuit_open_) rs_.open_circuits.fetch_sub(1, std::memory_order_relaxed);
  }
  User(const User&) = delete;
  User& operator=(const User&) = delete;

  /** Runs one action: times it, records it, backs off if its outcome says so.
   *
   *  With a backoff that has `max_attempts()` (Retry, AnyBackoff::with_retries), an outcome that
   *  triggers backoff re-runs the action (calling `make()` again) after the pause, up to that many
   *  attempts: earlier attempts are counted in `RunState::retries` (RealTimeMetrics::retries,
   *  LoadTestResult::retries), only the final one is recorded and returned. */
  template <class MakeAwaitable>
  boost::asio::awaitable<Outcome> execute(std::string_view name, MakeAwaitable&& make) {
    unsigned attempts = 1;
    if constexpr (requires { backoff_.max_attempts(); })
      attempts = std::max(1u, static_cast<unsigned>(backoff_.max_attempts()));
    for (unsigned n = 1;; ++n) {
      Outcome o;
      std::string exception_text;
      slot_.in_action.store(true, std::memory_order_relaxed);
      auto t0 = Clock::now();
      try {
        auto aw = make();
        using R = typename detail::AwaitableValue<decltype(aw)>::type;
        if constexpr (std::is_same_v<R, bool>) o = Outcome::from_bool(co_await std::move(aw));
        else o = co_await std::move(aw);
      } catch (const std::exception& e) {
        exception_text = e.what();
        if (exception_text.empty()) exception_text = "exception";
      } catch (...) {
        exception_text = "unknown exception";
      }
      auto t1 = Clock::now();
      slot_.in_action.store(false, std::memory_order_relaxed);
      if (!exception_text.empty()) o = Outcome::error(ErrorCategory::exception, std::move(exception_text));
      if (n < attempts && !stopping() && triggers_backoff(engine_.config(), o)) {
        co_await back_off(o);
        if (!stopping()) {
          rs_.retries.fetch_add(1, std::memory_order_relaxed);  // this attempt is not the final one
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
   *  is measured from the arrival's intended start (response time) and from `t0` (service time). */
  boost::asio::awaitable<void> finish(std::string_view name, const Outcome& o, Clock::time_point t0,
                                      Clock::time_point t1) {
    record(name, o, t0, t1);
    co_await back_off(o);
  }

  /** Open model: an arrival intended for `intended` starts now; records the schedule lag. */
  void begin_arrival(Clock::time_point intended) {
    intended_ = intended;
    shard_.record_schedule_lag(Clock::now() - intended);
  }

  /** Pauses; returns early when the test ends or this user is asked to leave. */
  boost::asio::awaitable<void> sleep(Duration d) {
    if (d <= 0ns || stopping()) co_return;
    timer_.expires_after(d);
    auto [ec] = co_await timer_.async_wait(detail::use_tuple);
    (void)ec;
  }

  SessionType& session() noexcept { return session_; }
  std::mt19937_64& rng() noexcept { return session_.rng(); }
  bool stopping() const noexcept {
    return rs_.ending.load(std::memory_order_relaxed) ||
           slot_.state.load(std::memory_order_relaxed) != detail::SlotState::running;
  }
  typename Engine::behavior_type& behavior() noexcept { return behavior_; }
  typename Engine::backoff_type& backoff() noexcept { return backoff_; }
  /** Consecutive outcomes that triggered backoff so far. */
  unsigned backoff_attempt() const noexcept { return attempt_; }
  /** True while this user's circuit breaker is open or half-open (always false without one). */
  bool circuit_open() const noexcept { return circuit_open_; }

 private:
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
    if (o.retry_after > 0ns) {
      Duration cap = d;
      if constexpr (requires { backoff_.cap(); }) cap = backoff_.cap();
      d = honour_retry_after(d, o.retry_after, cap);
    }
    co_await sleep(d);
  }

  // Keeps RunState::open_circuits in step with this user's circuit breaker, if it has one.
  void sync_circuit() noexcept {
    if constexpr (requires { backoff_.open(); }) {
      const bool open = backoff_.open();
      if (open == circuit_open_) return;
      circuit_open_ = open;
      if (open) rs_.open_circuits.fetch_add(1, std::memory_order_relaxed);
      else rs_.open_circuits.fetch_sub(1, std::memory_order_relaxed);
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
  bool circuit_open_ = false;                  // counted in RunState::open_circuits
  std::optional<Clock::time_point> intended_;  // open model: the current arrival's intended start
};

/** A load test: derive from it, naming the derived type and four policies.
 *
 *      struct ItemsTest : loadtest::LoadTest<ItemsTest, loadtest::RampUsers, loadtest::SingleAction,
 *                                            loadtest::FixedBackoff, loadtest::JsonFileSink> {
 *        using LoadTest::LoadTest;
 *        boost::asio::awaitable<loadtest::Outcome> user_action(loadtest::Session<>& user) { ... }
 *      };
 *      ItemsTest test({.name = "items", .target = "http://127.0.0.1:8080"}, loadtest::RampUsers{...});
 *      loadtest::LoadTestResult r = test.run();
 *
 *  - `Pattern` models LoadPattern: a UsersPattern (pattern.hpp, closed model: how many users at
 *    each moment) or a RatePattern (rate.hpp, open model: how many arrivals per second).
 *  - `Behavior` models UserBehavior (behavior.hpp): what a user does in one iteration.
 *  - `Backoff` models BackoffPolicy (backoff.hpp): pauses after errors, per user.
 *  - `Sink` models MetricsSink (sink.hpp): where snapshots and the result go.
 *  Policies are stored by value as empty-base-optimised members: an empty policy costs nothing.
 */
template <class Derived, class Pattern = RampUsers, class Behavior = SingleAction, class Backoff = FixedBackoff,
          class Sink = NullSink>
class LoadTest {
  static_assert(LoadPattern<Pattern>,
                "Pattern must model loadtest::UsersPattern (users_at(Duration) -> size_t, duration() -> Duration, "
                "max_users() -> size_t; see pattern.hpp) or loadtest::RatePattern (rate_at(Duration) -> double, "
                "duration() -> Duration; see rate.hpp)");
  static_assert(BackoffPolicy<Backoff>,
                "Backoff must model loadtest::BackoffPolicy: delay(unsigned attempt) -> Duration and reset() "
                "(see backoff.hpp)");
  static_assert(MetricsSink<Sink>,
                "Sink must model loadtest::MetricsSink: on_start(const TestInfo&), on_interval(const "
                "RealTimeMetrics&), on_finish(const LoadTestResult&) (see sink.hpp)");

 public:
  using derived_type = Derived;
  using pattern_type = Pattern;
  using behavior_type = Behavior;
  using backoff_type = Backoff;
  using sink_type = Sink;
  /** True when the pattern is an arrival rate (open model). */
  static constexpr bool open_model = !UsersPattern<Pattern>;

  explicit LoadTest(Config cfg = {}, Pattern pattern = {}, Behavior behavior = {}, Backoff backoff = {},
                    Sink sink = {})
      : cfg_(std::move(cfg)),
        pattern_(std::move(pattern)),
        behavior_(std::move(behavior)),
        backoff_(std::move(backoff)),
        sink_(std::move(sink)) {}

  /** Runs the whole test on this thread (plus `Config::threads` workers) and returns its result.
   *  Throws std::invalid_argument for a bad configuration and whatever the sink's `on_start` throws
   *  (e.g. an unwritable results directory), both before any user starts. */
  LoadTestResult run();

  /** Ends the test early, from any thread; results are kept. */
  void request_stop() noexcept { stop_requested_.store(true); }

  const Config& config() const noexcept { return cfg_; }
  Pattern& pattern() noexcept { return pattern_; }
  Behavior& behavior() noexcept { return behavior_; }
  Backoff& backoff() noexcept { return backoff_; }
  Sink& sink() noexcept { return sink_; }
  /** The result of the last run. */
  const LoadTestResult& result() const noexcept { return result_; }

 protected:
  ~LoadTest() = default;
  Derived& derived() noexcept { return static_cast<Derived&>(*this); }

 private:
  using UserT = User<LoadTest>;

  TestInfo make_info() const;
  boost::asio::awaitable<void> control(detail::RunState& rs);
  boost::asio::awaitable<void> monitor(detail::RunState& rs);
  static boost::asio::awaitable<void> drain_shard(RecorderShard* shard, IntervalStats* into) {
    shard->drain_interval_into(*into);
    co_return;
  }
  void emit_snapshot(detail::RunState& rs, IntervalStats& acc);
  std::size_t active_users(const detail::RunState& rs) const;
  bool all_users_done(const detail::RunState& rs) const;
  static boost::asio::awaitable<void> iterate(LoadTest* self, UserT& user);

  // Closed model.
  void adjust_users(detail::RunState& rs, std::size_t target);
  void ask_to_leave(detail::RunState& rs, detail::UserSlot& slot);
  static boost::asio::awaitable<void> user_main(LoadTest* self, detail::RunState* rs, detail::UserSlot* slot);

  // Open model.
  static boost::asio::awaitable<void> arrivals(LoadTest* self, detail::RunState* rs, unsigned worker);
  static boost::asio::awaitable<void> open_user_main(LoadTest* self, detail::RunState* rs, detail::OpenPool* pool,
                                                     detail::UserSlot* slot);
  void dispatch(detail::RunState& rs, unsigned worker, Clock::time_point intended);
  detail::UserSlot& new_open_user(detail::RunState& rs, unsigned worker);
  static void end_arrivals(detail::RunState& rs, unsigned worker);

  Config cfg_;
  [[no_unique_address]] Pattern pattern_;
  [[no_unique_address]] Behavior behavior_;
  [[no_unique_address]] Backoff backoff_;
  [[no_unique_address]] Sink sink_;
  std::atomic<bool> stop_requested_{false};
  LoadTestResult result_;

  // Run-time state of the control thread.
  std::uint64_t seed_ = 0;
  std::vector<std::size_t> started_order_;  // running slots in the order they started (LIFO leave)
  std::size_t max_active_ = 0;
  bool monitor_done_ = false;
  boost::asio::steady_timer* monitor_timer_ = nullptr;
  std::unique_ptr<IntervalStats> interval_;
  detail::BoundedHistory history_;
  std::vector<ErrorEntry> seen_errors_;
  detail::CpuMeter cpu_;
  Clock::time_point last_snapshot_{};
  std::uint64_t total_requests_ = 0, total_errors_ = 0;
  std::string aborted_by_;  // the threshold breach that stopped the test
};

// ---------------------------------------------------------------------------------------------

template <class D, class P, class B, class K, class S>
TestInfo LoadTest<D, P, B, K, S>::make_info() const {
  TestInfo info;
  auto now = WallClock::now();
  info.name = cfg_.name;
  info.timestamp = iso8601_utc(now);
  info.file_stamp = file_stamp_utc(now);
  info.model = open_model ? "open" : "closed";
  info.planned_duration = to_seconds(pattern_.duration());
  info.results_dir = cfg_.results_dir;
  info.config = cfg_.labels;
  info.config["model"] = info.model;
  info.config["pattern"] = detail::describe(pattern_);
  info.config["behavior"] = detail::describe(behavior_);
  info.config["backoff"] = detail::describe(backoff_);
  info.config["threads"] = std::to_string(cfg_.threads);
  info.config["monitor_interval"] = format_duration(cfg_.monitor_interval);
  info.config["grace_period"] = format_duration(cfg_.grace_period);
  info.config["seed"] = std::to_string(seed_);
  if constexpr (open_model) {
    info.max_users = cfg_.open.max_users;
    info.config["max_users"] = std::to_string(cfg_.open.max_users);
    info.config["queue_limit"] = std::to_string(cfg_.open.queue_limit);
  } else {
    info.max_users = pattern_.max_users();
  }
  if (!cfg_.target.empty()) info.config["target"] = cfg_.target;
  return info;
}

template <class D, class P, class B, class K, class S>
LoadTestResult LoadTest<D, P, B, K, S>::run() {
  static_assert(UserBehavior<B, D, UserT>,
                "Behavior must model loadtest::UserBehavior for this test: "
                "boost::asio::awaitable<void> run(Test&, User&) (see behavior.hpp); for SingleAction the "
                "test needs a user_action(Session<Data>&) or user_action(std::size_t) returning "
                "awaitable<Outcome> or awaitable<bool>");
  namespace asio = boost::asio;
  cfg_.validate();
  detail::validate_if_possible(pattern_);
  detail::validate_if_possible(behavior_);
  detail::validate_if_possible(backoff_);
  seed_ = cfg_.seed != 0 ? cfg_.seed : (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  stop_requested_.store(false);
  started_order_.clear();
  max_active_ = 0;
  monitor_done_ = false;
  history_.clear();
  seen_errors_.clear();
  aborted_by_.clear();
  total_requests_ = total_errors_ = 0;
  if (!interval_) interval_ = std::make_unique<IntervalStats>();
  interval_->reset();

  TestInfo info = make_info();
  sink_.on_start(info);  // may refuse (unwritable directory): nothing has started yet

  auto start = Clock::now();
  detail::RunState rs(cfg_.threads, start);
  last_snapshot_ = start;
  cpu_.sample();

  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& w : rs.workers) guards.push_back(asio::make_work_guard(*w));
  if constexpr (open_model) {
    // Each worker runs its own arrival scheduler for its share of the arrivals (no cross-thread
    // hop between the schedule and the user), with a pool of users made up front.
    const auto n = static_cast<std::size_t>(cfg_.threads);
    for (unsigned w = 0; w < cfg_.threads; ++w) {
      auto pool = std::make_unique<detail::OpenPool>();
      pool->max_users = (cfg_.open.max_users + n - 1 - w) / n;  // shares add up to max_users
      pool->queue_limit = (cfg_.open.queue_limit + n - 1 - w) / n;
      rs.pools.push_back(std::move(pool));
    }
    std::size_t pre = std::min(cfg_.open.preallocated_users, cfg_.open.max_users);
    for (std::size_t i = 0; i < pre; ++i) {
      auto w = static_cast<unsigned>(i % n);
      if (rs.pools[w]->slots.size() < rs.pools[w]->max_users) {
        detail::UserSlot& slot = new_open_user(rs, w);
        asio::co_spawn(*rs.workers[w], open_user_main(this, &rs, rs.pools[w].get(), &slot), asio::detached);
      }
    }
    for (unsigned w = 0; w < cfg_.threads; ++w) asio::co_spawn(*rs.workers[w], arrivals(this, &rs, w), asio::detached);
  }
  std::vector<std::thread> threads;
  for (auto& w : rs.workers)
    threads.emplace_back([ctx = w.get()] {
      detail::precise_timers();
      ctx->run();
    });

  asio::io_context control_ctx(1);
  asio::signal_set signals(control_ctx);
  if (cfg_.handle_signals) {
    signals.add(SIGINT);
    signals.add(SIGTERM);
    signals.async_wait([this](const boost::system::error_code& ec, int) {
      if (!ec) request_stop();
    });
  }
  // A failure inside the monitor (a sink's on_interval threw) or the scheduler ends the test: the
  // workers are still stopped and joined, and the exception is rethrown after that.
  std::exception_ptr failure;
  asio::co_spawn(control_ctx, monitor(rs), [&](std::exception_ptr e) {
    if (e && !failure) failure = e;
    if (e) request_stop();
  });
  asio::co_spawn(control_ctx, control(rs), [&](std::exception_ptr e) {
    if (e && !failure) failure = e;
    monitor_done_ = true;
    if (monitor_timer_) monitor_timer_->cancel();
    boost::system::error_code ignored;
    signals.cancel(ignored);
  });
  control_ctx.run();

  auto elapsed = Clock::now() - start;
  for (auto& w : rs.workers) w->stop();
  for (auto& t : threads) t.join();
  guards.clear();
  // The workers are joined: everything below reads their state directly.
  // Whatever was still in flight after the grace period is cancelled and counted.
  std::uint64_t cancelled = 0;
  for (auto& slot : rs.slots) cancelled += slot.in_action.load() ? 1 : 0;
  for (auto& pool : rs.pools)
    for (auto& slot : pool->slots) cancelled += slot.in_action.load() ? 1 : 0;
  if (cancelled) rs.recorder.shard(0).count_cancelled(cancelled);
  if constexpr (open_model) {
    max_active_ = rs.busy_max.load();
    for (std::size_t w = 0; w < rs.pools.size(); ++w)  // arrivals the end caught in the queue
      rs.recorder.shard(w).count_dropped(rs.pools[w]->queue.size());
  }
  if (failure) std::rethrow_exception(failure);

  // The last, partial interval.
  for (std::size_t i = 0; i < rs.recorder.size(); ++i) rs.recorder.shard(i).drain_interval_into(*interval_);
  if (interval_->requests > 0 || history_.empty()) emit_snapshot(rs, *interval_);

  LoadTestResult r;
  r.name = cfg_.name;
  r.timestamp = info.timestamp;
  r.model = info.model;
  rs.recorder.fill_result(r, elapsed);
  r.retries = rs.retries.load();
  r.duration = to_seconds(elapsed);
  r.max_active_users = max_active_;
  r.history = history_.entries();
  r.config = info.config;
  r.thresholds = evaluate(cfg_.thresholds, r);
  r.aborted_by = aborted_by_;
  result_ = std::move(r);
  rs.workers.clear();  // destroys the users' coroutine frames before the slots they point to
  sink_.on_finish(result_);
  return result_;
}

template <class D, class P, class B, class K, class S>
std::size_t LoadTest<D, P, B, K, S>::active_users(const detail::RunState& rs) const {
  std::size_t n = 0;
  if constexpr (open_model) {
    for (const auto& pool : rs.pools) n += pool->busy.load(std::memory_order_relaxed);
  } else {
    for (const auto& slot : rs.slots)
      if (slot.state.load(std::memory_order_relaxed) == detail::SlotState::running) ++n;
  }
  return n;
}

template <class D, class P, class B, class K, class S>
bool LoadTest<D, P, B, K, S>::all_users_done(const detail::RunState& rs) const {
  if constexpr (open_model) return active_users(rs) == 0;
  for (const auto& slot : rs.slots)
    if (slot.state.load() != detail::SlotState::idle) return false;
  return true;
}

template <class D, class P, class B, class K, class S>
boost::asio::awaitable<void> LoadTest<D, P, B, K, S>::control(detail::RunState& rs) {
  namespace asio = boost::asio;
  asio::steady_timer tick(co_await asio::this_coro::executor);
  const Duration length = pattern_.duration();
  for (;;) {
    Duration t = Clock::now() - rs.start;
    if (t >= length || stop_requested_.load()) break;
    if constexpr (!open_model) adjust_users(rs, pattern_.users_at(t));
    tick.expires_after(std::min<Duration>(5ms, length - t));
    co_await tick.async_wait(detail::use_tuple);
  }

  // The end: users finish their current action and leave; sleeping users wake up now.
  rs.ending.store(true);
  if constexpr (open_model) {
    for (unsigned w = 0; w < rs.workers.size(); ++w)
      asio::post(*rs.workers[w], [rsp = &rs, w] { end_arrivals(*rsp, w); });
  } else {
    for (auto& slot : rs.slots) ask_to_leave(rs, slot);
  }
  auto deadline = Clock::now() + cfg_.grace_period;
  while (Clock::now() < deadline && !all_users_done(rs)) {
    tick.expires_after(std::min<Duration>(5ms, deadline - Clock::now()));
    co_await tick.async_wait(detail::use_tuple);
  }
  monitor_done_ = true;
  if (monitor_timer_) monitor_timer_->cancel();
}

template <class D, class P, class B, class K, class S>
boost::asio::awaitable<void> LoadTest<D, P, B, K, S>::iterate(LoadTest* self, UserT& user) {
  std::string failure;
  try {
    co_await user.behavior().run(self->derived(), user);
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  if (!failure.empty()) {  // a behaviour's own bug: counted like an action that threw
    auto now = Clock::now();
    co_await user.finish("(behavior)", Outcome::error(ErrorCategory::exception, std::move(failure)), now, now);
  }
}

// --- closed model ----------------------------------------------------------------------------

template <class D, class P, class B, class K, class S>
void LoadTest<D, P, B, K, S>::ask_to_leave(detail::RunState& rs, detail::UserSlot& slot) {
  auto expected = detail::SlotState::running;
  slot.state.compare_exchange_strong(expected, detail::SlotState::stopping);
  boost::asio::post(*rs.workers[slot.worker], [s = &slot] {
    if (s->timer) s->timer->cancel();
  });
}

template <class D, class P, class B, class K, class S>
void LoadTest<D, P, B, K, S>::adjust_users(detail::RunState& rs, std::size_t target) {
  using detail::SlotState;
  // Forget users that have left or are leaving.
  std::erase_if(started_order_, [&](std::size_t i) { return rs.slots[i].state.load() != SlotState::running; });
  if (started_order_.size() > target) {
    // The most recently started users leave first.
    while (started_order_.size() > target) {
      ask_to_leave(rs, rs.slots[started_order_.back()]);
      started_order_.pop_back();
    }
    return;
  }
  std::size_t need = target - started_order_.size();
  // Users still finishing their last action are asked to stay; then idle slots are reused;
  // then new slots are made.
  for (auto& slot : rs.slots) {
    if (need == 0) break;
    auto expected = SlotState::stopping;
    if (slot.state.compare_exchange_strong(expected, SlotState::running)) {
      started_order_.push_back(slot.id);
      --need;
    }
  }
  auto spawn = [&](detail::UserSlot& slot) {
    slot.state.store(SlotState::running);
    started_order_.push_back(slot.id);
    boost::asio::co_spawn(*rs.workers[slot.worker], user_main(this, &rs, &slot), boost::asio::detached);
    --need;
  };
  for (auto& slot : rs.slots) {
    if (need == 0) break;
    if (slot.state.load() == SlotState::idle) spawn(slot);
  }
  while (need > 0) {
    std::size_t id = rs.slots.size();
    spawn(rs.slots.emplace_back(id, static_cast<unsigned>(id % rs.workers.size())));
  }
  max_active_ = std::max(max_active_, started_order_.size());
}

template <class D, class P, class B, class K, class S>
boost::asio::awaitable<void> LoadTest<D, P, B, K, S>::user_main(LoadTest* self, detail::RunState* rs,
                                                                 detail::UserSlot* slot) {
  using detail::SlotState;
  auto ex = co_await boost::asio::this_coro::executor;
  UserT user(*self, *rs, *slot, ex, detail::splitmix64(self->seed_ ^ slot->id));
  for (unsigned iteration = 1;; ++iteration) {
    // An action that never suspends (pure CPU work) would starve the worker's other users and
    // the monitor: let them run every 64 iterations.
    if (iteration % 64 == 0) co_await boost::asio::post(ex, boost::asio::use_awaitable);
    if (rs->ending.load(std::memory_order_relaxed)) break;
    auto state = slot->state.load();
    if (state == SlotState::stopping) {
      if (slot->state.compare_exchange_strong(state, SlotState::idle)) co_return;
      continue;  // asked to stay after all
    }
    co_await iterate(self, user);
  }
  slot->state.store(SlotState::idle);
}

// --- open model ------------------------------------------------------------------------------

template <class D, class P, class B, class K, class S>
detail::UserSlot& LoadTest<D, P, B, K, S>::new_open_user(detail::RunState& rs, unsigned worker) {
  detail::OpenPool& pool = *rs.pools[worker];
  std::size_t id = pool.slots.size() * rs.workers.size() + worker;  // unique across workers
  return pool.slots.emplace_back(id, worker);
}

template <class D, class P, class B, class K, class S>
boost::asio::awaitable<void> LoadTest<D, P, B, K, S>::arrivals(LoadTest* self, detail::RunState* rs, unsigned worker) {
  namespace asio = boost::asio;
  detail::OpenPool& pool = *rs->pools[worker];
  asio::steady_timer timer(co_await asio::this_coro::executor);
  pool.scheduler_timer = &timer;
  // Every worker walks the same schedule (same seed) and serves arrivals k = worker (mod threads).
  std::mt19937_64 rng(self->seed_);
  const std::size_t threads = rs->workers.size();
  const Duration end = self->pattern_.duration();
  const Duration spin = self->cfg_.open.spin;
  RecorderShard& shard = rs->recorder.shard(worker);
  Duration t = detail::first_arrival(self->pattern_, rng);
  for (std::size_t k = 0; t < end; ++k, t = detail::next_arrival(self->pattern_, t, rng)) {
    if (rs->ending.load(std::memory_order_relaxed) || self->stop_requested_.load(std::memory_order_relaxed)) break;
    if (k % threads != worker) continue;
    auto due = rs->start + t;
    if (due - spin > Clock::now()) {
      timer.expires_at(due - spin);
      co_await timer.async_wait(detail::use_tuple);
      if (rs->ending.load(std::memory_order_relaxed)) break;
    }
    // The optional short spin to the due time: it yields to the worker's other handlers (the
    // users) on every turn, so it costs CPU but never delays them.
    while (spin > Duration{0} && Clock::now() < due) co_await asio::post(timer.get_executor(), asio::use_awaitable);
    shard.count_intended();
    self->dispatch(*rs, worker, due);
  }
  pool.scheduler_timer = nullptr;
}

template <class D, class P, class B, class K, class S>
void LoadTest<D, P, B, K, S>::dispatch(detail::RunState& rs, unsigned worker, Clock::time_point intended) {
  namespace asio = boost::asio;
  detail::OpenPool& pool = *rs.pools[worker];
  if (!pool.idle.empty()) {  // a free user takes it at once
    detail::UserSlot* slot = pool.idle.back();
    pool.idle.pop_back();
    slot->arrival = intended;
    slot->has_arrival = true;
    if (slot->timer) slot->timer->cancel();
  } else if (pool.slots.size() < pool.max_users) {  // the pool grows on demand
    detail::UserSlot& slot = new_open_user(rs, worker);
    slot.arrival = intended;
    slot.has_arrival = true;
    asio::co_spawn(*rs.workers[worker], open_user_main(this, &rs, &pool, &slot), asio::detached);
  } else if (pool.queue.size() < pool.queue_limit) {  // waits; its latency still counts from `intended`
    pool.queue.push_back(intended);
  } else {  // no user, no room: dropped, and counted
    rs.recorder.shard(worker).count_dropped();
  }
}

template <class D, class P, class B, class K, class S>
void LoadTest<D, P, B, K, S>::end_arrivals(detail::RunState& rs, unsigned worker) {
  detail::OpenPool& pool = *rs.pools[worker];
  pool.done = true;
  if (pool.scheduler_timer) pool.scheduler_timer->cancel();
  for (detail::UserSlot* slot : pool.idle)
    if (slot->timer) slot->timer->cancel();  // woken without an arrival: they leave
  pool.idle.clear();
  for (auto& slot : pool.slots)  // busy users stop sleeping (think time, backoff)
    if (slot.timer && !slot.has_arrival) slot.timer->cancel();
}

template <class D, class P, class B, class K, class S>
boost::asio::awaitable<void> LoadTest<D, P, B, K, S>::open_user_main(LoadTest* self, detail::RunState* rs,
                                                                      detail::OpenPool* pool, detail::UserSlot* slot) {
  using detail::SlotState;
  namespace asio = boost::asio;
  auto ex = co_await asio::this_coro::executor;
  UserT user(*self, *rs, *slot, ex, detail::splitmix64(self->seed_ ^ slot->id));
  for (;;) {
    Clock::time_point intended;
    if (slot->has_arrival) {
      intended = slot->arrival;
      slot->has_arrival = false;
    } else if (!pool->queue.empty()) {
      intended = pool->queue.front();
      pool->queue.pop_front();
    } else {
      if (pool->done || rs->ending.load(std::memory_order_relaxed)) break;
      // Idle: wait until dispatch hands over an arrival (it cancels this wait) or the end.
      pool->idle.push_back(slot);
      asio::steady_timer& wake = *slot->timer;
      wake.expires_at(Clock::time_point::max());
      co_await wake.async_wait(detail::use_tuple);
      if (!slot->has_arrival) break;
      continue;
    }
    slot->state.store(SlotState::running);
    pool->busy.fetch_add(1, std::memory_order_relaxed);
    std::size_t busy = 0, most = rs->busy_max.load(std::memory_order_relaxed);
    for (const auto& p : rs->pools) busy += p->busy.load(std::memory_order_relaxed);
    while (busy > most && !rs->busy_max.compare_exchange_weak(most, busy)) {}
    user.begin_arrival(intended);
    co_await iterate(self, user);
    pool->busy.fetch_sub(1, std::memory_order_relaxed);
    slot->state.store(SlotState::idle);
  }
}

template <class D, class P, class B, class K, class S>
boost::asio::awaitable<void> LoadTest<D, P, B, K, S>::monitor(detail::RunState& rs) {
  namespace asio = boost::asio;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  monitor_timer_ = &timer;
  auto next = rs.start + cfg_.monitor_interval;
  while (!monitor_done_) {
    timer.expires_at(next);
    co_await timer.async_wait(detail::use_tuple);
    if (monitor_done_) break;
    for (std::size_t i = 0; i < rs.workers.size(); ++i)
      co_await asio::co_spawn(*rs.workers[i], drain_shard(&rs.recorder.shard(i), interval_.get()),
                              asio::use_awaitable);
    emit_snapshot(rs, *interval_);
    auto now = Clock::now();
    next += cfg_.monitor_interval;
    while (next <= now) next += cfg_.monitor_interval;  // a stalled monitor skips, never bursts
  }
  monitor_timer_ = nullptr;
}

template <class D, class P, class B, class K, class S>
void LoadTest<D, P, B, K, S>::emit_snapshot(detail::RunState& rs, IntervalStats& acc) {
  auto now = Clock::now();
  double secs = to_seconds(now - last_snapshot_);
  last_snapshot_ = now;
  RealTimeMetrics m;
  m.timestamp = iso8601_utc(WallClock::now());
  m.elapsed = to_seconds(now - rs.start);
  m.planned_duration = to_seconds(pattern_.duration());
  m.active_users = active_users(rs);
  m.interval_requests = acc.requests;
  m.interval_errors = acc.failures + acc.errors;
  m.requests_per_second = secs > 0 ? static_cast<double>(acc.requests) / secs : 0;
  m.current_error_rate = acc.requests ? static_cast<double>(m.interval_errors) / static_cast<double>(acc.requests) : 0;
  LatencySummary lat = acc.response_time.summary();
  m.avg_response_time = lat.avg;
  m.p50_response_time = lat.p50;
  m.p95_response_time = lat.p95;
  m.p99_response_time = lat.p99;
  m.memory_usage = detail::resident_mb();
  m.cpu_usage = cpu_.sample();
  total_requests_ += acc.requests;
  total_errors_ += m.interval_errors;
  m.total_requests = total_requests_;
  m.total_errors = total_errors_;
  // Running tally of errors for the live view (bounded like the recorder's table).
  for (const ErrorEntry& e : acc.errors_seen) {
    auto it = std::find_if(seen_errors_.begin(), seen_errors_.end(),
                           [&](const ErrorEntry& s) { return s.category == e.category && s.message == e.message; });
    if (it != seen_errors_.end()) it->count += e.count;
    else if (seen_errors_.size() < 100) seen_errors_.push_back(e);
  }
  std::sort(seen_errors_.begin(), seen_errors_.end(), [](auto& a, auto& b) { return a.count > b.count; });
  m.top_errors.assign(seen_errors_.begin(), seen_errors_.begin() + std::min<std::size_t>(5, seen_errors_.size()));
  // Totals since the start, for live views and exporters.
  for (const EndpointCounts& c : acc.endpoints) {
    EndpointResult e;
    e.name = c.name;
    e.successful_requests = c.successes;
    e.failures = c.failures;
    e.errors = c.errors;
    e.failed_requests = c.failures + c.errors;
    e.total_requests = c.successes + e.failed_requests;
    e.status_classes = c.status_classes;
    m.endpoints.push_back(std::move(e));
  }
  std::sort(m.endpoints.begin(), m.endpoints.end(), [](auto& a, auto& b) { return a.name < b.name; });
  for (std::size_t i = 1; i < acc.by_category.size(); ++i)
    if (acc.by_category[i]) m.errors_by_category[std::string(to_string(static_cast<ErrorCategory>(i)))] = acc.by_category[i];
  m.schedule = schedule_stats(acc.totals, acc.schedule_lag);
  m.retries = rs.retries.load(std::memory_order_relaxed);
  m.users_in_open_circuit = static_cast<std::uint64_t>(std::max<std::int64_t>(0, rs.open_circuits.load()));
  acc.reset();
  if (cfg_.abort_on_fail && aborted_by_.empty() && now - rs.start >= cfg_.abort_grace) {
    for (const Threshold& t : cfg_.thresholds) {
      std::optional<double> observed = observe_live(t, m);
      if (observed && !holds(t, *observed)) {
        aborted_by_ = t.expression + " (observed " + format_observed(metric_name(t), *observed) + ")";
        request_stop();
        break;
      }
    }
  }
  sink_.on_interval(m);
  // The history keeps the numbers only.
  m.top_errors.clear();
  m.endpoints.clear();
  m.errors_by_category.clear();
  history_.push(std::move(m));
}

}  // namespace loadtest
