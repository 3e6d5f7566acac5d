//
// loadtest-http: load-test one HTTP endpoint from the command line.
//
//   loadtest-http [options] URL
//
// Closed model (default): ramps up --users users over --ramp-up and keeps them busy until
// --duration has passed; --stages or --pattern give other shapes. Open model (--rate R): R arrivals
// a second, each with an intended start, served by up to --max-users users; latency counts from the
// intended start (coordinated omission corrected). Prints live progress and a summary, and writes
// loadtest_{name}_{stamp}.json and metrics_{name}_{stamp}.json into --results-dir. A request
// succeeds when the status is --expect (200).
//
// Exit status: 0 the test ran (and every --threshold held, no --max-regression was exceeded);
// 1 the test could not run (e.g. results directory not writable, or the descriptor limit cannot
// hold the users); 2 bad usage (one line on stderr names the bad value, control characters
// escaped); 99 a threshold failed or the run regressed against --baseline.
//
// Every option is checked before anything is sent: see the README's "Failure modes".
//

#include <boost/program_options.hpp>

#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <cmath>
#include <optional>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "loadtest/baseline.hpp"
#include "loadtest/csv_sink.hpp"
#include "loadtest/hgrm.hpp"
#include "loadtest/html_report.hpp"
#include "loadtest/http2.hpp"
#include "loadtest/loadtest.hpp"
#include "loadtest/pattern_spec.hpp"
#include "loadtest/exit_code.hpp"
#if defined(LOADTEST_HAS_MPI)
#include "loadtest/mpi.hpp"
#endif
#include "loadtest/prometheus.hpp"
#include "loadtest/text.hpp"

namespace asio = boost::asio;
namespace po = boost::program_options;
namespace lt = loadtest;
using namespace std::chrono_literals;

namespace {

constexpr int exit_ran = 0;
constexpr int exit_cannot_run = 1;
constexpr int exit_usage = 2;
constexpr int exit_failed_checks = 99;

#if defined(LOADTEST_HAS_MPI)
// Under mpirun: every rank runs segment rank/size; rank 0 prints, judges and writes.
std::optional<lt::mpi::Environment> mpi_env;
#endif
/** True where output belongs: everywhere but on the other ranks of an MPI run. */
bool prints() {
#if defined(LOADTEST_HAS_MPI)
  return !mpi_env || mpi_env->root();
#else
  return true;
#endif
}

/** A usage error: printed as one line, exit 2. */
struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

/** A limit of this machine that the test cannot fit: printed as one line, exit 1. */
struct CannotRun : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/** The largest --baseline file read: a result JSON is a few hundred KB; this bounds RSS. */
constexpr std::uintmax_t max_baseline_bytes = 64ull * 1024 * 1024;

/** Descriptors the process needs besides one per user: stdio, result files, the Prometheus
 *  listener and its scrapes, the io_contexts' epoll and eventfds. */
constexpr rlim_t reserved_descriptors = 32;

struct Options {
  std::string url;
  long long users = 10;
  std::string duration = "60s";
  std::string ramp_up = "5s";
  long long threads = 1;
  std::string timeout = "10s";
  std::string method = "GET";
  std::vector<std::string> headers;
  std::string body;
  std::string name;
  std::string results_dir = "loadtest_results";
  std::string segment;      // --segment i/N
  std::string rank_results; // --rank-results DIR (MPI)
  std::string checkpoint_interval = "10s";
  std::string seed = "0";    // --seed: decimal, 0..2^64-1 (program_options would wrap "-1")
  std::string json;
  int expect = 200;
  bool quiet = false;
  bool insecure = false;
  bool http2 = false, h2c = false;  // HTTP/2 by ALPN (falls back to HTTP/1.1), or cleartext prior knowledge
  long long max_streams = 100;
  std::optional<double> rate;  // open model
  long long max_users = 1000;
  std::string stages;
  std::string pattern;
  std::string arrivals = "uniform";
  std::string backoff = "fixed:1s";
  long long retry = 0;
  std::string backoff_on = "errors";
  std::string think = "none";
  std::vector<std::string> thresholds;
  bool abort_on_fail = false;
  std::string abort_grace = "10s";
  std::string html, csv, prometheus, hgrm, baseline, max_regression;
  std::string max_body = "1MiB";
  bool check = false;          // --check: validate everything, send nothing
  bool ramp_up_given = false;  // a defaulted ramp-up shrinks to fit a short --duration
  bool users_given = false, duration_given = false;
};

/** The Prometheus sink, printing its real address once it listens (a port of 0 is chosen then). */
struct AnnouncedPrometheus {
  lt::PrometheusSink sink;
  bool quiet = false;
  void on_start(const lt::TestInfo& info) {
    sink.on_start(info);
    if (!quiet) {
      fmt::print("prometheus: {} (while the test runs)\n", sink.url());
      std::fflush(stdout);
    }
  }
  void on_interval(const lt::RealTimeMetrics& m) { sink.on_interval(m); }
  void on_finish(const lt::LoadTestResult& r) { sink.on_finish(r); }
};

using Sinks = lt::Tee<lt::ConsoleSink, lt::JsonFileSink, lt::Maybe<lt::HtmlReportSink>, lt::Maybe<lt::CsvSink>,
                      lt::Maybe<AnnouncedPrometheus>>;

// One user's request: the same for every user, built once. One test type per pattern type.
template <class Pattern>
struct HttpTest : lt::LoadTest<HttpTest<Pattern>, Pattern, lt::SingleAction, lt::AnyBackoff, Sinks> {
  using lt::LoadTest<HttpTest<Pattern>, Pattern, lt::SingleAction, lt::AnyBackoff, Sinks>::LoadTest;
  struct UserData {
    lt::http::Response response;
  };
  lt::http::Request request;
  int expect = 200;

