// loadtest: per-thread recorder shards (histograms, counters, error table) and their merge.
#pragma once

#include "loadtest/detail/config.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "loadtest/histogram.hpp"
#include "loadtest/outcome.hpp"
#include "loadtest/result.hpp"
#include "loadtest/time.hpp"

namespace loadtest {

namespace detail {

// Transparent hash: lookups by string_view do not build a std::string.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using StringIndex = std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>>;

inline constexpr std::size_t npos = static_cast<std::size_t>(-1);
// Longer error messages are cut (at a UTF-8 boundary) before they become a table key.
inline constexpr std::size_t max_error_message = 512;

// A non-success always has a category: failures default to business, errors to exception.
constexpr ErrorCategory category_of(const Outcome& o) noexcept {
  if (o.category != ErrorCategory::none) return o.category;
  return o.status == Status::failure ? ErrorCategory::business : ErrorCategory::exception;
}

// Index into EndpointResult::status_classes: 0 = none (or not a valid status), 1..5 = 1xx..5xx.
constexpr std::size_t status_class(int http_status) noexcept {
  return http_status >= 100 && http_status < 600 ? static_cast<std::size_t>(http_status / 100) : 0;
}

inline std::string_view error_key(std::string_view message) noexcept {
  if (message.empty()) return "(no message)";
  if (message.size() <= max_error_message) return message;
  std::size_t n = max_error_message;
  while (n > 0 && (static_cast<unsigned char>(message[n]) & 0xC0) == 0x80) --n;  // not mid code point
  return message.substr(0, n);
}

// Adds n to the entry (c, message) of v, appending it when new.
inline void merge_error(std::vector<ErrorEntry>& v, ErrorCategory c, std::string_view message, std::uint64_t n) {
  for (auto& e : v)
    if (e.category == c && e.message == message) {
      e.count += n;
      return;
    }
  v.push_back(ErrorEntry{c, std::string(message), n});
}

}  // namespace detail

/** Limits of a recorder: endpoints beyond `max_endpoints` are recorded as "(other)", distinct
 *  (category, message) keys beyond `max_error_keys` are only counted (`error_overflow`). */
struct RecorderLimits {
  std::size_t max_endpoints = 200;   ///< distinct endpoint names per shard (plus "(other)")
  std::size_t max_error_keys = 100;  ///< distinct (category, message) keys in the error table
};

/** The totals a shard keeps for one endpoint. */
struct EndpointStats {
  std::string name;                               ///< the endpoint, "(unnamed)" or "(other)"
  std::uint64_t successes = 0;                    ///< `Status::success` outcomes
  std::uint64_t failures = 0;                     ///< `Status::failure` outcomes
  std::uint64_t errors = 0;                       ///< `Status::error` outcomes
  std::array<std::uint64_t, 6> status_classes{};  ///< 0 = no status, 1..5 = 1xx..5xx
  Histogram response_time;                        ///< every response time of this endpoint

  /** successes + failures + errors. */
  std::uint64_t requests() const noexcept { return successes + failures + errors; }
};

/** The counters of a shard. `errors` counts `Status::error`, `failures` `Status::failure`. */
struct RecorderCounters {
  std::uint64_t requests = 0;   ///< recorded actions of any status
  std::uint64_t successes = 0;  ///< `Status::success`
  std::uint64_t failures = 0;   ///< `Status::failure`
  std::uint64_t errors = 0;     ///< `Status::error`
  std::uint64_t cancelled = 0;  ///< in flight at the end, cancelled (not in `requests`)
  std::uint64_t intended = 0;   ///< open model: arrivals due
  std::uint64_t started = 0;    ///< open model: arrivals started (schedule lags recorded)
  std::uint64_t late = 0;       ///< open model: started more than 1 ms late
  std::uint64_t dropped = 0;    ///< open model: arrivals that found no free user
  std::uint64_t retries = 0;    ///< attempts a Retry backoff re-ran (not in `requests`)

