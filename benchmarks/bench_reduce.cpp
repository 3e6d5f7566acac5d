// bench_reduce: what one monitor interval's MPI reduction costs, at the ranks it runs with.
//
//   mpirun -np N build/benchmarks/bench_reduce [intervals]
//
// Every rank builds a realistic interval (20 endpoints, 2,000 responses spread log-normally
// over 1 ms .. 2 s, 10 distinct errors, open-model lag) and reduces it `intervals` times (default
// 50) with MpiReducer, the engine's path. Rank 0 prints one line:
//   ranks=N bytes_per_interval=B encode_us=E reduce_us_p50=T reduce_us_max=M
// scripts/bench-reduce runs it at 1, 2, 4, 8 and 16 ranks (oversubscribed on one machine).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "loadtest/mpi.hpp"

namespace lt = loadtest;
using namespace std::chrono_literals;

int main(int argc, char** argv) {
  lt::mpi::Environment env(argc, argv);
  const int intervals = argc > 1 ? std::max(1, std::atoi(argv[1])) : 50;
  std::mt19937_64 rng(static_cast<std::uint64_t>(env.rank()) + 1);
  std::lognormal_distribution<double> latency(std::log(20e3), 1.0);  // microseconds, median 20 ms

  lt::RecorderShard shard;
  std::vector<std::string> names;
  for (int e = 0; e < 20; ++e) names.push_back("GET /api/v1/items/" + std::to_string(e));
  auto fill = [&] {
    for (int i = 0; i < 2000; ++i) {
      const double us = std::clamp(latency(rng), 1000.0, 2e6);
      const auto& name = names[static_cast<std::size_t>(i) % names.size()];
      if (i % 97 == 0)
        shard.record(name, lt::Outcome::error(lt::ErrorCategory::timeout, "timeout " + std::to_string(i % 10)),
                     std::chrono::microseconds(static_cast<long>(us)), std::chrono::microseconds(static_cast<long>(us)));
      else
        shard.record(name, lt::Outcome::success(name, 200), std::chrono::microseconds(static_cast<long>(us)),
                     std::chrono::microseconds(static_cast<long>(us)));
      shard.record_schedule_lag(std::chrono::microseconds(50 + i % 200));
    }
    shard.count_intended(2000);
  };

  lt::mpi::MpiReducer reducer(env);
  std::vector<double> times;
  std::size_t bytes = 0;
  double encode_us = 0;
  for (int k = 0; k < intervals; ++k) {
    fill();
    lt::IntervalStats stats;
    shard.drain_interval_into(stats);
    const auto e0 = lt::Clock::now();
    bytes = lt::mpi::encode_interval(stats).size();
    encode_us = lt::to_seconds(lt::Clock::now() - e0) * 1e6;
    auto v = reducer.reduce_interval(stats, false, false, [](lt::IntervalStats&, std::size_t) { return false; });
    if (v.lost_part) {
      std::fprintf(stderr, "bench_reduce: a rank did not answer\n");
      return 1;
    }
    times.push_back(lt::to_seconds(reducer.last_interval_time()) * 1e6);
  }
  std::sort(times.begin(), times.end());
  if (env.root())
    std::printf("ranks=%d bytes_per_rank=%zu bytes_per_interval=%zu encode_us=%.0f reduce_us_p50=%.0f reduce_us_max=%.0f\n",
                env.size(), bytes, reducer.last_interval_bytes(), encode_us, times[times.size() / 2], times.back());
  return 0;
}