  asio::awaitable<lt::Outcome> user_action(lt::Session<UserData>& user) {
    co_await user.http().request(request, user.data().response);
    co_return lt::http::check_status(request, user.data().response, expect);
  }
};

/** Everything but the pattern, shared by every test type. */
struct Setup {
  const Options& o;
  lt::Config cfg;
  lt::http::Request request;
  int expect = 200;
  lt::SingleAction behavior;
  lt::AnyBackoff backoff;
};

/** What a run leaves behind. */
struct Ran {
  lt::LoadTestResult result;
  std::filesystem::path result_path;
};

Sinks make_sinks(const Options& o) {
  lt::Maybe<lt::HtmlReportSink> html;
  if (!o.html.empty()) html = lt::Maybe<lt::HtmlReportSink>(lt::HtmlReportSink({.path = o.html}));
  lt::Maybe<lt::CsvSink> csv;
  if (!o.csv.empty()) csv = lt::Maybe<lt::CsvSink>(lt::CsvSink({.prefix = o.csv}));
  lt::Maybe<AnnouncedPrometheus> prometheus;
  if (!o.prometheus.empty())
    prometheus = lt::Maybe<AnnouncedPrometheus>(
        AnnouncedPrometheus{lt::PrometheusSink(lt::PrometheusSink::parse_listen(o.prometheus)), o.quiet});
  return Sinks(lt::ConsoleSink({.out = stdout, .quiet = o.quiet, .tty = -1}),
               lt::JsonFileSink({.results_dir = o.results_dir, .extra_path = o.json}), std::move(html), std::move(csv),
               std::move(prometheus));
}

/** The users a pattern may have at once: the closed model's peak, the open model's --max-users. */
template <class Pattern>
std::size_t peak_users(const Setup& setup, const Pattern& pattern) {
  if constexpr (lt::UsersPattern<Pattern>) return pattern.max_users();
  else return setup.cfg.open.max_users;
}

/** Raises RLIMIT_NOFILE to the hard limit and refuses (exit 1) a user count that cannot fit it:
 *  each user holds one connection. */
void fit_descriptors(std::size_t users) {
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur != rl.rlim_max) {
    struct rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  if (rl.rlim_cur == RLIM_INFINITY) return;
  const auto need = static_cast<rlim_t>(users) + reserved_descriptors;
  if (need > rl.rlim_cur)
    throw CannotRun(fmt::format("{} users need about {} file descriptors, but the limit (ulimit -n, hard limit "
                                "included) is {}; raise it or use fewer users",
                                users, need, rl.rlim_cur));
}

template <class Pattern>
Ran run_test(const Setup& setup, Pattern pattern) {
  try {
    lt::detail::validate_if_possible(pattern);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string(setup.o.stages.empty() && setup.o.pattern.empty() ? "" : setup.o.stages.empty() ? "--pattern: " : "--stages: ") + e.what());
  }
  fit_descriptors(peak_users(setup, pattern));
  // The results directory before the console prints anything, so that a refusal is one line.
  if (!setup.o.check) {
    try {
      lt::prepare_results_dir(setup.o.results_dir);
    } catch (const std::exception& e) {
      throw CannotRun(e.what());
    }
  }
  if (setup.o.check) {
    fmt::print("loadtest-http: the configuration is valid (--check: nothing sent)\n");
    return {};
  }
  HttpTest<Pattern> test(setup.cfg, std::move(pattern), setup.behavior, setup.backoff, make_sinks(setup.o));
  test.request = setup.request;
  test.expect = setup.expect;
#if defined(LOADTEST_HAS_MPI)
  if (mpi_env) {
    mpi_env->check_all(true, {});  // this rank's options are valid; is every rank's?
    lt::mpi::MpiReducer reducer(*mpi_env);
    Ran ran{test.run(reducer), {}};
    ran.result_path = test.sink().template get<1>().result_path();
    if (!setup.o.rank_results.empty()) {  // every rank's own part, for loadtest-merge
      const auto& part = reducer.local_result();
      lt::prepare_results_dir(setup.o.rank_results);
      lt::write_result_file(std::filesystem::path(setup.o.rank_results) /
                                fmt::format("loadtest_{}_segment{}of{}.json", lt::sanitize_name(part.name),
                                            mpi_env->rank(), mpi_env->size()),
                            lt::to_json(part));
    }
    return ran;
  }
#endif
  Ran ran{test.run(), {}};
  ran.result_path = test.sink().template get<1>().result_path();
  return ran;
}

