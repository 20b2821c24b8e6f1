// name_language example's data: the loader, the split by pair and by name, split.csv, the
// vocabulary and the batches.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <numeric>
#include <set>

#include "tapegrad/train/files.hpp"
#include "name_language/data.hpp"
#include "name_language_support.hpp"
#include "skip.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace tg::examples;
using namespace tg::examples::names;
using namespace tg::testing;

namespace {

std::vector<std::string> labels_of(const Dataset& d, const std::vector<Example>& examples) {
  std::vector<std::string> out;
  for (const Example& e : examples) out.push_back(e.name + "/" + d.labels[e.label]);
  return out;
}

}  // namespace

TEST_CASE("loader trims, skips blanks, removes duplicate pairs, keeps multi-language names",
          "[name_language][data]") {
  TempDir dir;
  write_text(dir.path / "English.txt", "Smith\n\n  Smith \r\nJones\n   \nBrown\n");
  write_text(dir.path / "Scottish.txt", "Smith\nMacLeod\n");
  write_text(dir.path / "notes.md", "not a language\n");
  const Dataset d = load_names(dir.path, Charset::Ascii);
  CHECK(d.labels == std::vector<std::string>{"English", "Scottish"});
  CHECK(labels_of(d, d.examples) == std::vector<std::string>{"Smith/English", "Jones/English",
                                                             "Brown/English", "Smith/Scottish",
                                                             "MacLeod/Scottish"});
  CHECK(d.stats.duplicates == 1);
  CHECK(d.stats.blank == 2);
  CHECK(d.stats.multi_label == 1);
  CHECK(d.class_counts() == std::vector<std::size_t>{3, 2});
  // Encoded, each example knows every language of its name.
  const EncodedSet set = encode_examples(d, {3, 1, 0}, Vocabulary::for_charset(Charset::Ascii, {}));
  CHECK(set.languages == std::vector<std::vector<std::size_t>>{{0, 1}, {0}, {0, 1}});
}

TEST_CASE("loader folds to ASCII by default and keeps code points (NFC) with unicode",
          "[name_language][data]") {
  TempDir dir;
  // "Müller" precomposed, then decomposed (u + U+0308), then "Dvořák" and "Łódź".
  write_text(dir.path / "German.txt", "M\xC3\xBCller\nMu\xCC\x88ller\nMuller\n");
  write_text(dir.path / "Czech.txt", "Dvo\xC5\x99\xC3\xA1k\n\xC5\x81\xC3\xB3\x64\xC5\xBA\n");
  const Dataset ascii = load_names(dir.path, Charset::Ascii);
  CHECK(labels_of(ascii, ascii.examples) ==
        std::vector<std::string>{"Dvorak/Czech", "odz/Czech", "Muller/German"});
  CHECK(ascii.stats.duplicates == 2);  // all three spellings fold to "Muller"

  const Dataset uni = load_names(dir.path, Charset::Unicode);
  CHECK(labels_of(uni, uni.examples) ==
        std::vector<std::string>{"Dvo\xC5\x99\xC3\xA1k/Czech", "\xC5\x81\xC3\xB3\x64\xC5\xBA/Czech",
                                 "M\xC3\xBCller/German", "Muller/German"});
  CHECK(uni.stats.duplicates == 1);  // NFC makes the two spellings of Müller one
}

TEST_CASE("loader refuses bad folders with a message naming the problem", "[name_language][data]") {
  TempDir dir;
  auto fails_with = [](const fs::path& p, const std::string& what) {
    try {
      load_names(p, Charset::Ascii);
      FAIL("no error for " << p);
    } catch (const tg::Error& e) {
      INFO(e.what());
      CHECK_THAT(e.what(), Catch::Contains(what));
      CHECK_THAT(e.what(), Catch::Contains(p.filename().string()));
    }
  };
  fails_with(dir.path / "missing", "does not exist");
  fails_with(dir.path, "holds no <Language>.txt files");
  write_text(dir.path / "Only.txt", "Name\n");
  fails_with(dir.path, "only one language");
  write_text(dir.path / "Latin1.txt", "Good\nM\xFCller\n");
  CHECK_THROWS_WITH(load_names(dir.path, Charset::Ascii),
                    Catch::Contains("Latin1.txt:2") && Catch::Contains("invalid UTF-8"));
  write_text(dir.path / "Latin1.txt", "\n\n");
  CHECK_THROWS_WITH(load_names(dir.path, Charset::Ascii), Catch::Contains("Latin1.txt: no names"));
}