  /** Adds every counter of `o`. */
  RecorderCounters& operator+=(const RecorderCounters& o) noexcept {
    requests += o.requests;
    successes += o.successes;
    failures += o.failures;
    errors += o.errors;
    cancelled += o.cancelled;
    intended += o.intended;
    started += o.started;
    late += o.late;
    dropped += o.dropped;
    retries += o.retries;
    return *this;
  }
};

/** The counts of one endpoint, without its histogram (for live views). */
struct EndpointCounts {
  std::string name;
  std::uint64_t successes = 0, failures = 0, errors = 0;
  std::array<std::uint64_t, 6> status_classes{};  ///< 0 = no status, 1..5 = 1xx..5xx
};

/** What the monitor collects from every shard once per interval: the interval's own data, and the
 *  totals since the start as of this collection (for live views and exporters). */
struct IntervalStats {
  Histogram response_time;     ///< overall, this interval
  std::uint64_t requests = 0;  ///< actions of any status
  std::uint64_t successes = 0, failures = 0, errors = 0;  ///< by `Status`
  std::vector<ErrorEntry> errors_seen;  ///< (category, message, count) this interval, merged by key

  RecorderCounters totals;                                        ///< since the start
  std::array<std::uint64_t, error_category_count> by_category{};  ///< since the start
  std::vector<EndpointCounts> endpoints;                          ///< since the start, by name
  Histogram schedule_lag;                                         ///< since the start (open model)
  // Gauges, as of this collection, summed over the shards.
  std::int64_t open_circuits = 0;  ///< users whose circuit breaker is open or half-open
  std::uint64_t busy = 0;          ///< open model: users running an arrival's iteration now
  std::uint64_t busy_peak = 0;     ///< open model: the shards' peaks of `busy` this interval, added
  std::uint64_t active_users = 0;  ///< closed model: users running now (set by the monitor, per process)

  /** Empties everything (keeps the histograms' memory). */
  void reset() {
    response_time.reset();
    requests = successes = failures = errors = 0;
    errors_seen.clear();
    totals = {};
    by_category = {};
    endpoints.clear();
    schedule_lag.reset();
    open_circuits = 0;
    busy = busy_peak = active_users = 0;
  }
  /** Forgets the since-the-start part (totals, categories, endpoint counts, lag, gauges) and keeps
   *  the interval's own data: before a collection that may follow a partial one. */
  void reset_totals() {
    totals = {};
    by_category = {};
    endpoints.clear();
    schedule_lag.reset();
    open_circuits = 0;
    busy = busy_peak = active_users = 0;
  }
  /** Adds the interval part of `other` to this. */
  void merge(const IntervalStats& other) {
    response_time.add(other.response_time);
    requests += other.requests;
    successes += other.successes;
    failures += other.failures;
    errors += other.errors;
    for (const auto& e : other.errors_seen) detail::merge_error(errors_seen, e.category, e.message, e.count);
  }
};

/** Open-model schedule accuracy from counters and the lag histogram; empty when no arrival was
 *  scheduled (closed model). */
inline std::optional<ScheduleStats> schedule_stats(const RecorderCounters& c, const Histogram& lag) {
  if (c.intended == 0 && c.started == 0 && c.dropped == 0) return std::nullopt;
  ScheduleStats st;
  st.intended = c.intended;
  st.started = c.started;
  st.late = c.late;
  st.dropped = c.dropped;
  st.lag_p50 = to_seconds(lag.value_at_percentile(50));
  st.lag_p99 = to_seconds(lag.value_at_percentile(99));
  st.lag_max = to_seconds(lag.max());
  return st;
}

/** What one worker thread records. Only its owning thread may touch it (no locks, no atomics);
 *  recording a success never allocates once its endpoint has been seen. */
class alignas(64) RecorderShard {
 public:
  /** An empty shard. */
  explicit RecorderShard(RecorderLimits limits = {}) : limits_(limits) {}

  /** Records one finished action. `name` is the endpoint (empty: "(unnamed)"); `response_time`
   *  is what the result reports (in the open model measured from the intended start);
   *  `service_time` is send -> receive, or negative when it is the same as `response_time`
   *  (closed model). A failure or error without a category counts as `business` or `exception`. */
  void record(std::string_view name, const Outcome& o, Duration response_time, Duration service_time) {
    EndpointStats& ep = endpoint(name);
    ep.response_time.record(response_time);
    ++ep.status_classes[detail::status_class(o.http_status)];
    response_.record(response_time);
    if (service_time.count() >= 0) service_.record(service_time);
    interval_.response_time.record(response_time);
    ++counters_.requests;
    ++interval_.requests;
    switch (o.status) {
      case Status::success:
        ++ep.successes;
        ++counters_.successes;
        ++interval_.successes;
        return;
      case Status::failure:
        ++ep.failures;
        ++counters_.failures;
        ++interval_.failures;
        break;
      case Status::error:
        ++ep.errors;
        ++counters_.errors;
        ++interval_.errors;
        break;
    }
    record_error(detail::category_of(o), o.message);
  }

