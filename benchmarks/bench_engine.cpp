// Per-request engine overhead, and what dynamic dispatch would cost.
//
// Each benchmark runs a real LoadTest for 300 ms with one user on one worker thread whose action
// does nothing (returns success without suspending), so the time per request is the engine's own:
// behaviour -> execute -> clock reads -> record into the shard -> sample sink -> backoff decision
// -> loop. "static" uses the shipped policies (templates, inlined); "virtual" runs the same engine
// with every policy behind a virtual interface (pattern, behaviour + action, backoff, sink), as a
// classic OO design would. items_per_second is requests per second; its inverse is ns/request.
//
//   meson test -C build --benchmark --suite loadtest   (or run build/benchmarks/bench_engine)

#include <benchmark/benchmark.h>

#include <atomic>
#include <memory>

#include "loadtest/loadtest.hpp"

namespace asio = boost::asio;
using namespace loadtest;

namespace {

Config bench_config(const char* name) {
  Config c;
  c.name = name;
  c.handle_signals = false;
  c.monitor_interval = 100ms;
  c.seed = 1;
  return c;
}

// --- static: the shipped design ------------------------------------------------------------

struct CountingSink {
  std::uint64_t samples = 0;  // one worker thread: no atomic needed
  void on_start(const TestInfo&) {}
  void on_interval(const RealTimeMetrics&) {}
  void on_finish(const LoadTestResult&) {}
  void on_sample(const Sample&) { ++samples; }
};
static_assert(SampleSink<CountingSink>);

struct NoopTest : LoadTest<NoopTest, ConstantUsers, SingleAction, NoBackoff, CountingSink> {
  using LoadTest::LoadTest;
  asio::awaitable<Outcome> user_action(Session<>&) { co_return Outcome::success(); }
};

// --- virtual: the same policies behind interfaces --------------------------------------------

struct IPattern {
  virtual ~IPattern() = default;
  virtual std::size_t users_at(Duration t) const = 0;
  virtual Duration duration() const = 0;
  virtual std::size_t max_users() const = 0;
};
struct IBackoff {
  virtual ~IBackoff() = default;
  virtual Duration delay(unsigned attempt) = 0;
  virtual void reset() = 0;
  virtual std::unique_ptr<IBackoff> clone() const = 0;
};
struct ISink {
  virtual ~ISink() = default;
  virtual void on_start(const TestInfo&) = 0;
  virtual void on_interval(const RealTimeMetrics&) = 0;
  virtual void on_finish(const LoadTestResult&) = 0;
  virtual void on_sample(const Sample&) = 0;
};
struct IAction {
  virtual ~IAction() = default;
  virtual asio::awaitable<Outcome> call(Session<>& s) = 0;
};

struct ConstantImpl final : IPattern {
  ConstantUsers p;
  explicit ConstantImpl(ConstantUsers c) : p(c) {}
  std::size_t users_at(Duration t) const override { return p.users_at(t); }
  Duration duration() const override { return p.duration(); }
  std::size_t max_users() const override { return p.max_users(); }
};
struct NoBackoffImpl final : IBackoff {
  Duration delay(unsigned) override { return 0ns; }
  void reset() override {}
  std::unique_ptr<IBackoff> clone() const override { return std::make_unique<NoBackoffImpl>(); }
};
struct CountingImpl final : ISink {
  std::uint64_t samples = 0;
  void on_start(const TestInfo&) override {}
  void on_interval(const RealTimeMetrics&) override {}
  void on_finish(const LoadTestResult&) override {}
  void on_sample(const Sample&) override { ++samples; }
};
struct NoopAction final : IAction {
  asio::awaitable<Outcome> call(Session<>&) override { co_return Outcome::success(); }
};

// Adapters that make the interfaces fit the policy slots.
struct VirtualPattern {
  std::shared_ptr<IPattern> impl;
  std::size_t users_at(Duration t) const { return impl->users_at(t); }
  Duration duration() const { return impl->duration(); }
  std::size_t max_users() const { return impl->max_users(); }
};
struct VirtualBackoff {
  std::unique_ptr<IBackoff> impl = std::make_unique<NoBackoffImpl>();
  VirtualBackoff() = default;
  VirtualBackoff(const VirtualBackoff& o) : impl(o.impl->clone()) {}
  Duration delay(unsigned a) { return impl->delay(a); }
  void reset() { impl->reset(); }
};
struct VirtualSink {
  std::shared_ptr<ISink> impl = std::make_shared<CountingImpl>();
  void on_start(const TestInfo& i) { impl->on_start(i); }
  void on_interval(const RealTimeMetrics& m) { impl->on_interval(m); }
  void on_finish(const LoadTestResult& r) { impl->on_finish(r); }
  void on_sample(const Sample& s) { impl->on_sample(s); }
};
struct VirtualBehavior {
  std::shared_ptr<IAction> action = std::make_shared<NoopAction>();
  template <class Test, class User>
  asio::awaitable<void> run(Test&, User& user) {
    co_await user.execute("user_action", [&] { return action->call(user.session()); });
  }
};

struct VirtualTest : LoadTest<VirtualTest, VirtualPattern, VirtualBehavior, VirtualBackoff, VirtualSink> {
  using LoadTest::LoadTest;
};

template <class Test, class Pattern>
void run_engine(benchmark::State& state, Pattern pattern) {
  std::uint64_t requests = 0;
  for (auto _ : state) {
    Test test(bench_config("bench"), pattern);
    LoadTestResult r = test.run();
    requests += r.total_requests;
    state.SetIterationTime(r.duration);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(requests));
  state.counters["ns_per_request"] = benchmark::Counter(
      static_cast<double>(requests), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_engine_static(benchmark::State& state) { run_engine<NoopTest>(state, ConstantUsers{1, 300ms}); }
void BM_engine_virtual(benchmark::State& state) {
  run_engine<VirtualTest>(state, VirtualPattern{std::make_shared<ConstantImpl>(ConstantUsers{1, 300ms})});
}

}  // namespace

BENCHMARK(BM_engine_static)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_engine_virtual)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(5);

BENCHMARK_MAIN();
