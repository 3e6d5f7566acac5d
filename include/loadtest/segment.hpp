// loadtest: Segment, one part of a test split across processes or machines (scale-out).
#pragma once

#include "loadtest/detail/config.hpp"

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace loadtest {

/** One part of a test split into `count` parts (execution segments, for scale-out).
 *
 *  Part `index` (0-based) of `count` runs, in the closed model, the users k with
 *  k mod count == index, and in the open model the arrivals k (of the one-process schedule) with
 *  k mod count == index. Seeds follow the global user index, and `unique`/`queue` feeder rows are
 *  partitioned the same way, so the union of all parts is exactly the one-process test.
 *  `{0, 1}` (the default) is the whole test. CLI: `--segment i/N`; under MPI each rank runs
 *  segment rank/size (mpi.hpp). */
struct Segment {
  std::size_t index = 0;  ///< this part, 0..count-1
  std::size_t count = 1;  ///< number of parts, 1..1'000'000

  [[nodiscard]] bool whole() const noexcept { return count == 1; }
  /** The "i/N" form used in results and on the command line. */
  [[nodiscard]] std::string to_string() const { return std::to_string(index) + "/" + std::to_string(count); }
  /** How many of the first `n` global items (users, arrivals, rows) belong to this part. */
  [[nodiscard]] std::size_t share(std::size_t n) const noexcept { return n > index ? (n - index + count - 1) / count : 0; }
  /** The global index of this part's `local`-th item. */
  [[nodiscard]] std::size_t global(std::size_t local) const noexcept { return local * count + index; }
  /** Whether global item `k` belongs to this part. */
  [[nodiscard]] bool owns(std::size_t k) const noexcept { return k % count == index; }

  /** Parses "i/N" (0 <= i < N, 1 <= N <= 1e6). Throws std::invalid_argument naming the text. */
  static Segment parse(std::string_view text) {
    auto bad = [&](const char* why) {
      return std::invalid_argument("segment '" + std::string(text) + "': " + why +
                                   " (expected i/N with 0 <= i < N, e.g. 0/4)");
    };
    auto slash = text.find('/');
    if (slash == std::string_view::npos) throw bad("no '/'");
    auto number = [&](std::string_view part) {
      if (part.empty() || part.size() > 7) throw bad("not a number");
      std::size_t v = 0;
      for (char c : part) {
        if (c < '0' || c > '9') throw bad("not a number");
        v = v * 10 + static_cast<std::size_t>(c - '0');
      }
      return v;
    };
    Segment s{number(text.substr(0, slash)), number(text.substr(slash + 1))};
    if (s.count == 0 || s.count > 1'000'000) throw bad("N must be 1..1000000");
    if (s.index >= s.count) throw bad("i must be below N");
    return s;
  }
  /** Throws std::invalid_argument unless 0 <= index < count <= 1e6. */
  void validate() const {
    if (count == 0 || count > 1'000'000)
      throw std::invalid_argument("segment: count " + std::to_string(count) + " must be 1..1000000");
    if (index >= count)
      throw std::invalid_argument("segment: index " + std::to_string(index) + " must be below the count " +
                                  std::to_string(count));
  }
  friend bool operator==(const Segment&, const Segment&) = default;
};

}  // namespace loadtest
