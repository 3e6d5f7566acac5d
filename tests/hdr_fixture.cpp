// Writes histograms in HdrHistogram's compressed V2 form beside their slots, for hdr_v2_test.py:
//   H <name> <base64> <lowest_us> <highest_us> <digits> <total>
//   S <slot> <count> <lowest_us> <highest_us>      (every non-empty slot, in order)
//   E
#include <cmath>
#include <cstdio>
#include <random>
#include <string>

#include "loadtest/histogram_codec.hpp"

using loadtest::Histogram;

namespace {

void emit(const char* name, const Histogram& h) {
  std::printf("H %s %s %lld %lld %d %llu\n", name, loadtest::encode_compressed_base64(h).c_str(),
              static_cast<long long>(h.lowest_trackable_us()), static_cast<long long>(h.highest_trackable_us()),
              h.significant_digits(), static_cast<unsigned long long>(h.count()));
  for (std::size_t i = 0; i < h.counts_length(); ++i)
    if (std::uint64_t n = h.count_at_index(i))
      std::printf("S %zu %llu %lld %lld\n", i, static_cast<unsigned long long>(n),
                  static_cast<long long>(h.lowest_us_at_index(i)), static_cast<long long>(h.highest_us_at_index(i)));
  std::printf("E\n");
}

Histogram lognormal(Histogram h, std::size_t n, double median_us, double sigma, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> d(std::log(median_us), sigma);
  for (std::size_t i = 0; i < n; ++i) h.record(std::chrono::nanoseconds(std::llround(d(rng) * 1000)));
  return h;
}

}  // namespace

int main() {
  emit("empty", Histogram());
  Histogram few;
  few.record(std::chrono::microseconds(1));
  few.record(std::chrono::microseconds(2047));
  few.record(std::chrono::microseconds(2048));
  few.record(std::chrono::hours(1));
  emit("edges", few);
  emit("lognormal", lognormal(Histogram(), 200'000, 20'000, 1.5, 1));
  emit("wide", lognormal(Histogram(), 50'000, 1'000'000, 3.0, 2));
  Histogram big;
  big.record_n(std::chrono::milliseconds(3), std::uint64_t{1} << 40);
  big.record_corrected(std::chrono::seconds(3), std::chrono::milliseconds(2));
  emit("big-counts", big);
  emit("2-digits", lognormal(Histogram(1, 60'000'000, 2), 20'000, 5'000, 1.0, 3));
  emit("5-digits", lognormal(Histogram(1, 3'600'000'000, 5), 20'000, 5'000, 1.0, 4));
  emit("lowest-1000", lognormal(Histogram(1000, 10'000'000'000, 3), 20'000, 50'000, 1.0, 5));
  return 0;
}
