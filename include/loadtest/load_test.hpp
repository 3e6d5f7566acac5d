// loadtest: the engine, `LoadTest<Derived, Pattern, Behavior, Backoff, Sink>`.
//
// Threads: the thread calling run() drives a control io_context (the scheduler that follows the
// pattern, the monitor, checkpoints, signal handling); `Config::threads` worker threads each run
// an io_context with their share of the users and own one recorder shard. A user is a coroutine
// on its worker; everything it records goes into its worker's shard, so the per-request path takes
// no lock and makes no virtual call.
//
// The parts (a newcomer's map):
//   user_runner.hpp              one user: execute, record, back off, sleep (what behaviours call)
//   detail/run_state.hpp         the state of one run; cancellation signals and the join count
//   detail/closed_scheduler.hpp  closed model: follows users_at(t)
//   detail/open_scheduler.hpp    open model: arrivals, the user pool, queue and drops
//   monitor.hpp, src/monitor.cpp intervals, snapshots, history, live thresholds
//   reducer.hpp                  the seam where other processes' data joins (mpi.hpp plugs in)
// This file holds only the orchestration: validate, start, run, stop once, assemble the result.
//
// Lifetimes: the worker io_contexts belong to the test object and live as long as it does.
// Objects a test makes on the engine's executors (an http::Client kept per user, a timer) may be
// destroyed at any time before the test object, also after run() returned; they must not be used
// for I/O after run() returned (the contexts no longer run).
#pragma once

#include "loadtest/detail/config.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <exception>
#include <filesystem>
#include <memory>
#include <random>
#include <thread>
#include <type_traits>
#include <vector>

#include "loadtest/backoff.hpp"
#include "loadtest/behavior.hpp"
#include "loadtest/config.hpp"
#include "loadtest/detail/closed_scheduler.hpp"
#include "loadtest/detail/hooks.hpp"
#include "loadtest/detail/open_scheduler.hpp"
#include "loadtest/detail/process_stats.hpp"
#include "loadtest/detail/run_state.hpp"
#include "loadtest/metrics.hpp"
#include "loadtest/monitor.hpp"
#include "loadtest/pattern.hpp"
#include "loadtest/rate.hpp"
#include "loadtest/reducer.hpp"
#include "loadtest/result.hpp"
#include "loadtest/results_io.hpp"
#include "loadtest/session.hpp"
#include "loadtest/sink.hpp"
#include "loadtest/user_runner.hpp"

namespace loadtest {

namespace detail {

/** The name of a signal the engine handles ("SIGINT"); empty for 0. */
inline std::string signal_name(int signo) {
  switch (signo) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    case 0: return {};
    default: return "signal " + std::to_string(signo);
  }
}

/** A deterministic seed for a segmented test without Config::seed: every part must walk the same
 *  schedule and give user k the same seed, so it comes from the test's name (FNV-1a). */
inline std::uint64_t segment_seed(std::string_view name) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ULL;
  return h | 1;
}

template <class P>
constexpr bool check_pattern() {
  if constexpr (requires(P& p, Duration t) { p.users_at(t); } && !requires(const P& p, Duration t) { p.users_at(t); })
    static_assert(sizeof(P) == 0, "Pattern: users_at(Duration) must be a const member function");
  if constexpr (requires(P& p, Duration t) { p.rate_at(t); } && !requires(const P& p, Duration t) { p.rate_at(t); })
    static_assert(sizeof(P) == 0, "Pattern: rate_at(Duration) must be a const member function");
  if constexpr (requires(P& p) { p.duration(); } && !requires(const P& p) { p.duration(); })
    static_assert(sizeof(P) == 0, "Pattern: duration() must be a const member function");
  if constexpr (requires(P& p) { p.max_users(); } && !requires(const P& p) { p.max_users(); })
    static_assert(sizeof(P) == 0, "Pattern: max_users() must be a const member function");
  return true;
}

}  // namespace detail

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
 *  @tparam Derived  the test itself (CRTP).
 *  @tparam Pattern  models LoadPattern: a UsersPattern (pattern.hpp, closed model: how many users
 *                   at each moment) or a RatePattern (rate.hpp, open model: arrivals per second).
 *  @tparam Behavior models UserBehavior (behavior.hpp): what a user does in one iteration.
 *  @tparam Backoff  models BackoffPolicy (backoff.hpp): pauses after errors, per user.
 *  @tparam Sink     models MetricsSink (sink.hpp): where snapshots and the result go.
 *  Policies are stored by value as `[[no_unique_address]]` members: an empty policy costs nothing.
 *  Thread safety: run() on one thread at a time; request_stop() from any thread.
 */
