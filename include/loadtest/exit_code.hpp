// loadtest: the exit codes of loadtest's tools, and of a test program that wants the same.
#pragma once

#include "loadtest/detail/config.hpp"

#include <csignal>

#include "loadtest/result.hpp"
#include "loadtest/results_io.hpp"
#include "loadtest/threshold.hpp"

namespace loadtest {

inline constexpr int exit_ok = 0;             ///< the test ran and every check passed
inline constexpr int exit_cannot_run = 1;     ///< the test could not run, a result went to the fallback directory, or parts were missing
inline constexpr int exit_usage = 2;          ///< bad input (options, specs, files): one line on stderr
inline constexpr int exit_failed_checks = 99; ///< a threshold failed, the run was aborted on one, or it regressed

/** The exit code a tool reports for `r`, most serious first:
 *  - `128 + signal` when the run was interrupted (130 SIGINT, 143 SIGTERM, 129 SIGHUP), as shells do;
 *  - 1 when a result file had to be written to the fallback directory (`result_fallbacks()`) or
 *    parts of a scaled-out test did not report (`r.incomplete`);
 *  - 99 when a threshold failed or one aborted the run;
 *  - 0 otherwise. */
inline int exit_code(const LoadTestResult& r) {
  if (r.interrupted == "SIGINT") return 128 + SIGINT;
  if (r.interrupted == "SIGTERM") return 128 + SIGTERM;
  if (r.interrupted == "SIGHUP") return 128 + SIGHUP;
  if (!r.interrupted.empty()) return exit_cannot_run;
  if (result_fallbacks() > 0 || r.incomplete) return exit_cannot_run;
  if (!r.aborted_by.empty() || !all_passed(r.thresholds)) return exit_failed_checks;
  return exit_ok;
}

}  // namespace loadtest