lt::Duration duration_option(const std::string& flag, const std::string& text) {
  try {
    return lt::parse_duration(text);
  } catch (const std::invalid_argument& e) {
    throw UsageError(flag + ": " + e.what());
  }
}

std::size_t positive(const std::string& flag, long long v, long long max) {
  if (v < 1 || v > max)
    throw UsageError(fmt::format("{}: '{}' is out of range (1..{})", flag, v, max));
  return static_cast<std::size_t>(v);
}

/** A byte count: digits with an optional binary suffix (k/KiB, M/MiB, G/GiB), 0..limit. */
std::size_t byte_count(const std::string& flag, const std::string& text, std::size_t limit) {
  auto bad = [&](const char* why) {
    return UsageError(flag + ": '" + text + "' " + why + " (use e.g. 65536, 64KiB, 1MiB; at most " +
                      std::to_string(limit) + " bytes)");
  };
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec == std::errc::result_out_of_range) throw bad(text.empty() ? "is empty" : "is too large");
  if (ec != std::errc{}) throw bad("is not a byte count");
  std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::uint64_t scale = 1;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "k" || unit == "K" || unit == "KiB") scale = 1024;
  else if (unit == "M" || unit == "MiB") scale = 1024 * 1024;
  else if (unit == "G" || unit == "GiB") scale = 1024 * 1024 * 1024;
  else throw bad("has an unknown unit");
  if (v > limit / scale) throw bad("is too large");
  return static_cast<std::size_t>(v * scale);
}

/** Refuses a path option that cannot be meant: a control character, longer than PATH_MAX. */
void check_path(const std::string& flag, const std::string& path) {
  if (path.size() > 4096) throw UsageError(fmt::format("{}: the path is {} bytes, longer than 4096", flag, path.size()));
  for (char c : path)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) throw UsageError(flag + ": '" + path + "' contains a control character");
}

/** An output file (--json, --html, --hgrm, the --csv prefix): a usable path whose directory exists
 *  and which is not a directory itself. Checked before the test, so that no run is wasted. */
void check_output_file(const std::string& flag, const std::string& path) {
  check_path(flag, path);
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw UsageError(flag + ": '" + path + "' is a directory, not a file");
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec))
    throw UsageError(flag + ": the directory '" + parent.string() + "' does not exist");
}

/** Reads a --baseline file: a regular, readable file of at most max_baseline_bytes. */
std::string read_baseline(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw UsageError("--baseline: cannot read '" + path + "': " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw UsageError("--baseline: '" + path + "' is a directory, not a result JSON file");
  if (!S_ISREG(st.st_mode)) throw UsageError("--baseline: '" + path + "' is not a regular file");
  if (static_cast<std::uintmax_t>(st.st_size) > max_baseline_bytes)
    throw UsageError(fmt::format("--baseline: '{}' is {} bytes, more than the limit of {} (64 MiB)", path,
                                 static_cast<std::uintmax_t>(st.st_size), max_baseline_bytes));
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw UsageError("--baseline: cannot read '" + path + "': " + std::strerror(errno));
  std::string text;
  char buf[65536];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    text.append(buf, n);
    if (text.size() > max_baseline_bytes) break;  // it grew after the stat
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) throw UsageError("--baseline: cannot read '" + path + "'");
  if (text.size() > max_baseline_bytes)
    throw UsageError(fmt::format("--baseline: '{}' is more than the limit of {} bytes (64 MiB)", path, max_baseline_bytes));
  return text;
}

