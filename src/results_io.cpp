// loadtest: result files: JSON layout, safe file names, atomic writes.
#include "loadtest/results_io.hpp"
#include "loadtest/text.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include <boost/json.hpp>
#include <fmt/core.h>

#include "loadtest/histogram_codec.hpp"

namespace loadtest {

namespace json = boost::json;

namespace detail {
namespace {

// ---------------------------------------------------------------------------------------------
// Pretty printer (Boost 1.81 has none): 2-space indentation, like Python's json.dump(indent=2).

void append_string(std::string& out, std::string_view s) {
  out += '"';
  text::append_json_escaped(out, s);  // not UTF-8: U+FFFD, so the file stays parseable
  out += '"';
}

void append_double(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  std::string text = fmt::format("{}", d);  // shortest form that reads back exactly
  if (text.find_first_of(".eE") == std::string::npos) text += ".0";
  out += text;
}

void append_value(std::string& out, const json::value& v, int depth) {
  auto newline = [&](int d) {
    out += '\n';
    out.append(static_cast<std::size_t>(d) * 2, ' ');
  };
  switch (v.kind()) {
    case json::kind::null: out += "null"; break;
    case json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case json::kind::int64: out += fmt::format("{}", v.get_int64()); break;
    case json::kind::uint64: out += fmt::format("{}", v.get_uint64()); break;
    case json::kind::double_: append_double(out, v.get_double()); break;
    case json::kind::string: append_string(out, v.get_string()); break;
    case json::kind::array: {
      const auto& a = v.get_array();
      if (a.empty()) {
        out += "[]";
        break;
      }
      out += '[';
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (i) out += ',';
        newline(depth + 1);
        append_value(out, a[i], depth + 1);
      }
      newline(depth);
      out += ']';
      break;
    }
    case json::kind::object: {
      const auto& o = v.get_object();
      if (o.empty()) {
        out += "{}";
        break;
      }
      out += '{';
      bool first = true;
      for (const auto& kv : o) {
        if (!first) out += ',';
        first = false;
        newline(depth + 1);
        append_string(out, kv.key());
        out += ": ";
        append_value(out, kv.value(), depth + 1);
      }
      newline(depth);
      out += '}';
      break;
    }
  }
}

std::string pretty(const json::value& v) {
  std::string out;
  append_value(out, v, 0);
  out += '\n';
  return out;
}

// ---------------------------------------------------------------------------------------------
// Building the values.

json::string_view jsv(std::string_view s) { return {s.data(), s.size()}; }

json::object latency_object(const LatencySummary& l) {
  json::object o;
  o["avg"] = l.avg;
  o["p50"] = l.p50;
  o["p90"] = l.p90;
  o["p95"] = l.p95;
  o["p99"] = l.p99;
  o["p999"] = l.p999;
  o["max"] = l.max;
  // extensions (so that merged results are exact)
  o["min"] = l.min;
  o["stddev"] = l.stddev;
  o["count"] = l.count;
  return o;
}

constexpr std::array<std::string_view, 6> status_class_keys{"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

json::object endpoint_object(const EndpointResult& e) {
  json::object o;
  o["total_requests"] = e.total_requests;
  o["successful_requests"] = e.successful_requests;
  o["failed_requests"] = e.failed_requests;
  o["failures"] = e.failures;
  o["errors"] = e.errors;
  o["requests_per_second"] = e.requests_per_second;
  o["avg_response_time"] = e.response_time.avg;
  o["min_response_time"] = e.response_time.min;
  o["p50_response_time"] = e.response_time.p50;
  o["p90_response_time"] = e.response_time.p90;
  o["p95_response_time"] = e.response_time.p95;
  o["p99_response_time"] = e.response_time.p99;
  o["p999_response_time"] = e.response_time.p999;
  o["max_response_time"] = e.response_time.max;
  json::object classes;
  for (std::size_t i = 1; i < status_class_keys.size(); ++i) classes[jsv(status_class_keys[i])] = e.status_classes[i];
  classes["none"] = e.status_classes[0];
  o["status_classes"] = std::move(classes);
  o["stddev_response_time"] = e.response_time.stddev;
  if (e.histogram) o["histogram"] = encode_compressed_base64(*e.histogram);
  return o;
}

// ---------------------------------------------------------------------------------------------
// Reading the values back.

[[noreturn]] void bad(std::string_view what, std::string_view why) {
  throw std::invalid_argument(fmt::format("invalid result JSON: '{}' {}", what, why));
}

std::string path_of(std::string_view parent, std::string_view key) {
  return parent.empty() ? std::string(key) : fmt::format("{}.{}", parent, key);
}

const json::object& as_object(const json::value& v, std::string_view what) {
  if (!v.is_object()) bad(what, "must be an object");
  return v.get_object();
}

double as_double(const json::value& v, std::string_view what) {
  switch (v.kind()) {
    case json::kind::double_: return v.get_double();
    case json::kind::int64: return static_cast<double>(v.get_int64());
    case json::kind::uint64: return static_cast<double>(v.get_uint64());
    case json::kind::null: return 0;
    default: bad(what, "must be a number");
  }
}

std::uint64_t as_u64(const json::value& v, std::string_view what) {
  switch (v.kind()) {
    case json::kind::uint64: return v.get_uint64();
    case json::kind::int64:
      if (v.get_int64() < 0) break;
      return static_cast<std::uint64_t>(v.get_int64());
    case json::kind::double_: {
      double d = v.get_double();
      if (d < 0 || d >= 18446744073709551616.0 || std::floor(d) != d) break;
      return static_cast<std::uint64_t>(d);
    }
    case json::kind::null: return 0;
    default: break;
  }
  bad(what, "must be a non-negative integer");
}

std::string as_string(const json::value& v, std::string_view what) {
  if (!v.is_string()) bad(what, "must be a string");
  return std::string(v.get_string());
}

// A member that must be present.
const json::value& need(const json::object& o, std::string_view parent, std::string_view key) {
  auto* v = o.if_contains(jsv(key));
  if (!v) bad(path_of(parent, key), "is missing");
  return *v;
}

// Optional members: left unchanged when absent.
void opt_double(const json::object& o, std::string_view parent, std::string_view key, double& out) {
  if (auto* v = o.if_contains(jsv(key))) out = as_double(*v, path_of(parent, key));
}
void opt_u64(const json::object& o, std::string_view parent, std::string_view key, std::uint64_t& out) {
  if (auto* v = o.if_contains(jsv(key))) out = as_u64(*v, path_of(parent, key));
}
void opt_string(const json::object& o, std::string_view parent, std::string_view key, std::string& out) {
  if (auto* v = o.if_contains(jsv(key))) out = as_string(*v, path_of(parent, key));
}

ErrorCategory category_from(std::string_view name, std::string_view what) {
  for (std::size_t i = 0; i < error_category_count; ++i) {
    auto c = static_cast<ErrorCategory>(i);
    if (to_string(c) == name) return c;
  }
  bad(what, fmt::format("names an unknown error category \"{}\"", name));
}

LatencySummary latency_from(const json::object& o, std::string_view parent) {
  LatencySummary l;
  opt_double(o, parent, "avg", l.avg);
  opt_double(o, parent, "min", l.min);
  opt_double(o, parent, "p50", l.p50);
  opt_double(o, parent, "p90", l.p90);
  opt_double(o, parent, "p95", l.p95);
  opt_double(o, parent, "p99", l.p99);
  opt_double(o, parent, "p999", l.p999);
  opt_double(o, parent, "max", l.max);
  opt_double(o, parent, "stddev", l.stddev);
  opt_u64(o, parent, "count", l.count);
  return l;
}

// A compressed V2 histogram (HISTFAAA...), with the exact figures of its summary put back.
std::shared_ptr<const Histogram> histogram_from(const json::value& v, std::string_view what,
                                                const LatencySummary* exact) {
  if (!v.is_string()) bad(what, "must be a string (an HdrHistogram compressed V2 histogram)");
  try {
    Histogram h = decode_compressed_base64(std::string_view(v.get_string().data(), v.get_string().size()));
    if (exact) restore_summary(h, exact->min, exact->max, exact->avg, exact->stddev);
    return std::make_shared<const Histogram>(std::move(h));
  } catch (const std::invalid_argument& e) {
    bad(what, fmt::format("is not a valid histogram: {}", e.what()));
  }
}

EndpointResult endpoint_from(std::string name, const json::object& o, std::string_view parent) {
  EndpointResult e;
  e.name = std::move(name);
  opt_u64(o, parent, "total_requests", e.total_requests);
  opt_u64(o, parent, "successful_requests", e.successful_requests);
  opt_u64(o, parent, "failed_requests", e.failed_requests);
  opt_u64(o, parent, "failures", e.failures);
  opt_u64(o, parent, "errors", e.errors);
  opt_double(o, parent, "requests_per_second", e.requests_per_second);
  opt_double(o, parent, "avg_response_time", e.response_time.avg);
  opt_double(o, parent, "min_response_time", e.response_time.min);
  opt_double(o, parent, "p50_response_time", e.response_time.p50);
  opt_double(o, parent, "p90_response_time", e.response_time.p90);
  opt_double(o, parent, "p95_response_time", e.response_time.p95);
  opt_double(o, parent, "p99_response_time", e.response_time.p99);
  opt_double(o, parent, "p999_response_time", e.response_time.p999);
  opt_double(o, parent, "max_response_time", e.response_time.max);
  opt_double(o, parent, "stddev_response_time", e.response_time.stddev);
  e.response_time.count = e.total_requests;
  if (auto* v = o.if_contains("status_classes")) {
    auto where = path_of(parent, "status_classes");
    const auto& classes = as_object(*v, where);
    for (std::size_t i = 0; i < status_class_keys.size(); ++i)
      opt_u64(classes, where, status_class_keys[i], e.status_classes[i]);
  }
  if (auto* v = o.if_contains("histogram")) e.histogram = histogram_from(*v, path_of(parent, "histogram"), &e.response_time);
  return e;
}

// ---------------------------------------------------------------------------------------------
// Files.

std::string errno_text(int err) { return std::strerror(err); }

[[noreturn]] void not_writable(const std::filesystem::path& dir, const std::string& reason) {
  throw std::runtime_error(fmt::format("results directory '{}' is not writable: {}", dir.string(), reason));
}

// mkdir -p with mode 0700 for the directories it creates.
void make_dirs(const std::filesystem::path& dir) {
  std::filesystem::path prefix;
  for (const auto& part : dir) {
    prefix /= part;
    if (part.empty() || part == "/" || part == "." || part == "..") continue;
    struct stat st {};
    if (::stat(prefix.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) not_writable(dir, fmt::format("'{}' is not a directory", prefix.string()));
      continue;
    }
    if (errno != ENOENT) not_writable(dir, fmt::format("cannot access '{}': {}", prefix.string(), errno_text(errno)));
    if (::mkdir(prefix.c_str(), 0700) != 0) {
      if (errno == EEXIST) continue;  // created meanwhile by someone else; checked below
      not_writable(dir, fmt::format("cannot create '{}': {}", prefix.string(), errno_text(errno)));
    }
    ::chmod(prefix.c_str(), 0700);  // exactly 0700, whatever the umask
  }
}

void write_all(int fd, std::string_view content) {
  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "write");
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

void fsync_dir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);  // best effort: the rename is atomic either way
  ::close(fd);
}

// Moves tmp onto target unless target exists; false when it exists.
bool claim_no_replace(const std::filesystem::path& tmp, const std::filesystem::path& target) {
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) == 0) return true;
  int err = errno;
  if (err == EEXIST) return false;
  if (err != EINVAL && err != ENOSYS && err != ENOTSUP) throw std::system_error(err, std::generic_category(), "rename");
  // No RENAME_NOREPLACE on this file system: link() fails with EEXIST just as well.
  if (::link(tmp.c_str(), target.c_str()) == 0) {
    ::unlink(tmp.c_str());
    return true;
  }
  if (errno == EEXIST) return false;
  throw std::system_error(errno, std::generic_category(), "link");
}

}  // namespace
}  // namespace detail

