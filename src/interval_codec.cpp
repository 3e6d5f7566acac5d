// loadtest: the compact form of one interval's data, reduced across processes every interval
// (see mpi.hpp). Needs no MPI: it is tested, and usable, without it.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <string_view>

#include "loadtest/mpi.hpp"

namespace loadtest::mpi {

namespace {

void put(std::string& out, std::uint64_t v) {
  do {
    unsigned char b = v & 0x7f;
    v >>= 7;
    out.push_back(static_cast<char>(v ? (b | 0x80) : b));
  } while (v);
}
std::uint64_t get(std::string_view& in) {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) throw std::invalid_argument("interval data: truncated");
    auto b = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  throw std::invalid_argument("interval data: bad number");
}
void put_string(std::string& out, std::string_view s) {
  put(out, s.size());
  out.append(s);
}
std::string get_string(std::string_view& in) {
  const std::uint64_t n = get(in);
  if (n > in.size()) throw std::invalid_argument("interval data: truncated string");
  std::string s(in.substr(0, static_cast<std::size_t>(n)));
  in.remove_prefix(static_cast<std::size_t>(n));
  return s;
}
std::uint64_t zigzag(std::int64_t v) { return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63); }
std::int64_t unzigzag(std::uint64_t v) { return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1); }

}  // namespace

// --- the interval codec ---------------------------------------------------------------------

std::string encode_interval(const IntervalStats& s) {
  std::string out;
  out.reserve(256);
  s.response_time.append_encoded(out);
  for (std::uint64_t v : {s.requests, s.successes, s.failures, s.errors}) put(out, v);
  put(out, s.errors_seen.size());
  for (const ErrorEntry& e : s.errors_seen) {
    put(out, static_cast<std::uint64_t>(e.category));
    put_string(out, e.message);
    put(out, e.count);
  }
  const RecorderCounters& c = s.totals;
  for (std::uint64_t v : {c.requests, c.successes, c.failures, c.errors, c.cancelled, c.intended, c.started, c.late,
                          c.dropped, c.retries})
    put(out, v);
  put(out, s.by_category.size());
  for (std::uint64_t v : s.by_category) put(out, v);
  put(out, s.endpoints.size());
  for (const EndpointCounts& e : s.endpoints) {
    put_string(out, e.name);
    for (std::uint64_t v : {e.successes, e.failures, e.errors}) put(out, v);
    for (std::uint64_t v : e.status_classes) put(out, v);
  }
  s.schedule_lag.append_encoded(out);
  put(out, zigzag(s.open_circuits));
  for (std::uint64_t v : {s.busy, s.busy_peak, s.active_users}) put(out, v);
  return out;
}

void merge_encoded_interval(std::string_view in, IntervalStats& into, std::size_t max_error_keys) {
  IntervalStats part;
  part.response_time.add_encoded(in);
  part.requests = get(in);
  part.successes = get(in);
  part.failures = get(in);
  part.errors = get(in);
  const std::uint64_t errors = get(in);
  if (errors > in.size()) throw std::invalid_argument("interval data: bad error count");
  for (std::uint64_t i = 0; i < errors; ++i) {
    const std::uint64_t cat = get(in);
    if (cat >= error_category_count) throw std::invalid_argument("interval data: bad error category");
    std::string message = get_string(in);
    const std::uint64_t n = get(in);
    const bool known = std::any_of(into.errors_seen.begin(), into.errors_seen.end(), [&](const ErrorEntry& e) {
      return e.category == static_cast<ErrorCategory>(cat) && e.message == message;
    });
    if (known || into.errors_seen.size() < max_error_keys)
      detail::merge_error(into.errors_seen, static_cast<ErrorCategory>(cat), message, n);
  }
  RecorderCounters& c = part.totals;
  for (std::uint64_t* v : {&c.requests, &c.successes, &c.failures, &c.errors, &c.cancelled, &c.intended, &c.started,
                           &c.late, &c.dropped, &c.retries})
    *v = get(in);
  if (get(in) != part.by_category.size()) throw std::invalid_argument("interval data: other error categories");
  for (auto& v : part.by_category) v = get(in);
  const std::uint64_t endpoints = get(in);
  if (endpoints > in.size()) throw std::invalid_argument("interval data: bad endpoint count");
  for (std::uint64_t i = 0; i < endpoints; ++i) {
    EndpointCounts e;
    e.name = get_string(in);
    e.successes = get(in);
    e.failures = get(in);
    e.errors = get(in);
    for (auto& v : e.status_classes) v = get(in);
    auto it = std::find_if(into.endpoints.begin(), into.endpoints.end(),
                           [&](const EndpointCounts& x) { return x.name == e.name; });
    if (it == into.endpoints.end()) {
      into.endpoints.push_back(std::move(e));
    } else {
      it->successes += e.successes;
      it->failures += e.failures;
      it->errors += e.errors;
      for (std::size_t k = 0; k < e.status_classes.size(); ++k) it->status_classes[k] += e.status_classes[k];
    }
  }
  part.schedule_lag.add_encoded(in);
  part.open_circuits = unzigzag(get(in));
  part.busy = get(in);
  part.busy_peak = get(in);
  part.active_users = get(in);
  if (!in.empty()) throw std::invalid_argument("interval data: trailing bytes");
  // The interval part (errors were merged above, under the cap).
  into.response_time.add(part.response_time);
  into.requests += part.requests;
  into.successes += part.successes;
  into.failures += part.failures;
  into.errors += part.errors;
  into.totals += part.totals;
  for (std::size_t k = 0; k < into.by_category.size(); ++k) into.by_category[k] += part.by_category[k];
  into.schedule_lag.add(part.schedule_lag);
  into.open_circuits += part.open_circuits;
  into.busy += part.busy;
  into.busy_peak += part.busy_peak;
  into.active_users += part.active_users;
}

}  // namespace loadtest::mpi