/** The original framework's API test name: `API_{METHOD}_{path}`. */
std::string default_name(const std::string& method, const lt::http::Url& url) {
  std::string path = url.target.substr(0, url.target.find('?'));
  return "API_" + method + "_" + path;
}

int run(const Options& o) {
  lt::http::Url url;
  try {
    url = lt::http::parse_url(o.url);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  lt::http::Method method;
  try {
    method = lt::http::parse_method(o.method);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--method: ") + e.what());
  }
  std::size_t users = positive("--users", o.users, 1'000'000);
  unsigned threads = static_cast<unsigned>(positive("--threads", o.threads, 256));
  lt::Duration duration = duration_option("--duration", o.duration);
  lt::Duration ramp_up = duration_option("--ramp-up", o.ramp_up);
  lt::Duration timeout = duration_option("--timeout", o.timeout);
  if (duration <= 0ns) throw UsageError("--duration: must be longer than 0");
  if (!o.ramp_up_given) ramp_up = std::min(ramp_up, duration);
  if (ramp_up > duration) throw UsageError("--ramp-up: '" + o.ramp_up + "' is longer than --duration '" + o.duration + "'");
  if (timeout <= 0ns) throw UsageError("--timeout: must be longer than 0");
  if (o.expect < 100 || o.expect > 599) throw UsageError(fmt::format("--expect: '{}' is not an HTTP status", o.expect));
  if (o.name.size() > 256) throw UsageError(fmt::format("--name: {} bytes is longer than the limit of 256", o.name.size()));
  for (char c : o.name)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      throw UsageError("--name: '" + o.name + "' contains a control character");
  if (!lt::text::valid_utf8(o.name)) throw UsageError("--name: '" + o.name + "' is not valid UTF-8");

  lt::Config cfg;
  cfg.name = o.name.empty() ? default_name(std::string(lt::http::to_string(method)), url) : o.name;
  cfg.threads = threads;
  cfg.results_dir = o.results_dir;
  {
    const char* end = o.seed.data() + o.seed.size();
    auto [ptr, ec] = std::from_chars(o.seed.data(), end, cfg.seed);
    if (o.seed.empty() || ec != std::errc{} || ptr != end)
      throw UsageError("--seed: '" + o.seed + "' is not a whole number 0..18446744073709551615 (0: random)");
  }
  cfg.checkpoint_interval = duration_option("--checkpoint-interval", o.checkpoint_interval);
  bool under_mpi = false;
#if defined(LOADTEST_HAS_MPI)
  under_mpi = mpi_env.has_value();
#endif
  if (!o.segment.empty()) {
    if (under_mpi) throw UsageError("--segment: under mpirun every rank runs segment rank/size; do not give --segment");
    try {
      cfg.segment = lt::Segment::parse(o.segment);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--segment: ") + e.what());
    }
  }
  if (!o.rank_results.empty() && !under_mpi)
    throw UsageError("--rank-results: only under mpirun (each rank writes its part); use --segment i/N and --json "
                     "elsewhere");
#if defined(LOADTEST_HAS_MPI)
  if (mpi_env) cfg = mpi_env->configure(std::move(cfg));
#endif
  cfg.target = url.scheme + "://" + (url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host) +
               ":" + std::to_string(url.port);
  cfg.http.connect_timeout = timeout;
  cfg.http.request_timeout = timeout;
  cfg.http.insecure = o.insecure;
  cfg.http.max_body = byte_count("--max-body", o.max_body, lt::http::max_body_limit);
  if (o.http2 && o.h2c)
    throw UsageError("--http2 and --h2c cannot be combined (--http2: h2 by ALPN over https; --h2c: HTTP/2 over "
                     "cleartext http://)");
  if (o.h2c && url.tls())
    throw UsageError("--h2c: '" + o.url + "' is https; h2c is HTTP/2 over cleartext (use --http2 for https)");
  if (o.max_streams < 1 || o.max_streams > 1'000'000)
    throw UsageError(fmt::format("--max-streams: '{}' is out of range (1..1000000)", o.max_streams));
  cfg.http.protocol = o.h2c ? lt::http::Protocol::h2c : o.http2 ? lt::http::Protocol::http2 : lt::http::Protocol::http1;
  cfg.http.max_streams = static_cast<std::uint32_t>(o.max_streams);
  try {
    lt::detail::validate_protocol(url, cfg.http);  // e.g. a build without HTTP/2
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string(o.h2c ? "--h2c: " : "--http2: ") + e.what());
  }
  for (const std::string& h : o.headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0)
      throw UsageError("--header: '" + h + "' is not 'Name: value'");
    std::string value(lt::text::trim_ows(std::string_view(h).substr(colon + 1)));
    try {
      lt::http::validate_header(h.substr(0, colon), value);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--header: ") + e.what());
    }
    cfg.http.headers.emplace_back(h.substr(0, colon), value);
  }
  try {
    cfg.http.validate();
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string(e.what()).find("Host") != std::string::npos ? std::string("--header: ") + e.what()
                                                                                : std::string("--timeout: ") + e.what());
  }
  check_path("--results-dir", o.results_dir);
  if (!o.json.empty()) check_output_file("--json", o.json);
  if (!o.html.empty()) check_output_file("--html", o.html);
  if (!o.hgrm.empty()) check_output_file("--hgrm", o.hgrm);
  if (!o.csv.empty()) check_output_file("--csv", o.csv);  // the prefix: PREFIX_stats.csv goes beside it
  if (!o.baseline.empty()) check_path("--baseline", o.baseline);
  cfg.labels["url"] = o.url;
  cfg.labels["method"] = std::string(lt::http::to_string(method));
  cfg.labels["timeout"] = lt::format_duration(timeout);
  cfg.labels["expect"] = std::to_string(o.expect);
  cfg.labels["protocol"] = std::string(lt::http::to_string(cfg.http.protocol));

  cfg.open.max_users = positive("--max-users", o.max_users, 1'000'000);
  if (o.arrivals != "uniform" && o.arrivals != "poisson")
    throw UsageError("--arrivals: '" + o.arrivals + "' is not uniform or poisson");
  if (!o.stages.empty() && !o.pattern.empty()) throw UsageError("--stages and --pattern cannot be combined");
  bool shaped = !o.stages.empty() || !o.pattern.empty();
  if (shaped && (o.users_given || o.ramp_up_given))
    throw UsageError(std::string(o.users_given ? "--users" : "--ramp-up") + " cannot be combined with " +
                     (o.stages.empty() ? "--pattern" : "--stages") + " (the shape sets the load)");
  if (o.pattern.rfind("step", 0) == 0 && o.duration_given)
    throw UsageError("--duration cannot be combined with a step --pattern (every x steps sets the duration)");
  if (!o.stages.empty() && o.duration_given)
    throw UsageError("--duration cannot be combined with --stages (the stages set the duration)");
  if (!o.rate && o.arrivals == "poisson") throw UsageError("--arrivals poisson needs --rate (the open model)");
  if (o.rate && !(*o.rate >= lt::min_rate && *o.rate <= lt::max_rate_limit))
    throw UsageError(fmt::format("--rate: '{}' must be 0.001..1e7 arrivals per second", *o.rate));
  if (o.rate && (o.users_given || o.ramp_up_given))
    throw UsageError(std::string(o.users_given ? "--users" : "--ramp-up") +
                     " cannot be combined with --rate (use --max-users for the open model)");
  std::optional<lt::StageList> shape;
  try {
    if (!o.stages.empty()) shape = lt::parse_stages(o.stages, o.rate.value_or(0));
    if (!o.pattern.empty()) shape = lt::parse_shape(o.pattern, duration);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string(o.stages.empty() ? "--pattern: " : "--stages: ") + e.what());
  }
  if (!o.stages.empty()) cfg.labels["stages"] = o.stages;
  if (!o.pattern.empty()) cfg.labels["shape"] = o.pattern;
  if (o.rate) cfg.labels["arrivals"] = o.arrivals;

  // Issue-4 and issue-5 options: all checked before anything runs.
  lt::SingleAction behavior;
  lt::AnyBackoff backoff;
  try {
    behavior.think = lt::ThinkTime::parse(o.think);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--think: ") + e.what());
  }
  try {
    backoff = lt::AnyBackoff::parse(o.backoff);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--backoff: ") + e.what());
  }
  if (o.retry < 0 || o.retry > 100) throw UsageError(fmt::format("--retry: '{}' is out of range (0..100)", o.retry));
  if (o.retry) backoff.with_retries(static_cast<unsigned>(o.retry));
  if (o.backoff_on == "errors") {
    cfg.backoff_on = lt::BackoffTrigger::errors;
  } else if (o.backoff_on == "failures") {
    cfg.backoff_on = lt::BackoffTrigger::errors_and_failures;
  } else {
    for (std::string_view part : lt::detail::split(o.backoff_on, ',')) {
      int status = 0;
      auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), status);
      if (ec != std::errc{} || end != part.data() + part.size() || status < 100 || status > 599)
        throw UsageError("--backoff-on: '" + std::string(part) + "' is not errors, failures or an HTTP status");
      cfg.backoff_statuses.push_back(status);
    }
  }
  try {
    cfg.thresholds = lt::parse_thresholds(o.thresholds);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--threshold: ") + e.what());
  }
  cfg.abort_on_fail = o.abort_on_fail;
  cfg.abort_grace = duration_option("--abort-grace", o.abort_grace);
  if (o.abort_on_fail && o.thresholds.empty()) throw UsageError("--abort-on-fail needs at least one --threshold");
  std::optional<lt::LoadTestResult> baseline;
  double max_regression = -1;
  if (!o.max_regression.empty()) {
    if (o.baseline.empty()) throw UsageError("--max-regression needs --baseline FILE");
    try {
      max_regression = lt::parse_percentage(o.max_regression);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--max-regression: ") + e.what());
    }
  }
  if (!o.baseline.empty()) {
    std::string text = read_baseline(o.baseline);
    try {
      baseline = lt::result_from_json(text);
    } catch (const std::invalid_argument& e) {
      throw UsageError("--baseline: '" + o.baseline + "': " + e.what());
    }
  }
  if (!o.prometheus.empty()) {
    try {
      (void)lt::PrometheusSink::parse_listen(o.prometheus);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--prometheus: ") + e.what());
    }
  }
  cfg.labels["think"] = o.think;
  cfg.labels["backoff_on"] = o.backoff_on;

  Setup setup{o, cfg, lt::http::Request::make(method, url.target, o.body), o.expect, behavior, backoff};
  setup.request.name = std::string(lt::http::to_string(method)) + " " + url.target.substr(0, url.target.find('?'));
  try {
    setup.request.validate();
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  Ran ran;
  try {
    if (o.rate) {
      lt::RampingRate rate = shape ? lt::RampingRate{shape->stages, shape->start}
                                   : lt::RampingRate{{{duration, *o.rate}}, *o.rate};
      if (o.arrivals == "poisson") ran = run_test(setup, lt::Poisson<lt::RampingRate>{rate});
      else ran = run_test(setup, rate);
    } else if (shape) {
      ran = run_test(setup, lt::Stages{shape->stages, shape->start});
    } else {
      ran = run_test(setup, lt::RampUsers::over(users, duration, ramp_up));
    }
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  if (o.check) return exit_ran;
  const lt::LoadTestResult& r = ran.result;
  if (!prints()) return lt::exit_code(r);  // another rank of an MPI run: rank 0 reports
  fmt::print("result: {}\n", ran.result_path.string());
  if (!o.hgrm.empty()) fmt::print("hgrm: {}\n", lt::write_hgrm(o.hgrm, r).string());
  if (!o.html.empty()) fmt::print("html: {}\n", o.html);

  bool failed = !lt::all_passed(r.thresholds) || !r.aborted_by.empty();
  if (baseline) {
    auto comparisons = lt::compare(*baseline, r);
    fmt::print("\nAgainst the baseline {}:\n{}", o.baseline,
               lt::format_comparison(comparisons, max_regression >= 0 ? std::optional<double>(max_regression) : std::nullopt));
    if (max_regression >= 0 && lt::regressed(comparisons, max_regression)) {
      fmt::print(stderr, "loadtest-http: regression beyond {} against {}\n", o.max_regression, o.baseline);
      failed = true;
    }
  }
  if (!r.aborted_by.empty()) fmt::print(stderr, "loadtest-http: aborted: threshold {} failed\n", r.aborted_by);
  else if (!lt::all_passed(r.thresholds)) fmt::print(stderr, "loadtest-http: thresholds failed\n");
  if (!r.interrupted.empty()) fmt::print(stderr, "loadtest-http: interrupted by {}; the results so far are written\n", r.interrupted);
  if (lt::result_fallbacks() > 0)
    fmt::print(stderr, "loadtest-http: the results directory failed; results are in {}\n", lt::fallback_results_dir().string());
  int code = lt::exit_code(r);
  if (code == exit_ran && failed) code = exit_failed_checks;  // a baseline regression
  return code;
}
/** An error message as one line: control characters escaped, at most 600 bytes (a 100 KB value
 *  is cut, with its length said). */
std::string one_line(std::string_view what) {
  std::string s = lt::text::escape_control(what, /*escape_backslash=*/false);  // parts may be escaped already
  constexpr std::size_t limit = 600;
  if (s.size() > limit) {
    std::size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
    s = s.substr(0, cut) + fmt::format("... ({} bytes in all)", s.size());
  }
  return s;
}
}  // namespace