// -------------------------------------------------------------------------------------------------

std::string to_json(const LoadTestResult& r) {
  using detail::jsv;
  json::object root;
  root["name"] = jsv(r.name);
  root["timestamp"] = jsv(r.timestamp);
  root["model"] = jsv(r.model);

  json::object m;
  // the original framework's eight, in its order
  m["total_requests"] = r.total_requests;
  m["successful_requests"] = r.successful_requests;
  m["failed_requests"] = r.failed_requests;
  m["duration"] = r.duration;
  m["avg_response_time"] = r.avg_response_time;
  m["p95_response_time"] = r.p95_response_time;
  m["p99_response_time"] = r.p99_response_time;
  m["requests_per_second"] = r.requests_per_second;
  // extensions
  m["p50_response_time"] = r.p50_response_time;
  m["p90_response_time"] = r.p90_response_time;
  m["p999_response_time"] = r.p999_response_time;
  m["min_response_time"] = r.min_response_time;
  m["max_response_time"] = r.max_response_time;
  m["stddev_response_time"] = r.stddev_response_time;
  m["error_rate"] = r.error_rate;
  m["success_rate"] = r.success_rate;
  m["failures"] = r.failures;
  m["errors"] = r.errors_total;
  m["cancelled_requests"] = r.cancelled_requests;
  m["max_active_users"] = r.max_active_users;
  m["retries"] = r.retries;
  root["metrics"] = std::move(m);

  json::array errors;
  for (const auto& e : r.errors) errors.emplace_back(jsv(e));
  root["errors"] = std::move(errors);

  json::object by_category;
  for (const auto& [category, count] : r.errors_by_category) by_category[jsv(category)] = count;
  root["errors_by_category"] = std::move(by_category);

  json::array table;
  for (const auto& e : r.error_table) {
    json::object o;
    o["category"] = jsv(to_string(e.category));
    o["message"] = jsv(e.message);
    o["count"] = e.count;
    table.emplace_back(std::move(o));
  }
  root["error_table"] = std::move(table);
  root["error_overflow"] = r.error_overflow;

  json::object endpoints;
  for (const auto& e : r.endpoints) endpoints[jsv(e.name)] = detail::endpoint_object(e);
  root["endpoints"] = std::move(endpoints);

  json::object config;
  for (const auto& [k, v] : r.config) config[jsv(k)] = jsv(v);
  root["config"] = std::move(config);

  if (r.service_time) root["service_time"] = detail::latency_object(*r.service_time);
  if (r.schedule) {
    const auto& s = *r.schedule;
    json::object o;
    o["intended"] = s.intended;
    o["started"] = s.started;
    o["late"] = s.late;
    o["dropped"] = s.dropped;
    o["lag_p50"] = s.lag_p50;
    o["lag_p99"] = s.lag_p99;
    o["lag_max"] = s.lag_max;
    root["schedule"] = std::move(o);
  }
  if (!r.thresholds.empty()) {
    json::array thresholds;
    for (const auto& t : r.thresholds) {
      json::object o;
      o["expression"] = jsv(t.expression);
      o["metric"] = jsv(t.metric);
      if (!t.endpoint.empty()) o["endpoint"] = jsv(t.endpoint);
      o["observed"] = t.observed;  // NaN (no such figure) is written as null
      o["passed"] = t.passed;
      thresholds.emplace_back(std::move(o));
    }
    root["thresholds"] = std::move(thresholds);
  }
  if (!r.aborted_by.empty()) root["aborted_by"] = jsv(r.aborted_by);
  if (r.response_histogram || r.service_histogram || r.schedule_lag_histogram) {
    json::object h;
    if (r.response_histogram) h["response_time"] = encode_compressed_base64(*r.response_histogram);
    if (r.service_histogram) h["service_time"] = encode_compressed_base64(*r.service_histogram);
    if (r.schedule_lag_histogram) h["schedule_lag"] = encode_compressed_base64(*r.schedule_lag_histogram);
    root["histograms"] = std::move(h);
  }
  if (!r.interrupted.empty()) root["interrupted"] = jsv(r.interrupted);
  if (r.incomplete) root["incomplete"] = true;
  if (r.checkpoint) root["checkpoint"] = true;
  return detail::pretty(root);
}

