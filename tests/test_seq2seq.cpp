// seq2seq's pieces: the date generator (seeded, formats, disjoint split), the TSV pairs, the
// attention mask, beam search of width 1 against greedy, and the checkpoint round trip.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <set>

#include "tapegrad/optim/optim.hpp"
#include "tapegrad/train/checkpoint.hpp"
#include "seq2seq/commands.hpp"
#include "seq2seq/dates.hpp"
#include "seq2seq/evaluate.hpp"
#include "test_support.hpp"

using namespace tg;
using namespace tg::examples::seq2seq;
using namespace tg::testing;

namespace {

// The written date without the random variations: lower case, commas dropped, spaces single.
std::string plain(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == ',') continue;
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::set<std::string> field(const std::vector<Pair>& pairs, std::string Pair::*member) {
  std::set<std::string> out;
  for (const Pair& p : pairs) out.insert(p.*member);
  return out;
}

bool disjoint(const std::set<std::string>& a, const std::set<std::string>& b) {
  return std::none_of(a.begin(), a.end(), [&](const std::string& s) { return b.count(s) > 0; });
}

// A small untrained model over the generated dates' characters.
ModelConfig small_config(std::size_t max_output = 12) {
  const PairSplit split = generate_dates(3, {300, 30, 30});
  std::vector<std::string> sources, targets;
  for (const Pair& p : split.train) sources.push_back(p.source), targets.push_back(p.target);
  ModelConfig c;
  c.embedding = 8;
  c.hidden = 8;
  c.decoder_hidden = 16;
  c.max_output = max_output;
  c.source = Alphabet::of(sources, kSourceReserved);
  c.target = Alphabet::of(targets, kTargetReserved);
  return c;
}

std::vector<std::int64_t> ids(const std::string& text, const ModelConfig& c) {
  return encode_source(text, c.source).ids;
}

// A few Adam steps on generated dates: enough for outputs that end with the end mark.
void train_briefly(Seq2Seq& model, std::size_t steps) {
  const PairSplit split = generate_dates(4, {64, 1, 1});
  const EncodedPairs data = encode_pairs(split.train, model.config(), "train");
  optim::AdamOptions o;
  o.lr = 0.01;
  optim::Adam adam(model.named_parameters(), o);
  for (std::size_t i = 0; i < steps; ++i) {
    const Tensor loss = model.loss(data.sources, data.targets);
    adam.zero_grad();
    loss.backward();
    adam.step();
  }
}

}  // namespace

TEST_CASE("seq2seq dates: calendar arithmetic and weekdays", "[seq2seq]") {
  CHECK(weekday({1999, 3, 3}) == 2);  // a Wednesday
  CHECK(weekday({1970, 1, 1}) == 3);  // a Thursday
  CHECK(civil_from_days(days_from_civil({2000, 2, 29})) == CivilDate{2000, 2, 29});
  CHECK(days_from_civil({2000, 3, 1}) - days_from_civil({2000, 2, 28}) == 2);  // leap year
  CHECK(days_from_civil({1900, 3, 1}) - days_from_civil({1900, 2, 28}) == 1);  // not one
  for (std::int64_t d = days_from_civil({kFirstYear, 1, 1}); d <= days_from_civil({kLastYear, 12, 31}); ++d)
    REQUIRE(days_from_civil(civil_from_days(d)) == d);
  CHECK(iso_date({1999, 3, 3}) == "1999-03-03");
}

TEST_CASE("seq2seq dates: every format writes the date it names", "[seq2seq]") {
  const std::vector<std::string> expected = {
      "3 march 1999",       "3rd of march 1999",     "the 3rd of march 1999",
      "march 3 1999",       "march 3rd 1999",        "mar 3 99",
      "3 mar 99",           "03-mar-1999",           "wednesday 3 march 1999",
      "wednesday march 3rd 1999", "wed mar 3 1999",  "03/03/99",
      "3/3/1999",           "03-03-1999",            "03.03.1999",
      "1999.03.03",         "1999/03/03",            "1999-03-03",
      "19990303"};
  REQUIRE(date_format_names().size() == expected.size());
  Generator gen(7);
  for (std::size_t f = 0; f < expected.size(); ++f)
    for (int draw = 0; draw < 20; ++draw)  // the variations change case, commas and spaces only
      CHECK(plain(write_date({1999, 3, 3}, f, gen)) == expected[f]);
  CHECK(plain(write_date({2007, 11, 22}, 1, gen)) == "22nd of november 2007");
  CHECK(plain(write_date({2011, 12, 11}, 1, gen)) == "11th of december 2011");
  CHECK(plain(write_date({2049, 12, 31}, 11, gen)) == "31/12/49");
  CHECK(plain(write_date({1950, 1, 1}, 5, gen)) == "jan 1 50");
}

