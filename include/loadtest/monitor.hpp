// loadtest: Monitor, the engine's interval loop: collects the workers' shards every interval,
// passes them through the Reducer, assembles the snapshot (RealTimeMetrics), keeps the bounded
// history, checks live thresholds, and hands the snapshot to the sink. Compiled in src/monitor.cpp:
// it is the same for every test type. Runs on the control thread.
#pragma once

#include "loadtest/detail/config.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "loadtest/detail/bounded_history.hpp"
#include "loadtest/detail/process_stats.hpp"
#include "loadtest/metrics.hpp"
#include "loadtest/reducer.hpp"
#include "loadtest/result.hpp"
#include "loadtest/threshold.hpp"
#include "loadtest/time.hpp"

namespace loadtest {

namespace detail {
struct RunState;
}

/** The monitor of one test object (reused by each run). */
class Monitor {
 public:
  /** What the monitor needs from the engine. */
  struct Hooks {
    std::function<std::size_t()> active_users;             ///< users active in this process now
    std::function<void(const RealTimeMetrics&)> deliver;   ///< to the sink (root only)
    std::function<void()> stop;                            ///< the monitor ends the test
    std::function<bool()> stop_wanted;                     ///< this process wants to stop
  };
  /** Its settings (from Config and the pattern). */
  struct Settings {
    Duration interval = std::chrono::seconds(1);
    Duration planned = Duration{0};  ///< the pattern's length
    std::vector<Threshold> thresholds;
    bool abort_on_fail = false;
    Duration abort_grace = std::chrono::seconds(10);
  };

  /** Forgets the previous run; the next interval ends at `start + interval`. */
  void begin(const Settings& s, Reducer& reducer, Hooks hooks, Clock::time_point start);

  /** The interval loop. Ends when its coroutine is cancelled (the engine's end of the run), or,
   *  with a collective reducer, at the last interval boundary before the planned end or at a
   *  collective stop; every part then leaves after the same interval. */
  boost::asio::awaitable<void> run(detail::RunState& rs);

  /** After the workers stopped: the last, partial interval, divided by its real length. One
   *  shorter than 10 % of the interval is folded into the previous one: its snapshot keeps its
   *  own counts but reports rates over both, and the history merges the two entries. */
  void finish(detail::RunState& rs);

  /** Drains every shard on the calling thread and reports the interval ending at `now` (the last
   *  one when `final`): what the loop and `finish` do, for a caller that drives time itself (the
   *  workers must not be running). */
  void report(detail::RunState& rs, Clock::time_point now, bool final);

  /** The threshold breach that stopped the test (`Config::abort_on_fail`); empty otherwise. */
  const std::string& aborted_by() const noexcept { return aborted_by_; }
  /** A part stopped reporting during the run (the result is incomplete). */
  bool lost_part() const noexcept { return lost_part_; }
  /** The snapshots of this run (bounded; see BoundedHistory). */
  const std::vector<RealTimeMetrics>& history() const noexcept { return history_.entries(); }
  /** The most users active at once over the intervals, over all parts. */
  std::uint64_t max_active_users() const noexcept { return max_active_; }

  /** At the root: the whole test so far, from every interval's reduced data (exact counts and
   *  response-time histogram; endpoints without their histograms). What a collective run's
   *  checkpoints hold, and what rank 0 reports when a part is lost before the final reduction.
   *  Thread safety: may be called from any thread while the monitor runs. */
  void fill_so_far(LoadTestResult& r, Clock::time_point now) const;

 private:
  bool interval(Clock::time_point now, bool final);
  RealTimeMetrics snapshot(IntervalStats& acc, std::size_t reported, Clock::time_point now, double seconds);
  void fold_into_last(RealTimeMetrics& tail);
  void accumulate(const IntervalStats& whole);
  bool judge_live(const RealTimeMetrics& m, Clock::time_point now);

  Settings settings_;
  Reducer* reducer_ = nullptr;
  Hooks hooks_;
  Clock::time_point start_{}, last_{};
  IntervalStats acc_;
  IntervalStats whole_;  // root: every reduced interval added up
  mutable std::mutex so_far_m_;  // whole_ and history_: fill_so_far may run on the signal thread
  detail::BoundedHistory history_;
  std::vector<ErrorEntry> seen_errors_;
  detail::CpuMeter cpu_;
  std::uint64_t total_requests_ = 0, total_errors_ = 0, max_active_ = 0;
  std::string aborted_by_;
  bool lost_part_ = false;
};

}  // namespace loadtest
