// Fuzzes what a server's Set-Cookie headers reach: parse_set_cookie (RFC 6265 5.2, cookie dates
// included) and the CookieJar (store, replace, expire, match, the Cookie header it sends).
//
// Input: line 1 is the request host, line 2 the request path, every further line one Set-Cookie
// value, all from that host; then the jar's Cookie header is asked for the same host and path and
// for a sub-path, over http and https. The clock is fixed so that runs are reproducible.
#include "loadtest/cookies.hpp"

#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz.hpp"

namespace lt = loadtest;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in = lt::fuzz::text(data, size);
  std::vector<std::string_view> lines;
  for (std::size_t pos = 0; pos <= in.size() && lines.size() < 64;) {
    std::size_t nl = in.find('\n', pos);
    if (nl == std::string_view::npos) nl = in.size();
    lines.push_back(in.substr(pos, nl - pos));
    pos = nl + 1;
  }
  if (lines.size() < 3) return 0;
  const std::string_view host = lines[0], path = lines[1];
  const auto now = lt::WallClock::time_point(std::chrono::seconds(1'750'000'000));

  lt::http::CookieJar jar;
  jar.max_cookies = 16;
  for (std::size_t i = 2; i < lines.size(); ++i) {
    std::optional<lt::http::Cookie> c = lt::http::parse_set_cookie(lines[i], host, path, now);
    if (c && (c->name.empty() || c->name.size() + c->value.size() > 4096)) std::abort();
    (void)jar.store(lines[i], host, path, now);
  }
  std::string sub(path);
  sub += "/x";
  for (bool secure : {false, true}) {
    (void)jar.header_value(host, path, secure, now);
    (void)jar.header_value(host, sub, secure, now);
  }
  jar.remove_expired(now + std::chrono::hours(24 * 365 * 30));
  return 0;
}
