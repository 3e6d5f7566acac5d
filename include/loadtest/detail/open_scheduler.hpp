// loadtest internals: the open-model scheduler: arrivals on a schedule, served by a user pool.
//
// Each worker runs its own arrival scheduler for its share of the arrivals (no cross-thread hop
// between the schedule and the user) with its own pool of users, grown on demand up to its share
// of `max_users`. An arrival that finds no free user waits in a bounded queue (its latency still
// counts from its intended start); beyond the bound it is dropped and counted.
// Every worker walks the same global schedule (same seed). Arrival k belongs to this process
// when the Segment owns it (k mod N == i), and then to worker (k / N) mod threads.
#pragma once

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>

#include <random>

#include "loadtest/detail/run_state.hpp"
#include "loadtest/rate.hpp"
#include "loadtest/user_runner.hpp"

namespace loadtest::detail {

/** The open-model scheduler of one run. @tparam Engine the LoadTest instantiation. */
template <class Engine>
class OpenScheduler {
 public:
  OpenScheduler(Engine& engine, RunState& rs, std::uint64_t seed) : engine_(engine), rs_(rs), seed_(seed) {}

  /** Before the workers run: the pools (shares of max_users and queue_limit), the preallocated
   *  users, and one arrival scheduler per worker. */
  void start() {
    const OpenModel& cfg = engine_.config().open;
    const std::size_t n = rs_.workers.size();
    // This segment's share first, then each worker's.
    const std::size_t max_users = std::max<std::size_t>(1, rs_.segment.share(cfg.max_users));
    const std::size_t queue_limit = rs_.segment.share(cfg.queue_limit);
    for (std::size_t w = 0; w < n; ++w) {
      auto pool = std::make_unique<OpenPool>();
      pool->max_users = (max_users + n - 1 - w) / n;  // shares add up to max_users
      pool->queue_limit = (queue_limit + n - 1 - w) / n;
      rs_.pools.push_back(std::move(pool));
    }
    const std::size_t pre = std::min(rs_.segment.share(cfg.preallocated_users), max_users);
    for (std::size_t i = 0; i < pre; ++i) {
      auto w = static_cast<unsigned>(i % n);
      if (rs_.pools[w]->slots.size() < rs_.pools[w]->max_users) {
        UserSlot& slot = new_user(w);
        spawn_user(rs_, slot, user_main(&engine_, &rs_, rs_.pools[w].get(), &slot, splitmix64(seed_ ^ slot.id)));
      }
    }
    for (unsigned w = 0; w < n; ++w)
      asio::co_spawn(*rs_.workers[w], arrivals(this, w), asio::detached);
  }

  /** Control thread: the end of the schedule; idle users leave, busy ones stop sleeping. */
  void end() {
    for (unsigned w = 0; w < rs_.workers.size(); ++w)
      asio::post(*rs_.workers[w], [p = rs_.pools[w].get()] { end_arrivals(*p); });
  }

  /** After the workers stopped: arrivals the end caught in a queue are dropped and counted. */
  void count_queued_as_dropped() {
    for (std::size_t w = 0; w < rs_.pools.size(); ++w) rs_.recorder.shard(w).count_dropped(rs_.pools[w]->queue.size());
  }

 private:
  UserSlot& new_user(unsigned worker) {
    OpenPool& pool = *rs_.pools[worker];
    const std::size_t local = pool.slots.size() * rs_.workers.size() + worker;  // unique across workers
    return pool.slots.emplace_back(rs_.segment.global(local), worker);
  }