TEST_CASE("seq2seq dates: seeded, all formats, no date in two parts", "[seq2seq]") {
  const PairSplit a = generate_dates(11, {3000, 300, 300});
  const PairSplit b = generate_dates(11, {3000, 300, 300});
  const PairSplit c = generate_dates(12, {3000, 300, 300});
  REQUIRE(a.train.size() == 3000);
  REQUIRE(a.validation.size() == 300);
  REQUIRE(a.test.size() == 300);
  CHECK(field(a.train, &Pair::source) == field(b.train, &Pair::source));
  CHECK(field(a.test, &Pair::source) == field(b.test, &Pair::source));
  CHECK(field(a.test, &Pair::source) != field(c.test, &Pair::source));
  // Every format is drawn; sources are unique within a part.
  CHECK(field(a.train, &Pair::group).size() == date_format_names().size());
  CHECK(field(a.train, &Pair::source).size() == a.train.size());
  // No target date, hence no source string, is shared by two parts.
  for (auto member : {&Pair::target, &Pair::source}) {
    CHECK(disjoint(field(a.train, member), field(a.validation, member)));
    CHECK(disjoint(field(a.train, member), field(a.test, member)));
    CHECK(disjoint(field(a.validation, member), field(a.test, member)));
  }
  // The ISO form of the year-first numeric formats is the source itself, separators aside.
  for (const Pair& p : a.train) {
    const int year = std::stoi(p.target.substr(0, 4));
    REQUIRE(year >= kFirstYear);
    REQUIRE(year <= kLastYear);
    if (p.group == "yyyy.mm.dd" || p.group == "yyyy/mm/dd" || p.group == "yyyy-mm-dd") {
      std::string iso = p.source;
      iso.erase(std::remove(iso.begin(), iso.end(), ' '), iso.end());
      std::replace(iso.begin(), iso.end(), '.', '-');
      std::replace(iso.begin(), iso.end(), '/', '-');
      CHECK(iso == p.target);
    }
  }
}

TEST_CASE("seq2seq pairs: TSV read, written back, split by source", "[seq2seq]") {
  TempDir dir;
  write_text(dir.path / "pairs.tsv", "\xEF\xBB\xBF" "colour\tcolor\r\n\nfavourite\tfavorite\tou\nlabour\tlabor\n"
                                     "colour\tcolor\ngrey\tgray\tey\n");
  const std::vector<Pair> pairs = read_pairs(dir.path / "pairs.tsv");
  REQUIRE(pairs.size() == 5);
  CHECK(pairs[0].source == "colour");
  CHECK(pairs[0].group.empty());
  CHECK(pairs[1].group == "ou");
  std::size_t duplicates = 0, conflicts = 0;
  const PairSplit split = split_pairs(pairs, 1, 0.25, 0.25, &duplicates, &conflicts);
  CHECK(duplicates == 1);
  CHECK(conflicts == 0);
  CHECK(split.train.size() + split.validation.size() + split.test.size() == 4);
  CHECK(disjoint(field(split.train, &Pair::source), field(split.test, &Pair::source)));
  write_pairs(dir.path / "back.tsv", pairs);
  const std::vector<Pair> back = read_pairs(dir.path / "back.tsv");
  REQUIRE(back.size() == pairs.size());
  CHECK(back[1].group == "ou");
  CHECK_THROWS_WITH(split_pairs({pairs[0], pairs[0]}, 1, 0.1, 0.1), Catch::Contains("too few"));
}

