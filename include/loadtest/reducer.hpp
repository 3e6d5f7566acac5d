// loadtest: Reducer, the one seam where data from other processes joins this one's.
//
//   workers' shards --collect--> IntervalStats --Reducer::reduce_interval--> Monitor --> snapshot --> sink
//   workers' recorders --merge--> LoadTestResult --Reducer::reduce_result--> thresholds --> sink
//
// Everything above a reducer is per process; everything below it sees the whole test. The
// default reducer (`LocalReducer`) is the identity: one process is the whole test. MpiReducer
// (mpi.hpp) reduces over MPI ranks to rank 0. Every call is made on the control thread, in the
// same order on every part, so a reducer may use collective operations.
#pragma once

#include "loadtest/detail/config.hpp"

#include <cstdint>
#include <functional>
#include <string>

#include "loadtest/metrics.hpp"
#include "loadtest/result.hpp"
#include "loadtest/time.hpp"

namespace loadtest {

/** What every part learns from one interval's reduction. */
struct IntervalVerdict {
  bool stop = false;         ///< every part ends the test now (a stop wish, a threshold breach)
  std::size_t reported = 1;  ///< parts whose data this interval holds
  bool lost_part = false;    ///< a part did not report in time: the test ends, incomplete
};

/** The seam between this process and the rest of the test (see the file comment).
 *  Thread safety: called on the control thread only. */
class Reducer {
 public:
  virtual ~Reducer() = default;

  /** Parts (processes) the test runs in. */
  virtual std::size_t parts() const noexcept { return 1; }
  /** True in the one part that builds snapshots, judges thresholds and writes results. */
  virtual bool root() const noexcept { return true; }
  /** True when stops are agreed at interval boundaries, so that every part ends together;
   *  false when a stop takes effect at once. */
  virtual bool collective() const noexcept { return false; }

  /** Before anything starts: every part checks that it runs the same test. `fingerprint` is this
   *  part's configuration in a canonical "key=value\n" form. Throws std::invalid_argument naming
   *  the first difference; returns the seed every part uses (the root's). */
  virtual std::uint64_t agree(const std::string& fingerprint, std::uint64_t seed) {
    (void)fingerprint;
    return seed;
  }
  /** The instant (on this part's clock) at which the test starts on every part. `failure` is
   *  non-empty when this part cannot start (its sink refused): then no part starts, and every
   *  other part throws an error naming it (this part rethrows its own). */
  virtual Clock::time_point start_instant(Clock::time_point local_now, const std::string& failure) {
    (void)failure;
    return local_now;
  }

  /** Once per monitor interval, and once more for the last, partial one (`final`): `stats`
   *  holds this part's interval data and, at the root afterwards, the whole test's. `stop_here`
   *  is this part's wish to stop (a signal, request_stop). `judge(stats, reported)` runs at the
   *  root on the reduced data and returns true to stop the test (a threshold breach). */
  virtual IntervalVerdict reduce_interval(IntervalStats& stats, bool stop_here, bool final,
                                          const std::function<bool(IntervalStats&, std::size_t)>& judge) {
    (void)final;
    IntervalVerdict v;
    v.stop = judge(stats, 1) || stop_here;
    return v;
  }

  /** At the end: `r` holds this part's result (with its histograms); at the root afterwards, the
   *  whole test's (histograms merged bucket by bucket, counts added). Returns false when parts
   *  were missing (the result is then marked incomplete). */
  virtual bool reduce_result(LoadTestResult& r) {
    (void)r;
    return true;
  }
};

/** One process is the whole test. */
class LocalReducer final : public Reducer {};

}  // namespace loadtest