TEST_CASE("stratified split by pair: disjoint, complete, proportional and reproducible",
          "[name_language][data]") {
  const Dataset d = load_names(kShippedNames, Charset::Ascii);
  const Split s = stratified_split(d, 7, SplitUnit::Pairs);
  std::vector<std::size_t> all;
  for (const auto* part : {&s.train, &s.validation, &s.test}) all.insert(all.end(), part->begin(), part->end());
  std::sort(all.begin(), all.end());
  std::vector<std::size_t> expected(d.examples.size());
  std::iota(expected.begin(), expected.end(), 0);
  CHECK(all == expected);  // each example in exactly one part
  // No (name, language) pair in two parts (pairs are unique, so this follows, but check it).
  std::set<std::pair<std::string, std::size_t>> train_pairs;
  for (std::size_t i : s.train) train_pairs.emplace(d.examples[i].name, d.examples[i].label);
  for (const auto* part : {&s.validation, &s.test})
    for (std::size_t i : *part) CHECK(train_pairs.count({d.examples[i].name, d.examples[i].label}) == 0);
  // Every language is in every part, in about its share.
  const auto counts = d.class_counts();
  for (std::size_t c = 0; c < d.labels.size(); ++c) {
    std::size_t val = 0, test = 0;
    for (std::size_t i : s.validation) val += d.examples[i].label == c;
    for (std::size_t i : s.test) test += d.examples[i].label == c;
    CHECK(val == static_cast<std::size_t>(std::lround(0.1 * counts[c])));
    CHECK(test == val);
  }
  const Split again = stratified_split(d, 7, SplitUnit::Pairs);
  CHECK(again.test == s.test);
  CHECK(stratified_split(d, 8, SplitUnit::Pairs).test != s.test);
}

namespace {

// The part ("train", "validation", "test") of every pair, by name: one part per name when a
// name's pairs stay together.
std::map<std::string, std::set<std::string>> parts_by_name(const Dataset& d, const Split& s) {
  std::map<std::string, std::set<std::string>> parts;
  for (std::size_t i : s.train) parts[d.examples[i].name].insert("train");
  for (std::size_t i : s.validation) parts[d.examples[i].name].insert("validation");
  for (std::size_t i : s.test) parts[d.examples[i].name].insert("test");
  return parts;
}

std::size_t names_in_several_parts(const Dataset& d, const Split& s) {
  std::size_t n = 0;
  for (const auto& [name, parts] : parts_by_name(d, s)) n += parts.size() > 1;
  return n;
}

}  // namespace

TEST_CASE("stratified split by name: a name's pairs stay in one part, strata keep their shares",
          "[name_language][data]") {
  // 20 names of A only, 20 of B only, 10 of both: three strata, cut 80/10/10 each.
  TempDir dir;
  write_text(dir.path / "A.txt", letter_names("Aname", 20) + letter_names("Both", 10));
  write_text(dir.path / "B.txt", letter_names("Bname", 20) + letter_names("Both", 10));
  const Dataset d = load_names(dir.path, Charset::Ascii);
  REQUIRE(d.examples.size() == 60);
  for (std::uint64_t seed : {1, 2, 3, 7}) {
    const Split s = stratified_split(d, seed);
    CHECK(names_in_several_parts(d, s) == 0);
    std::vector<std::size_t> all;
    for (const auto* part : {&s.train, &s.validation, &s.test})
      all.insert(all.end(), part->begin(), part->end());
    std::sort(all.begin(), all.end());
    CHECK(all.size() == 60);
    CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
    // Each stratum gives 2, 2 and 1 names (that is 2 pairs) to validation and to test.
    std::size_t both_in_test = 0;
    for (std::size_t i : s.test) both_in_test += d.examples[i].name.rfind("Both", 0) == 0;
    CHECK(s.validation.size() == 6);
    CHECK(s.test.size() == 6);
    CHECK(both_in_test == 2);
    CHECK(stratified_split(d, seed).test == s.test);
  }
  CHECK(stratified_split(d, 1).test != stratified_split(d, 2).test);
  // The split by pair puts the two pairs of a shared name in different parts.
  std::size_t straddling = 0;
  for (std::uint64_t seed : {1, 2, 3, 7})
    straddling += names_in_several_parts(d, stratified_split(d, seed, SplitUnit::Pairs));
  CHECK(straddling > 0);
  CHECK(parse_split_unit("names") == SplitUnit::Names);
  CHECK(parse_split_unit("pairs") == SplitUnit::Pairs);
  CHECK_THROWS_WITH(parse_split_unit("name"), Catch::Contains("split 'name'"));
}