template <class Derived, class Pattern = RampUsers, class Behavior = SingleAction, class Backoff = FixedBackoff,
          class Sink = NullSink>
class LoadTest {
  static_assert(detail::check_pattern<Pattern>());
  static_assert(LoadPattern<Pattern>,
                "Pattern must model loadtest::UsersPattern (users_at(Duration) -> size_t, duration() -> Duration, "
                "max_users() -> size_t, all const; see pattern.hpp) or loadtest::RatePattern (rate_at(Duration) -> "
                "double, duration() -> Duration, both const; see rate.hpp)");
  static_assert(BackoffPolicy<Backoff>,
                "Backoff must model loadtest::BackoffPolicy: delay(unsigned attempt) -> Duration and reset() "
                "(see backoff.hpp)");
  static_assert(check_backoff_hooks<Backoff>());
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

  /** A test with its configuration and policies (overloads, not defaulted aggregate parameters:
   *  GCC 12 miscompiles those inside a co_await full-expression). */
  LoadTest() = default;
  explicit LoadTest(Config cfg) : cfg_(std::move(cfg)) {}
  LoadTest(Config cfg, Pattern pattern) : cfg_(std::move(cfg)), pattern_(std::move(pattern)) {}
  LoadTest(Config cfg, Pattern pattern, Behavior behavior)
      : cfg_(std::move(cfg)), pattern_(std::move(pattern)), behavior_(std::move(behavior)) {}
  LoadTest(Config cfg, Pattern pattern, Behavior behavior, Backoff backoff)
      : cfg_(std::move(cfg)), pattern_(std::move(pattern)), behavior_(std::move(behavior)), backoff_(std::move(backoff)) {}
  LoadTest(Config cfg, Pattern pattern, Behavior behavior, Backoff backoff, Sink sink)
      : cfg_(std::move(cfg)),
        pattern_(std::move(pattern)),
        behavior_(std::move(behavior)),
        backoff_(std::move(backoff)),
        sink_(std::move(sink)) {}

  /** Runs the whole test on this thread (plus `Config::threads` workers) and returns its result.
   *  Throws std::invalid_argument for a bad configuration and whatever the sink's `on_start` throws
   *  (e.g. an unwritable results directory), both before any user starts. */
  LoadTestResult run() {
    LocalReducer local;
    return run(local);
  }

  /** Runs this process's part of a test whose other parts join through `reducer` (see reducer.hpp,
   *  mpi.hpp). Snapshots and the result reach the sink in the root part only. */
  LoadTestResult run(Reducer& reducer);

  /** Ends the test early, from any thread; results are kept. In a collective run the stop takes
   *  effect at the next monitor interval, on every part. */
  void request_stop() noexcept {
    if (collective_.load()) stop_wanted_.store(true);
    else stop_now_.store(true);
  }

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
  using UserT = UserRunner<LoadTest>;
  using Scheduler = std::conditional_t<open_model, detail::OpenScheduler<LoadTest>, detail::ClosedScheduler<LoadTest>>;

  TestInfo make_info(std::uint64_t seed) const;
  std::string fingerprint() const;
  boost::asio::awaitable<void> control(detail::RunState& rs, Scheduler& scheduler, bool collective,
                                       const bool& monitor_running);
  boost::asio::awaitable<void> checkpoints(detail::RunState& rs, const TestInfo& info);
  LoadTestResult result_header(const TestInfo& info) const;
  LoadTestResult partial_result(const Recorder& recorder, const TestInfo& info, Duration elapsed) const;
  LoadTestResult so_far(const TestInfo& info) const;
  bool write_checkpoint(const LoadTestResult& r, const TestInfo& info, bool quiet) const;
  void remove_checkpoint(const TestInfo& info) const;
  void prepare_workers();

