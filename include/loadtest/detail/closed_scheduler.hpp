// loadtest internals: the closed-model scheduler: follows `users_at(t)` with user coroutines.
//
// Runs on the control thread. Every tick the engine hands it the pattern's target; it starts
// users (reusing slots of users that left) or asks the most recently started ones to leave. A
// user asked to leave finishes its current action; its sleep (think time, backoff) ends at once.
// With a Segment, this process runs only users k with k mod N == i: the share of any target is
// exact, and user k starts and leaves at the same moment as in the one-process test.
#pragma once

#include <boost/asio/post.hpp>

#include <algorithm>
#include <vector>

#include "loadtest/detail/run_state.hpp"
#include "loadtest/user_runner.hpp"

namespace loadtest::detail {

/** The closed-model scheduler of one run. @tparam Engine the LoadTest instantiation. */
template <class Engine>
class ClosedScheduler {
 public:
  ClosedScheduler(Engine& engine, RunState& rs, std::uint64_t seed) : engine_(engine), rs_(rs), seed_(seed) {}

  /** Control thread: makes this segment's share of `global_target` users active. */
  void adjust(std::size_t global_target) {
    const std::size_t target = rs_.segment.share(global_target);
    // Forget users that have left or are leaving.
    std::erase_if(started_order_, [&](std::size_t i) { return rs_.slots[i].state.load() != SlotState::running; });
    if (started_order_.size() > target) {
      // The most recently started users leave first.
      while (started_order_.size() > target) {
        ask_to_leave(rs_.slots[started_order_.back()]);
        started_order_.pop_back();
      }
      return;
    }
    std::size_t need = target - started_order_.size();
    // Users still finishing their last action are asked to stay; then idle slots are reused;
    // then new slots are made.
    for (auto& slot : rs_.slots) {
      if (need == 0) break;
      auto expected = SlotState::stopping;
      if (slot.state.compare_exchange_strong(expected, SlotState::running)) {
        started_order_.push_back(local_index(slot));
        --need;
      }
    }
    for (auto& slot : rs_.slots) {
      if (need == 0) break;
      if (slot.state.load() == SlotState::idle) {
        start(slot);
        --need;
      }
    }
    while (need > 0) {
      const std::size_t local = rs_.slots.size();
      start(rs_.slots.emplace_back(rs_.segment.global(local), static_cast<unsigned>(local % rs_.workers.size())));
      --need;
    }
    max_active_ = std::max(max_active_, started_order_.size());
  }

  /** Control thread: the end; every user finishes its current action and leaves. */
  void end() {
    for (auto& slot : rs_.slots) ask_to_leave(slot);
    started_order_.clear();
  }

  /** Users running now. */
  std::size_t active() const {
    std::size_t n = 0;
    for (const auto& slot : rs_.slots) n += slot.state.load(std::memory_order_relaxed) == SlotState::running ? 1 : 0;
    return n;
  }
  /** The most users active at once in this process. */
  std::size_t max_active() const noexcept { return max_active_; }

 private:
  std::size_t local_index(const UserSlot& slot) const noexcept { return slot.id / rs_.segment.count; }

  void start(UserSlot& slot) {
    slot.state.store(SlotState::running);
    started_order_.push_back(local_index(slot));
    spawn_user(rs_, slot, user_main(&engine_, &rs_, &slot, splitmix64(seed_ ^ slot.id)));
  }

  void ask_to_leave(UserSlot& slot) {
    auto expected = SlotState::running;
    slot.state.compare_exchange_strong(expected, SlotState::stopping);
    asio::post(*rs_.workers[slot.worker], [s = &slot] { s->wake.emit(asio::cancellation_type::terminal); });
  }

  static asio::awaitable<void> user_main(Engine* engine, RunState* rs, UserSlot* slot, std::uint64_t seed) {
    auto ex = co_await asio::this_coro::executor;
    UserRunner<Engine> user = user_runner_access::make(*engine, *rs, *slot, ex, seed);
    for (unsigned iteration = 1;; ++iteration) {
      // An action that never suspends (pure CPU work) would starve the worker's other users and
      // the monitor: let them run every 64 iterations.
      if (iteration % 64 == 0) co_await asio::post(ex, asio::use_awaitable);
      if (rs->ending.load(std::memory_order_relaxed)) break;
      auto state = slot->state.load();
      if (state == SlotState::stopping) {
        if (slot->state.compare_exchange_strong(state, SlotState::idle)) co_return;
        continue;  // asked to stay after all
      }
      co_await user_runner_access::iterate(*engine, user);
    }
    slot->state.store(SlotState::idle);
  }

  Engine& engine_;
  RunState& rs_;
  const std::uint64_t seed_;
  std::vector<std::size_t> started_order_;  // local indices of running slots, in start order (LIFO leave)
  std::size_t max_active_ = 0;
};

}  // namespace loadtest::detail