  static asio::awaitable<void> arrivals(OpenScheduler* self, unsigned worker) {
    RunState& rs = self->rs_;
    Engine& engine = self->engine_;
    OpenPool& pool = *rs.pools[worker];
    asio::steady_timer timer(co_await asio::this_coro::executor);
    std::mt19937_64 rng(self->seed_);
    const std::size_t threads = rs.workers.size();
    const Segment seg = rs.segment;
    const Duration end = engine.pattern().duration();
    const Duration spin = engine.config().open.spin;
    RecorderShard& shard = rs.recorder.shard(worker);
    Duration t = first_arrival(engine.pattern(), rng);
    std::size_t k = 0;
    auto mine = [&] { return seg.owns(k) && (k / seg.count) % threads == worker; };
    // The end caught this scheduler behind (a busy worker): the arrivals already due were intended
    // and found no time left. They are counted as dropped, never skipped.
    auto drop_overdue = [&] {
      for (; t < end && rs.start + t <= Clock::now(); ++k, t = next_arrival(engine.pattern(), t, rng))
        if (mine()) {
          shard.count_intended();
          shard.count_dropped();
        }
    };
    for (; t < end; ++k, t = next_arrival(engine.pattern(), t, rng)) {
      if (pool.done || rs.ending.load(std::memory_order_relaxed)) {
        drop_overdue();
        break;
      }
      if (!mine()) continue;
      auto due = rs.start + t;
      if (due - spin > Clock::now()) {
        timer.expires_at(due - spin);
        co_await timer.async_wait(asio::bind_cancellation_slot(pool.stop_arrivals.slot(), use_tuple));
        pool.stop_arrivals.slot().clear();  // its handler points at this frame's timer
        if (pool.done || rs.ending.load(std::memory_order_relaxed)) {
          drop_overdue();
          break;
        }
      }
      // The optional short spin to the due time: it yields to the worker's other handlers (the
      // users) on every turn, so it costs CPU but never delays them.
      while (spin > Duration{0} && Clock::now() < due) co_await asio::post(timer.get_executor(), asio::use_awaitable);
      shard.count_intended();
      self->dispatch(worker, due);
    }
  }

  void dispatch(unsigned worker, Clock::time_point intended) {
    OpenPool& pool = *rs_.pools[worker];
    if (!pool.idle.empty()) {  // a free user takes it at once
      UserSlot* slot = pool.idle.back();
      pool.idle.pop_back();
      slot->arrival = intended;
      slot->has_arrival = true;
      slot->wake.emit(asio::cancellation_type::terminal);
    } else if (pool.slots.size() < pool.max_users) {  // the pool grows on demand
      UserSlot& slot = new_user(worker);
      slot.arrival = intended;
      slot.has_arrival = true;
      spawn_user(rs_, slot, user_main(&engine_, &rs_, &pool, &slot, splitmix64(seed_ ^ slot.id)));
    } else if (pool.queue.size() < pool.queue_limit) {  // waits; its latency still counts from `intended`
      pool.queue.push_back(intended);
    } else {  // no user, no room: dropped, and counted
      rs_.recorder.shard(worker).count_dropped();
    }
  }

  static void end_arrivals(OpenPool& pool) {
    pool.done = true;
    pool.stop_arrivals.emit(asio::cancellation_type::terminal);
    for (UserSlot* slot : pool.idle) slot->wake.emit(asio::cancellation_type::terminal);  // they leave
    pool.idle.clear();
    for (auto& slot : pool.slots)  // busy users stop sleeping (think time, backoff)
      if (!slot.has_arrival) slot.wake.emit(asio::cancellation_type::terminal);
  }

  static asio::awaitable<void> user_main(Engine* engine, RunState* rs, OpenPool* pool, UserSlot* slot,
                                         std::uint64_t seed) {
    auto ex = co_await asio::this_coro::executor;
    UserRunner<Engine> user = user_runner_access::make(*engine, *rs, *slot, ex, seed);
    RecorderShard& shard = rs->recorder.shard(slot->worker);
    asio::steady_timer idle(ex);
    for (;;) {
      Clock::time_point intended;
      if (slot->has_arrival) {
        intended = slot->arrival;
        slot->has_arrival = false;
      } else if (!pool->queue.empty()) {
        intended = pool->queue.front();
        pool->queue.pop_front();
      } else {
        if (pool->done || rs->ending.load(std::memory_order_relaxed)) break;
        // Idle: wait until dispatch hands over an arrival (it emits `wake`) or the end.
        pool->idle.push_back(slot);
        idle.expires_at(Clock::time_point::max());
        co_await idle.async_wait(asio::bind_cancellation_slot(slot->wake.slot(), use_tuple));
        slot->wake.slot().clear();  // its handler points at this frame's timer
        if (!slot->has_arrival) break;
        continue;
      }
      slot->state.store(SlotState::running);
      shard.busy(true);
      user_runner_access::begin_arrival(user, intended);
      co_await user_runner_access::iterate(*engine, user);
      shard.busy(false);
      slot->state.store(SlotState::idle);
    }
  }

  Engine& engine_;
  RunState& rs_;
  const std::uint64_t seed_;
};

}  // namespace loadtest::detail
