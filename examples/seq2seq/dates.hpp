// seq2seq's default task: a seeded generator of human-written dates and their ISO forms, split
// into train / validation / test so that no date appears in two parts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "seq2seq/pairs.hpp"

namespace tg::examples::seq2seq {

// Dates are drawn from 1950-01-01 to 2049-12-31: a span of 100 years, so that a two-digit year
// names exactly one of them ("99" is 1999, "07" is 2007), as POSIX strptime's %y pivot does.
inline constexpr int kFirstYear = 1950;
inline constexpr int kLastYear = 2049;

struct CivilDate {
  int year = 0;
  int month = 0;  // 1..12
  int day = 0;    // 1..31
  bool operator==(const CivilDate& o) const {
    return year == o.year && month == o.month && day == o.day;
  }
};

// Days since 1970-01-01 and back (proleptic Gregorian calendar), and the weekday (0 = Monday).
std::int64_t days_from_civil(const CivilDate& date);
CivilDate civil_from_days(std::int64_t days);
int weekday(const CivilDate& date);

// "1999-03-03"
std::string iso_date(const CivilDate& date);

// The written forms, one name each ("d_month_yyyy", "dd/mm/yy", ...). Numeric forms with the
// year last read day first (03/04/99 is the 3rd of April), as in most of the world; those with
// the year first read year, month, day.
const std::vector<std::string>& date_format_names();

// `date` written in format `format` (an index into date_format_names()) with the variations a
// person might type, drawn from `gen`: letter case of the words (Title, lower or UPPER), a
// comma left out, a space doubled.
std::string write_date(const CivilDate& date, std::size_t format, Generator& gen);

struct DateSetSizes {
  std::size_t train = 20000;
  std::size_t validation = 1000;
  std::size_t test = 2000;
};

// Every date of the range is shuffled with `seed` and cut 80/10/10 into train / validation / test
// dates; each part's examples are then drawn from its own dates only (uniform date, uniform
// format, variations), without repeating a source string. So no date, in any spelling, is in two
// parts: the test measures dates never seen in training. Each pair's group is its format's name.
PairSplit generate_dates(std::uint64_t seed, const DateSetSizes& sizes);

}  // namespace tg::examples::seq2seq
