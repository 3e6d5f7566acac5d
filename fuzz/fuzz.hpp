// loadtest fuzzing: what every harness shares. Each harness is one libFuzzer target
// (LLVMFuzzerTestOneInput) built with clang++ -fsanitize=fuzzer,address,undefined by scripts/fuzz.
//
// The contract a harness checks: a parser either returns a value or throws std::invalid_argument
// (the project's "bad configuration" error). A crash, a sanitizer report, a hang, or any other
// exception escaping is a finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

namespace loadtest::fuzz {

/** The input as text (any bytes: NUL, invalid UTF-8 and control characters included). */
inline std::string_view text(const std::uint8_t* data, std::size_t size) noexcept {
  return {reinterpret_cast<const char*>(data), size};
}

/** Runs `f`; std::invalid_argument is an accepted answer to bad input, anything else escapes. */
template <class F>
void expect_parse_or_invalid(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument&) {
  }
}

}  // namespace loadtest::fuzz