// The shipped data/names is a different, smaller set (its own tests above): this one needs
// ../shared, and is skipped without it.
TEST_CASE("full public set: 17,994 folded pairs, split 80/10/10 per language",
          "[name_language][data][shared]") {
  if (!fs::is_directory(kFullNames))
    TG_SKIP(tg::testing::kNeedsShared, kFullNames.string() + " is absent");
  const Dataset raw = load_names(kFullNames, Charset::Unicode);
  CHECK(raw.stats.lines == 20074);
  CHECK(raw.examples.size() == 18015);
  const Dataset d = load_names(kFullNames, Charset::Ascii);
  // 21 more pairs meet once folded ("Krüger" / "Kruger").
  CHECK(d.examples.size() == 17994);
  const Split s = stratified_split(d, 1);
  CHECK(s.validation.size() == s.test.size());
  CHECK(std::abs(static_cast<double>(s.test.size()) / d.examples.size() - 0.1) < 0.002);
  // 480 names of several languages: by name, none is in two parts; by pair, 99 of the 100
  // Scottish names are English too, and many land in two parts.
  CHECK(d.stats.multi_label == 480);
  CHECK(names_in_several_parts(d, s) == 0);
  CHECK(names_in_several_parts(d, stratified_split(d, 1, SplitUnit::Pairs)) > 100);
}

TEST_CASE("split.csv lists every example with its part", "[name_language][data]") {
  TempDir dir;
  const Dataset d = load_names(kShippedNames, Charset::Unicode);
  const Split s = stratified_split(d, 1);
  write_split(dir.path / "split.csv", d, s);
  const auto lines = tg::train::read_lines(dir.path / "split.csv");
  REQUIRE(lines.size() == d.examples.size() + 1);
  CHECK(lines[0] == "name,language,part");
  CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
          return l.size() > 5 && l.compare(l.size() - 5, 5, ",test") == 0;
        }) == static_cast<long>(s.test.size()));
}

TEST_CASE("vocabulary: ids, unknown characters, text round trip", "[name_language][data]") {
  const Vocabulary ascii = Vocabulary::for_charset(Charset::Ascii, {});
  CHECK(ascii.size() == 58);  // 57 characters + unknown
  CHECK(ascii.id(U'a') == 1);
  CHECK(ascii.id(U'\'') == 57);
  CHECK(ascii.id(U'1') == Vocabulary::kUnknown);
  CHECK(ascii.id(U'\u00F8') == Vocabulary::kUnknown);
  CHECK(Vocabulary::from_text(ascii.to_text()).alphabet() == ascii.alphabet());

  const Vocabulary uni = Vocabulary::for_charset(Charset::Unicode, {"Zo\xC3\xAB", "Ab"});
  CHECK(uni.alphabet() == U"AZbo\u00EB");
  CHECK(uni.id(U'\u00EB') == 5);
  CHECK(uni.id(U'x') == Vocabulary::kUnknown);
  CHECK_THROWS_AS(Vocabulary(U"aa"), tg::Error);

  // Predict-time reading: accents dropped as in training, other characters reported.
  const EncodedText dvorak = encode_for_prediction("Dvo\xC5\x99\xC3\xA1k", Charset::Ascii, ascii);
  CHECK(dvorak.ids.size() == 6);
  CHECK(dvorak.unknown.empty());
  const EncodedText oster = encode_for_prediction("\xC3\x98ster", Charset::Ascii, ascii);  // Øster
  CHECK(oster.ids.size() == 5);
  CHECK(oster.ids[0] == Vocabulary::kUnknown);
  CHECK(oster.unknown == U"\u00D8");
  CHECK(strip_marks("Nguy\xE1\xBB\x85n") == "Nguyen");
  CHECK(to_nfc("Mu\xCC\x88ller") == "M\xC3\xBCller");
}

TEST_CASE("batches: padded time-major ids, lengths, every name once per natural epoch",
          "[name_language][data]") {
  const Batch b = make_batch({{1, 2, 3}, {4}}, {0, 1});
  CHECK(b.ids.shape == tg::Shape{3, 2});
  CHECK(b.ids.data == std::vector<std::int64_t>{1, 4, 2, 0, 3, 0});
  CHECK(b.lengths == std::vector<std::size_t>{3, 1});
  CHECK_THROWS_AS(make_batch({{}}, {0}), tg::Error);

  EncodedSet set;
  for (std::size_t i = 0; i < 1000; ++i) {
    set.ids.push_back(std::vector<std::int64_t>(1 + i % 13, 1));
    set.labels.push_back(i < 900 ? 0 : 1);
  }
  tg::Generator gen(3);
  const auto batches = epoch_batches(set, 64, 2, Sampling::Natural, gen);
  std::vector<std::size_t> seen;
  for (const auto& batch : batches) {
    CHECK(batch.size() <= 64);
    seen.insert(seen.end(), batch.begin(), batch.end());
  }
  std::sort(seen.begin(), seen.end());
  std::vector<std::size_t> all(1000);
  std::iota(all.begin(), all.end(), 0);
  CHECK(seen == all);

  std::size_t minority = 0;
  for (const auto& batch : epoch_batches(set, 64, 2, Sampling::Balanced, gen))
    for (std::size_t p : batch) minority += set.labels[p] == 1;
  CHECK(minority > 420);  // about half of 1000 draws, instead of 100
  CHECK(minority < 580);
}
