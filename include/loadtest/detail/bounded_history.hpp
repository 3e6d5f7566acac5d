// loadtest: the monitor's history at bounded memory.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "loadtest/result.hpp"

namespace loadtest::detail {

/** Snapshots kept at fixed memory however long a test runs.
 *
 *  When `capacity` entries are reached, every second entry is dropped and from then on only every
 *  second snapshot is kept: the resolution halves instead of memory growing, and the kept entries
 *  stay evenly spaced. 86'400 entries is a day at one-second intervals.
 */
class BoundedHistory {
 public:
  explicit BoundedHistory(std::size_t capacity = 86'400) : capacity_(capacity) {
    if (capacity_ < 2) throw std::invalid_argument("history capacity must be at least 2");
  }

  void push(RealTimeMetrics m) {
    if (seen_++ % stride_ != 0) return;
    entries_.push_back(std::move(m));
    if (entries_.size() >= capacity_) {
      std::size_t kept = 0;
      for (std::size_t i = 0; i < entries_.size(); i += 2) entries_[kept++] = std::move(entries_[i]);
      entries_.resize(kept);
      stride_ *= 2;
    }
  }
  void clear() noexcept {
    entries_.clear();
    seen_ = 0;
    stride_ = 1;
  }
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
  /** The newest entry kept (the history must not be empty). */
  [[nodiscard]] RealTimeMetrics& last() noexcept { return entries_.back(); }
  [[nodiscard]] const std::vector<RealTimeMetrics>& entries() const noexcept { return entries_; }

 private:
  std::size_t capacity_;
  std::vector<RealTimeMetrics> entries_;
  std::uint64_t seen_ = 0;    // snapshots offered
  std::uint64_t stride_ = 1;  // keep every stride_-th one
};

}  // namespace loadtest::detail
