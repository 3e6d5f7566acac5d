// loadtest: merging segment results, see merge.hpp.
#include "loadtest/merge.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/core.h>

#include "loadtest/histogram.hpp"
#include "loadtest/metrics.hpp"

namespace loadtest {

namespace {

std::string source_of(const MergeOptions& o, std::size_t i) {
  return i < o.sources.size() && !o.sources[i].empty() ? o.sources[i] : fmt::format("result #{}", i + 1);
}

std::string config_value(const LoadTestResult& r, const std::string& key) {
  auto it = r.config.find(key);
  return it == r.config.end() ? std::string() : it->second;
}

// Adds `h` into `acc` (created with h's layout when still empty).
void add_into(std::unique_ptr<Histogram>& acc, const Histogram& h, const std::string& source, const char* what) {
  if (!acc) acc = std::make_unique<Histogram>(h.lowest_trackable_us(), h.highest_trackable_us(), h.significant_digits());
  try {
    acc->add(h);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(fmt::format("{}: its {} histogram cannot merge with the others: {}", source, what, e.what()));
  }
}

void check_count(const Histogram& h, std::uint64_t expected, const std::string& source, const std::string& what) {
  if (h.count() != expected)
    throw std::invalid_argument(fmt::format("{}: the {} histogram holds {} values but the result counts {}", source,
                                            what, h.count(), expected));
}

std::shared_ptr<const Histogram> share(std::unique_ptr<Histogram>& h) {
  return h ? std::shared_ptr<const Histogram>(std::move(h)) : nullptr;
}

}  // namespace

Segment segment_of(const LoadTestResult& r) {
  auto it = r.config.find("segment");
  if (it == r.config.end()) return {};
  try {
    return Segment::parse(it->second);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument("segment '" + it->second + "' is not i/N with 0 <= i < N (e.g. 0/4)");
  }
}

LoadTestResult merge_results(const std::vector<LoadTestResult>& results) { return merge_results(results, MergeOptions{}); }

LoadTestResult merge_results(const std::vector<LoadTestResult>& results, const MergeOptions& options) {
  if (results.empty()) throw std::invalid_argument("merge: no results to merge");

  // ---- Can they be merged? ------------------------------------------------------------------
  const LoadTestResult& first = results.front();
  std::vector<Segment> segments;
  std::map<std::size_t, std::size_t> owner;  // segment index -> input
  for (std::size_t i = 0; i < results.size(); ++i) {
    const LoadTestResult& r = results[i];
    const std::string src = source_of(options, i);
    Segment id;
    try {
      id = segment_of(r);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(src + ": " + e.what());
    }
    if (!r.response_histogram)
      throw std::invalid_argument(src + ": has no histograms (written by a loadtest without them?); merging needs them");
    check_count(*r.response_histogram, r.total_requests, src, "response-time");
    for (const EndpointResult& e : r.endpoints) {
      if (!e.histogram)
        throw std::invalid_argument(src + ": endpoint '" + e.name + "' has no histogram; merging needs them");
      check_count(*e.histogram, e.total_requests, src, "'" + e.name + "' response-time");
    }
    if (r.service_time && !r.service_histogram)
      throw std::invalid_argument(src + ": has service times but no service-time histogram; merging needs it");
    if (r.schedule && !r.schedule_lag_histogram)
      throw std::invalid_argument(src + ": has schedule figures but no schedule-lag histogram; merging needs it");
    if (i > 0) {
      const std::string first_src = source_of(options, 0);
      auto differ = [&](const std::string& what, const std::string& a, const std::string& b) {
        if (a != b)
          throw std::invalid_argument(fmt::format("{}: not the same test as {}: {} '{}' vs '{}'", src, first_src, what,
                                                  b, a));
      };
      differ("name", first.name, r.name);
      differ("model", first.model, r.model);
      for (const char* key : {"pattern", "behavior", "seed"}) differ(key, config_value(first, key), config_value(r, key));
      differ("segment count", std::to_string(segments.front().count), std::to_string(id.count));
    }
    if (auto [it, fresh] = owner.emplace(id.index, i); !fresh)
      throw std::invalid_argument(fmt::format("{}: segment {}/{} overlaps {}", src, id.index, id.count,
                                              source_of(options, it->second)));
    segments.push_back(id);
  }
  const std::size_t n = segments.front().count;
  std::string present;
  // (appended piecewise: GCC 12 warns falsely about "," + std::to_string(...))
  auto append = [](std::string& list, std::size_t k) {
    if (!list.empty()) list += ',';
    list += std::to_string(k);
  };
  for (const auto& [index, input] : owner) append(present, index);
  if (owner.size() != n) {
    if (!options.allow_partial) {
      std::string missing;
      for (std::size_t k = 0; k < n; ++k)
        if (!owner.count(k)) append(missing, k);
      const bool one = missing.find(',') == std::string::npos;
      throw std::invalid_argument(fmt::format("merge: segment{} {} of {} {} missing (have {}; accept with --allow-partial)",
                                              one ? "" : "s", missing, n, one ? "is" : "are", present));
    }
  }

  // ---- Merge --------------------------------------------------------------------------------
  LoadTestResult out;
  out.name = first.name;
  out.model = first.model;
  out.timestamp = first.timestamp;
  out.config = first.config;
  out.config.erase("segment");
  out.config["segments"] = std::to_string(n);
  if (owner.size() != n) out.config["partial"] = fmt::format("segments {} of {}", present, n);

  RecorderCounters sched;
  std::unique_ptr<Histogram> response, service, lag;
  std::map<std::string, EndpointResult> endpoints;
  std::map<std::string, std::unique_ptr<Histogram>> endpoint_times;
  std::map<std::pair<ErrorCategory, std::string>, std::uint64_t> errors;
  bool any_schedule = false;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const LoadTestResult& r = results[i];
    const std::string src = source_of(options, i);
    if (!r.timestamp.empty() && (out.timestamp.empty() || r.timestamp < out.timestamp)) out.timestamp = r.timestamp;
    out.total_requests += r.total_requests;
    out.successful_requests += r.successful_requests;
    out.failed_requests += r.failed_requests;
    out.failures += r.failures;
    out.errors_total += r.errors_total;
    out.cancelled_requests += r.cancelled_requests;
    out.retries += r.retries;
    out.duration = std::max(out.duration, r.duration);
    out.max_active_users += r.max_active_users;
    add_into(response, *r.response_histogram, src, "response-time");
    if (r.service_histogram) add_into(service, *r.service_histogram, src, "service-time");
    if (r.schedule) {
      any_schedule = true;
      sched.intended += r.schedule->intended;
      sched.started += r.schedule->started;
      sched.late += r.schedule->late;
      sched.dropped += r.schedule->dropped;
      add_into(lag, *r.schedule_lag_histogram, src, "schedule-lag");
    }
    for (const ErrorEntry& e : r.error_table) errors[{e.category, e.message}] += e.count;
    out.error_overflow += r.error_overflow;
    for (const auto& [category, count] : r.errors_by_category) out.errors_by_category[category] += count;
    for (const EndpointResult& e : r.endpoints) {
      EndpointResult& m = endpoints[e.name];
      m.name = e.name;
      m.total_requests += e.total_requests;
      m.successful_requests += e.successful_requests;
      m.failed_requests += e.failed_requests;
      m.failures += e.failures;
      m.errors += e.errors;
      for (std::size_t k = 0; k < m.status_classes.size(); ++k) m.status_classes[k] += e.status_classes[k];
      add_into(endpoint_times[e.name], *e.histogram, src, ("'" + e.name + "' response-time").c_str());
    }
    if (out.aborted_by.empty() && !r.aborted_by.empty()) out.aborted_by = r.aborted_by;
  }