  /** Records one finished action of the closed model (service time = response time). */
  void record(std::string_view name, const Outcome& o, Duration response_time) {
    record(name, o, response_time, Duration(-1));
  }

  /** Open model: one arrival started `lag` after its intended start (late when > 1 ms). */
  void record_schedule_lag(Duration lag) {
    lag_.record(lag);
    ++counters_.started;
    if (lag > std::chrono::milliseconds(1)) ++counters_.late;
  }
  /** Open model: `n` arrivals were due. */
  void count_intended(std::uint64_t n = 1) { counters_.intended += n; }
  /** Open model: `n` arrivals found no free user and were dropped. */
  void count_dropped(std::uint64_t n = 1) { counters_.dropped += n; }
  /** `n` actions were still in flight at the end and were cancelled. */
  void count_cancelled(std::uint64_t n = 1) { counters_.cancelled += n; }
  /** A Retry backoff re-runs an attempt (the attempt is not recorded as a request). */
  void count_retry() noexcept { ++counters_.retries; }
  /** A user's circuit breaker opened (`true`) or closed again (`false`). */
  void circuit(bool open) noexcept { open_circuits_ += open ? 1 : -1; }
  /** Open model: a user starts (`true`) or ends (`false`) an arrival's iteration. */
  void busy(bool now_busy) noexcept {
    if (!now_busy) {
      --busy_;
      return;
    }
    if (++busy_ > busy_peak_) busy_peak_ = busy_;
  }

  /** Merges this interval's data into `out` and starts a new interval. Runs on the owning thread. */
  void drain_interval_into(IntervalStats& out) {
    out.merge(interval_);
    // Totals since the start: summed over the shards of one collection.
    out.totals += counters_;
    for (std::size_t i = 0; i < by_category_.size(); ++i) out.by_category[i] += by_category_[i];
    for (const EndpointStats& ep : endpoints_) {
      auto it = std::find_if(out.endpoints.begin(), out.endpoints.end(),
                             [&](const EndpointCounts& c) { return c.name == ep.name; });
      if (it == out.endpoints.end()) it = out.endpoints.insert(out.endpoints.end(), EndpointCounts{ep.name});
      it->successes += ep.successes;
      it->failures += ep.failures;
      it->errors += ep.errors;
      for (std::size_t i = 0; i < ep.status_classes.size(); ++i) it->status_classes[i] += ep.status_classes[i];
    }
    if (counters_.started) out.schedule_lag.add(lag_);
    out.open_circuits += open_circuits_;
    out.busy += busy_;
    out.busy_peak += busy_peak_;
    busy_peak_ = busy_;
    for (std::size_t i = 0; i < error_interval_.size(); ++i)
      if (error_interval_[i] != 0) {
        detail::merge_error(out.errors_seen, error_table_[i].category, error_table_[i].message, error_interval_[i]);
        error_interval_[i] = 0;
      }
    interval_.reset();
  }

  /** The limits this shard was built with. */
  const RecorderLimits& limits() const noexcept { return limits_; }
  /** Totals since the start. */
  const RecorderCounters& counters() const noexcept { return counters_; }
  /** All response times since the start. */
  const Histogram& response_time() const noexcept { return response_; }
  /** Service times (send -> receive) recorded separately (open model). */
  const Histogram& service_time() const noexcept { return service_; }
  /** Schedule lags (open model). */
  const Histogram& schedule_lag() const noexcept { return lag_; }
  /** Per-endpoint totals, in order of first appearance. */
  const std::vector<EndpointStats>& endpoints() const noexcept { return endpoints_; }
  /** Aggregated errors since the start, in order of first appearance (at most `max_error_keys`). */
  const std::vector<ErrorEntry>& error_table() const noexcept { return error_table_; }
  /** Failures and errors whose key did not fit the error table. */
  std::uint64_t error_overflow() const noexcept { return error_overflow_; }
  /** Failures and errors by category (indexed by `ErrorCategory`). */
  const std::array<std::uint64_t, error_category_count>& errors_by_category() const noexcept { return by_category_; }

