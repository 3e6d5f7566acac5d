// my_test.cpp: 20 users fetch /items from the embedded target for 15 s.
#include "loadtest/loadtest.hpp"
#include "loadtest/testing/target_server.hpp"

namespace lt = loadtest;
using namespace std::chrono_literals;

struct ItemsTest : lt::LoadTest<ItemsTest, lt::RampUsers, lt::SingleAction, lt::FixedBackoff,
                                lt::Tee<lt::ConsoleSink, lt::JsonFileSink>> {
  using LoadTest::LoadTest;

  struct UserData {               // per-user state, optional
    lt::http::Response response;  // reused by each request: no allocation per request
  };
  lt::http::Request items = lt::http::Request::make(lt::http::Method::get, "/items");

  // One action of one user. Success, failure (wrong result) or error (could not complete).
  boost::asio::awaitable<lt::Outcome> user_action(lt::Session<UserData>& user) {
    co_await user.http().request(items, user.data().response);
    co_return lt::http::check_status(items, user.data().response, 200);
  }
};

int main() {
  lt::testing::TargetServer target;          // a Beast server on 127.0.0.1, any free port
  lt::testing::RouteSpec route;
  route.delay = 5ms;
  target.route("/items", route);

  lt::Config cfg;
  cfg.name = "items";
  cfg.target = target.url("");               // base URL of Session::http()
  ItemsTest test(cfg, lt::RampUsers{.users = 20, .ramp_up = 5s, .hold = 10s});
  lt::LoadTestResult r = test.run();         // live status line, summary, JSON files
  return r.error_rate < 0.01 ? 0 : 1;
}
