// seq2seq's date generator: calendar arithmetic, the written formats and the disjoint split.
#include "seq2seq/dates.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "tapegrad/autograd/error.hpp"
#include "tapegrad/nn/data.hpp"

namespace tg::examples::seq2seq {

namespace {

const char* const kMonths[12] = {"January", "February", "March",     "April",   "May",      "June",
                                 "July",    "August",   "September", "October", "November", "December"};
const char* const kWeekdays[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                  "Friday", "Saturday", "Sunday"};

std::string ordinal(int day) {
  const char* suffix = "th";
  if (day % 100 < 11 || day % 100 > 13) {
    if (day % 10 == 1) suffix = "st";
    else if (day % 10 == 2) suffix = "nd";
    else if (day % 10 == 3) suffix = "rd";
  }
  return std::to_string(day) + suffix;
}

std::string two_digits(int v) { return fmt::format("{:02d}", v); }

// Each format is a pattern of fields: {d} day, {dd} day in two digits, {ord} 3rd, {month} March,
// {mon} Mar, {mm} 03, {m} 3, {yyyy} 1999, {yy} 99, {weekday} Wednesday, {wkd} Wed. A comma in
// a pattern may be left out, and letters change case, when the date is written.
struct DateFormat {
  const char* name;
  const char* pattern;
};

const std::vector<DateFormat>& formats() {
  static const std::vector<DateFormat> list = {
      {"d_month_yyyy", "{d} {month} {yyyy}"},
      {"ord_of_month_yyyy", "{ord} of {month} {yyyy}"},
      {"the_ord_of_month_yyyy", "the {ord} of {month}, {yyyy}"},
      {"month_d_yyyy", "{month} {d}, {yyyy}"},
      {"month_ord_yyyy", "{month} {ord}, {yyyy}"},
      {"mon_d_yy", "{mon} {d} {yy}"},
      {"d_mon_yy", "{d} {mon} {yy}"},
      {"dd-mon-yyyy", "{dd}-{mon}-{yyyy}"},
      {"weekday_d_month_yyyy", "{weekday}, {d} {month} {yyyy}"},
      {"weekday_month_ord_yyyy", "{weekday}, {month} {ord}, {yyyy}"},
      {"wkd_mon_d_yyyy", "{wkd} {mon} {d} {yyyy}"},
      {"dd/mm/yy", "{dd}/{mm}/{yy}"},
      {"d/m/yyyy", "{d}/{m}/{yyyy}"},
      {"dd-mm-yyyy", "{dd}-{mm}-{yyyy}"},
      {"dd.mm.yyyy", "{dd}.{mm}.{yyyy}"},
      {"yyyy.mm.dd", "{yyyy}.{mm}.{dd}"},
      {"yyyy/mm/dd", "{yyyy}/{mm}/{dd}"},
      {"yyyy-mm-dd", "{yyyy}-{mm}-{dd}"},
      {"yyyymmdd", "{yyyy}{mm}{dd}"},
  };
  return list;
}

std::string field(const std::string& name, const CivilDate& d) {
  if (name == "d") return std::to_string(d.day);
  if (name == "dd") return two_digits(d.day);
  if (name == "ord") return ordinal(d.day);
  if (name == "month") return kMonths[d.month - 1];
  if (name == "mon") return std::string(kMonths[d.month - 1]).substr(0, 3);
  if (name == "mm") return two_digits(d.month);
  if (name == "m") return std::to_string(d.month);
  if (name == "yyyy") return std::to_string(d.year);
  if (name == "yy") return two_digits(d.year % 100);
  if (name == "weekday") return kWeekdays[weekday(d)];
  if (name == "wkd") return std::string(kWeekdays[weekday(d)]).substr(0, 3);
  throw Error("write_date: unknown field {" + name + "}");
}

}  // namespace

std::int64_t days_from_civil(const CivilDate& date) {
  // Howard Hinnant's algorithm: years counted from March, so the leap day ends a year.
  const std::int64_t y = date.year - (date.month <= 2 ? 1 : 0);
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (date.month + (date.month > 2 ? -3 : 9)) + 2) / 5 + date.day - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

CivilDate civil_from_days(std::int64_t days) {
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  CivilDate d;
  d.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  d.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  d.year = static_cast<int>(yoe + era * 400 + (d.month <= 2 ? 1 : 0));
  return d;
}

int weekday(const CivilDate& date) {
  // 1970-01-01 was a Thursday (3 when Monday is 0).
  const std::int64_t w = (days_from_civil(date) + 3) % 7;
  return static_cast<int>(w < 0 ? w + 7 : w);
}

std::string iso_date(const CivilDate& d) {
  return fmt::format("{:04d}-{:02d}-{:02d}", d.year, d.month, d.day);
}

const std::vector<std::string>& date_format_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const DateFormat& f : formats()) out.push_back(f.name);
    return out;
  }();
  return names;
}

