// Open-model schedule accuracy: how late arrivals start, against the arrival rate.
//
// Each case runs a real open-model LoadTest for 2 s on one worker thread whose action does nothing
// (returns success at once), so what is measured is the scheduler itself: the lag between each
// arrival's intended start and the moment its user starts it. Reported per rate: lag p50/p99/max
// in microseconds, late arrivals (> 1 ms), dropped arrivals, and the process CPU use in percent of
// one core; with spin_us = 0 the scheduler only waits on timers, with spin_us = 200 it wakes 200 us
// early and busy-waits to the due time (Config::open.spin), trading CPU for accuracy.
//
//   build/benchmarks/bench_schedule        (also run by: meson test -C build --benchmark)

#include <benchmark/benchmark.h>

#include "loadtest/detail/process_stats.hpp"
#include "loadtest/loadtest.hpp"

namespace asio = boost::asio;
using namespace loadtest;

namespace {

struct NoopArrivals : LoadTest<NoopArrivals, ConstantRate, SingleAction, NoBackoff, NullSink> {
  using LoadTest::LoadTest;
  asio::awaitable<Outcome> user_action(Session<>&) { co_return Outcome::success(); }
};

void BM_schedule_lag(benchmark::State& state) {
  const auto rate = static_cast<double>(state.range(0));
  const auto spin = std::chrono::microseconds(state.range(1));
  ScheduleStats last;
  double cpu = 0;
  for (auto _ : state) {
    Config cfg;
    cfg.name = "schedule";
    cfg.handle_signals = false;
    cfg.seed = 1;
    cfg.open.spin = spin;
    NoopArrivals test(cfg, ConstantRate{rate, 2s});
    Duration cpu0 = detail::cpu_time();
    LoadTestResult r = test.run();
    cpu = 100.0 * to_seconds(detail::cpu_time() - cpu0) / r.duration;
    last = r.schedule.value_or(ScheduleStats{});
    state.SetIterationTime(r.duration);
  }
  state.counters["lag_p50_us"] = last.lag_p50 * 1e6;
  state.counters["lag_p99_us"] = last.lag_p99 * 1e6;
  state.counters["lag_max_us"] = last.lag_max * 1e6;
  state.counters["late"] = static_cast<double>(last.late);
  state.counters["dropped"] = static_cast<double>(last.dropped);
  state.counters["intended"] = static_cast<double>(last.intended);
  state.counters["cpu_pct"] = cpu;
}

}  // namespace

// Arguments: arrivals per second, spin before the due time in microseconds (Config::open.spin).
BENCHMARK(BM_schedule_lag)
    ->ArgsProduct({{100, 1000, 10000, 50000}, {0, 200}})
    ->ArgNames({"rate", "spin_us"})
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