  Config cfg_;
  [[no_unique_address]] Pattern pattern_;
  [[no_unique_address]] Behavior behavior_;
  [[no_unique_address]] Backoff backoff_;
  [[no_unique_address]] Sink sink_;
  std::atomic<bool> stop_now_{false};     // the load phase ends now
  std::atomic<bool> stop_wanted_{false};  // collective run: stop at the next interval
  std::atomic<bool> collective_{false};
  std::atomic<int> interrupted_by_{0};    // the first signal received, 0 if none
  LoadTestResult result_;
  Monitor monitor_;
  boost::asio::cancellation_signal end_monitor_;  // ends the monitor (control thread, during run())
  // A base is destroyed after the derived test's members: the worker contexts outlive everything
  // a test made on them.
  std::vector<std::unique_ptr<detail::WorkerContext>> workers_;
  std::vector<std::unique_ptr<detail::WorkerContext>> retired_;  // earlier runs' contexts
};

// ---------------------------------------------------------------------------------------------

template <class D, class P, class B, class K, class S>
TestInfo LoadTest<D, P, B, K, S>::make_info(std::uint64_t seed) const {
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
  info.config["seed"] = std::to_string(seed);
  if (!cfg_.segment.whole()) info.config["segment"] = cfg_.segment.to_string();
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

// What every part of a scaled-out test must agree on, one "key=value" per line.
template <class D, class P, class B, class K, class S>
std::string LoadTest<D, P, B, K, S>::fingerprint() const {
  TestInfo info = make_info(0);
  info.config.erase("segment");
  info.config.erase("seed");
  std::string out = "name=" + info.name + "\n";
  for (const auto& [k, v] : info.config) out += k + "=" + v + "\n";
  // The pattern's parameters, as its shape: a policy without describe() still differs here.
  const Duration length = pattern_.duration();
  out += "duration=" + std::to_string(length.count()) + "\nshape=";
  for (int i = 0; i < 32; ++i) {
    const Duration t = length * i / 32;
    if constexpr (open_model) out += fmt::format("{:.6g};", static_cast<double>(pattern_.rate_at(t)));
    else out += std::to_string(pattern_.users_at(t)) + ";";
  }
  out += "\nthresholds=";
  for (const Threshold& t : cfg_.thresholds) out += t.expression + ";";
  out += "\nabort_on_fail=" + std::to_string(cfg_.abort_on_fail) + "\n";
  return out;
}

template <class D, class P, class B, class K, class S>
void LoadTest<D, P, B, K, S>::prepare_workers() {
  // A run's contexts are shut down at its end; later runs get fresh ones, and the old ones live on
  // (idle) with the test object, for the objects a test made on them.
  for (auto& w : workers_) retired_.push_back(std::move(w));
  workers_.clear();
  for (unsigned i = 0; i < cfg_.threads; ++i) workers_.push_back(std::make_unique<detail::WorkerContext>());
}

template <class D, class P, class B, class K, class S>
LoadTestResult LoadTest<D, P, B, K, S>::run(Reducer& reducer) {
  static_assert(!(std::is_same_v<B, SingleAction> && !detail::HasUserAction<D, UserT> &&
                  (requires(D& d, Session<>& s) { d.user_action(s); })),
                "this test declares `using UserData = ...`: its user_action must take "
                "loadtest::Session<UserData>&, not Session<>&");
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
  std::uint64_t seed = cfg_.seed;
  if (seed == 0)
    seed = cfg_.segment.whole() ? (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}()
                                : detail::segment_seed(cfg_.name);
  seed = reducer.agree(fingerprint(), seed);  // every part runs the same test with the same seed
  const bool collective = reducer.collective();
  const bool root = reducer.root();
  collective_.store(collective);
  stop_now_.store(false);
  stop_wanted_.store(false);
  interrupted_by_.store(0);

  TestInfo info = make_info(seed);
  // The sink may refuse (an unwritable directory): nothing has started yet, on any part.
  std::exception_ptr refused;
  std::string refusal;
  if (root) {
    try {
      sink_.on_start(info);
    } catch (const std::exception& e) {
      refused = std::current_exception();
      refusal = e.what();
    }
  }
  const auto start = reducer.start_instant(Clock::now(), refusal);
  if (refused) std::rethrow_exception(refused);

  prepare_workers();
  asio::io_context control_ctx(1);
  detail::RunState rs(workers_, control_ctx, start, cfg_.segment);
  Scheduler scheduler(*this, rs, seed);

  Monitor::Settings ms{cfg_.monitor_interval, pattern_.duration(), cfg_.thresholds, cfg_.abort_on_fail,
                       cfg_.abort_grace};
  Monitor::Hooks hooks;
  hooks.active_users = [&scheduler] {
    if constexpr (open_model) return std::size_t{0};  // the open model's busy users come from the shards
    else return scheduler.active();
  };
  if (root) hooks.deliver = [this](const RealTimeMetrics& m) { sink_.on_interval(m); };
  hooks.stop = [this] { stop_now_.store(true); };
  hooks.stop_wanted = [this] { return stop_wanted_.load() || stop_now_.load(); };
  monitor_.begin(ms, reducer, std::move(hooks), start);

  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& w : workers_) guards.push_back(asio::make_work_guard(*w));
  if constexpr (open_model) scheduler.start();
  std::vector<std::thread> threads;
  for (auto& w : workers_)
    threads.emplace_back([ctx = w.get()] {
      detail::precise_timers();
      ctx->run();
    });

  // Signals: the first ends the test (results kept, marked); a second SIGINT ends the grace
  // period. They are handled on a thread of their own, so that a control thread waiting in a
  // collective reduction (a dead peer) does not delay them.
  asio::io_context signal_ctx(1);
  asio::signal_set signals(signal_ctx);
  std::function<void()> arm_signals = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int signo) {
      if (ec) return;
      int none = 0;
      if (interrupted_by_.compare_exchange_strong(none, signo)) {
        request_stop();
        // A collective stop takes effect at the next interval; the launcher may not wait that
        // long (mpirun kills every rank a second after one died): keep what rank 0 has now.
        if (collective && root) {
          LoadTestResult now = so_far(info);
          now.checkpoint = true;
          now.incomplete = true;
          now.interrupted = detail::signal_name(signo);
          write_checkpoint(now, info, false);
        }
      } else if (signo == SIGINT) {
        stop_now_.store(true);
        asio::post(control_ctx, [&rs] { rs.joined.cancel(); });
      }
      arm_signals();
    });
  };
  std::thread signal_thread;
  if (cfg_.handle_signals) {
    signals.add(SIGINT);
    signals.add(SIGTERM);
    signals.add(SIGHUP);
    arm_signals();
    signal_thread = std::thread([&signal_ctx] { signal_ctx.run(); });
  }
  // A failure inside the monitor (a sink's on_interval threw) or the scheduler ends the test: the
  // workers are still stopped and joined, and the exception is rethrown after that.
  // A signal may only be emitted while its coroutine runs: the handler a co_spawn installs
  // points into it. Both signals are this run's own.
  std::exception_ptr failure;
  asio::cancellation_signal end_checkpoints;
  bool monitor_running = true, checkpoints_running = false;
  asio::co_spawn(control_ctx, monitor_.run(rs),
                 asio::bind_cancellation_slot(end_monitor_.slot(), [&](std::exception_ptr e) {
                   monitor_running = false;
                   end_monitor_.slot().clear();
                   if (e && !failure) failure = e;
                   if (e) stop_now_.store(true);
                 }));
  if (root && cfg_.checkpoint_interval > Duration{0}) {
    checkpoints_running = true;
    asio::co_spawn(control_ctx, checkpoints(rs, info),
                   asio::bind_cancellation_slot(end_checkpoints.slot(), [&](std::exception_ptr) {
                     checkpoints_running = false;
                     end_checkpoints.slot().clear();
                   }));
  }
  asio::co_spawn(control_ctx, control(rs, scheduler, collective, monitor_running), [&](std::exception_ptr e) {
    if (e && !failure) failure = e;
    if (checkpoints_running) end_checkpoints.emit(asio::cancellation_type::terminal);
  });
  control_ctx.run();
  if (signal_thread.joinable()) {
    asio::post(signal_ctx, [&signals] {
      boost::system::error_code ignored;
      signals.cancel(ignored);
    });
    signal_thread.join();
  }

  const auto elapsed = Clock::now() - start;
  for (auto& w : workers_) w->stop();
  for (auto& t : threads) t.join();
  guards.clear();
  // The workers are joined: everything below reads their state directly.
  // Whatever was still in flight after the grace period is cancelled and counted.
  std::uint64_t cancelled = 0;
  for (auto& slot : rs.slots) cancelled += slot.in_action.load() ? 1 : 0;
  for (auto& pool : rs.pools)
    for (auto& slot : pool->slots) cancelled += slot.in_action.load() ? 1 : 0;
  if (cancelled) rs.recorder.shard(0).count_cancelled(cancelled);
  if constexpr (open_model) scheduler.count_queued_as_dropped();
  monitor_.finish(rs);  // the last, partial interval
  // The users' coroutine frames point into the run state: destroy them now (the contexts stay).
  for (auto& w : workers_) w->shut_down();
  if (failure) std::rethrow_exception(failure);

  LoadTestResult r = partial_result(rs.recorder, info, elapsed);
  if constexpr (open_model) r.max_active_users = monitor_.max_active_users();
  else r.max_active_users = scheduler.max_active();
  r.history = monitor_.history();
  r.aborted_by = monitor_.aborted_by();
  r.interrupted = detail::signal_name(interrupted_by_.load());
  const bool reduced = !monitor_.lost_part() && reducer.reduce_result(r);
  if (!reduced && collective && root) {
    // A part is gone: the whole test as far as every part reported, rather than rank 0's part.
    LoadTestResult whole = so_far(info);
    whole.aborted_by = r.aborted_by;
    whole.interrupted = r.interrupted;
    r = std::move(whole);
  }
  r.incomplete = !reduced;
  if (root) r.thresholds = evaluate(cfg_.thresholds, r);
  result_ = std::move(r);
  if (root) {
    sink_.on_finish(result_);
    remove_checkpoint(info);
  }
  return result_;
}

