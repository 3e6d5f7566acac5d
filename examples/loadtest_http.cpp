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
// Exit status: 0 the test ran; 1 the test could not run (e.g. results directory not writable);
// 2 bad usage (one line on stderr names the bad value).
//

#include <boost/program_options.hpp>

#include <charconv>
#include <cmath>
#include <optional>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "loadtest/loadtest.hpp"
#include "loadtest/pattern_spec.hpp"

namespace asio = boost::asio;
namespace po = boost::program_options;
namespace lt = loadtest;
using namespace std::chrono_literals;

namespace {

constexpr int exit_ran = 0;
constexpr int exit_cannot_run = 1;
constexpr int exit_usage = 2;

/** A usage error: printed as one line, exit 2. */
struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

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
  std::string json;
  int expect = 200;
  bool quiet = false;
  bool insecure = false;
  std::optional<double> rate;  // open model
  long long max_users = 1000;
  std::string stages;
  std::string pattern;
  std::string arrivals = "uniform";
  bool ramp_up_given = false;  // a defaulted ramp-up shrinks to fit a short --duration
  bool users_given = false, duration_given = false;
};

using Sinks = lt::Tee<lt::ConsoleSink, lt::JsonFileSink>;

// One user's request: the same for every user, built once. One test type per pattern type.
template <class Pattern>
struct HttpTest : lt::LoadTest<HttpTest<Pattern>, Pattern, lt::SingleAction, lt::FixedBackoff, Sinks> {
  using lt::LoadTest<HttpTest<Pattern>, Pattern, lt::SingleAction, lt::FixedBackoff, Sinks>::LoadTest;
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
  lt::Config cfg;
  Sinks sinks;
  lt::http::Request request;
  int expect = 200;
};

template <class Pattern>
lt::LoadTestResult run_test(Setup& setup, Pattern pattern) {
  HttpTest<Pattern> test(setup.cfg, std::move(pattern), lt::SingleAction{}, lt::FixedBackoff{1s}, setup.sinks);
  test.request = setup.request;
  test.expect = setup.expect;
  lt::LoadTestResult r = test.run();
  setup.sinks = test.sink();  // the file sink knows where it wrote
  return r;
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

  lt::Config cfg;
  cfg.name = o.name.empty() ? default_name(std::string(lt::http::to_string(method)), url) : o.name;
  cfg.threads = threads;
  cfg.results_dir = o.results_dir;
  cfg.target = url.scheme + "://" + (url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host) +
               ":" + std::to_string(url.port);
  cfg.http.connect_timeout = timeout;
  cfg.http.request_timeout = timeout;
  cfg.http.insecure = o.insecure;
  for (const std::string& h : o.headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0)
      throw UsageError("--header: '" + h + "' is not 'Name: value'");
    std::string value = h.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    cfg.http.headers.emplace_back(h.substr(0, colon), value);
  }
  cfg.labels["url"] = o.url;
  cfg.labels["method"] = std::string(lt::http::to_string(method));
  cfg.labels["timeout"] = lt::format_duration(timeout);
  cfg.labels["expect"] = std::to_string(o.expect);

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
  if (o.rate && (!std::isfinite(*o.rate) || *o.rate <= 0))
    throw UsageError(fmt::format("--rate: '{}' must be a positive number of arrivals per second", *o.rate));
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

  Setup setup{cfg,
              Sinks(lt::ConsoleSink({.out = stdout, .quiet = o.quiet, .tty = -1}),
                    lt::JsonFileSink({.results_dir = o.results_dir, .extra_path = o.json})),
              lt::http::Request::make(method, url.target, o.body), o.expect};
  setup.request.name = std::string(lt::http::to_string(method)) + " " + url.target.substr(0, url.target.find('?'));
  try {
    if (o.rate) {
      lt::RampingRate rate = shape ? lt::RampingRate{shape->stages, shape->start}
                                   : lt::RampingRate{{{duration, *o.rate}}, *o.rate};
      if (o.arrivals == "poisson") run_test(setup, lt::Poisson<lt::RampingRate>{rate});
      else run_test(setup, rate);
    } else if (shape) {
      run_test(setup, lt::Stages{shape->stages, shape->start});
    } else {
      run_test(setup, lt::RampUsers::over(users, duration, ramp_up));
    }
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  const auto& written = setup.sinks.get<1>();
  fmt::print("result: {}\n", written.result_path().string());
  return exit_ran;
}

}  // namespace

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
    ("json", po::value(&o.json), "also write the result JSON to this file")
    ("quiet,q", po::bool_switch(&o.quiet), "no live status line (the summary is still printed)")
    ("insecure,k", po::bool_switch(&o.insecure), "HTTPS: do not verify the server certificate")
    ("rate", po::value<double>(), "open model: arrivals per second, latency counted from each arrival's intended start "
                                     "(with --stages: the start rate; with --pattern the shape's numbers are rates)")
    ("max-users", po::value(&o.max_users)->default_value(o.max_users), "open model: users serving arrivals at most")
    ("stages", po::value(&o.stages), "DUR:TARGET,... ramping users (closed) or, with --rate, ramping rate")
    ("pattern", po::value(&o.pattern), "step:start=10,step=10,every=30s,steps=5[,ramp=5s] or "
                                       "spike:base=10,peak=200,at=60s,rise=5s,hold=30s,fall=5s[,duration=DUR]")
    ("arrivals", po::value(&o.arrivals)->default_value(o.arrivals), "open model: uniform or poisson");
  // clang-format on
  po::options_description all;
  all.add(visible).add_options()("url", po::value(&o.url), "target URL");
  po::positional_options_description positional;
  positional.add("url", 1);

  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: loadtest-http [options] URL\n\n" << visible
                << "\nExit status: 0 ran, 1 could not run, 2 bad usage.\n";
      return exit_ran;
    }
    po::notify(vm);
    o.ramp_up_given = !vm["ramp-up"].defaulted();
    o.users_given = !vm["users"].defaulted();
    o.duration_given = !vm["duration"].defaulted();
    if (vm.count("rate")) o.rate = vm["rate"].as<double>();
    if (o.url.empty()) throw UsageError("missing URL (usage: loadtest-http [options] URL; see --help)");
    return run(o);
  } catch (const po::error& e) {
    fmt::print(stderr, "loadtest-http: {}\n", e.what());
    return exit_usage;
  } catch (const UsageError& e) {
    fmt::print(stderr, "loadtest-http: {}\n", e.what());
    return exit_usage;
  } catch (const std::exception& e) {
    fmt::print(stderr, "loadtest-http: cannot run: {}\n", e.what());
    return exit_cannot_run;
  }
}
