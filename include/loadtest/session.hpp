// loadtest: what a task sees of its user.
#pragma once

#include "loadtest/detail/config.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>

#include "loadtest/config.hpp"
#include "loadtest/cookies.hpp"
#include "loadtest/feeder.hpp"
#include "loadtest/http.hpp"
#include "loadtest/time.hpp"

namespace loadtest {

/** The per-user data of a test that declares none. */
struct NoUserData {};

/** One simulated user, as its tasks see it.
 *
 *  `Data` is the test's per-user state (`using UserData = ...;` in the test type); it is
 *  value-initialised when the user starts and lives as long as the user. The user also has a
 *  cookie jar, used by `http()` (Set-Cookie stored, matching cookies sent), and draws records
 *  from the test's feeders with `feed()`. A session stays where it was made (not copyable or
 *  movable): its HTTP client points to its cookie jar.
 */
template <class Data = NoUserData>
class Session {
 public:
  /** Made by the engine. */
  Session(std::size_t id, boost::asio::any_io_executor ex, const Config& cfg, Clock::time_point test_start,
          std::uint64_t seed)
      : id_(id), ex_(std::move(ex)), cfg_(&cfg), test_start_(test_start), rng_(seed) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /** The user's number, from 0. Stable for the user's life; reused after a user left. */
  std::size_t id() const noexcept { return id_; }
  /** The user's own data. */
  Data& data() noexcept { return data_; }
  /** The user's random generator, seeded from `Config::seed` and the user id. */
  std::mt19937_64& rng() noexcept { return rng_; }
  /** The executor the user runs on (for timers or clients of the test's own). */
  const boost::asio::any_io_executor& executor() const noexcept { return ex_; }
  /** Time since the test started. */
  Duration elapsed() const noexcept { return Clock::now() - test_start_; }
  /** The test's configuration. */
  const Config& config() const noexcept { return *cfg_; }

  /** The user's keep-alive HTTP connection to `Config::target`, opened on first use; it uses the
   *  user's cookie jar. Throws std::invalid_argument when no target is configured. */
  http::Client& http() {
    if (!http_) {
      if (cfg_->target.empty()) throw std::invalid_argument("Session::http(): Config::target is empty");
      http_.emplace(ex_, cfg_->target, cfg_->http);
      http_->set_cookie_jar(&cookies_);
    }
    return *http_;
  }

  /** The user's cookies: filled from responses to `http()` (and to any client given this jar with
   *  `http::Client::set_cookie_jar`), sent with later requests. `cookies().clear()` starts a new
   *  browser session. */
  http::CookieJar& cookies() noexcept { return cookies_; }

  /** The next record of `feeder` for this user (see feeder.hpp; thread-safe). Throws
   *  FeederExhausted when a `unique` or `queue` feeder has none left for this user. */
  Record feed(Feeder& feeder) { return feeder.next(id_, rng_, cfg_->segment); }

 private:
  std::size_t id_;
  boost::asio::any_io_executor ex_;
  const Config* cfg_;
  Clock::time_point test_start_;
  std::mt19937_64 rng_;
  Data data_{};
  http::CookieJar cookies_;
  std::optional<http::Client> http_;  // after cookies_: destroyed first
};

}  // namespace loadtest
