// loadtest internals: the state of one run, shared by the control thread and the workers.
//
// Ownership: the engine (LoadTest) owns the worker io_contexts for its whole life, so that
// objects a test makes on their executors (an http::Client kept per user, a timer) may be
// destroyed at any time before the test object. A RunState lives for one run() only.
// Cancellation is structured: each user slot has a cancellation signal that ends its current
// sleep (emitted on the user's worker only), and a join count (`live_users`) tells the control
// thread when the last user coroutine has ended. Nothing holds a pointer into a coroutine frame.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "loadtest/config.hpp"
#include "loadtest/metrics.hpp"
#include "loadtest/time.hpp"

namespace loadtest::detail {

namespace asio = boost::asio;
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
/// For awaiting a co_spawn onto another context (a worker) that must not be cancelled with the
/// awaiting coroutine: Asio 1.81 forwards the cancellation to the other context as a handler that
/// may outlive the spawned coroutine's state. The work itself never suspends.
inline auto uncancellable() { return asio::bind_cancellation_slot(asio::cancellation_slot(), use_tuple); }

/** A worker's io_context whose services can be shut down (pending handlers, and with them the
 *  users' coroutine frames, destroyed) while the context itself lives on: I/O objects made on it
 *  may still be destroyed safely afterwards. */
class WorkerContext : public asio::io_context {
 public:
  WorkerContext() : asio::io_context(1) {}
  /** Destroys every pending handler. The context is not run again afterwards. */
  void shut_down() { shutdown(); }
};

enum class SlotState : std::uint8_t { idle, running, stopping };

/** The engine's handle on one user: shared between the control thread and the user's worker. */
struct UserSlot {
  UserSlot(std::size_t global_id, unsigned w) : id(global_id), worker(w) {}
  /// The user's index in the whole test (the same whichever segment runs it): seeds follow it.
  const std::size_t id;
  const unsigned worker;
  std::atomic<SlotState> state{SlotState::idle};
  std::atomic<bool> in_action{false};
  /// Ends the user's current sleep (think time, backoff, idle wait). Worker only. A wait bound to
  /// it clears it when it completes: the handler it installs points at the waiting timer.
  asio::cancellation_signal wake;
  // Open model, worker only: the arrival handed to this idle user.
  Clock::time_point arrival{};
  bool has_arrival = false;
};

/** Open model: one worker's users and arrivals. Touched on its worker only. */
struct OpenPool {
  std::deque<UserSlot> slots;                  // this worker's users; elements never move
  std::vector<UserSlot*> idle;                 // users waiting for an arrival
  std::deque<Clock::time_point> queue;         // arrivals waiting for a user
  std::size_t max_users = 0, queue_limit = 0;  // this worker's share
  bool done = false;                           // no more arrivals will come
  asio::cancellation_signal stop_arrivals;     // ends the arrival scheduler's wait
};

/** 64-bit mix (splitmix64): per-user seeds from the test seed and the user's global index. */
inline std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/** The state of one run. */
struct RunState {
  RunState(const std::vector<std::unique_ptr<WorkerContext>>& w, asio::io_context& control_ctx, Clock::time_point s,
           Segment seg)
      : recorder(w.size()), control(control_ctx), joined(control_ctx), start(s), segment(seg) {
    for (const auto& ctx : w) workers.push_back(ctx.get());
  }
  Recorder recorder;                // one shard per worker
  std::vector<WorkerContext*> workers;  // owned by the engine
  asio::io_context& control;        // the control thread's context
  std::deque<UserSlot> slots;       // closed model; grows on the control thread only; elements never move
  std::vector<std::unique_ptr<OpenPool>> pools;  // open model, one per worker
  std::atomic<bool> ending{false};  // the load phase is over: users leave after their action
  std::atomic<std::size_t> live_users{0};  // user coroutines not yet ended (the join count)
  asio::steady_timer joined;        // control thread: its wait ends when the last user has ended
  const Clock::time_point start;
  const Segment segment;            // the part of the test this process runs

  /** Called on a worker when a user coroutine has ended: the last one wakes the control thread
   *  if the end has begun. */
  void user_ended() {
    if (live_users.fetch_sub(1) == 1 && ending.load())
      asio::post(control, [this] { joined.cancel(); });
  }
};

}  // namespace loadtest::detail
