// loadtest: the process's own resource use, for the monitor (Linux /proc; zeros elsewhere).
//
// prctl(PR_SET_TIMERSLACK) and /proc/self/statm are Linux-only, getrusage() is POSIX; elsewhere
// these compile to no-ops that report 0 (RSS 0 MB, CPU 0 %), so the headers still build.
#pragma once

#if defined(__linux__)
#include <sys/prctl.h>
#include <unistd.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <sys/resource.h>
#endif

#include <cstdio>

#include "loadtest/time.hpp"

namespace loadtest::detail {

/** Asks the kernel to wake this thread's timers on time: Linux delays them by up to 50 us by
 *  default (timer slack) to batch wake-ups. Used on the worker threads. */
inline void precise_timers() noexcept {
#if defined(__linux__) && defined(PR_SET_TIMERSLACK)
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
#endif
}

/** Resident set size of this process in MB (from /proc/self/statm), 0 when unknown or not Linux. */
inline double resident_mb() noexcept {
#if defined(__linux__)
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long pages_total = 0, pages_resident = 0;
  int n = std::fscanf(f, "%ld %ld", &pages_total, &pages_resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
#else
  return 0;
#endif
}

/** User + system CPU time this process has used so far (0 where getrusage() is missing). */
inline Duration cpu_time() noexcept {
#if defined(__unix__) || defined(__APPLE__)
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0ns;
  auto tv = [](const timeval& t) { return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec); };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
#else
  return Duration::zero();
#endif
}

/** CPU use between two calls, in percent of one core (like `top`). */
class CpuMeter {
 public:
  CpuMeter() noexcept : last_wall_(Clock::now()), last_cpu_(cpu_time()) {}
  double sample() noexcept {
    auto wall = Clock::now();
    auto cpu = cpu_time();
    double w = to_seconds(wall - last_wall_);
    double pct = w > 0 ? 100.0 * to_seconds(cpu - last_cpu_) / w : 0;
    last_wall_ = wall;
    last_cpu_ = cpu;
    return pct;
  }

 private:
  Clock::time_point last_wall_;
  Duration last_cpu_;
};

}  // namespace loadtest::detail
