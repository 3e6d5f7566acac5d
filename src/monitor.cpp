// loadtest: the monitor (see monitor.hpp).
#include "loadtest/monitor.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

#include "loadtest/detail/run_state.hpp"

namespace loadtest {

namespace asio = boost::asio;

void Monitor::begin(const Settings& s, Reducer& reducer, Hooks hooks, Clock::time_point start) {
  settings_ = s;
  reducer_ = &reducer;
  hooks_ = std::move(hooks);
  start_ = last_ = start;
  acc_.reset();
  std::lock_guard lock(so_far_m_);
  whole_.reset();
  history_.clear();
  seen_errors_.clear();
  cpu_.sample();
  total_requests_ = total_errors_ = max_active_ = 0;
  aborted_by_.clear();
  lost_part_ = false;
}

// An endpoint's counts since the start as a result row (no latency figures: they are not counted).
static EndpointResult endpoint_totals(const EndpointCounts& c) {
  EndpointResult e;
  e.name = c.name;
  e.successful_requests = c.successes;
  e.failures = c.failures;
  e.errors = c.errors;
  e.failed_requests = c.failures + c.errors;
  e.total_requests = c.successes + e.failed_requests;
  e.status_classes = c.status_classes;
  return e;
}

static asio::awaitable<void> drain_shard(RecorderShard* shard, IntervalStats* into) {
  shard->drain_interval_into(*into);
  co_return;
}

asio::awaitable<void> Monitor::run(detail::RunState& rs) {
  // The engine ends this loop by cancellation: seen as an aborted wait, not as an exception.
  co_await asio::this_coro::throw_if_cancelled(false);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const bool collective = reducer_->collective();
  const auto planned_end = start_ + settings_.planned;
  auto next = start_ + settings_.interval;
  for (;;) {
    // With a collective reducer every part must make the same reductions: only boundaries
    // strictly before the planned end, which every part computes alike from the common start.
    if (collective && next >= planned_end) break;
    timer.expires_at(next);
    auto [ec] = co_await timer.async_wait(detail::use_tuple);
    if (ec) break;  // cancelled: the run is over
    for (std::size_t i = 0; i < rs.workers.size(); ++i)
      co_await asio::co_spawn(*rs.workers[i], drain_shard(&rs.recorder.shard(i), &acc_), detail::uncancellable());
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) break;
    const bool stop = interval(Clock::now(), false);
    if (stop && collective) break;
    next += settings_.interval;
    // A stalled monitor skips boundaries, never bursts (a collective one must not skip any).
    if (!collective)
      for (auto now = Clock::now(); next <= now;) next += settings_.interval;
  }
}

void Monitor::finish(detail::RunState& rs) { report(rs, Clock::now(), true); }

void Monitor::report(detail::RunState& rs, Clock::time_point now, bool final) {
  // The loop may have been cancelled after collecting: the interval data it drained stays in
  // acc_, the totals since the start are collected afresh (adding them again would count twice).
  acc_.reset_totals();
  for (std::size_t i = 0; i < rs.recorder.size(); ++i) rs.recorder.shard(i).drain_interval_into(acc_);
  interval(now, final);
}

bool Monitor::interval(Clock::time_point now, bool final) {
  const double secs = to_seconds(now - last_);
  last_ = now;
  acc_.active_users = hooks_.active_users ? hooks_.active_users() : 0;
  auto judge = [&](IntervalStats& whole, std::size_t reported) {
    {
      std::lock_guard lock(so_far_m_);
      accumulate(whole);
    }
    // The last, partial interval: one shorter than a tenth of the interval would report a
    // spike (a few requests over a few ms); it is folded into the previous snapshot instead.
    const bool fold = final && !history_.empty() && secs < 0.1 * to_seconds(settings_.interval);
    RealTimeMetrics m = snapshot(whole, reported, now, secs);
    if (fold) {
      {
        std::lock_guard lock(so_far_m_);
        fold_into_last(m);
      }
      if (hooks_.deliver) hooks_.deliver(m);
      return false;
    }
    const bool breach = judge_live(m, now);
    if (hooks_.deliver) hooks_.deliver(m);
    // The history keeps the numbers only.
    m.top_errors.clear();
    m.endpoints.clear();
    m.errors_by_category.clear();
    std::lock_guard lock(so_far_m_);
    history_.push(std::move(m));
    return breach;
  };
  const bool wants_stop = hooks_.stop_wanted && hooks_.stop_wanted();
  IntervalVerdict v = reducer_->reduce_interval(acc_, wants_stop, final, judge);
  acc_.reset();
  if (v.lost_part) lost_part_ = true;
  if (v.stop && !final && hooks_.stop) hooks_.stop();
  return v.stop;
}

