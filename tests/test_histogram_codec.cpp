#define BOOST_TEST_MODULE histogram_codec
#include <boost/test/unit_test.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <zlib.h>

#include "loadtest/histogram_codec.hpp"

using loadtest::Duration;
using loadtest::Histogram;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

namespace {

struct Case {
  std::string name;
  std::function<Histogram()> make;
};

Histogram lognormal(std::size_t n, Histogram h = Histogram()) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> d(std::log(20'000.0), 1.5);
  for (std::size_t i = 0; i < n; ++i) h.record(nanoseconds(std::llround(d(rng) * 1000)));
  return h;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"empty", [] { return Histogram(); }},
      {"one value at 1us", [] { Histogram h; h.record(microseconds(1)); return h; }},
      {"sub-microsecond values", [] { Histogram h; h.record(nanoseconds(300)); h.record(nanoseconds(999)); return h; }},
      {"one value at 1h", [] { Histogram h; h.record(std::chrono::hours(1)); return h; }},
      {"saturated", [] { Histogram h; h.record(std::chrono::hours(5)); h.record(milliseconds(3)); return h; }},
      {"lognormal 100k", [] { return lognormal(100'000); }},
      {"many in one bucket", [] { Histogram h; h.record_n(milliseconds(20), 5'000'000'000ull); return h; }},
      {"corrected stall", [] { Histogram h; h.record_corrected(std::chrono::seconds(2), milliseconds(1)); return h; }},
      {"2 digits 1us..1s", [] { return lognormal(10'000, Histogram(1, 1'000'000, 2)); }},
      {"5 digits", [] { return lognormal(10'000, Histogram(1, 3'600'000'000, 5)); }},
      {"lowest 1000us", [] { return lognormal(10'000, Histogram(1000, 100'000'000, 3)); }},
  };
  return all;
}

// A V2 header with the given fields and payload.
std::string v2(std::uint32_t cookie, std::int32_t length, std::int32_t digits, std::int64_t lowest, std::int64_t highest,
               const std::string& payload) {
  std::string s;
  auto put32 = [&](std::uint32_t v) { for (int k = 24; k >= 0; k -= 8) s += static_cast<char>((v >> k) & 0xff); };
  auto put64 = [&](std::uint64_t v) { for (int k = 56; k >= 0; k -= 8) s += static_cast<char>((v >> k) & 0xff); };
  put32(cookie);
  put32(static_cast<std::uint32_t>(length));
  put32(0);
  put32(static_cast<std::uint32_t>(digits));
  put64(static_cast<std::uint64_t>(lowest));
  put64(static_cast<std::uint64_t>(highest));
  put64(0x3ff0000000000000ull);
  return s + payload;
}
std::string v2(const std::string& payload) {
  return v2(loadtest::hdr_v2_encoding_cookie, static_cast<std::int32_t>(payload.size()), 3, 1, 3'600'000'000, payload);
}

std::string zlib(const std::string& data) {
  uLongf n = compressBound(static_cast<uLong>(data.size()));
  std::string out(n, '\0');
  BOOST_REQUIRE(compress(reinterpret_cast<Bytef*>(out.data()), &n, reinterpret_cast<const Bytef*>(data.data()),
                         static_cast<uLong>(data.size())) == Z_OK);
  out.resize(n);
  return out;
}
std::string compressed(const std::string& payload, std::uint32_t cookie = loadtest::hdr_v2_compressed_cookie) {
  std::string z = zlib(payload), s;
  auto put32 = [&](std::uint32_t v) { for (int k = 24; k >= 0; k -= 8) s += static_cast<char>((v >> k) & 0xff); };
  put32(cookie);
  put32(static_cast<std::uint32_t>(z.size()));
  return s + z;
}

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s += static_cast<char>(x);
  return s;
}

bool says(const std::invalid_argument& e, const std::string& what) {
  const bool ok = std::string(e.what()).find(what) != std::string::npos;
  if (!ok) BOOST_TEST_MESSAGE("message was: " << e.what());
  return ok;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(histogram_codec)

BOOST_AUTO_TEST_CASE(round_trips_keep_every_count) {
  for (const Case& c : cases()) {
    BOOST_TEST_CONTEXT(c.name) {
      const Histogram h = c.make();
      const Histogram plain = loadtest::decode_v2(loadtest::encode_v2(h));
      const std::string text = loadtest::encode_compressed_base64(h);
      BOOST_TEST(text.rfind("HISTFAAA", 0) == 0u);
      const Histogram back = loadtest::decode_compressed_base64(text);
      BOOST_TEST(plain.same_counts(h));
      BOOST_TEST(back.same_counts(h));
      BOOST_TEST(back.count() == h.count());
      BOOST_TEST(back.lowest_trackable_us() == h.lowest_trackable_us());
      BOOST_TEST(back.highest_trackable_us() == h.highest_trackable_us());
      BOOST_TEST(back.significant_digits() == h.significant_digits());
      BOOST_TEST(loadtest::decode_compressed(loadtest::encode_compressed(h)).same_counts(h));
      // The exact form keeps every figure, moments included.
      const std::string exact_bytes = loadtest::encode_exact(h);
      BOOST_TEST(exact_bytes.size() == loadtest::encode_v2(h).size() + 40);
      const Histogram same = loadtest::decode_exact(exact_bytes);
      BOOST_TEST(same.same_counts(h));
      BOOST_TEST(same.min().count() == h.min().count());
      BOOST_TEST(same.max().count() == h.max().count());
      BOOST_TEST(same.mean_us() == h.mean_us());
      BOOST_TEST(same.stddev_us() == h.stddev_us());
      BOOST_TEST(same.saturated() == h.saturated());
      // With the moments put back, every figure is the original's.
      Histogram exact = back;
      exact.restore_moments(h.moments());
      for (double p : {0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0})
        BOOST_TEST(exact.value_at_percentile(p).count() == h.value_at_percentile(p).count(), "p" << p);
      BOOST_TEST(exact.min().count() == h.min().count());
      BOOST_TEST(exact.max().count() == h.max().count());
      BOOST_TEST(exact.mean_us() == h.mean_us());
      BOOST_TEST(exact.saturated() == h.saturated());
      // Without them, percentiles still fall in the same bucket.
      if (!h.empty()) {
        for (double p : {50.0, 99.0})
          BOOST_TEST(back.lowest_equivalent(back.value_at_percentile(p)).count() ==
                     h.lowest_equivalent(h.value_at_percentile(p)).count());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(layout_is_hdrhistograms) {
  // hdr_init(1, 3600000000, 3) has counts_len 23552; the slot of 1 ms = 1000 us is 1000 (exact
  // below 2048), of 3000 us: bucket 1, sub-bucket 1500 -> 2 * 1024 + 1500 - 1024 = 2524.
  Histogram h;
  BOOST_TEST(h.counts_length() == 23552u);
  h.record(microseconds(1000));
  h.record(microseconds(3000));
  h.record(microseconds(3001));  // same bucket (2 us wide)
  BOOST_TEST(h.count_at_index(1000) == 1u);
  BOOST_TEST(h.count_at_index(2524) == 2u);
  BOOST_TEST(h.lowest_us_at_index(2524) == 3000);
  BOOST_TEST(h.highest_us_at_index(2524) == 3001);
  BOOST_TEST(h.counts_limit() == 2525u);
  BOOST_TEST(Histogram(1, 3'600'000'000, 2).counts_length() == 3328u);  // 26 buckets * 128
}

BOOST_AUTO_TEST_CASE(exact_bytes) {
  // Empty: the header only. Cookie 0x1c849313, length 0, offset 0, 3 digits, 1, 3600000000, 1.0.
  const std::string empty = loadtest::encode_v2(Histogram());
  BOOST_TEST(empty == v2(""));
  // One value at 1 us: slot 0 empty (a single zero is written as count 0), slot 1 count 1 (zigzag 2).
  Histogram one;
  one.record(microseconds(1));
  BOOST_TEST(loadtest::encode_v2(one) == v2(bytes({0x00, 0x02})));
  // A run of 999 empty slots is -999: zigzag 1997 = 0xcd 0x0f; count 300 is zigzag 600 = 0xd8 0x04.
  Histogram far;
  far.record_n(microseconds(999), 300);
  BOOST_TEST(loadtest::encode_v2(far) == v2(bytes({0xcd, 0x0f, 0xd8, 0x04})));
  // The compressed form's first 8 base64 characters: cookie 0x1c849314 and a small length.
  BOOST_TEST(loadtest::encode_compressed_base64(Histogram()).substr(0, 8) == "HISTFAAA");
}

BOOST_AUTO_TEST_CASE(decoders_read_other_writers_forms) {
  // The cookie without the word-size nibble, and single zeros written as -1 (HdrHistogram_c).
  const std::string payload = bytes({0x01, 0x02});
  const Histogram h = loadtest::decode_v2(v2(0x1c849303, 2, 3, 1, 3'600'000'000, payload));
  BOOST_TEST(h.count() == 1u);
  BOOST_TEST(h.count_at_index(1) == 1u);
  // Padding is optional in base64.
  std::string text = loadtest::encode_compressed_base64(h);
  while (!text.empty() && text.back() == '=') text.pop_back();
  BOOST_TEST(loadtest::decode_compressed_base64(text).same_counts(h));
  // A 9-byte LEB128 value (a count needing all 64 bits of zigzag).
  Histogram big;
  big.record_n(microseconds(5), std::uint64_t{1} << 62);
  BOOST_TEST(loadtest::decode_v2(loadtest::encode_v2(big)).count_at_index(5) == std::uint64_t{1} << 62);
}

BOOST_AUTO_TEST_CASE(corrupt_payloads_are_refused) {
  const std::int64_t hour = 3'600'000'000;
  struct Bad {
    std::string name, input, says;
  };
  const std::string max_count = bytes({0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});  // zigzag of INT64_MAX
  const std::vector<Bad> bad = {
      {"short header", v2("").substr(0, 39), "40 bytes"},
      {"bad cookie", v2(0x1c849301, 0, 3, 1, hour, ""), "cookie 0x1c849301"},
      {"compressed cookie in a plain payload", v2(0x1c849314, 0, 3, 1, hour, ""), "cookie"},
      {"length too long", v2(loadtest::hdr_v2_encoding_cookie, 3, 3, 1, hour, bytes({0x02, 0x02})), "announces 3"},
      {"length too short", v2(loadtest::hdr_v2_encoding_cookie, 1, 3, 1, hour, bytes({0x02, 0x02})), "announces 1"},
      {"negative length", v2(loadtest::hdr_v2_encoding_cookie, -1, 3, 1, hour, ""), "negative"},
      {"truncated LEB128", v2(bytes({0x02, 0x80})), "truncated"},
      {"truncated 9-byte LEB128", v2(bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})), "truncated"},
      {"zero run beyond the end", v2(bytes({0x02, 0xdf, 0xd4, 0x03})), "beyond the last"},  // 1, then -30000
      {"INT64_MIN run", v2(bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})), "beyond the last"},
      {"counts beyond the last slot", v2(loadtest::hdr_v2_encoding_cookie, 3, 1, 1, 1000, bytes({0xdf, 0x01, 0x02})), "beyond the last"},
      {"total overflows", v2(max_count + max_count + max_count), "overflow"},
      {"0 digits", v2(loadtest::hdr_v2_encoding_cookie, 0, 0, 1, hour, ""), "unsupported layout"},
      {"6 digits", v2(loadtest::hdr_v2_encoding_cookie, 0, 6, 1, hour, ""), "unsupported layout"},
      {"lowest 0", v2(loadtest::hdr_v2_encoding_cookie, 0, 3, 0, hour, ""), "unsupported layout"},
      {"highest < 2 * lowest", v2(loadtest::hdr_v2_encoding_cookie, 0, 3, 100, 150, ""), "unsupported layout"},
      {"too many slots", v2(loadtest::hdr_v2_encoding_cookie, 0, 5, 1, 9'000'000'000'000'000, ""), "limit"},
      {"length beyond the slots", v2(loadtest::hdr_v2_encoding_cookie, 0x7fffffff, 3, 1, hour, ""), "beyond what"},
  };
  for (const Bad& b : bad) {
    BOOST_TEST_CONTEXT(b.name) {
      BOOST_CHECK_EXCEPTION(loadtest::decode_v2(b.input), std::invalid_argument,
                            [&](const std::invalid_argument& e) { return says(e, b.says); });
      // The same payload compressed fails the same way (when its header gets that far).
      if (b.input.size() >= 40)
        BOOST_CHECK_EXCEPTION(loadtest::decode_compressed(compressed(b.input)), std::invalid_argument,
                              [&](const std::invalid_argument& e) { return says(e, "corrupt HdrHistogram payload"); });
    }
  }
}

BOOST_AUTO_TEST_CASE(corrupt_compressed_forms_are_refused) {
  Histogram h;
  h.record(milliseconds(5));
  const std::string good = loadtest::encode_compressed(h);
  const std::string payload = loadtest::encode_v2(h);
  struct Bad {
    std::string name, input, says;
  };
  std::string long_length = good;
  long_length[7] = static_cast<char>(static_cast<unsigned char>(long_length[7]) + 1);
  std::string garbage = good;
  for (std::size_t i = 10; i < garbage.size(); ++i) garbage[i] = static_cast<char>(0x5a);
  std::string truncated = good.substr(0, good.size() - 3);
  truncated[7] = static_cast<char>(static_cast<unsigned char>(truncated[7]) - 3);
  // The stream inflates to one byte more than its header's payload length.
  std::string longer = payload + std::string(1, '\x02');
  const std::vector<Bad> bad = {
      {"short", good.substr(0, 7), "8 bytes"},
      {"plain cookie", compressed(payload, loadtest::hdr_v2_encoding_cookie), "not a compressed V2 cookie"},
      {"length beyond the data", long_length, "beyond the"},
      {"not zlib", garbage, "corrupt HdrHistogram payload"},
      {"truncated stream", truncated, "corrupt"},
      {"inflates to more", compressed(longer), "more than"},
      {"inflates to less", compressed(payload.substr(0, payload.size() - 1)), "less than"},
      {"inflates to less than a header", compressed(payload.substr(0, 20)), "shorter than"},
  };
  for (const Bad& b : bad) {
    BOOST_TEST_CONTEXT(b.name) {
      BOOST_CHECK_EXCEPTION(loadtest::decode_compressed(b.input), std::invalid_argument,
                            [&](const std::invalid_argument& e) { return says(e, b.says); });
    }
  }
  for (const std::string text : {"HISTFAAA!!!!", "HISTFAAAK", "", "HIST"}) {
    BOOST_TEST_CONTEXT("base64 '" << text << "'") {
      BOOST_CHECK_THROW(loadtest::decode_compressed_base64(text), std::invalid_argument);
    }
  }
}

// A zip bomb (a small stream that inflates to 512 MiB) under a 256 MiB address-space limit, in a
// child process: refused after inflating no more than its header announces.
BOOST_AUTO_TEST_CASE(zip_bomb_is_refused_without_inflating_it) {
  // Header announcing 2 payload bytes, followed by 512 MiB of zeros, compressed in chunks.
  std::string head = v2(loadtest::hdr_v2_encoding_cookie, 2, 3, 1, 3'600'000'000, "");
  z_stream z{};
  BOOST_REQUIRE(deflateInit(&z, 1) == Z_OK);
  std::string out(1 << 20, '\0'), stream;
  const std::string zeros(1 << 20, '\0');
  auto feed = [&](const std::string& in, int flush) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    do {
      z.next_out = reinterpret_cast<Bytef*>(out.data());
      z.avail_out = static_cast<uInt>(out.size());
      deflate(&z, flush);
      stream.append(out.data(), out.size() - z.avail_out);
    } while (z.avail_out == 0);
  };
  feed(head, Z_NO_FLUSH);
  for (int i = 0; i < 512; ++i) feed(zeros, i == 511 ? Z_FINISH : Z_NO_FLUSH);
  deflateEnd(&z);
  BOOST_TEST_MESSAGE("bomb: " << stream.size() << " compressed bytes");
  std::string input;
  auto put32 = [&](std::uint32_t v) { for (int k = 24; k >= 0; k -= 8) input += static_cast<char>((v >> k) & 0xff); };
  put32(loadtest::hdr_v2_compressed_cookie);
  put32(static_cast<std::uint32_t>(stream.size()));
  input += stream;

  const pid_t pid = fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)  // their shadow memory needs the space
    rlimit lim{256u << 20, 256u << 20};
    setrlimit(RLIMIT_AS, &lim);
#endif
    try {
      loadtest::decode_compressed(input);
    } catch (const std::invalid_argument& e) {
      _exit(std::string(e.what()).find("more than") != std::string::npos ? 0 : 3);
    } catch (...) {
      _exit(4);
    }
    _exit(5);
  }
  int status = 0;
  BOOST_REQUIRE(waitpid(pid, &status, 0) == pid);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
}

BOOST_AUTO_TEST_CASE(exact_form_refuses_bad_trailers) {
  Histogram h;
  h.record(std::chrono::milliseconds(5));
  const std::string good = loadtest::encode_exact(h);
  BOOST_CHECK_THROW(loadtest::decode_exact(good.substr(0, 79)), std::invalid_argument);
  BOOST_CHECK_THROW(loadtest::decode_exact(good.substr(0, good.size() - 1)), std::invalid_argument);
  std::string far = good;
  far[good.size() - 40 + 1] = '\x7f';  // min_ns far outside the recorded bucket
  BOOST_CHECK_EXCEPTION(loadtest::decode_exact(far), std::invalid_argument,
                        [](const std::invalid_argument& e) { return says(e, "corrupt HdrHistogram payload"); });
  // An empty histogram: zero moments.
  BOOST_TEST(loadtest::decode_exact(loadtest::encode_exact(Histogram())).empty());
}

BOOST_AUTO_TEST_CASE(summary_figures_restore_exact_percentiles) {
  Histogram h = lognormal(1000);
  const auto s = h.summary();
  Histogram back = loadtest::decode_compressed_base64(loadtest::encode_compressed_base64(h));
  BOOST_TEST(loadtest::restore_summary(back, s.min, s.max, s.avg, s.stddev));
  BOOST_TEST(back.min().count() == h.min().count());
  BOOST_TEST(back.max().count() == h.max().count());
  BOOST_TEST(back.summary().p999 == s.p999);
  BOOST_TEST(back.summary().p99 == s.p99);
  BOOST_TEST(back.mean_us() == h.mean_us(), boost::test_tools::tolerance(1e-9));
  // Figures of other counts are refused, and nothing changes.
  Histogram other = loadtest::decode_compressed_base64(loadtest::encode_compressed_base64(h));
  const auto before = other.max().count();
  BOOST_TEST(!loadtest::restore_summary(other, s.min, s.max * 10, s.avg, s.stddev));
  BOOST_TEST(other.max().count() == before);
  BOOST_TEST(!loadtest::restore_summary(other, std::nan(""), s.max, s.avg, s.stddev));
}

BOOST_AUTO_TEST_CASE(record_at_index_checks_its_slot) {
  Histogram h;
  BOOST_CHECK_THROW(h.record_at_index(h.counts_length(), 1), std::invalid_argument);
  h.record_at_index(h.counts_length() - 1, 2);  // above 1 h: saturated at the highest value
  BOOST_TEST(h.saturated() == 2u);
  BOOST_TEST(h.max().count() == std::int64_t{3'600'000'000} * 1000);
  BOOST_CHECK_THROW(h.record_at_index(5, std::numeric_limits<std::uint64_t>::max()), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