std::string history_to_json(const TestInfo& info, const std::vector<RealTimeMetrics>& history) {
  using detail::jsv;
  json::object root;
  root["name"] = jsv(info.name);
  root["timestamp"] = jsv(info.timestamp);
  if (history.size() >= 2) {
    double spacing = (history.back().elapsed - history.front().elapsed) / static_cast<double>(history.size() - 1);
    if (spacing > 0) root["interval_seconds"] = spacing;
  }
  json::array entries;
  entries.reserve(history.size());
  for (const auto& m : history) {
    json::object o;
    // the original framework's keys first
    o["active_users"] = m.active_users;
    o["requests_per_second"] = m.requests_per_second;
    o["current_error_rate"] = m.current_error_rate;
    o["avg_response_time"] = m.avg_response_time;
    o["p95_response_time"] = m.p95_response_time;
    o["memory_usage"] = m.memory_usage;
    o["cpu_usage"] = m.cpu_usage;
    o["timestamp"] = jsv(m.timestamp);
    o["elapsed"] = m.elapsed;
    o["p50_response_time"] = m.p50_response_time;
    o["p99_response_time"] = m.p99_response_time;
    o["interval_requests"] = m.interval_requests;
    o["interval_errors"] = m.interval_errors;
    o["total_requests"] = m.total_requests;
    entries.emplace_back(std::move(o));
  }
  root["history"] = std::move(entries);
  return detail::pretty(root);
}