// Intervals partition the samples: adding their histograms gives the whole test's exactly. The
// totals, endpoint counts and lag histogram are since the start already.
void Monitor::accumulate(const IntervalStats& whole) {
  whole_.merge(whole);  // interval histogram, counts and errors
  if (whole_.errors_seen.size() > 100) whole_.errors_seen.resize(100);
  whole_.totals = whole.totals;
  whole_.by_category = whole.by_category;
  whole_.endpoints = whole.endpoints;
  whole_.schedule_lag.reset();
  whole_.schedule_lag.add(whole.schedule_lag);
}

void Monitor::fill_so_far(LoadTestResult& r, Clock::time_point now) const {
  std::lock_guard lock(so_far_m_);
  const double secs = to_seconds(now - start_);
  auto rate = [secs](std::uint64_t n) { return secs > 0 ? static_cast<double>(n) / secs : 0.0; };
  const RecorderCounters& c = whole_.totals;
  r.total_requests = c.requests;
  r.successful_requests = c.successes;
  r.failures = c.failures;
  r.errors_total = c.errors;
  r.failed_requests = c.failures + c.errors;
  r.retries = c.retries;
  r.duration = secs;
  r.response_histogram = std::make_shared<const Histogram>(whole_.response_time);
  r.set_response_time(whole_.response_time.summary());
  r.derive_rates(secs);
  r.max_active_users = max_active_;
  r.error_table = whole_.errors_seen;
  std::stable_sort(r.error_table.begin(), r.error_table.end(), [](auto& a, auto& b) { return a.count > b.count; });
  r.errors.clear();
  for (const ErrorEntry& e : r.error_table)
    r.errors.push_back(std::string(to_string(e.category)) + ": " + e.message + " (x" + std::to_string(e.count) + ")");
  r.errors_by_category.clear();
  for (std::size_t i = 1; i < whole_.by_category.size(); ++i)
    if (whole_.by_category[i]) r.errors_by_category[std::string(to_string(static_cast<ErrorCategory>(i)))] = whole_.by_category[i];
  r.endpoints.clear();
  for (const EndpointCounts& e : whole_.endpoints) {
    EndpointResult ep = endpoint_totals(e);
    ep.requests_per_second = rate(ep.total_requests);
    r.endpoints.push_back(std::move(ep));
  }
  std::sort(r.endpoints.begin(), r.endpoints.end(), [](auto& a, auto& b) { return a.name < b.name; });
  r.schedule = schedule_stats(c, whole_.schedule_lag);
  r.history = history_.entries();
}

// The tail's snapshot keeps its own counts (so interval counts still add up to the totals) but
// reports its rates over the previous interval and itself together; the history merges the two.
void Monitor::fold_into_last(RealTimeMetrics& tail) {
  RealTimeMetrics& h = history_.last();
  const double length = h.interval_seconds + tail.interval_seconds;
  const std::uint64_t requests = h.interval_requests + tail.interval_requests;
  const std::uint64_t errors = h.interval_errors + tail.interval_errors;
  const double rps = length > 0 ? static_cast<double>(requests) / length : 0;
  const double error_rate = requests ? static_cast<double>(errors) / static_cast<double>(requests) : 0;
  tail.requests_per_second = rps;
  tail.current_error_rate = error_rate;
  tail.cpu_usage = h.cpu_usage;  // a few ms of CPU time over a few ms of wall time is noise
  h.interval_seconds = length;
  h.interval_requests = requests;
  h.interval_errors = errors;
  h.requests_per_second = rps;
  h.current_error_rate = error_rate;
  h.total_requests = tail.total_requests;
  h.total_errors = tail.total_errors;
  h.active_users = tail.active_users;
}

