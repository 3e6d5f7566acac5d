// Tests of scale-out without MPI: segments (segment.hpp) split a test exactly, the engine runs
// one segment, and the interval codec (mpi.hpp) reduces intervals losslessly. The MPI runs
// themselves are in mpi_test.sh (mpirun with 3 ranks).
#define BOOST_TEST_MODULE scale_out
#include "loadtest/segment.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/test/unit_test.hpp>

#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "loadtest/load_test.hpp"
#include "loadtest/mpi.hpp"
#include "test_support.hpp"

namespace lt = loadtest;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using lt::Segment;

BOOST_AUTO_TEST_SUITE(scale_out)

BOOST_AUTO_TEST_CASE(segments_parse_i_of_n) {
  struct Case {
    const char* text;
    std::size_t index, count;
  };
  for (Case c : {Case{"0/1", 0, 1}, Case{"2/3", 2, 3}, Case{"0/4", 0, 4}, Case{"999999/1000000", 999999, 1000000}}) {
    Segment s = Segment::parse(c.text);
    BOOST_TEST(s.index == c.index);
    BOOST_TEST(s.count == c.count);
    BOOST_TEST(s.to_string() == c.text);
  }
  for (const char* bad : {"3/2", "0/0", "a/b", "", "/", "1/", "/2", "-1/2", "1/2/3", " 1/2", "1e3/4", "0/1000001", "2/2"}) {
    BOOST_CHECK_THROW(Segment::parse(bad), std::invalid_argument);
    try {
      Segment::parse(bad);
    } catch (const std::invalid_argument& e) {
      BOOST_TEST(std::string(e.what()).find("i/N") != std::string::npos);  // names the accepted form
    }
  }
}

BOOST_AUTO_TEST_CASE(segment_shares_add_up_and_partition_the_items) {
  for (std::size_t n : {1u, 2u, 3u, 7u}) {
    for (std::size_t items = 0; items < 50; ++items) {
      std::size_t sum = 0;
      std::vector<int> owner(items, -1);
      for (std::size_t i = 0; i < n; ++i) {
        Segment s{i, n};
        sum += s.share(items);
        for (std::size_t local = 0; local < s.share(items); ++local) {
          const std::size_t k = s.global(local);
          BOOST_REQUIRE_LT(k, items);
          BOOST_TEST(s.owns(k));
          BOOST_TEST(owner[k] == -1);  // no item in two parts
          owner[k] = static_cast<int>(i);
        }
      }
      BOOST_TEST(sum == items);
    }
  }
}

// A test whose action records which user ran and the first draws of its generator.
struct Recorded {
  std::mutex m;
  std::map<std::size_t, std::vector<std::uint64_t>> draws;  // user id -> its first 3 draws
};

template <class Pattern>
struct SegmentTest : lt::LoadTest<SegmentTest<Pattern>, Pattern, lt::SingleAction, lt::NoBackoff, lt::NullSink> {
  using lt::LoadTest<SegmentTest<Pattern>, Pattern, lt::SingleAction, lt::NoBackoff, lt::NullSink>::LoadTest;
  Recorded* rec = nullptr;

  asio::awaitable<lt::Outcome> user_action(lt::Session<>& s) {
    {
      std::lock_guard lock(rec->m);
      auto& d = rec->draws[s.id()];
      if (d.size() < 3) d.push_back(s.rng()());
    }
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(2ms);
    co_await t.async_wait(asio::use_awaitable);
    co_return lt::Outcome::success("tick");
  }
};

lt::Config segment_config(Segment seg) {
  lt::Config c;
  c.name = "segments";
  c.handle_signals = false;
  c.checkpoint_interval = lt::Duration{0};
  c.monitor_interval = 50ms;
  c.grace_period = 1s;
  c.seed = 7;
  c.segment = seg;
  return c;
}

BOOST_AUTO_TEST_CASE(closed_model_segments_run_disjoint_users_with_the_same_seeds) {
  const lt::ConstantUsers pattern{9, 300ms};
  Recorded whole;
  {
    SegmentTest<lt::ConstantUsers> t(segment_config({0, 1}), pattern);
    t.rec = &whole;
    auto r = t.run();
    BOOST_TEST(r.max_active_users == 9u);
  }
  BOOST_REQUIRE_EQUAL(whole.draws.size(), 9u);
  std::set<std::size_t> seen;
  for (std::size_t i = 0; i < 3; ++i) {
    Recorded part;
    SegmentTest<lt::ConstantUsers> t(segment_config({i, 3}), pattern);
    t.rec = &part;
    auto r = t.run();
    BOOST_TEST(r.max_active_users == 3u);  // this part's share of 9
    BOOST_TEST(r.config.at("segment") == std::to_string(i) + "/3");
    BOOST_REQUIRE_EQUAL(part.draws.size(), 3u);
    for (const auto& [id, draws] : part.draws) {
      BOOST_TEST(id % 3 == i);  // user k belongs to part k mod N
      BOOST_TEST(seen.insert(id).second);
      BOOST_TEST(draws == whole.draws.at(id), "user " << id << " chooses alike in any part");
    }
  }
  BOOST_TEST(seen.size() == 9u);
}

template <class Pattern>
std::uint64_t intended(Pattern p, Segment seg) {
  Recorded rec;
  lt::Config c = segment_config(seg);
  c.open.max_users = 50;
  SegmentTest<Pattern> t(c, p);
  t.rec = &rec;
  auto r = t.run();
  BOOST_REQUIRE(r.schedule.has_value());
  return r.schedule->intended;
}