LoadTestResult result_from_json(std::string_view text) {
  using namespace detail;
  json::error_code ec;
  json::value doc = json::parse(jsv(text), ec);
  if (ec) throw std::invalid_argument(fmt::format("invalid result JSON: not JSON ({})", ec.message()));
  if (!doc.is_object()) throw std::invalid_argument("invalid result JSON: the top level must be an object");
  const auto& root = doc.get_object();

  LoadTestResult r;
  opt_string(root, "", "name", r.name);
  opt_string(root, "", "timestamp", r.timestamp);
  opt_string(root, "", "aborted_by", r.aborted_by);
  opt_string(root, "", "interrupted", r.interrupted);
  opt_string(root, "", "model", r.model);
  if (auto* v = root.if_contains("incomplete"); v && v->is_bool()) r.incomplete = v->as_bool();
  if (auto* v = root.if_contains("checkpoint"); v && v->is_bool()) r.checkpoint = v->as_bool();

  const auto& m = as_object(need(root, "", "metrics"), "metrics");
  r.total_requests = as_u64(need(m, "metrics", "total_requests"), "metrics.total_requests");
  r.successful_requests = as_u64(need(m, "metrics", "successful_requests"), "metrics.successful_requests");
  r.failed_requests = as_u64(need(m, "metrics", "failed_requests"), "metrics.failed_requests");
  r.duration = as_double(need(m, "metrics", "duration"), "metrics.duration");
  r.avg_response_time = as_double(need(m, "metrics", "avg_response_time"), "metrics.avg_response_time");
  r.p95_response_time = as_double(need(m, "metrics", "p95_response_time"), "metrics.p95_response_time");
  r.p99_response_time = as_double(need(m, "metrics", "p99_response_time"), "metrics.p99_response_time");
  r.requests_per_second = as_double(need(m, "metrics", "requests_per_second"), "metrics.requests_per_second");
  if (r.total_requests > 0) {  // defaults for files of the original framework
    r.error_rate = static_cast<double>(r.failed_requests) / static_cast<double>(r.total_requests);
    r.success_rate = static_cast<double>(r.successful_requests) / static_cast<double>(r.total_requests);
  }
  opt_double(m, "metrics", "p50_response_time", r.p50_response_time);
  opt_double(m, "metrics", "p90_response_time", r.p90_response_time);
  opt_double(m, "metrics", "p999_response_time", r.p999_response_time);
  opt_double(m, "metrics", "min_response_time", r.min_response_time);
  opt_double(m, "metrics", "max_response_time", r.max_response_time);
  opt_double(m, "metrics", "stddev_response_time", r.stddev_response_time);
  opt_double(m, "metrics", "error_rate", r.error_rate);
  opt_double(m, "metrics", "success_rate", r.success_rate);
  opt_u64(m, "metrics", "failures", r.failures);
  opt_u64(m, "metrics", "errors", r.errors_total);
  opt_u64(m, "metrics", "cancelled_requests", r.cancelled_requests);
  opt_u64(m, "metrics", "max_active_users", r.max_active_users);
  opt_u64(m, "metrics", "retries", r.retries);

  if (auto* v = root.if_contains("errors")) {
    if (!v->is_array()) bad("errors", "must be an array of strings");
    for (std::size_t i = 0; i < v->get_array().size(); ++i)
      r.errors.push_back(as_string(v->get_array()[i], fmt::format("errors[{}]", i)));
  }
  if (auto* v = root.if_contains("errors_by_category")) {
    for (const auto& kv : as_object(*v, "errors_by_category"))
      r.errors_by_category[std::string(kv.key())] = as_u64(kv.value(), path_of("errors_by_category", kv.key()));
  }
  if (auto* v = root.if_contains("error_table")) {
    if (!v->is_array()) bad("error_table", "must be an array");
    const auto& a = v->get_array();
    for (std::size_t i = 0; i < a.size(); ++i) {
      auto where = fmt::format("error_table[{}]", i);
      const auto& o = as_object(a[i], where);
      ErrorEntry e;
      e.category = category_from(as_string(need(o, where, "category"), path_of(where, "category")),
                                 path_of(where, "category"));
      opt_string(o, where, "message", e.message);
      opt_u64(o, where, "count", e.count);
      r.error_table.push_back(std::move(e));
    }
  }
  opt_u64(root, "", "error_overflow", r.error_overflow);
  if (auto* v = root.if_contains("endpoints")) {
    for (const auto& kv : as_object(*v, "endpoints")) {
      auto where = path_of("endpoints", kv.key());
      r.endpoints.push_back(endpoint_from(std::string(kv.key()), as_object(kv.value(), where), where));
    }
  }
  if (auto* v = root.if_contains("config")) {
    for (const auto& kv : as_object(*v, "config")) {
      // Strings as they are; other scalars (from hand-written files) as their JSON text.
      r.config[std::string(kv.key())] =
          kv.value().is_string() ? std::string(kv.value().get_string()) : json::serialize(kv.value());
    }
  }
  if (auto* v = root.if_contains("service_time")) r.service_time = latency_from(as_object(*v, "service_time"), "service_time");
  if (auto* v = root.if_contains("schedule")) {
    const auto& o = as_object(*v, "schedule");
    ScheduleStats s;
    opt_u64(o, "schedule", "intended", s.intended);
    opt_u64(o, "schedule", "started", s.started);
    opt_u64(o, "schedule", "late", s.late);
    opt_u64(o, "schedule", "dropped", s.dropped);
    opt_double(o, "schedule", "lag_p50", s.lag_p50);
    opt_double(o, "schedule", "lag_p99", s.lag_p99);
    opt_double(o, "schedule", "lag_max", s.lag_max);
    r.schedule = s;
  }
  if (auto* v = root.if_contains("thresholds")) {
    if (!v->is_array()) bad("thresholds", "must be an array");
    const auto& a = v->get_array();
    for (std::size_t i = 0; i < a.size(); ++i) {
      auto where = fmt::format("thresholds[{}]", i);
      const auto& o = as_object(a[i], where);
      ThresholdResult t;
      t.expression = as_string(need(o, where, "expression"), path_of(where, "expression"));
      opt_string(o, where, "metric", t.metric);
      opt_string(o, where, "endpoint", t.endpoint);
      const auto& observed = need(o, where, "observed");
      // null: the figure did not exist when the threshold was evaluated
      t.observed = observed.is_null() ? std::numeric_limits<double>::quiet_NaN()
                                      : as_double(observed, path_of(where, "observed"));
      const auto& passed = need(o, where, "passed");
      if (!passed.is_bool()) bad(path_of(where, "passed"), "must be true or false");
      t.passed = passed.get_bool();
      r.thresholds.push_back(std::move(t));
    }
  }
  if (auto* v = root.if_contains("histograms")) {
    const auto& h = as_object(*v, "histograms");
    if (auto* x = h.if_contains("response_time")) {
      const LatencySummary rt = r.response_time();
      r.response_histogram = histogram_from(*x, "histograms.response_time", &rt);
    }
    if (auto* x = h.if_contains("service_time"))
      r.service_histogram = histogram_from(*x, "histograms.service_time", r.service_time ? &*r.service_time : nullptr);
    if (auto* x = h.if_contains("schedule_lag")) {
      auto lag = histogram_from(*x, "histograms.schedule_lag", nullptr);
      if (r.schedule && !lag->empty()) {  // the exact largest lag is in the schedule block
        Histogram exact = *lag;
        Histogram::Moments m = exact.moments();
        m.max_ns = std::llround(r.schedule->lag_max * 1e9);
        try {
          exact.restore_moments(m);
          lag = std::make_shared<const Histogram>(std::move(exact));
        } catch (const std::invalid_argument&) {
          // a hand-edited lag_max: keep the bucket bound
        }
      }
      r.schedule_lag_histogram = std::move(lag);
    }
  }
  return r;
}

