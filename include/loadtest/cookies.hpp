// loadtest: a per-user cookie jar (the basics of RFC 6265).
//
// Every simulated user has one (`Session::cookies()`), and the user's HTTP client uses it: each
// response's `Set-Cookie` is stored, each later request carries the matching cookies in one
// `Cookie` header, as a browser, requests.Session (Locust) or Gatling would. What is implemented:
// the name=value pair; Expires (the lenient cookie-date of RFC 6265 section 5.1.1) and Max-Age
// (which wins); Domain (host-only without it; the request host must domain-match it; never for an
// IP address); Path (the default path without it) and path matching; Secure (sent over https only);
// replacement by (name, domain, path); expired cookies dropped, also to delete one. Not
// implemented: the public suffix list, SameSite, per-domain eviction (a jar holds at most
// `max_cookies`; beyond, new cookies are ignored).
#pragma once

#include "loadtest/detail/config.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loadtest/text.hpp"
#include "loadtest/time.hpp"

namespace loadtest::detail::cookies {

using text::iequals;

inline std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = text::to_lower_ascii(c);
  return out;
}

inline std::string_view trim_wsp(std::string_view s) noexcept { return text::trim_ows(s); }

inline bool is_ip_literal(std::string_view host) noexcept {
  if (host.find(':') != std::string_view::npos) return true;  // IPv6
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// The delimiters of RFC 6265 section 5.1.1.
inline bool date_delimiter(unsigned char c) noexcept {
  return c == 0x09 || (c >= 0x20 && c <= 0x2F) || (c >= 0x3B && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
         (c >= 0x7B && c <= 0x7E);
}

// Leading 1..max_digits digits (at least min_digits) followed by nothing or a non-digit.
inline bool leading_number(std::string_view t, std::size_t min_digits, std::size_t max_digits, int& out) noexcept {
  std::size_t n = 0;
  int v = 0;
  while (n < t.size() && t[n] >= '0' && t[n] <= '9') {
    if (n == max_digits) return false;
    v = v * 10 + (t[n] - '0');
    ++n;
  }
  if (n < min_digits) return false;
  out = v;
  return true;
}

inline bool parse_time_token(std::string_view t, int& h, int& m, int& s) noexcept {
  int* parts[3] = {&h, &m, &s};
  for (int i = 0; i < 3; ++i) {
    std::size_t n = 0;
    int v = 0;
    while (n < t.size() && n < 3 && t[n] >= '0' && t[n] <= '9') v = v * 10 + (t[n++] - '0');
    if (n == 0 || n > 2) return false;
    *parts[i] = v;
    t.remove_prefix(n);
    if (i < 2) {
      if (t.empty() || t.front() != ':') return false;
      t.remove_prefix(1);
    }
  }
  return t.empty() || !(t.front() >= '0' && t.front() <= '9');
}

}  // namespace loadtest::detail::cookies

namespace loadtest::http {

/** One stored cookie. */
struct Cookie {
  std::string name;        ///< as sent, never empty
  std::string value;       ///< as sent (quotes kept)
  std::string domain;      ///< lower case, without a leading dot
  std::string path = "/";  ///< starts with '/'
  bool host_only = true;   ///< no Domain attribute: sent to exactly `domain`, not its subdomains
  bool secure = false;     ///< sent over https only
  bool http_only = false;  ///< recorded, not enforced (there is no script here)
  bool persistent = false; ///< had Max-Age or Expires
  /// When it expires; `WallClock::time_point::max()` for a session cookie.
  WallClock::time_point expires = WallClock::time_point::max();

  /** True when it has expired at `now`. */
  [[nodiscard]] bool expired(WallClock::time_point now) const noexcept { return expires <= now; }
};


/** Parses a cookie date leniently, as RFC 6265 section 5.1.1 says (e.g. `Wed, 21 Oct 2015 07:28:00
 *  GMT`, `Wednesday, 21-Oct-15 07:28:00 GMT`, `Wed Oct 21 07:28:00 2015`). Dates before 1970 come
 *  back as the epoch, dates after 2200 as 2200-01-01 (the clock's range). `nullopt` when invalid. */
inline std::optional<WallClock::time_point> parse_cookie_date(std::string_view text) {
  static constexpr std::string_view months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                "jul", "aug", "sep", "oct", "nov", "dec"};
  bool have_time = false, have_day = false, have_month = false, have_year = false;
  int hour = 0, minute = 0, second = 0, day = 0, month = 0, year = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && detail::cookies::date_delimiter(static_cast<unsigned char>(text[i]))) ++i;
    std::size_t start = i;
    while (i < text.size() && !detail::cookies::date_delimiter(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view token = text.substr(start, i - start);
    if (token.empty()) continue;
    int h, m, s, v;
    if (!have_time && detail::cookies::parse_time_token(token, h, m, s)) {
      have_time = true, hour = h, minute = m, second = s;
    } else if (!have_day && detail::cookies::leading_number(token, 1, 2, v)) {
      have_day = true, day = v;
    } else if (!have_month && token.size() >= 3 && [&] {
                 for (int k = 0; k < 12; ++k)
                   if (detail::cookies::iequals(token.substr(0, 3), months[k])) return month = k + 1, true;
                 return false;
               }()) {
      have_month = true;
    } else if (!have_year && detail::cookies::leading_number(token, 2, 4, v)) {
      have_year = true, year = v;
    }
  }
  if (!(have_time && have_day && have_month && have_year)) return std::nullopt;
  if (year >= 70 && year <= 99) year += 1900;
  else if (year >= 0 && year <= 69) year += 2000;
  if (day < 1 || day > 31 || year < 1601 || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  if (year < 1970) return WallClock::time_point{};
  if (year >= 2200) year = 2200, month = 1, day = 1, hour = minute = second = 0;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  std::time_t t = timegm(&tm);
  if (tm.tm_mday != day || tm.tm_mon != month - 1) return std::nullopt;  // e.g. 31 Feb: no such date
  return WallClock::from_time_t(t);
}

/** RFC 6265 domain-match: `host` equals `domain`, or ends with "." + `domain` and is not an IP
 *  address. Both lower case. */
inline bool domain_match(std::string_view host, std::string_view domain) noexcept {
  if (host == domain) return true;
  return host.size() > domain.size() && !domain.empty() && host.ends_with(domain) &&
         host[host.size() - domain.size() - 1] == '.' && !detail::cookies::is_ip_literal(host);
}

/** RFC 6265 path-match of a request path (a query, if any, is ignored) against a cookie's path. */
inline bool path_match(std::string_view request_path, std::string_view cookie_path) noexcept {
  request_path = request_path.substr(0, request_path.find('?'));
  if (request_path.empty()) request_path = "/";
  if (request_path == cookie_path) return true;
  return request_path.starts_with(cookie_path) &&
         (cookie_path.ends_with('/') || request_path[cookie_path.size()] == '/');
}

/** RFC 6265 default path of a request path: its "directory" ("/a/b" gives "/a"; "/a" gives "/"). */
inline std::string default_cookie_path(std::string_view request_path) {
  request_path = request_path.substr(0, request_path.find('?'));
  if (request_path.empty() || request_path.front() != '/') return "/";
  auto last = request_path.rfind('/');
  if (last == 0) return "/";
  return std::string(request_path.substr(0, last));
}

/** Parses one `Set-Cookie` value received from `host` for a request to `request_path` (RFC 6265
 *  sections 5.2 and 5.3). `nullopt` when a user agent must ignore it: no '=', an empty name, a
 *  Domain the host does not domain-match, or a name and value longer than `max_size` bytes.
 *  An already expired cookie is returned (storing it deletes an older one of the same key). */
inline std::optional<Cookie> parse_set_cookie(std::string_view header, std::string_view host,
                                              std::string_view request_path,
                                              WallClock::time_point now = WallClock::now(),
                                              std::size_t max_size = 4096) {
  auto semi = header.find(';');
  std::string_view pair = header.substr(0, semi);
  std::string_view attrs = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
  auto eq = pair.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  std::string_view name = detail::cookies::trim_wsp(pair.substr(0, eq));
  std::string_view value = detail::cookies::trim_wsp(pair.substr(eq + 1));
  if (name.empty() || name.size() + value.size() > max_size) return std::nullopt;

  Cookie c;
  c.name = name;
  c.value = value;
  std::optional<WallClock::time_point> expires, max_age;
  std::string domain_attr;
  std::string path_attr;
  while (!attrs.empty()) {
    auto next = attrs.find(';');
    std::string_view av = attrs.substr(0, next);
    attrs = next == std::string_view::npos ? std::string_view{} : attrs.substr(next + 1);
    auto aeq = av.find('=');
    std::string_view key = detail::cookies::trim_wsp(av.substr(0, aeq));
    std::string_view val = aeq == std::string_view::npos ? std::string_view{} : detail::cookies::trim_wsp(av.substr(aeq + 1));
    if (detail::cookies::iequals(key, "expires")) {
      if (auto t = parse_cookie_date(val)) expires = t;
    } else if (detail::cookies::iequals(key, "max-age")) {
      if (val.empty() || !(val.front() == '-' || (val.front() >= '0' && val.front() <= '9'))) continue;
      std::string_view digits = val.front() == '-' ? val.substr(1) : val;
      if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
        continue;
      if (val.front() == '-' || std::all_of(digits.begin(), digits.end(), [](char ch) { return ch == '0'; })) {
        max_age = WallClock::time_point::min();  // expire at once
      } else {
        constexpr std::int64_t century = 100LL * 365 * 24 * 3600;
        std::int64_t secs = 0;
        for (char ch : digits) {
          secs = secs * 10 + (ch - '0');
          if (secs > century) break;
        }
        max_age = now + std::chrono::seconds(std::min(secs, century));
      }
    } else if (detail::cookies::iequals(key, "domain")) {
      if (val.empty()) continue;  // an empty Domain is ignored
      if (val.front() == '.') val.remove_prefix(1);
      domain_attr = detail::cookies::to_lower(val);
    } else if (detail::cookies::iequals(key, "path")) {
      path_attr = (val.empty() || val.front() != '/') ? std::string() : std::string(val);
    } else if (detail::cookies::iequals(key, "secure")) {
      c.secure = true;
    } else if (detail::cookies::iequals(key, "httponly")) {
      c.http_only = true;
    }
  }
  if (max_age) c.expires = *max_age, c.persistent = true;  // Max-Age wins over Expires
  else if (expires) c.expires = *expires, c.persistent = true;

  const std::string canonical_host = detail::cookies::to_lower(host);
  if (!domain_attr.empty()) {
    if (!domain_match(canonical_host, domain_attr)) return std::nullopt;
    c.host_only = false;
    c.domain = std::move(domain_attr);
  } else {
    c.host_only = true;
    c.domain = canonical_host;
  }
  c.path = path_attr.empty() ? default_cookie_path(request_path) : std::move(path_attr);
  return c;
}

/** One user's cookies. Not thread-safe: it belongs to one user, like its HTTP client.
 *
 *  Cookies are kept in the order they are sent: longer paths first, then older first (RFC 6265
 *  section 5.4), so building a `Cookie` header needs no sorting and no allocation beyond `out`.
 */
class CookieJar {
 public:
  /** At most this many cookies; further new ones are ignored. */
  std::size_t max_cookies = 3000;

  /** Stores the cookie of one `Set-Cookie` value from `host` for `request_path` (see
   *  `parse_set_cookie`). Returns false when it was ignored. */
  bool store(std::string_view set_cookie, std::string_view host, std::string_view request_path,
             WallClock::time_point now = WallClock::now()) {
    auto c = parse_set_cookie(set_cookie, host, request_path, now);
    if (!c) return false;
    return store(std::move(*c), now);
  }

  /** Stores `c`, replacing a cookie with the same name, domain and path (which keeps its place).
   *  An expired `c` only removes that older cookie. Returns false when `c` was not kept. */
  bool store(Cookie c, WallClock::time_point now = WallClock::now()) {
    auto same = std::find_if(cookies_.begin(), cookies_.end(), [&](const Cookie& o) {
      return o.name == c.name && o.domain == c.domain && o.path == c.path;
    });
    if (c.expired(now)) {
      if (same != cookies_.end()) cookies_.erase(same);
      return false;
    }
    if (same != cookies_.end()) {
      *same = std::move(c);
      return true;
    }
    if (cookies_.size() >= max_cookies) return false;
    // After every cookie with a path at least as long: longer paths first, older first.
    auto at = std::find_if(cookies_.begin(), cookies_.end(),
                           [&](const Cookie& o) { return o.path.size() < c.path.size(); });
    cookies_.insert(at, std::move(c));
    return true;
  }

  /** Appends the cookies for a request to `host` + `request_path` (a query is ignored) as a
   *  `Cookie` header value ("a=1; b=2") to `out`; drops expired cookies on the way. Returns how
   *  many it appended. `secure`: the request goes over https. */
  std::size_t append_header_value(std::string_view host, std::string_view request_path, bool secure, std::string& out,
                                  WallClock::time_point now = WallClock::now()) {
    std::erase_if(cookies_, [&](const Cookie& c) { return c.expired(now); });
    std::size_t n = 0;
    for (const Cookie& c : cookies_) {
      if (!matches(c, host, request_path, secure)) continue;
      if (n++ > 0) out.append("; ");
      out.append(c.name).append("=").append(c.value);
    }
    return n;
  }

  /** The `Cookie` header value for a request, "" when no cookie matches. */
  std::string header_value(std::string_view host, std::string_view request_path, bool secure = false,
                           WallClock::time_point now = WallClock::now()) {
    std::string out;
    append_header_value(host, request_path, secure, out, now);
    return out;
  }

  /** The first cookie called `name` (any domain and path), or null. */
  [[nodiscard]] const Cookie* find(std::string_view name) const noexcept {
    for (const Cookie& c : cookies_)
      if (c.name == name) return &c;
    return nullptr;
  }

  /** Drops cookies that have expired at `now`. */
  void remove_expired(WallClock::time_point now = WallClock::now()) {
    std::erase_if(cookies_, [&](const Cookie& c) { return c.expired(now); });
  }

  /** Every stored cookie, in sending order (may include some expired since the last request). */
  [[nodiscard]] const std::vector<Cookie>& cookies() const noexcept { return cookies_; }
  /** Number of stored cookies. */
  [[nodiscard]] std::size_t size() const noexcept { return cookies_.size(); }
  /** True when it holds no cookie. */
  [[nodiscard]] bool empty() const noexcept { return cookies_.empty(); }
  /** Forgets every cookie (a new browser session). */
  void clear() noexcept { cookies_.clear(); }

 private:
  static bool matches(const Cookie& c, std::string_view host, std::string_view path, bool secure) noexcept {
    if (c.secure && !secure) return false;
    if (!path_match(path, c.path)) return false;
    // Host names are compared case-insensitively; cookie domains are stored lower case.
    if (c.host_only) return detail::cookies::iequals(host, c.domain);
    if (detail::cookies::iequals(host, c.domain)) return true;
    if (host.size() <= c.domain.size() || detail::cookies::is_ip_literal(host)) return false;
    std::string_view tail = host.substr(host.size() - c.domain.size());
    return host[host.size() - c.domain.size() - 1] == '.' && detail::cookies::iequals(tail, c.domain);
  }

  std::vector<Cookie> cookies_;
};

}  // namespace loadtest::http