 private:
  EndpointStats& endpoint(std::string_view name) {
    if (name.empty()) name = "(unnamed)";
    if (last_ < endpoints_.size() && endpoints_[last_].name == name) return endpoints_[last_];
    if (auto it = endpoint_index_.find(name); it != endpoint_index_.end()) {
      last_ = it->second;
      return endpoints_[last_];
    }
    const std::size_t named = endpoints_.size() - (other_ == detail::npos ? 0 : 1);
    if (named >= limits_.max_endpoints) {
      if (other_ == detail::npos) other_ = add_endpoint("(other)");
      return endpoints_[other_];
    }
    last_ = add_endpoint(name);
    return endpoints_[last_];
  }

  std::size_t add_endpoint(std::string_view name) {
    endpoints_.push_back(EndpointStats{std::string(name), 0, 0, 0, {}, Histogram()});
    endpoint_index_.emplace(std::string(name), endpoints_.size() - 1);
    return endpoints_.size() - 1;
  }

  void record_error(ErrorCategory c, std::string_view message) {
    ++by_category_[static_cast<std::size_t>(c)];
    message = detail::error_key(message);
    auto& index = error_index_[static_cast<std::size_t>(c)];
    if (auto it = index.find(message); it != index.end()) {
      ++error_table_[it->second].count;
      ++error_interval_[it->second];
      return;
    }
    if (error_table_.size() >= limits_.max_error_keys) {
      ++error_overflow_;
      return;
    }
    index.emplace(std::string(message), error_table_.size());
    error_table_.push_back(ErrorEntry{c, std::string(message), 1});
    error_interval_.push_back(1);
  }

  RecorderLimits limits_;
  RecorderCounters counters_{};
  Histogram response_, service_, lag_;
  IntervalStats interval_;
  std::vector<EndpointStats> endpoints_;
  detail::StringIndex endpoint_index_;
  std::size_t last_ = detail::npos, other_ = detail::npos;
  std::vector<ErrorEntry> error_table_;
  std::vector<std::uint64_t> error_interval_;  // this interval's count of each table entry
  std::array<detail::StringIndex, error_category_count> error_index_;
  std::uint64_t error_overflow_ = 0;
  std::array<std::uint64_t, error_category_count> by_category_{};
  std::int64_t open_circuits_ = 0;
  std::uint64_t busy_ = 0, busy_peak_ = 0;
};

/** One shard per worker thread, merged into the final result once the workers have stopped. */
class Recorder {
 public:
  /** `shards` shards (at least one, else `std::invalid_argument`). */
  explicit Recorder(std::size_t shards, RecorderLimits limits = {}) : limits_(limits) {
    if (shards == 0) throw std::invalid_argument("recorder: shard count 0 must be at least 1");
    shards_.reserve(shards);
    for (std::size_t i = 0; i < shards; ++i) shards_.push_back(std::make_unique<RecorderShard>(limits));
  }

  /** Shard `i` (`std::invalid_argument` when out of range). */
  RecorderShard& shard(std::size_t i) {
    if (i >= shards_.size())
      throw std::invalid_argument("recorder: shard " + std::to_string(i) + " out of range (" +
                                  std::to_string(shards_.size()) + " shards)");
    return *shards_[i];
  }
  /** Shard `i`, read-only. */
  const RecorderShard& shard(std::size_t i) const {
    if (i >= shards_.size())
      throw std::invalid_argument("recorder: shard " + std::to_string(i) + " out of range (" +
                                  std::to_string(shards_.size()) + " shards)");
    return *shards_[i];
  }
  /** Number of shards. */
  std::size_t size() const noexcept { return shards_.size(); }


