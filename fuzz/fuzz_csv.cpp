// Fuzzes the CSV feeder (Feeder::csv, --feeder files): parse_csv (RFC 4180 with quotes, CRLF, a
// BOM), then a Feeder over the table handing records out with each strategy.
#include "loadtest/feeder.hpp"

#include <cstdlib>
#include <random>

#include "fuzz.hpp"

namespace lt = loadtest;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lt::fuzz::expect_parse_or_invalid([&] {
    lt::FeederTable table = lt::parse_csv(lt::fuzz::text(data, size), "fuzz.csv");
    if (table.rows.empty()) std::abort();  // parse_csv promises at least one record
    for (const auto& row : table.rows)
      if (row.size() != table.columns.size()) std::abort();
    std::mt19937_64 rng(size);
    for (lt::FeedStrategy s : {lt::FeedStrategy::circular, lt::FeedStrategy::random, lt::FeedStrategy::unique,
                               lt::FeedStrategy::queue}) {
      lt::Feeder feeder = lt::Feeder::csv_text(lt::fuzz::text(data, size), s, "fuzz.csv");
      for (std::size_t user = 0; user < 3; ++user) {
        try {
          lt::Record r = feeder.next(user, rng);
          for (const std::string& column : table.columns) (void)r[column];
        } catch (const lt::FeederExhausted&) {
        }
      }
    }
  });
  return 0;
}
