// loadtest benchmark: the metrics core (Histogram, RecorderShard) against keeping every sample.
//
// Run: bench_histogram --benchmark_min_time=0.2
// The "bytes" counter is the memory the method needs for the given number of samples.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "loadtest/histogram.hpp"
#include "loadtest/metrics.hpp"

namespace {

using loadtest::Duration;
using loadtest::Histogram;

// Realistic latencies: lognormal, median 20 ms, a long tail up to seconds; pregenerated.
const std::vector<Duration>& latencies() {
  static const std::vector<Duration> values = [] {
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> d(std::log(20e6), 1.0);  // nanoseconds
    std::vector<Duration> v(1 << 16);
    for (auto& x : v) x = Duration(static_cast<std::int64_t>(d(rng)));
    return v;
  }();
  return values;
}

Histogram filled(std::size_t n) {
  Histogram h;
  const auto& v = latencies();
  for (std::size_t i = 0; i < n; ++i) h.record(v[i & (v.size() - 1)]);
  return h;
}

void BM_HistogramRecord(benchmark::State& state) {
  Histogram h;
  const auto& v = latencies();
  std::size_t i = 0;
  for (auto _ : state) {
    h.record(v[i++ & (v.size() - 1)]);
  }
  benchmark::DoNotOptimize(h.count());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["bytes"] = static_cast<double>(h.memory_bytes());
}
BENCHMARK(BM_HistogramRecord);

void BM_HistogramValueAtPercentile(benchmark::State& state) {
  const Histogram h = filled(1'000'000);
  for (auto _ : state) benchmark::DoNotOptimize(h.value_at_percentile(99.0));
}
BENCHMARK(BM_HistogramValueAtPercentile);

void BM_HistogramSummary(benchmark::State& state) {
  const Histogram h = filled(1'000'000);
  for (auto _ : state) benchmark::DoNotOptimize(h.summary());
}
BENCHMARK(BM_HistogramSummary);

void BM_HistogramAdd(benchmark::State& state) {
  const Histogram from = filled(1'000'000);
  Histogram into;
  for (auto _ : state) {
    into.add(from);
    benchmark::DoNotOptimize(into.count());
  }
}
BENCHMARK(BM_HistogramAdd);

void BM_ShardRecordSuccess(benchmark::State& state) {
  loadtest::RecorderShard shard;
  const loadtest::Outcome ok = loadtest::Outcome::success({}, 200);
  const std::string_view names[] = {"GET /items", "POST /cart", "GET /item/{id}", "DELETE /cart"};
  for (auto n : names) shard.record(n, ok, Duration(1'000));  // warm up every endpoint
  const auto& v = latencies();
  std::size_t i = 0;
  for (auto _ : state) {
    shard.record(names[i & 3], ok, v[i & (v.size() - 1)]);
    ++i;
  }
  benchmark::DoNotOptimize(shard.counters().requests);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_ShardRecordSuccess);

// The naive approach: keep every sample, sort for percentiles.
void BM_NaiveVectorRecord(benchmark::State& state) {
  std::vector<Duration> samples;
  const auto& v = latencies();
  std::size_t i = 0;
  for (auto _ : state) {
    samples.push_back(v[i++ & (v.size() - 1)]);
    if (samples.size() == (1u << 24)) samples.clear();  // bound the benchmark's own memory
  }
  benchmark::DoNotOptimize(samples.data());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_NaiveVectorRecord);

// p99 of N samples: the histogram walks its buckets, the naive way copies and sorts.
void BM_P99_Histogram(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const Histogram h = filled(n);
  for (auto _ : state) benchmark::DoNotOptimize(h.value_at_percentile(99.0));
  state.counters["bytes"] = static_cast<double>(h.memory_bytes());
}
BENCHMARK(BM_P99_Histogram)->Arg(10'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);

void BM_P99_NaiveSort(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto& v = latencies();
  std::vector<Duration> samples(n);
  for (std::size_t i = 0; i < n; ++i) samples[i] = v[i & (v.size() - 1)];
  std::vector<Duration> work;
  for (auto _ : state) {
    work = samples;
    std::sort(work.begin(), work.end());
    benchmark::DoNotOptimize(work[(n * 99 + 99) / 100 - 1]);
  }
  state.counters["bytes"] = static_cast<double>(n * sizeof(Duration));
}
BENCHMARK(BM_P99_NaiveSort)->Arg(10'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