std::string write_date(const CivilDate& date, std::size_t format, Generator& gen) {
  if (format >= formats().size()) throw Error(fmt::format("write_date: no format {}", format));
  const std::string pattern = formats()[format].pattern;
  // Title case most often, as printed; all lower or all upper as typed in a hurry or shouted.
  const double case_draw = gen.uniform();
  const int letter_case = case_draw < 0.6 ? 0 : case_draw < 0.9 ? 1 : 2;
  const bool drop_commas = gen.uniform() < 0.2;
  const bool double_space = gen.uniform() < 0.1;
  std::string out;
  for (std::size_t i = 0; i < pattern.size();) {
    if (pattern[i] == '{') {
      const std::size_t end = pattern.find('}', i);
      out += field(pattern.substr(i + 1, end - i - 1), date);
      i = end + 1;
    } else {
      if (!(pattern[i] == ',' && drop_commas)) out += pattern[i];
      ++i;
    }
  }
  for (char& c : out) {
    if (letter_case == 1) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (letter_case == 2) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (double_space) {
    std::vector<std::size_t> spaces;
    for (std::size_t i = 0; i < out.size(); ++i)
      if (out[i] == ' ') spaces.push_back(i);
    if (!spaces.empty()) out.insert(spaces[gen.below(spaces.size())], 1, ' ');
  }
  return out;
}

PairSplit generate_dates(std::uint64_t seed, const DateSetSizes& sizes) {
  Generator gen(seed);
  const std::int64_t first = days_from_civil({kFirstYear, 1, 1});
  const std::int64_t last = days_from_civil({kLastYear, 12, 31});
  std::vector<std::int64_t> days;
  for (std::int64_t d = first; d <= last; ++d) days.push_back(d);
  data::shuffle_in_place(days, gen);
  const std::size_t n_val = days.size() / 10, n_test = days.size() / 10;
  const std::vector<std::int64_t> test_days(days.begin(), days.begin() + n_test);
  const std::vector<std::int64_t> val_days(days.begin() + n_test, days.begin() + n_test + n_val);
  const std::vector<std::int64_t> train_days(days.begin() + n_test + n_val, days.end());

  const std::size_t n_formats = formats().size();
  const auto draw = [&](const std::vector<std::int64_t>& part, std::size_t count) {
    // A part holds at most (dates x formats x variations) distinct strings; far fewer are asked
    // for, but a bounded number of attempts keeps an absurd --train-size from looping forever.
    std::vector<Pair> out;
    std::set<std::string> seen;
    for (std::size_t attempts = 0; out.size() < count && attempts < 20 * count + 1000; ++attempts) {
      const CivilDate date = civil_from_days(part[gen.below(part.size())]);
      const std::size_t format = gen.below(n_formats);
      std::string source = write_date(date, format, gen);
      if (!seen.insert(source).second) continue;
      out.push_back({std::move(source), iso_date(date), formats()[format].name});
    }
    if (out.size() < count)
      throw Error(fmt::format("generate_dates: only {} distinct dates of the {} asked for", out.size(),
                              count));
    return out;
  };
  PairSplit split;
  split.train = draw(train_days, sizes.train);
  split.validation = draw(val_days, sizes.validation);
  split.test = draw(test_days, sizes.test);
  return split;
}

}  // namespace tg::examples::seq2seq