BOOST_AUTO_TEST_CASE(open_model_segments_split_the_one_process_schedule) {
  const lt::ConstantRate even{600, 500ms};
  const lt::Poisson<lt::ConstantRate> poisson{{600, 500ms}};
  for (int kind = 0; kind < 2; ++kind) {
    const std::uint64_t all = kind == 0 ? intended(even, {0, 1}) : intended(poisson, {0, 1});
    BOOST_TEST(all > 200u);
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < 3; ++i) {
      const std::uint64_t part = kind == 0 ? intended(even, {i, 3}) : intended(poisson, {i, 3});
      const Segment seg{i, 3};
      BOOST_TEST(part == seg.share(all));  // arrival k belongs to part k mod N
      sum += part;
    }
    BOOST_TEST(sum == all);
  }
}

BOOST_AUTO_TEST_CASE(queue_feeder_rows_are_partitioned_across_segments) {
  auto table = lt::parse_csv("id\n0\n1\n2\n3\n4\n5\n6\n", "ids");
  std::set<std::string> used;
  std::mt19937_64 rng(1);
  for (std::size_t i = 0; i < 3; ++i) {
    lt::Feeder f(table, lt::FeedStrategy::queue, "ids");
    for (;;) {
      try {
        used.insert(std::string(f.next(0, rng, Segment{i, 3})["id"]));
      } catch (const lt::FeederExhausted&) {
        break;
      }
    }
  }
  BOOST_TEST(used.size() == 7u);  // every row once, none twice
}

lt::IntervalStats sample_interval(int offset) {
  lt::RecorderShard shard;
  for (int i = 0; i < 100; ++i) {
    lt::Outcome ok = lt::Outcome::success("GET /a", 200);
    shard.record("GET /a", ok, std::chrono::microseconds(100 + i * 37 + offset));
  }
  lt::Outcome fail = lt::Outcome::failure("status 503", lt::ErrorCategory::http_5xx, "GET /b");
  fail.http_status = 503;
  for (int i = 0; i < 7; ++i) shard.record("GET /b", fail, std::chrono::milliseconds(3 + offset));
  shard.record_schedule_lag(std::chrono::microseconds(250 + offset));
  shard.count_intended(3);
  shard.count_retry();
  lt::IntervalStats s;
  shard.drain_interval_into(s);
  s.active_users = 4;
  return s;
}

BOOST_AUTO_TEST_CASE(the_interval_codec_is_lossless_and_merges_like_the_shards) {
  const lt::IntervalStats a = sample_interval(0), b = sample_interval(5);
  lt::IntervalStats merged;
  lt::mpi::merge_encoded_interval(lt::mpi::encode_interval(a), merged);
  lt::mpi::merge_encoded_interval(lt::mpi::encode_interval(b), merged);
  lt::Histogram expected = a.response_time;
  expected.add(b.response_time);
  BOOST_TEST(merged.requests == a.requests + b.requests);
  BOOST_TEST(merged.failures == 14u);
  BOOST_TEST(merged.response_time.count() == expected.count());
  for (double p : {50.0, 90.0, 99.0, 99.9, 100.0})
    BOOST_TEST(merged.response_time.value_at_percentile(p).count() == expected.value_at_percentile(p).count());
  BOOST_TEST(merged.response_time.mean_us() == expected.mean_us());
  BOOST_TEST(merged.totals.intended == 6u);
  BOOST_TEST(merged.totals.retries == 2u);
  BOOST_TEST(merged.schedule_lag.count() == 2u);
  BOOST_TEST(merged.active_users == 8u);
  BOOST_REQUIRE_EQUAL(merged.errors_seen.size(), 1u);
  BOOST_TEST(merged.errors_seen[0].count == 14u);
  BOOST_REQUIRE_EQUAL(merged.endpoints.size(), 2u);
  BOOST_TEST(merged.by_category[static_cast<std::size_t>(lt::ErrorCategory::http_5xx)] == 14u);
  // Corrupt inputs are refused, never read past their end.
  const std::string good = lt::mpi::encode_interval(a);
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, good.size() / 2, good.size() - 1}) {
    lt::IntervalStats into;
    BOOST_CHECK_THROW(lt::mpi::merge_encoded_interval(std::string_view(good).substr(0, cut), into), std::invalid_argument);
  }
  lt::IntervalStats into;
  BOOST_CHECK_THROW(lt::mpi::merge_encoded_interval(good + "x", into), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(error_entries_stay_capped_when_parts_merge) {
  lt::IntervalStats merged;
  for (int part = 0; part < 3; ++part) {
    lt::RecorderShard shard;
    for (int i = 0; i < 80; ++i) {
      std::string message = "m";
      message += std::to_string(part * 80 + i);
      shard.record("x", lt::Outcome::error(lt::ErrorCategory::reset, std::move(message)), 1ms);
    }
    lt::IntervalStats s;
    shard.drain_interval_into(s);
    lt::mpi::merge_encoded_interval(lt::mpi::encode_interval(s), merged, 100);
  }
  BOOST_TEST(merged.errors_seen.size() == 100u);
  BOOST_TEST(merged.errors == 240u);  // counts stay exact
}

BOOST_AUTO_TEST_SUITE_END()
