// loadtest: text helpers every writer shares: UTF-8 validation, JSON string escaping, control
// character escaping for one-line messages, trimming and ASCII case-insensitive comparison.
//
// Each is implemented here once; results, reports, the Prometheus exporter, the CSV sink, the
// cookie jar and the command-line tools use these instead of private copies.
#pragma once

#include "loadtest/detail/config.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace loadtest::text {

/** The length of the well-formed UTF-8 sequence starting at `s[i]` (1..4), or 0 when the bytes
 *  there are not one (a stray continuation byte, an overlong form, a surrogate, a code point above
 *  U+10FFFF, or a sequence cut short). */
constexpr std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c == 0xE0) n = 3, lo = 0xA0;
  else if (c >= 0xE1 && c <= 0xEC) n = 3;
  else if (c == 0xED) n = 3, hi = 0x9F;  // no UTF-16 surrogates
  else if (c >= 0xEE && c <= 0xEF) n = 3;
  else if (c == 0xF0) n = 4, lo = 0x90;
  else if (c >= 0xF1 && c <= 0xF3) n = 4;
  else if (c == 0xF4) n = 4, hi = 0x8F;  // nothing above U+10FFFF
  else return 0;
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  return n;
}

/** True when `s` is well-formed UTF-8 (RFC 3629). */
constexpr bool valid_utf8(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

/** `s` with every ill-formed UTF-8 byte replaced by U+FFFD (so the result is valid UTF-8). */
inline std::string to_valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

namespace detail {
inline void append_hex_escape(std::string& out, const char* prefix, unsigned value, int digits) {
  constexpr char hex[] = "0123456789abcdef";
  out += prefix;
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out += hex[(value >> shift) & 0xF];
}
}  // namespace detail

/** Appends `s` to `out` as the inside of a JSON string (RFC 8259), without the quotes.
 *
 *  `"` and `\` are escaped; `\b \f \n \r \t` get their short forms; the other C0 controls and DEL
 *  become `\u00XX`; ill-formed UTF-8 bytes become `\ufffd`. The result is valid UTF-8 and valid
 *  JSON for any input. With `for_html`, `<`, `>` and `&` become `\u003c`, `\u003e`, `\u0026` and
 *  U+2028 / U+2029 `\u2028` / `\u2029`, so that JSON embedded in an HTML `<script>` cannot end it.
 */
inline void append_json_escaped(std::string& out, std::string_view s, bool for_html = false) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence_length(s, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
        continue;
      }
      const std::string_view seq = s.substr(i, n);
      if (for_html && seq == "\xE2\x80\xA8") out += "\\u2028";
      else if (for_html && seq == "\xE2\x80\xA9") out += "\\u2029";
      else out.append(seq);
      i += n;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '<':
      case '>':
      case '&':
        if (for_html) detail::append_hex_escape(out, "\\u", c, 4);
        else out += static_cast<char>(c);
        break;
      default:
        if (c < 0x20 || c == 0x7F) detail::append_hex_escape(out, "\\u", c, 4);
        else out += static_cast<char>(c);
    }
    ++i;
  }
}

/** `s` as a quoted JSON string (see `append_json_escaped`). */
inline std::string json_quote(std::string_view s, bool for_html = false) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  append_json_escaped(out, s, for_html);
  out += '"';
  return out;
}

/** `s` made safe for one line of a terminal or log: `\` becomes `\\`, CR, LF and tab become
 *  `\r`, `\n`, `\t`, the other C0 and C1 controls and DEL become `\xHH`, and ill-formed UTF-8
 *  bytes become `\xHH` too. Well-formed non-ASCII text is kept as is. The result never contains a
 *  control character, so an error message built from user input stays on one line.
 *
 *  With `escape_backslash` false, `\` is kept: for text that may already hold escaped parts (an
 *  exception's message printed by a command-line tool), so that they are not escaped twice. */
inline std::string escape_control(std::string_view s, bool escape_backslash = true) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence_length(s, i);
      // C1 controls (U+0080..U+009F, C2 80..C2 9F) are terminal controls too
      if (n == 0 || (n == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0)) {
        detail::append_hex_escape(out, "\\x", c, 2);
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '\\': out += escape_backslash ? "\\\\" : "\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7F) detail::append_hex_escape(out, "\\x", c, 2);
        else out += static_cast<char>(c);
    }
    ++i;
  }
  return out;
}

/** True for the whitespace `trim` removes: space, tab, CR, LF, vertical tab and form feed. */
constexpr bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/** `s` without leading and trailing whitespace (see `is_space`). */
constexpr std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

/** `s` without leading and trailing spaces and tabs only (HTTP's optional whitespace, OWS). */
constexpr std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/** The ASCII lower-case form of `c`; other bytes unchanged. */
constexpr char to_lower_ascii(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

/** ASCII case-insensitive equality (header names, cookie attributes, units). */
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (to_lower_ascii(a[i]) != to_lower_ascii(b[i])) return false;
  return true;
}

/** True when `c` is an RFC 9110 `tchar`, a byte allowed in a token such as a header name. */
constexpr bool is_tchar(char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '.':
    case '^': case '_': case '`': case '|': case '~': return true;
    default: return false;
  }
}

/** True when `s` is a non-empty RFC 9110 token. */
constexpr bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

}  // namespace loadtest::text
