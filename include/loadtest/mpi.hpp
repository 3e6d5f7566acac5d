// loadtest: scale-out over MPI (Open MPI through Boost.MPI): one test across many processes and
// machines, with exact merged histograms and thresholds judged on the whole.
//
//     int main(int argc, char** argv) {
//       loadtest::mpi::Environment env(argc, argv);    // MPI_Init; rank r runs segment r/size
//       MyTest test(env.configure(cfg), pattern);      // Config::segment = {rank, size}
//       loadtest::mpi::MpiReducer reducer(env);
//       auto r = test.run(reducer);                    // rank 0 shows, judges and writes
//       return env.agree_exit_code(loadtest::exit_code(r));  // every rank exits with rank 0's verdict
//     }
//
// Launch with `mpirun -np N prog ...` (a hostfile across machines, `srun` under Slurm, an MPIJob
// on Kubernetes). Every rank validates its configuration; they agree on it (a difference is
// refused on every rank, naming it), start together (a barrier, then a common start instant from
// rank 0 on the wall clock), and reduce every monitor interval to rank 0 (counters, error
// table, per-endpoint counts, histograms bucket by bucket). Stops (a signal on any rank,
// `request_stop`, an abort-on-fail breach at rank 0) are agreed at interval boundaries, so every
// rank ends together. Every wait is bounded: a rank that stops reporting ends the test, and rank
// 0 writes what it has, marked incomplete.
//
// Built only with `-Dmpi=enabled` (or `auto` when Boost.MPI and an MPI are found); then
// LOADTEST_HAS_MPI is defined and libloadtest_mpi is linked.
#pragma once

#include "loadtest/detail/config.hpp"

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "loadtest/config.hpp"
#include "loadtest/metrics.hpp"
#include "loadtest/reducer.hpp"
#include "loadtest/result.hpp"
#include "loadtest/time.hpp"

namespace loadtest::mpi {

/** True when this process was started by an MPI launcher (mpirun, srun): the environment of
 *  Open MPI, PMIx or PMI says so. Programs use it to decide whether to make an Environment. */
bool launched() noexcept;

/** MPI for this process: initialised in the constructor (thread level "funneled": only the
 *  thread running the test calls MPI), errors returned rather than aborting, finalised in the
 *  destructor. One per process. A program started without mpirun is a single rank of 1. */
class Environment {
 public:
  Environment(int& argc, char**& argv);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  /** This process's rank, 0..size-1. */
  int rank() const noexcept { return rank_; }
  /** Number of ranks. */
  int size() const noexcept { return size_; }
  /** True on rank 0: the one that prints, judges and writes. */
  bool root() const noexcept { return rank_ == 0; }

  /** `cfg` with `segment = {rank, size}` (and, with more than one rank, the same results for
   *  every rank's Config but only rank 0 writing). */
  Config configure(Config cfg) const;

  /** Every rank says whether its own set-up (options, configuration) is valid. Returns normally
   *  when all are; otherwise every rank gets the message of the lowest failing rank, and only
   *  rank 0 should print it (`root()`). Bounded: a rank that does not answer counts as failing. */
  void check_all(bool ok, const std::string& message) const;

  /** Every rank's exit code: rank 0's `code` (its verdict on the merged result), broadcast; a
   *  bounded wait, 1 when rank 0 does not answer. */
  int agree_exit_code(int code) const;

  /** Ends every rank at once (MPI_Abort) with `code`: for a rank whose peers stopped answering. */
  [[noreturn]] void abort(int code) const;

 private:
  int rank_ = 0, size_ = 1;
  bool initialised_here_ = false;
};

/** An error that every rank raises together (a bad option on some rank, configurations that
 *  differ): printed by rank 0 only; tools exit 2. A runtime_error, not an invalid_argument, so
 *  that code turning invalid arguments into this rank's own usage error lets it pass. */
struct CollectiveError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/** The Reducer over MPI_COMM_WORLD: rank r runs segment r/size; rank 0 is the root.
 *  Every collective is non-blocking and waited for at most `timeout` (default 5 s; a part that
 *  misses it is lost: the test ends, incomplete); the configuration check and the start wait at
 *  least 60 s, for ranks that start slowly. Thread safety: the control thread only. */
class MpiReducer final : public Reducer {
 public:
  explicit MpiReducer(const Environment& env);
  MpiReducer(const Environment& env, Duration timeout);
  ~MpiReducer() override;

  std::size_t parts() const noexcept override;
  bool root() const noexcept override;
  bool collective() const noexcept override { return parts() > 1; }
  std::uint64_t agree(const std::string& fingerprint, std::uint64_t seed) override;
  Clock::time_point start_instant(Clock::time_point local_now, const std::string& failure) override;
  IntervalVerdict reduce_interval(IntervalStats& stats, bool stop_here, bool final,
                                  const std::function<bool(IntervalStats&, std::size_t)>& judge) override;
  bool reduce_result(LoadTestResult& r) override;

  /** This rank's own part of the result, as it was before the reduction (for `--rank-results`:
   *  shard files `loadtest-merge` can join). Empty before the end. */
  const LoadTestResult& local_result() const noexcept;
  /** Bytes rank 0 received for the last interval reduction (for the reduce-cost benchmark). */
  std::size_t last_interval_bytes() const noexcept;
  /** How long the last interval reduction took at this rank. */
  Duration last_interval_time() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/** Serialises the data of one interval (the compact form reduced every interval: counters,
 *  error entries, endpoint counts, non-zero histogram buckets). */
std::string encode_interval(const IntervalStats& stats);
/** Adds an interval written by `encode_interval` to `into`; throws std::invalid_argument on a
 *  corrupt input. The error entries stay capped at `max_error_keys` distinct keys. */
void merge_encoded_interval(std::string_view data, IntervalStats& into, std::size_t max_error_keys = 100);

}  // namespace loadtest::mpi