RealTimeMetrics Monitor::snapshot(IntervalStats& acc, std::size_t reported, Clock::time_point now, double secs) {
  RealTimeMetrics m;
  m.timestamp = iso8601_utc(WallClock::now());
  m.elapsed = to_seconds(now - start_);
  m.planned_duration = to_seconds(settings_.planned);
  m.interval_seconds = secs;
  m.parts_reported = reported;
  const bool open = acc.totals.intended != 0 || acc.totals.started != 0 || acc.totals.dropped != 0;
  m.active_users = open ? acc.busy : acc.active_users;
  max_active_ = std::max<std::uint64_t>(max_active_, open ? acc.busy_peak : acc.active_users);
  m.interval_requests = acc.requests;
  m.interval_errors = acc.failures + acc.errors;
  m.requests_per_second = secs > 0 ? static_cast<double>(acc.requests) / secs : 0;
  m.current_error_rate = acc.requests ? static_cast<double>(m.interval_errors) / static_cast<double>(acc.requests) : 0;
  const LatencySummary lat = acc.response_time.summary();
  m.avg_response_time = lat.avg;
  m.p50_response_time = lat.p50;
  m.p95_response_time = lat.p95;
  m.p99_response_time = lat.p99;
  m.memory_usage = detail::resident_mb();
  m.cpu_usage = cpu_.sample();
  total_requests_ += acc.requests;
  total_errors_ += m.interval_errors;
  m.total_requests = total_requests_;
  m.total_errors = total_errors_;
  // Running tally of errors for the live view (bounded like the recorder's table).
  for (const ErrorEntry& e : acc.errors_seen) {
    auto it = std::find_if(seen_errors_.begin(), seen_errors_.end(),
                           [&](const ErrorEntry& s) { return s.category == e.category && s.message == e.message; });
    if (it != seen_errors_.end()) it->count += e.count;
    else if (seen_errors_.size() < 100) seen_errors_.push_back(e);
  }
  std::stable_sort(seen_errors_.begin(), seen_errors_.end(), [](auto& a, auto& b) { return a.count > b.count; });
  m.top_errors.assign(seen_errors_.begin(), seen_errors_.begin() + std::min<std::size_t>(5, seen_errors_.size()));
  // Totals since the start, for live views and exporters.
  for (const EndpointCounts& c : acc.endpoints) m.endpoints.push_back(endpoint_totals(c));
  std::sort(m.endpoints.begin(), m.endpoints.end(), [](auto& a, auto& b) { return a.name < b.name; });
  for (std::size_t i = 1; i < acc.by_category.size(); ++i)
    if (acc.by_category[i]) m.errors_by_category[std::string(to_string(static_cast<ErrorCategory>(i)))] = acc.by_category[i];
  m.schedule = schedule_stats(acc.totals, acc.schedule_lag);
  m.retries = acc.totals.retries;
  m.users_in_open_circuit = static_cast<std::uint64_t>(std::max<std::int64_t>(0, acc.open_circuits));
  return m;
}

bool Monitor::judge_live(const RealTimeMetrics& m, Clock::time_point now) {
  if (!settings_.abort_on_fail || !aborted_by_.empty() || now - start_ < settings_.abort_grace) return false;
  for (const Threshold& t : settings_.thresholds) {
    std::optional<double> observed = observe_live(t, m);
    if (observed && !holds(t, *observed)) {
      aborted_by_ = t.expression + " (observed " + format_observed(metric_name(t), *observed) + ")";
      return true;
    }
  }
  return false;
}

}  // namespace loadtest