int run_main(int argc, char** argv, const po::options_description& visible, const po::options_description& all,
             const po::positional_options_description& positional, Options& o);

int main(int argc, char** argv) {
  Options o;
  po::options_description visible("Options");
  // clang-format off
  visible.add_options()
    ("help,h", "show this help and exit")
    ("users,u", po::value(&o.users)->default_value(o.users), "concurrent users")
    ("duration,d", po::value(&o.duration)->default_value(o.duration), "test duration, ramp-up included (500ms, 30s, 2m, 1h)")
    ("ramp-up,r", po::value(&o.ramp_up)->default_value(o.ramp_up), "time over which the users start, evenly spread")
    ("threads,t", po::value(&o.threads)->default_value(o.threads), "I/O threads")
    ("timeout", po::value(&o.timeout)->default_value(o.timeout), "connect and request timeout")
    ("method,m", po::value(&o.method)->default_value(o.method), "HTTP method")
    ("header,H", po::value(&o.headers)->composing(), "request header 'Name: value' (repeatable)")
    ("body", po::value(&o.body), "request body")
    ("expect", po::value(&o.expect)->default_value(o.expect), "the status that counts as success")
    ("name,n", po::value(&o.name), "test name (default API_{METHOD}_{path})")
    ("results-dir", po::value(&o.results_dir)->default_value(o.results_dir), "where result files go (created 0700)")
    ("checkpoint-interval", po::value(&o.checkpoint_interval)->default_value(o.checkpoint_interval), "write the result so far to the results directory this often (0: never)")
    ("rank-results", po::value(&o.rank_results), "under mpirun: every rank also writes its own part's result JSON into DIR")
    ("segment", po::value(&o.segment), "run part i of N of the test (0-based, e.g. 0/4); join the result files with loadtest-merge")
    ("seed", po::value(&o.seed)->default_value(o.seed), "random seed for reproducible runs (0: random; segments default to one from the name)")
    ("json", po::value(&o.json), "also write the result JSON to this file")
    ("quiet,q", po::bool_switch(&o.quiet), "no live status line (the summary is still printed)")
    ("insecure,k", po::bool_switch(&o.insecure), "HTTPS: do not verify the server certificate")
    ("http2", po::bool_switch(&o.http2), "HTTP/2 over TLS, chosen by ALPN; HTTP/1.1 (said once) when the server "
                                         "refuses h2 or the URL is http://")
    ("h2c", po::bool_switch(&o.h2c), "HTTP/2 over cleartext with prior knowledge (http:// URLs)")
    ("max-streams", po::value(&o.max_streams)->default_value(o.max_streams), "HTTP/2: streams in flight per "
                                         "connection at most (each user owns one connection)")
    ("rate", po::value<double>(), "open model: arrivals per second, latency counted from each arrival's intended start "
                                     "(with --stages: the start rate; with --pattern the shape's numbers are rates)")
    ("max-users", po::value(&o.max_users)->default_value(o.max_users), "open model: users serving arrivals at most")
    ("stages", po::value(&o.stages), "DUR:TARGET,... ramping users (closed) or, with --rate, ramping rate")
    ("pattern", po::value(&o.pattern), "step:start=10,step=10,every=30s,steps=5[,ramp=5s] or "
                                       "spike:base=10,peak=200,at=60s,rise=5s,hold=30s,fall=5s[,duration=DUR]")
    ("arrivals", po::value(&o.arrivals)->default_value(o.arrivals), "open model: uniform or poisson")
    ("think", po::value(&o.think)->default_value(o.think), "pause after each request: none, constant:1s, uniform:1s:3s, exponential:2s, pacing:5s")
    ("backoff", po::value(&o.backoff)->default_value(o.backoff), "after errors: none, fixed:1s, linear:STEP:CAP, exponential:BASE:CAP[:full|equal|decorrelated]")
    ("retry", po::value(&o.retry)->default_value(o.retry), "retry a failed request up to N times before recording it")
    ("backoff-on", po::value(&o.backoff_on)->default_value(o.backoff_on), "what triggers backoff: errors, failures, or HTTP statuses e.g. 429,503")
    ("threshold", po::value(&o.thresholds)->composing(), "pass/fail criterion, e.g. 'p(99)<200ms', 'error_rate<0.01', 'GET /items: p(95)<300ms' (repeatable)")
    ("abort-on-fail", po::bool_switch(&o.abort_on_fail), "also check thresholds during the run and stop at a breach")
    ("abort-grace", po::value(&o.abort_grace)->default_value(o.abort_grace), "with --abort-on-fail: no abort before this")
    ("html", po::value(&o.html), "write a self-contained HTML report to FILE")
    ("csv", po::value(&o.csv), "write PREFIX_stats.csv and PREFIX_stats_history.csv")
    ("prometheus", po::value(&o.prometheus), "serve /metrics on HOST:PORT while the test runs (loopback)")
    ("hgrm", po::value(&o.hgrm), "write the latency distribution in HdrHistogram's .hgrm format")
    ("baseline", po::value(&o.baseline), "compare with an earlier result JSON")
    ("max-regression", po::value(&o.max_regression), "with --baseline: exit 99 when worse by more than this (10%)")
    ("max-body", po::value(&o.max_body)->default_value(o.max_body), "response body bytes kept per request (0..1GiB); the rest is read and counted, not stored")
    ("check", po::bool_switch(&o.check), "check every option (and the descriptor limit), send nothing, exit 0 if all is well");
  // clang-format on
  po::options_description all;
  all.add(visible).add_options()("url", po::value(&o.url), "target URL");
  po::positional_options_description positional;
  positional.add("url", 1);

#if defined(LOADTEST_HAS_MPI)
  if (lt::mpi::launched()) mpi_env.emplace(argc, argv);
#endif
  const int code = run_main(argc, argv, visible, all, positional, o);
#if defined(LOADTEST_HAS_MPI)
  if (mpi_env) {
    const int agreed = mpi_env->agree_exit_code(code);
    mpi_env.reset();
    return agreed;
  }
#endif
  return code;
}