template <class D, class P, class B, class K, class S>
LoadTestResult LoadTest<D, P, B, K, S>::result_header(const TestInfo& info) const {
  LoadTestResult r;
  r.name = cfg_.name;
  r.timestamp = info.timestamp;
  r.model = info.model;
  r.config = info.config;
  return r;
}

template <class D, class P, class B, class K, class S>
LoadTestResult LoadTest<D, P, B, K, S>::partial_result(const Recorder& recorder, const TestInfo& info,
                                                        Duration elapsed) const {
  LoadTestResult r = result_header(info);
  recorder.fill_result(r, elapsed);
  r.duration = to_seconds(elapsed);
  return r;
}

template <class D, class P, class B, class K, class S>
boost::asio::awaitable<void> LoadTest<D, P, B, K, S>::control(detail::RunState& rs, Scheduler& scheduler,
                                                               bool collective, const bool& monitor_running) {
  namespace asio = boost::asio;
  asio::steady_timer tick(co_await asio::this_coro::executor);
  const Duration length = pattern_.duration();
  // The load phase. The closed model samples users_at(t) every 5 ms (a user's start is accurate
  // to that); both models notice a stop within 5 ms.
  for (;;) {
    Duration t = Clock::now() - rs.start;
    if (t >= length || stop_now_.load()) break;
    if constexpr (!open_model) scheduler.adjust(pattern_.users_at(t));
    tick.expires_after(std::min<Duration>(5ms, length - t));
    co_await tick.async_wait(detail::use_tuple);
  }
  // The one stop sequence: users finish their current action and leave (sleeping ones at once);
  // the grace period ends when the last user coroutine has ended (the join count) or at its
  // deadline, whichever is first; a second SIGINT ends it too.
  rs.ending.store(true);
  scheduler.end();
  if (rs.live_users.load() > 0) {
    rs.joined.expires_after(cfg_.grace_period);
    co_await rs.joined.async_wait(detail::use_tuple);
  }
  // A collective monitor leaves by itself after the same interval on every part.
  if (!collective && monitor_running) end_monitor_.emit(asio::cancellation_type::terminal);
}

