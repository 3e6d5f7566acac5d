// Open-model schedule accuracy: how late arrivals start, against the arrival rate.
//
// Each case runs a real open-model LoadTest for 2 s on one worker thread whose action does nothing
// (returns success at once), so what is measured is the scheduler itself: the lag between each
// arrival's intended start and the moment its user starts it. Reported per rate: lag p50/p99/max
// in microseconds, late arrivals (> 1 ms), dropped arrivals, and the process CPU use in percent of
// one core (the scheduler waits on timers: it does not spin).
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
  ScheduleStats last;
  double cpu = 0;
  for (auto _ : state) {
    Config cfg;
    cfg.name = "schedule";
    cfg.handle_signals = false;
    cfg.seed = 1;
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

BENCHMARK(BM_schedule_lag)->Arg(100)->Arg(1000)->Arg(10000)->Arg(50000)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