int run_main(int argc, char** argv, const po::options_description& visible, const po::options_description& all,
             const po::positional_options_description& positional, Options& o) {
  // A usage error on one rank of an MPI run is every rank's: the ranks that got this far wait
  // for it in check_all, and only rank 0 prints the message.
  auto usage = [&](const std::string& message) {
#if defined(LOADTEST_HAS_MPI)
    if (mpi_env) {
      try {
        mpi_env->check_all(false, message);
      } catch (const lt::mpi::CollectiveError& e) {
        if (mpi_env->root()) fmt::print(stderr, "loadtest-http: {}\n", e.what());
      }
      return exit_usage;
    }
#endif
    fmt::print(stderr, "loadtest-http: {}\n", message);
    return exit_usage;
  };
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: loadtest-http [options] URL\n\n" << visible
                << "\nExit status: 0 ran, 1 could not run, 2 bad usage, 99 a threshold failed or the run regressed,\n"
                << "130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP (results written).\n";
      return exit_ran;
    }
    po::notify(vm);
    for (const auto& [flag, value] : vm) {
      if (value.defaulted() || flag == "body") continue;
      const auto* text = boost::any_cast<std::string>(&value.value());
      const auto* list = boost::any_cast<std::vector<std::string>>(&value.value());
      bool empty = (text && text->empty()) ||
                   (list && std::any_of(list->begin(), list->end(), [](const std::string& v) { return v.empty(); }));
      if (empty) throw UsageError("--" + flag + ": the value is empty");
    }
    o.ramp_up_given = !vm["ramp-up"].defaulted();
    o.users_given = !vm["users"].defaulted();
    o.duration_given = !vm["duration"].defaulted();
    if (vm.count("rate")) o.rate = vm["rate"].as<double>();
    if (o.url.empty()) throw UsageError("missing URL (usage: loadtest-http [options] URL; see --help)");
    return run(o);
  } catch (const po::error& e) {
    return usage(one_line(e.what()));
  } catch (const UsageError& e) {
    return usage(one_line(e.what()));
#if defined(LOADTEST_HAS_MPI)
  } catch (const lt::mpi::CollectiveError& e) {  // raised on every rank together
    if (prints()) fmt::print(stderr, "loadtest-http: {}\n", one_line(e.what()));
    return exit_usage;
#endif
  } catch (const std::exception& e) {
    fmt::print(stderr, "loadtest-http: cannot run: {}\n", one_line(e.what()));
    return exit_cannot_run;
  }
}
