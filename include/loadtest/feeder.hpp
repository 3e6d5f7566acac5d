// loadtest: feeders, test data shared by the users (Gatling's feeders).
//
// A feeder is a table of records (a header of column names, rows of strings) read from a CSV file
// or given in memory, and a strategy that says which record a user gets next:
//
//   circular  records in order, wrapping around (shared by all users)
//   random    a uniformly random record, drawn from the user's own seeded generator
//   unique    one record per user: user N always gets row N (e.g. one account per user); a user
//             whose number is beyond the last row gets FeederExhausted
//   queue     every record at most once in the whole test, in order; then FeederExhausted
//
// A feeder is made before the test starts (typically a member of the test type), so a malformed
// CSV throws std::invalid_argument naming the file and line before any user runs. `next()` is
// thread-safe (one atomic counter): users on all worker threads share one feeder.
//
//   struct Shop : loadtest::LoadTest<Shop, ...> {
//     loadtest::Feeder accounts = loadtest::Feeder::csv("accounts.csv", loadtest::FeedStrategy::unique);
//     awaitable<Outcome> login(Session<>& user) {
//       loadtest::Record account = user.feed(accounts);   // or accounts.next(user)
//       ... account["name"], account["password"] ...
//     }
//   };
#pragma once

#include "loadtest/detail/config.hpp"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loadtest/segment.hpp"

namespace loadtest {

/** Which record a feeder hands out next (see the top of feeder.hpp). */
enum class FeedStrategy : std::uint8_t { circular, random, unique, queue };

/** The name of a strategy ("circular", "random", "unique", "queue"). */
constexpr std::string_view to_string(FeedStrategy s) noexcept {
  switch (s) {
    case FeedStrategy::circular: return "circular";
    case FeedStrategy::random: return "random";
    case FeedStrategy::unique: return "unique";
    case FeedStrategy::queue: return "queue";
  }
  return "circular";
}

/** Parses `circular`, `random`, `unique` or `queue`; throws std::invalid_argument naming the text. */
inline FeedStrategy parse_feed_strategy(std::string_view text) {
  for (auto s : {FeedStrategy::circular, FeedStrategy::random, FeedStrategy::unique, FeedStrategy::queue})
    if (text == to_string(s)) return s;
  throw std::invalid_argument("invalid feeder strategy '" + std::string(text) +
                              "' (use circular, random, unique or queue)");
}

/** Column names and rows; every row has one field per column. */
struct FeederTable {
  std::vector<std::string> columns;            ///< unique, non-empty names
  std::vector<std::vector<std::string>> rows;  ///< the records
};

/** A feeder ran out of records (strategies `unique` and `queue`). In an action it is counted like
 *  any exception: an error with this message. */
class FeederExhausted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

[[noreturn]] inline void bad_csv(std::string_view source, std::size_t line, const std::string& why) {
  throw std::invalid_argument("invalid CSV '" + std::string(source) + "', line " + std::to_string(line) + ": " + why);
}

inline void check_columns(const std::vector<std::string>& columns, auto&& fail) {
  if (columns.empty()) fail(std::string("no columns"));
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].empty()) fail("column " + std::to_string(i + 1) + " has an empty name");
    for (std::size_t j = 0; j < i; ++j)
      if (columns[j] == columns[i]) fail("duplicate column '" + columns[i] + "'");
  }
}

}  // namespace detail

/** Parses CSV text (RFC 4180): fields separated by commas, records by CRLF or LF; a field in double
 *  quotes may hold commas, line breaks and doubled quotes (""). The first record is the header.
 *  Empty lines are skipped; a UTF-8 byte order mark is ignored.
 *
 *  Throws std::invalid_argument "invalid CSV 'SOURCE', line N: why" for an unterminated quoted
 *  field (N: the line it opened on), a quote inside an unquoted field, text after a closing quote,
 *  a record whose field count differs from the header's, an empty or duplicate column name, or no
 *  record after the header.
 */