  /** Merges all shards (call after the workers stopped) into `r`: counts, response-time
   *  figures, rates, errors (table, strings, overflow, by category), endpoints (sorted by name)
   *  and, when the open model recorded any, `service_time` and `schedule` (reset otherwise),
   *  with the histograms behind them: `response_histogram`, each endpoint's `histogram`,
   *  `service_histogram` and `schedule_lag_histogram` (null when there is no such figure).
   *  Leaves name, timestamp, model, duration, max_active_users, history and config alone. */
  void fill_result(LoadTestResult& r, Duration elapsed) const {
    const double secs = to_seconds(elapsed);
    auto rate = [secs](std::uint64_t n) { return secs > 0 ? static_cast<double>(n) / secs : 0.0; };
    RecorderCounters c;
    Histogram response, service, lag;
    std::array<std::uint64_t, error_category_count> by_category{};
    std::uint64_t overflow = 0;
    std::map<std::pair<ErrorCategory, std::string_view>, std::uint64_t> errors;
    std::map<std::string_view, EndpointResult> endpoints;
    std::map<std::string_view, Histogram> endpoint_times;
    for (const auto& s : shards_) {
      c += s->counters();
      response.add(s->response_time());
      service.add(s->service_time());
      lag.add(s->schedule_lag());
      for (std::size_t i = 0; i < error_category_count; ++i) by_category[i] += s->errors_by_category()[i];
      overflow += s->error_overflow();
      for (const auto& e : s->error_table()) errors[{e.category, e.message}] += e.count;
      for (const auto& ep : s->endpoints()) {
        EndpointResult& out = endpoints[ep.name];
        out.successful_requests += ep.successes;
        out.failures += ep.failures;
        out.errors += ep.errors;
        for (std::size_t i = 0; i < out.status_classes.size(); ++i) out.status_classes[i] += ep.status_classes[i];
        endpoint_times[ep.name].add(ep.response_time);
      }
    }

    r.total_requests = c.requests;
    r.successful_requests = c.successes;
    r.failures = c.failures;
    r.errors_total = c.errors;
    r.failed_requests = c.failures + c.errors;
    r.cancelled_requests = c.cancelled;
    r.retries = c.retries;
    r.response_histogram = std::make_shared<const Histogram>(response);
    r.set_response_time(response.summary());
    r.derive_rates(secs);

    // Error table: most frequent first, then by category and message; the rest overflows.
    r.error_table.clear();
    for (const auto& [key, n] : errors) r.error_table.push_back(ErrorEntry{key.first, std::string(key.second), n});
    std::stable_sort(r.error_table.begin(), r.error_table.end(),
                     [](const ErrorEntry& a, const ErrorEntry& b) { return a.count > b.count; });
    if (r.error_table.size() > limits_.max_error_keys) {
      for (std::size_t i = limits_.max_error_keys; i < r.error_table.size(); ++i) overflow += r.error_table[i].count;
      r.error_table.resize(limits_.max_error_keys);
    }
    r.error_overflow = overflow;
    r.errors.clear();
    for (std::size_t i = 0; i < r.error_table.size() && i < 100; ++i) {
      const ErrorEntry& e = r.error_table[i];
      r.errors.push_back(std::string(to_string(e.category)) + ": " + e.message + " (x" + std::to_string(e.count) + ")");
    }
    r.errors_by_category.clear();
    for (std::size_t i = 0; i < error_category_count; ++i)
      if (by_category[i] != 0)
        r.errors_by_category[std::string(to_string(static_cast<ErrorCategory>(i)))] = by_category[i];

    r.endpoints.clear();
    for (auto& [name, ep] : endpoints) {
      ep.name = std::string(name);
      ep.total_requests = ep.successful_requests + ep.failures + ep.errors;
      ep.failed_requests = ep.failures + ep.errors;
      ep.requests_per_second = rate(ep.total_requests);
      Histogram& times = endpoint_times[name];
      ep.response_time = times.summary();
      ep.histogram = std::make_shared<const Histogram>(std::move(times));
      r.endpoints.push_back(std::move(ep));
    }

    r.service_time.reset();
    r.service_histogram.reset();
    if (!service.empty()) {
      r.service_time = service.summary();
      r.service_histogram = std::make_shared<const Histogram>(std::move(service));
    }
    r.schedule = schedule_stats(c, lag);
    r.schedule_lag_histogram.reset();
    if (r.schedule) r.schedule_lag_histogram = std::make_shared<const Histogram>(std::move(lag));
  }

 private:
  RecorderLimits limits_;
  std::vector<std::unique_ptr<RecorderShard>> shards_;
};

}  // namespace loadtest
