// loadtest: scale-out over MPI (see mpi.hpp). Boost.MPI sets up the environment; the reductions
// use MPI-3 non-blocking collectives (MPI_Igather, MPI_Igatherv, MPI_Ibcast, MPI_Ibarrier) polled
// with a deadline, so that no rank waits forever for a dead peer.
#include "loadtest/mpi.hpp"

#include <mpi.h>

#include <boost/mpi/environment.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "loadtest/exit_code.hpp"
#include "loadtest/merge.hpp"
#include "loadtest/results_io.hpp"

namespace loadtest::mpi {

namespace {

// The one environment of this process (Boost.MPI initialises with MPI_THREAD_FUNNELED).
std::optional<boost::mpi::environment> g_env;

bool wait_bounded(MPI_Request& req, Clock::time_point deadline) {
  for (;;) {
    int done = 0;
    if (MPI_Test(&req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return false;
    if (done) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

// Collectives over MPI_COMM_WORLD with a deadline each; after one misses its deadline the
// communicator is unusable (the collective is still pending), so every later call fails at once.
class Comm {
 public:
  explicit Comm(Duration timeout) : timeout_(timeout) {
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  bool broken() const noexcept { return broken_; }
  void set_timeout(Duration t) noexcept { timeout_ = t; }
  Duration timeout() const noexcept { return timeout_; }

  bool barrier() {
    if (broken_) return false;
    MPI_Request req;
    if (MPI_Ibarrier(MPI_COMM_WORLD, &req) != MPI_SUCCESS) return fail();
    return wait(req);
  }

  // Root receives every rank's bytes (its own included); false when the deadline passed.
  bool gather(const std::string& mine, std::vector<std::string>& all, std::size_t& bytes) {
    if (broken_) return false;
    long long len = static_cast<long long>(mine.size());
    std::vector<long long> lens(rank_ == 0 ? size_ : 0);
    MPI_Request req;
    if (MPI_Igather(&len, 1, MPI_LONG_LONG, lens.data(), 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD, &req) != MPI_SUCCESS)
      return fail();
    if (!wait(req)) return false;
    std::vector<int> counts, displs;
    std::string recv;
    if (rank_ == 0) {
      long long total = 0;
      for (long long l : lens) {
        if (l < 0 || l > (1LL << 30)) return fail();
        counts.push_back(static_cast<int>(l));
        displs.push_back(static_cast<int>(total));
        total += l;
        if (total > (1LL << 30)) return fail();
      }
      recv.resize(static_cast<std::size_t>(total));
      bytes = static_cast<std::size_t>(total);
    }
    if (MPI_Igatherv(mine.data(), static_cast<int>(mine.size()), MPI_BYTE, recv.data(), counts.data(), displs.data(),
                     MPI_BYTE, 0, MPI_COMM_WORLD, &req) != MPI_SUCCESS)
      return fail();
    if (!wait(req)) return false;
    if (rank_ == 0) {
      all.clear();
      for (int r = 0; r < size_; ++r)
        all.push_back(recv.substr(static_cast<std::size_t>(displs[r]), static_cast<std::size_t>(counts[r])));
    }
    return true;
  }

  // Every rank gets root's bytes.
  bool bcast(std::string& data) {
    if (broken_) return false;
    long long len = static_cast<long long>(data.size());
    MPI_Request req;
    if (MPI_Ibcast(&len, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD, &req) != MPI_SUCCESS) return fail();
    if (!wait(req)) return false;
    if (len < 0 || len > (1LL << 30)) return fail();
    data.resize(static_cast<std::size_t>(len));
    if (MPI_Ibcast(data.data(), static_cast<int>(len), MPI_BYTE, 0, MPI_COMM_WORLD, &req) != MPI_SUCCESS)
      return fail();
    return wait(req);
  }

 private:
  bool wait(MPI_Request& req) {
    if (wait_bounded(req, Clock::now() + timeout_)) return true;
    return fail();
  }
  bool fail() {
    broken_ = true;
    return false;
  }
  Duration timeout_;
  int rank_ = 0, size_ = 1;
  bool broken_ = false;
};

// For the set-up collectives: ranks reach them at different times (process start, name
// resolution, a busy machine), so they wait at least a minute; the interval timeout after.
class LongWait {
 public:
  explicit LongWait(Comm& c) : comm_(c), saved_(c.timeout()) {
    c.set_timeout(std::max<Duration>(saved_, std::chrono::seconds(60)));
  }
  ~LongWait() { comm_.set_timeout(saved_); }
  LongWait(const LongWait&) = delete;
  LongWait& operator=(const LongWait&) = delete;

 private:
  Comm& comm_;
  Duration saved_;
};

// The first line where two "key=value" fingerprints differ, for the message.
std::string first_difference(const std::string& mine, const std::string& root) {
  std::istringstream a(mine), b(root);
  std::string la, lb;
  for (;;) {
    bool ha = static_cast<bool>(std::getline(a, la)), hb = static_cast<bool>(std::getline(b, lb));
    if (!ha && !hb) return {};
    if (!ha) la = "(nothing)";
    if (!hb) lb = "(nothing)";
    if (la != lb) return "'" + la + "' where rank 0 has '" + lb + "'";
  }
}

// The lowest failing rank's message reaches every rank; false when every rank is fine.
bool first_failure(Comm& comm, const std::string& my_failure, std::string& message) {
  std::vector<std::string> all;
  std::size_t bytes = 0;
  if (!comm.gather(my_failure, all, bytes)) {
    message = "a rank did not answer while the ranks checked their configurations";
    return true;
  }
  std::string first;
  if (comm.rank() == 0)
    for (const std::string& m : all)
      if (!m.empty()) {
        first = m;
        break;
      }
  if (!comm.bcast(first)) {
    message = "rank 0 did not answer while the ranks checked their configurations";
    return true;
  }
  message = first;
  return !first.empty();
}

}  // namespace

// --- Environment ----------------------------------------------------------------------------

Environment::Environment(int& argc, char**& argv) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    g_env.emplace(argc, argv, boost::mpi::threading::funneled, false);
    initialised_here_ = true;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

Environment::~Environment() {
  if (initialised_here_) g_env.reset();
}

Config Environment::configure(Config cfg) const {
  cfg.segment = Segment{static_cast<std::size_t>(rank_), static_cast<std::size_t>(size_)};
  return cfg;
}

void Environment::check_all(bool ok, const std::string& message) const {
  if (size_ == 1) {
    if (!ok) throw CollectiveError(message);
    return;
  }
  Comm comm(std::chrono::seconds(30));
  std::string first;
  const std::string mine = ok ? std::string() : fmt::format("rank {}: {}", rank_, message);
  if (first_failure(comm, mine, first)) throw CollectiveError(first);
}

bool launched() noexcept {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(v)) return true;
  return false;
}

int Environment::agree_exit_code(int code) const {
  if (size_ == 1) return code;
  Comm comm(std::chrono::seconds(30));
  std::string data = std::to_string(code);
  if (!comm.bcast(data)) return rank_ == 0 ? code : exit_cannot_run;
  return std::atoi(data.c_str());
}

void Environment::abort(int code) const { MPI_Abort(MPI_COMM_WORLD, code); std::_Exit(code); }

// --- MpiReducer -----------------------------------------------------------------------------

struct MpiReducer::Impl {
  explicit Impl(Duration timeout) : comm(timeout) {}
  Comm comm;
  std::size_t last_bytes = 0;
  Duration last_time{0};
  std::size_t max_error_keys = 100;
  LoadTestResult local;
};

MpiReducer::MpiReducer(const Environment& env) : MpiReducer(env, std::chrono::seconds(5)) {}
MpiReducer::MpiReducer(const Environment&, Duration timeout) : impl_(std::make_unique<Impl>(timeout)) {}
MpiReducer::~MpiReducer() = default;

std::size_t MpiReducer::parts() const noexcept { return static_cast<std::size_t>(impl_->comm.size()); }
bool MpiReducer::root() const noexcept { return impl_->comm.rank() == 0; }
std::size_t MpiReducer::last_interval_bytes() const noexcept { return impl_->last_bytes; }
const LoadTestResult& MpiReducer::local_result() const noexcept { return impl_->local; }
Duration MpiReducer::last_interval_time() const noexcept { return impl_->last_time; }

std::uint64_t MpiReducer::agree(const std::string& fingerprint, std::uint64_t seed) {
  Comm& comm = impl_->comm;
  LongWait wait(comm);
  std::string root_view = fingerprint + "\nseed=" + std::to_string(seed);
  if (!comm.bcast(root_view)) throw CollectiveError("rank 0 did not answer while the ranks compared configurations");
  const std::size_t cut = root_view.rfind("\nseed=");
  const std::string root_fingerprint = root_view.substr(0, cut);
  const std::uint64_t root_seed = std::strtoull(root_view.c_str() + cut + 6, nullptr, 10);
  std::string mine;
  if (const std::string d = first_difference(fingerprint, root_fingerprint); !d.empty())
    mine = fmt::format("the ranks run different tests: rank {} has {}", comm.rank(), d);
  std::string first;
  if (first_failure(comm, mine, first)) throw CollectiveError(first);
  return root_seed;
}

Clock::time_point MpiReducer::start_instant(Clock::time_point, const std::string& failure) {
  Comm& comm = impl_->comm;
  LongWait wait(comm);
  std::string first;
  if (first_failure(comm, failure.empty() ? std::string() : fmt::format("rank {}: {}", comm.rank(), failure), first))
    throw CollectiveError(first);
  if (!comm.barrier()) throw CollectiveError("a rank did not reach the start barrier");
  // A common start on the wall clock (ranks on other machines have other steady clocks), a
  // little ahead so that every rank has it before it comes.
  std::string when;
  if (comm.rank() == 0)
    when = std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(
                              (WallClock::now() + std::chrono::milliseconds(200)).time_since_epoch())
                              .count());
  if (!comm.bcast(when)) throw CollectiveError("rank 0 did not send the start instant");
  const auto wall_start = WallClock::time_point(std::chrono::duration_cast<WallClock::duration>(
      std::chrono::nanoseconds(std::strtoll(when.c_str(), nullptr, 10))));
  const auto local = Clock::now() + std::chrono::duration_cast<Duration>(wall_start - WallClock::now());
  std::this_thread::sleep_until(local);
  return local;
}

IntervalVerdict MpiReducer::reduce_interval(IntervalStats& stats, bool stop_here, bool final,
                                            const std::function<bool(IntervalStats&, std::size_t)>& judge) {
  (void)final;
  Comm& comm = impl_->comm;
  const auto t0 = Clock::now();
  IntervalVerdict v;
  std::string mine(1, stop_here ? '\1' : '\0');
  mine += encode_interval(stats);
  std::vector<std::string> all;
  std::size_t bytes = 0;
  if (!comm.gather(mine, all, bytes)) {
    // A rank is gone: the test ends, incomplete; rank 0 still shows what it has.
    v.lost_part = true;
    v.stop = true;
    if (comm.rank() == 0) judge(stats, 1);
    impl_->last_time = Clock::now() - t0;
    return v;
  }
  std::string decision;
  if (comm.rank() == 0) {
    bool stop = stop_here;
    for (int r = 1; r < comm.size(); ++r) {
      std::string_view part = all[static_cast<std::size_t>(r)];
      if (part.empty()) continue;
      stop = stop || part.front() == '\1';
      part.remove_prefix(1);
      merge_encoded_interval(part, stats, impl_->max_error_keys);
    }
    v.reported = static_cast<std::size_t>(comm.size());
    stop = judge(stats, v.reported) || stop;
    decision = stop ? "1" : "0";
    impl_->last_bytes = bytes;
  }
  if (!comm.bcast(decision)) {
    v.lost_part = true;
    v.stop = true;
  } else {
    v.stop = decision == "1";
  }
  impl_->last_time = Clock::now() - t0;
  return v;
}

bool MpiReducer::reduce_result(LoadTestResult& r) {
  Comm& comm = impl_->comm;
  impl_->local = r;
  std::vector<std::string> all;
  std::size_t bytes = 0;
  if (!comm.gather(to_json(r), all, bytes)) return false;  // rank 0 keeps its own part, incomplete
  if (comm.rank() != 0) return true;
  std::vector<LoadTestResult> parts;
  MergeOptions options;
  for (int k = 0; k < comm.size(); ++k) {
    parts.push_back(result_from_json(all[static_cast<std::size_t>(k)]));
    options.sources.push_back("rank " + std::to_string(k));
  }
  std::vector<RealTimeMetrics> history = std::move(r.history);  // rank 0's snapshots are the whole test's
  const std::string aborted_by = r.aborted_by, interrupted = r.interrupted;
  r = merge_results(parts, options);
  r.history = std::move(history);
  if (!aborted_by.empty()) r.aborted_by = aborted_by;
  if (r.interrupted.empty()) r.interrupted = interrupted;
  for (const LoadTestResult& p : parts)
    if (r.interrupted.empty() && !p.interrupted.empty()) r.interrupted = p.interrupted;
  r.config["ranks"] = std::to_string(comm.size());
  return true;
}

}  // namespace loadtest::mpi