std::string sanitize_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                c == '-';
    char mapped = keep ? c : '_';
    if (mapped == '.' && !out.empty() && out.back() == '.') continue;  // ".." -> "."
    if (mapped == '.' && out.empty()) continue;                         // no leading dot
    out += mapped;
  }
  if (out.size() > 100) out.resize(100);
  if (out.empty()) out = "test";
  return out;
}

void prepare_results_dir(const std::filesystem::path& dir) {
  if (dir.empty()) detail::not_writable(dir, "the path is empty");
  detail::make_dirs(dir);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) detail::not_writable(dir, detail::errno_text(errno));
  if (!S_ISDIR(st.st_mode)) detail::not_writable(dir, "not a directory");
  // A full disk passes the probe below (a 0-byte file) and would fail only at the end.
  struct statvfs vs {};
  if (::statvfs(dir.c_str(), &vs) == 0) {
    const auto free_bytes = static_cast<unsigned long long>(vs.f_bavail) * vs.f_frsize;
    if (free_bytes < min_free_bytes)
      detail::not_writable(dir, fmt::format("the file system is full ({} bytes free, at least {} needed)", free_bytes,
                                            min_free_bytes));
  }
  // Really try: permissions bits do not tell the whole story (read-only mounts, ACLs, root).
  std::string probe = (dir / ".loadtest_probe_XXXXXX").string();
  int fd = ::mkostemp(probe.data(), O_CLOEXEC);
  if (fd < 0) detail::not_writable(dir, detail::errno_text(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

namespace {
std::atomic<std::size_t> fallbacks{0};
}

std::size_t result_fallbacks() noexcept { return fallbacks.load(); }

std::filesystem::path fallback_results_dir() {
  const char* tmp = std::getenv("TMPDIR");
  return std::filesystem::path(tmp && *tmp ? tmp : "/tmp") / "loadtest_fallback";
}

std::filesystem::path write_result_file(const std::filesystem::path& path, std::string_view content, bool overwrite) {
  try {
    return write_file_atomic(path, content, overwrite);
  } catch (const std::exception& first) {
    const std::filesystem::path dir = fallback_results_dir();
    try {
      prepare_results_dir(dir);
      auto written = write_file_atomic(dir / path.filename(), content, false);
      ++fallbacks;
      fmt::print(stderr, "loadtest: {}; wrote {} instead\n", first.what(), written.string());
      return written;
    } catch (const std::exception& second) {
      throw std::runtime_error(std::string(first.what()) + "; the fallback directory failed too: " + second.what());
    }
  }
}

std::filesystem::path write_file_atomic(const std::filesystem::path& path, std::string_view content, bool overwrite) {
  auto fail = [&](const std::string& why) {
    return std::runtime_error(fmt::format("cannot write '{}': {}", path.string(), why));
  };
  if (path.empty() || !path.has_filename()) throw fail("not a file name");
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";

  // mkostemp opens with O_CREAT | O_EXCL and mode 0600.
  std::string tmp = (dir / fmt::format(".{}.tmp_XXXXXX", path.filename().string())).string();
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) throw fail(fmt::format("cannot create a temporary file in '{}': {}", dir.string(), detail::errno_text(errno)));
  try {
    ::fchmod(fd, 0600);
    detail::write_all(fd, content);
    if (::fsync(fd) != 0) throw std::system_error(errno, std::generic_category(), "fsync");
    int rc = ::close(fd);
    fd = -1;
    if (rc != 0) throw std::system_error(errno, std::generic_category(), "close");

    std::filesystem::path written = path;
    if (overwrite) {
      if (::rename(tmp.c_str(), path.c_str()) != 0) throw std::system_error(errno, std::generic_category(), "rename");
    } else {
      const auto stem = path.stem().string();
      const auto ext = path.extension().string();
      for (int n = 1; !detail::claim_no_replace(tmp, written); ++n) {
        if (n > 10000) throw std::runtime_error("too many files with this name");
        written = path.parent_path() / fmt::format("{}_{}{}", stem, n, ext);
      }
    }
    detail::fsync_dir(dir);
    return written;
  } catch (const std::exception& e) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw fail(e.what());
  }
}

}  // namespace loadtest
