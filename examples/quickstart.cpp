//
// quickstart: a first load test, end to end.
//
// Starts the embedded target on loopback, ramps 20 users up over 5 s, holds them for 7 s and
// ramps them down over 3 s (about 15 s in all), each user fetching /items and thinking 50-150 ms
// between requests. Shows live progress, prints a summary and writes the result and the monitor
// history as JSON into loadtest_results/.
//
// Usage: quickstart
//

#include <cstdlib>
#include <exception>

#include <fmt/core.h>

#include "loadtest/loadtest.hpp"
#include "loadtest/testing/target_server.hpp"

namespace asio = boost::asio;
namespace lt = loadtest;
using namespace std::chrono_literals;

// The test is a type: pattern, behaviour, backoff and sinks are chosen at compile time.
struct QuickstartTest
    : lt::LoadTest<QuickstartTest, lt::RampUsers, lt::SingleAction, lt::FixedBackoff,
                   lt::Tee<lt::ConsoleSink, lt::JsonFileSink>> {
  using LoadTest::LoadTest;

  struct UserData {
    lt::http::Response response;  // reused by each request of this user
  };

  lt::http::Request items = lt::http::Request::make(lt::http::Method::get, "/items");

  // One user action: GET /items, success when the status is 200.
  asio::awaitable<lt::Outcome> user_action(lt::Session<UserData>& user) {
    co_await user.http().request(items, user.data().response);
    co_return lt::http::check_status(items, user.data().response);
  }
};

int main(int argc, char**) {
  if (argc > 1) {
    fmt::print(stderr, "usage: quickstart (no arguments)\n");
    return 2;
  }
  try {
    // The embedded target: about 5-15 ms per request and one failure in a hundred.
    lt::testing::TargetServer target;
    lt::testing::RouteSpec route;
    route.body = R"([{"id":1,"name":"tea"},{"id":2,"name":"coffee"}])";
    route.content_type = "application/json";
    route.delay = 5ms;
    route.delay_jitter = 10ms;
    route.error_rate = 0.01;
    target.route("/items", route);

    lt::Config cfg;
    cfg.name = "quickstart";
    cfg.target = target.url("");
    QuickstartTest test(cfg, lt::RampUsers{20, 5s, 7s, 3s},
                        lt::SingleAction{lt::ThinkTime::uniform(50ms, 150ms)}, lt::FixedBackoff{1s});
    lt::LoadTestResult r = test.run();

    const auto& files = test.sink().get<1>();
    fmt::print("\nresult:  {}\nhistory: {}\n", files.result_path().string(), files.history_path().string());
    return r.total_requests > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
  } catch (const std::exception& e) {
    fmt::print(stderr, "quickstart: {}\n", e.what());
    return EXIT_FAILURE;
  }
}