inline FeederTable parse_csv(std::string_view text, std::string_view source = "<text>") {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  FeederTable table;
  const std::size_t n = text.size();
  std::size_t i = 0, line = 1;
  bool header = true;
  std::vector<std::string> record;
  while (i < n) {
    const std::size_t record_line = line;
    record.clear();
    // An empty line is no record.
    if (text[i] == '\n' || (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n')) {
      i += text[i] == '\r' ? 2 : 1;
      ++line;
      continue;
    }
    for (;;) {  // one field per turn
      std::string field;
      if (i < n && text[i] == '"') {
        const std::size_t opened = line;
        ++i;
        for (;;) {
          if (i >= n) detail::bad_csv(source, opened, "unterminated quoted field");
          char c = text[i];
          if (c == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (c == '\n') ++line;
          field += c;
          ++i;
        }
        if (i < n && text[i] != ',' && text[i] != '\n' && !(text[i] == '\r' && i + 1 < n && text[i + 1] == '\n'))
          detail::bad_csv(source, line, "text after the closing quote of a field");
      } else {
        while (i < n && text[i] != ',' && text[i] != '\n' && !(text[i] == '\r' && i + 1 < n && text[i + 1] == '\n')) {
          if (text[i] == '"') detail::bad_csv(source, line, "a quote inside an unquoted field (quote the whole field)");
          field += text[i++];
        }
      }
      record.push_back(std::move(field));
      if (i < n && text[i] == ',') {
        ++i;
        continue;
      }
      if (i < n) {  // end of the record
        i += text[i] == '\r' ? 2 : 1;
        ++line;
      }
      break;
    }
    if (header) {
      detail::check_columns(record, [&](const std::string& why) { detail::bad_csv(source, record_line, why); });
      table.columns = record;
      header = false;
    } else {
      if (record.size() != table.columns.size())
        detail::bad_csv(source, record_line,
                        std::to_string(record.size()) + (record.size() == 1 ? " field" : " fields") + ", the header has " +
                            std::to_string(table.columns.size()));
      table.rows.push_back(record);
    }
  }
  if (header) detail::bad_csv(source, line, "no header row (the file is empty)");
  if (table.rows.empty()) detail::bad_csv(source, line, "no records after the header");
  return table;
}

/** Reads and parses a CSV file (see parse_csv). Throws std::invalid_argument naming the file when
 *  it cannot be read or is malformed (with the line). */
inline FeederTable read_csv(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot read CSV file '" + file.string() + "'");
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw std::invalid_argument("cannot read CSV file '" + file.string() + "'");
  return parse_csv(buf.str(), file.string());
}

/** One record of a feeder: a view into its table, valid while the feeder lives. */
class Record {
 public:
  /** The `row`-th record of `table` (which must outlive it). */
  Record(const FeederTable& table, std::size_t row) noexcept : table_(&table), row_(row) {}

  /** The field of `column`. Throws std::out_of_range naming the column when there is none. */
  std::string_view operator[](std::string_view column) const {
    for (std::size_t i = 0; i < table_->columns.size(); ++i)
      if (table_->columns[i] == column) return table_->rows[row_][i];
    throw std::out_of_range("feeder record has no column '" + std::string(column) + "'");
  }
  /** The `i`-th field (from 0). Throws std::out_of_range. */
  std::string_view at(std::size_t i) const { return table_->rows[row_].at(i); }
  /** True when the record has `column`. */
  bool has(std::string_view column) const noexcept {
    for (const auto& c : table_->columns)
      if (c == column) return true;
    return false;
  }
  /** Number of fields. */
  std::size_t size() const noexcept { return table_->columns.size(); }
  /** The column names. */
  const std::vector<std::string>& columns() const noexcept { return table_->columns; }
  /** The row's number in the table, from 0. */
  std::size_t index() const noexcept { return row_; }

 private:
  const FeederTable* table_;
  std::size_t row_;
};

/** A shared source of test data (see the top of feeder.hpp). Movable, not copyable. */
class Feeder {
 public:
  /** A feeder over `table`. Throws std::invalid_argument naming `name` for an empty table, bad
   *  column names or a row whose length differs from the columns'. */
  explicit Feeder(FeederTable table, FeedStrategy strategy = FeedStrategy::circular, std::string name = "table")
      : name_(std::move(name)), strategy_(strategy), next_(std::make_unique<std::atomic<std::uint64_t>>(0)) {
    auto fail = [&](const std::string& why) { throw std::invalid_argument("feeder '" + name_ + "': " + why); };
    detail::check_columns(table.columns, fail);
    if (table.rows.empty()) fail("no records");
    for (std::size_t r = 0; r < table.rows.size(); ++r)
      if (table.rows[r].size() != table.columns.size())
        fail("row " + std::to_string(r + 1) + " has " + std::to_string(table.rows[r].size()) + " fields, expected " +
             std::to_string(table.columns.size()));
    table_ = std::make_shared<const FeederTable>(std::move(table));
  }

  /** An in-memory feeder: `Feeder({"user", "password"}, {{"alice", "a1"}, {"bob", "b2"}})`. */
  Feeder(std::vector<std::string> columns, std::vector<std::vector<std::string>> rows,
         FeedStrategy strategy = FeedStrategy::circular, std::string name = "table")
      : Feeder(FeederTable{std::move(columns), std::move(rows)}, strategy, std::move(name)) {}

  /** A feeder over a CSV file with a header row (see parse_csv); named after the file. */
  static Feeder csv(const std::filesystem::path& file, FeedStrategy strategy = FeedStrategy::circular) {
    return Feeder(read_csv(file), strategy, file.string());
  }
  /** A feeder over CSV text; `source` names it in errors. */
  static Feeder csv_text(std::string_view text, FeedStrategy strategy = FeedStrategy::circular,
                         std::string source = "<text>") {
    return Feeder(parse_csv(text, source), strategy, std::move(source));
  }

  /** The next record for the user `user_id` (its index in the whole test), whose generator is
   *  `rng` (used by `random` only), in the part `segment` of a scaled-out test. `unique` rows
   *  follow the global user index; `queue` rows are partitioned like the users (this part takes
   *  rows r with r mod N == i), so no row is used twice across parts.
   *  Throws FeederExhausted when a `unique` or `queue` feeder has no record for it. */
  Record next(std::size_t user_id, std::mt19937_64& rng, Segment segment) {
    const std::size_t rows = table_->rows.size();
    switch (strategy_) {
      case FeedStrategy::circular:
        return Record(*table_, static_cast<std::size_t>(next_->fetch_add(1, std::memory_order_relaxed) % rows));
      case FeedStrategy::random:
        return Record(*table_, std::uniform_int_distribution<std::size_t>(0, rows - 1)(rng));
      case FeedStrategy::unique:
        if (user_id >= rows)
          throw FeederExhausted("feeder '" + name_ + "': " + std::to_string(rows) + " records for unique users, user " +
                                std::to_string(user_id) + " has none (run at most " + std::to_string(rows) +
                                " users at once)");
        return Record(*table_, user_id);
      case FeedStrategy::queue: {
        const std::size_t mine = segment.share(rows);  // this part's rows
        auto k = next_->fetch_add(1, std::memory_order_relaxed);
        if (k >= mine) {
          next_->store(mine, std::memory_order_relaxed);  // no wrap-around, however often it is asked
          throw FeederExhausted("feeder '" + name_ + "': all " + std::to_string(rows) + " records used (strategy queue" +
                                (segment.whole() ? std::string(")") : ", segment " + segment.to_string() + ")"));
        }
        return Record(*table_, segment.global(static_cast<std::size_t>(k)));
      }
    }
    return Record(*table_, 0);
  }

  /** The next record for `user`, anything with `id()` and `rng()` such as a Session. */
  template <class User>
    requires requires(User& u) {
      { u.id() } -> std::convertible_to<std::size_t>;
      { u.rng() } -> std::convertible_to<std::mt19937_64&>;
    }
  Record next(User& user) {
    return next(user.id(), user.rng(), Segment{});
  }
  /** The next record for the user `user_id` of a whole (unsegmented) test. */
  Record next(std::size_t user_id, std::mt19937_64& rng) { return next(user_id, rng, Segment{}); }

  /** The row-th record (from 0). Throws std::out_of_range. */
  Record at(std::size_t row) const {
    if (row >= table_->rows.size()) throw std::out_of_range("feeder '" + name_ + "': no row " + std::to_string(row));
    return Record(*table_, row);
  }
  /** Number of records. */
  std::size_t size() const noexcept { return table_->rows.size(); }
  /** The column names. */
  const std::vector<std::string>& columns() const noexcept { return table_->columns; }
  /** Its name in messages: the file, or the name given. */
  const std::string& name() const noexcept { return name_; }
  /** How it hands out records. */
  FeedStrategy strategy() const noexcept { return strategy_; }
  /** Starts again from the first record (circular, queue). Not while users run. */
  void rewind() noexcept { next_->store(0); }

 private:
  std::string name_;
  FeedStrategy strategy_;
  std::shared_ptr<const FeederTable> table_;
  std::unique_ptr<std::atomic<std::uint64_t>> next_;
};

}  // namespace loadtest