TEST_CASE("seq2seq model: padded source steps get exactly zero attention", "[seq2seq]") {
  const ModelConfig config = small_config();
  Generator gen(5);
  Seq2Seq model(config, gen);
  const std::vector<std::vector<std::int64_t>> sources = {ids("3/3/99", config),
                                                          ids("Wednesday, 3 March 1999", config),
                                                          ids("1999", config)};
  DecoderState state;
  const EncoderMemory memory = model.encode(sources, state);
  const std::size_t T = memory.outputs.size(1);
  REQUIRE(T == sources[1].size());
  for (int s = 0; s < 3; ++s) {  // the first steps and later ones, fed their own outputs
    const StepResult r = model.step(memory, Indices({kStart, kStart, kStart}), state);
    const float* w = r.weights.value<float>().data();
    for (std::size_t b = 0; b < sources.size(); ++b) {
      double total = 0;
      for (std::size_t t = 0; t < T; ++t) {
        if (t >= sources[b].size()) CHECK(w[b * T + t] == 0.0f);
        else CHECK(w[b * T + t] > 0.0f);
        total += w[b * T + t];
      }
      CHECK(total == Approx(1.0).epsilon(1e-5));
    }
  }
  // The encoder's outputs at padded steps are zero too: nothing can leak through the context.
  const float* o = memory.outputs.value<float>().data();
  const std::size_t W = memory.outputs.size(2);
  for (std::size_t t = sources[0].size(); t < T; ++t)
    for (std::size_t k = 0; k < W; ++k) CHECK(o[t * W + k] == 0.0f);
}

TEST_CASE("seq2seq model: beam search of width 1 is greedy decoding", "[seq2seq]") {
  // Barely trained models: with a short length limit their outputs are cut there, with a long one
  // most end with the end mark. Both ways must agree.
  std::size_t ended = 0, cut = 0;
  for (const std::string& cell : {"gru", "lstm"}) {
    for (std::size_t max_output : {2, 14}) {
      ModelConfig config = small_config(max_output);
      config.cell = cell;
      Generator gen(max_output + (cell == "gru" ? 21 : 22));
      Seq2Seq model(config, gen);
      train_briefly(model, 30);
      for (const std::string& text : {"3rd of March 1999", "03/03/99", "mar 3 99", "1999.03.03",
                                      "9", "Friday, 1 January 2049"}) {
        const std::vector<std::int64_t> source = ids(text, config);
        const Decoded greedy = model.greedy({source}).at(0);
        const Decoded beam = model.beam_search(source, 1);
        INFO(cell << " max_output " << max_output << " '" << text << "'");
        CHECK(beam.ids == greedy.ids);
        CHECK(beam.log_prob == Approx(greedy.log_prob).epsilon(1e-6));
        REQUIRE(beam.attention.size() == greedy.attention.size());
        for (std::size_t s = 0; s < beam.attention.size(); ++s)
          CHECK(beam.attention[s] == greedy.attention[s]);
        (greedy.attention.size() > greedy.ids.size() ? ended : cut) += 1;
      }
    }
  }
  INFO(ended << " ended with the end mark, " << cut << " cut at the length limit");
  CHECK(ended > 0);
  CHECK(cut > 0);
}

TEST_CASE("seq2seq model: a checkpoint translates as the model it was saved from", "[seq2seq]") {
  const ModelConfig config = small_config();
  Generator gen(9);
  Seq2Seq model(config, gen);
  model.eval();
  TempDir dir;
  tg::train::save_checkpoint(dir.file("model.npz"), model, nullptr, nullptr,
                             {kExampleName, to_meta(config)});
  const std::unique_ptr<Seq2Seq> loaded = load_model(dir.file("model.npz"));
  CHECK(loaded->config().source.text() == config.source.text());
  CHECK(loaded->config().target.text() == config.target.text());
  std::vector<std::vector<std::int64_t>> sources;
  for (const std::string& text : {"3rd of March 1999", "03/03/99", "mar 3 99", "1999.03.03"})
    sources.push_back(ids(text, config));
  for (std::size_t beam : {1, 3}) {
    const auto before = translate(model, sources, beam);
    const auto after = translate(*loaded, sources, beam);
    for (std::size_t i = 0; i < sources.size(); ++i) {
      CHECK(after[i].ids == before[i].ids);
      CHECK(after[i].log_prob == before[i].log_prob);
    }
  }
}
