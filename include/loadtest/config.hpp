// loadtest: the engine's configuration (what is not a policy).
#pragma once

#include "loadtest/detail/config.hpp"

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "loadtest/http.hpp"
#include "loadtest/threshold.hpp"
#include "loadtest/outcome.hpp"
#include "loadtest/segment.hpp"
#include "loadtest/time.hpp"

namespace loadtest {

/** Which outcomes make a user back off (and, with Retry, retry). `Config::backoff_statuses` adds
 *  outcomes by HTTP status whatever this says. */
enum class BackoffTrigger : std::uint8_t {
  errors,               ///< transport errors and exceptions only (the original behaviour)
  errors_and_failures,  ///< also failed checks (unexpected status, wrong body)
};

/** Open-model settings (used when the pattern is a RatePattern). */
struct OpenModel {
  /// Users serving arrivals at most (k6's maxVUs); the pool grows on demand up to here.
  std::size_t max_users = 1000;
  /// Users made before the first arrival (k6's preAllocatedVUs); capped at `max_users`.
  std::size_t preallocated_users = 10;
  /// Arrivals that found no free user wait here (their latency still counts from the intended
  /// start); beyond this bound they are dropped and counted.
  std::size_t queue_limit = 10'000;
  /// Wake this long before each arrival's due time and spin until it: lower schedule lag for
  /// CPU (the worker busy-waits up to this long per arrival). 0 (the default): timers only.
  Duration spin = Duration{0};
};

/** What the engine needs besides its four policies. Defaults equal the original framework's
 *  (results directory `loadtest_results`, monitor interval 1 s; the user count, duration and
 *  ramp-up defaults live in the pattern, `RampUsers{}`: 10 users, 60 s, 5 s ramp-up). */
struct Config {
  std::string name = "loadtest";                ///< test name: labels results and file names
  unsigned threads = 1;                         ///< I/O threads; users are spread over them
  std::string results_dir = "loadtest_results"; ///< where file sinks write (created 0700)
  Duration monitor_interval = 1s;               ///< how often the monitor takes a snapshot
  /// At the end, in-flight actions get this long to finish before they are cancelled and counted.
  Duration grace_period = 5s;
  std::uint64_t seed = 0;                       ///< RNG seed for reproducible runs; 0: random
  std::string target;                           ///< base URL for `Session::http()` (may be empty)
  http::Options http;                           ///< timeouts, headers, TLS switches for `Session::http()`
  BackoffTrigger backoff_on = BackoffTrigger::errors;
  /// Outcomes with one of these HTTP statuses trigger backoff too, e.g. {429, 503}; their
  /// `Retry-After` is honoured up to the backoff's cap.
  std::vector<int> backoff_statuses;
  /// SIGINT, SIGTERM and SIGHUP end the test early, results kept and marked
  /// (`LoadTestResult::interrupted`); a second SIGINT ends the grace period at once.
  bool handle_signals = true;
  /// Every this long, the result so far is written atomically to `results_dir` as
  /// `checkpoint_{name}_{stamp}.json` (removed when the test ends normally), so that even a
  /// `kill -9` loses at most this much. 0: no checkpoints. At least 1 s otherwise.
  Duration checkpoint_interval = 10s;
  /// The part of the test this process runs (scale-out; see Segment). The whole test by default.
  Segment segment;
  OpenModel open;                               ///< user pool and queue of the open model
  std::map<std::string, std::string> labels;    ///< extra key/values copied into the result's config
  /// Pass/fail criteria (threshold.hpp), evaluated on the result into LoadTestResult::thresholds.
  std::vector<Threshold> thresholds;
  /// Also check the thresholds on every snapshot, and end the test early on a breach (k6's
  /// abortOnFail); figures a snapshot does not have (per endpoint, counts still growing) wait for
  /// the end. No abort during the first `abort_grace`.
  bool abort_on_fail = false;
  Duration abort_grace = 10s;

  /** Throws std::invalid_argument naming the first bad value. */
  void validate() const {
    if (name.empty()) throw std::invalid_argument("config: name must not be empty");
    if (threads == 0 || threads > 256) throw std::invalid_argument("config: threads must be 1..256, got " + std::to_string(threads));
    if (monitor_interval < 10ms) throw std::invalid_argument("config: monitor interval must be at least 10ms");
    if (grace_period < 0ns) throw std::invalid_argument("config: grace period must not be negative");
    if (results_dir.empty()) throw std::invalid_argument("config: results directory must not be empty");
    if (!target.empty()) (void)http::parse_url(target);
    for (int s : backoff_statuses)
      if (s < 100 || s > 599)
        throw std::invalid_argument("config: backoff status '" + std::to_string(s) + "' is not an HTTP status (100..599)");
    if (abort_grace < Duration{0}) throw std::invalid_argument("config: abort grace must not be negative");
    if (open.max_users == 0) throw std::invalid_argument("config: open-model max users must be at least 1");
    if (open.spin < Duration{0} || open.spin > std::chrono::milliseconds(10))
      throw std::invalid_argument("config: open-model spin must be between 0 and 10ms");
    if (checkpoint_interval != Duration{0} && checkpoint_interval < 1s)
      throw std::invalid_argument("config: checkpoint interval must be 0 (off) or at least 1s, got " +
                                  format_duration(checkpoint_interval));
    segment.validate();
  }
};

/** Whether `o` makes a user back off (and, with Retry, retry) under `cfg`: an error; a failure
 *  when `backoff_on` is `errors_and_failures`; a failure whose HTTP status is in
 *  `backoff_statuses`. A success never does. */
inline bool triggers_backoff(const Config& cfg, const Outcome& o) noexcept {
  if (o.status == Status::error) return true;
  if (o.status == Status::failure && cfg.backoff_on == BackoffTrigger::errors_and_failures) return true;
  if (o.status == Status::failure && o.http_status != 0)
    for (int s : cfg.backoff_statuses)
      if (s == o.http_status) return true;
  return false;
}

}  // namespace loadtest