  auto rate = [&](std::uint64_t count) { return out.duration > 0 ? static_cast<double>(count) / out.duration : 0.0; };
  out.set_response_time(response->summary());
  out.derive_rates(out.duration);
  out.response_histogram = share(response);

  // Error table: most frequent first, then by category and message; the rest overflows.
  for (const auto& [key, count] : errors) out.error_table.push_back(ErrorEntry{key.first, key.second, count});
  std::stable_sort(out.error_table.begin(), out.error_table.end(),
                   [](const ErrorEntry& a, const ErrorEntry& b) { return a.count > b.count; });
  if (out.error_table.size() > options.max_error_keys) {
    for (std::size_t i = options.max_error_keys; i < out.error_table.size(); ++i) out.error_overflow += out.error_table[i].count;
    out.error_table.resize(options.max_error_keys);
  }
  for (std::size_t i = 0; i < out.error_table.size() && i < 100; ++i) {
    const ErrorEntry& e = out.error_table[i];
    out.errors.push_back(std::string(to_string(e.category)) + ": " + e.message + " (x" + std::to_string(e.count) + ")");
  }

  for (auto& [name, e] : endpoints) {
    e.requests_per_second = rate(e.total_requests);
    std::unique_ptr<Histogram>& h = endpoint_times[name];
    e.response_time = h->summary();
    e.histogram = share(h);
    out.endpoints.push_back(std::move(e));
  }

  if (service) {
    out.service_time = service->summary();
    out.service_histogram = share(service);
  }
  if (any_schedule) {
    ScheduleStats s;
    s.intended = sched.intended;
    s.started = sched.started;
    s.late = sched.late;
    s.dropped = sched.dropped;
    s.lag_p50 = to_seconds(lag->value_at_percentile(50));
    s.lag_p99 = to_seconds(lag->value_at_percentile(99));
    s.lag_max = to_seconds(lag->max());
    out.schedule = s;
    out.schedule_lag_histogram = share(lag);
  }

  // Thresholds judge the whole.
  std::vector<Threshold> thresholds = options.thresholds;
  if (thresholds.empty())
    for (const ThresholdResult& t : first.thresholds) {
      try {
        thresholds.push_back(parse_threshold(t.expression));
      } catch (const std::invalid_argument&) {
        // an expression this version does not know: it cannot be judged again
      }
    }
  out.thresholds = evaluate(thresholds, out);
  return out;
}

}  // namespace loadtest