namespace detail {
inline boost::asio::awaitable<void> copy_shard(const RecorderShard* from, Recorder* into, std::size_t i) {
  into->shard(i) = *from;
  co_return;
}
inline std::filesystem::path checkpoint_path(const Config& cfg, const TestInfo& info) {
  std::string name = "checkpoint_" + sanitize_name(cfg.name) + "_" + info.file_stamp;
  if (!cfg.segment.whole()) name += "_segment" + std::to_string(cfg.segment.index) + "of" + std::to_string(cfg.segment.count);
  return std::filesystem::path(cfg.results_dir) / (name + ".json");
}
}  // namespace detail

// Every Config::checkpoint_interval, the result so far (from copies of the shards, each made on
// its worker) replaces the checkpoint file atomically. A failed write is reported once and
// retried at the next checkpoint; it never stops the test.
template <class D, class P, class B, class K, class S>
boost::asio::awaitable<void> LoadTest<D, P, B, K, S>::checkpoints(detail::RunState& rs, const TestInfo& info) {
  namespace asio = boost::asio;
  co_await asio::this_coro::throw_if_cancelled(false);  // ended by cancellation, not an exception
  asio::steady_timer timer(co_await asio::this_coro::executor);
  Recorder copy(rs.workers.size());
  bool reported = false;
  for (;;) {
    timer.expires_after(cfg_.checkpoint_interval);
    auto [ec] = co_await timer.async_wait(detail::use_tuple);
    if (ec) co_return;
    LoadTestResult r;
    if (collective_.load()) {  // rank 0 of a collective run: the whole test, from the reduced intervals
      r = so_far(info);
    } else {                    // one process: copies of the shards, each made on its worker
      for (std::size_t i = 0; i < rs.workers.size(); ++i)
        co_await asio::co_spawn(*rs.workers[i], detail::copy_shard(&rs.recorder.shard(i), &copy, i),
                                detail::uncancellable());
      r = partial_result(copy, info, Clock::now() - rs.start);
      r.history = monitor_.history();
    }
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) co_return;
    r.checkpoint = true;
    reported = !write_checkpoint(r, info, reported);  // one line per run of failures
  }
}

template <class D, class P, class B, class K, class S>
LoadTestResult LoadTest<D, P, B, K, S>::so_far(const TestInfo& info) const {
  LoadTestResult r = result_header(info);
  r.config.erase("segment");  // the whole test, not this part
  monitor_.fill_so_far(r, Clock::now());
  return r;
}

// Writes `r` as the checkpoint; a failure is reported once (`quiet` after the first) and never
// stops the test. True when written.
template <class D, class P, class B, class K, class S>
bool LoadTest<D, P, B, K, S>::write_checkpoint(const LoadTestResult& r, const TestInfo& info, bool quiet) const {
  try {
    write_file_atomic(detail::checkpoint_path(cfg_, info), to_json(r), true);
    return true;
  } catch (const std::exception& e) {
    if (!quiet) fmt::print(stderr, "loadtest: checkpoint not written: {}\n", e.what());
    return false;
  }
}

template <class D, class P, class B, class K, class S>
void LoadTest<D, P, B, K, S>::remove_checkpoint(const TestInfo& info) const {
  std::error_code ec;
  std::filesystem::remove(detail::checkpoint_path(cfg_, info), ec);  // the final files are written
}

}  // namespace loadtest
