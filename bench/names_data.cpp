// Workload b's data pipeline (names_data.hpp), shared by bench_recurrent and libtorch_workloads.
#include "names_data.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/text.hpp"

namespace tg::bench {

namespace {

// Python's str.strip() for the whitespace these files can hold.
std::string strip(const std::string& s) {
  const char* ws = " \t\r\n\v\f";
  const std::size_t begin = s.find_first_not_of(ws);
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(ws) + 1 - begin);
}

std::uint64_t splitmix64(std::uint64_t& state) {
  state += 0x9E3779B97F4A7C15ull;
  std::uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

NameData load_names(const std::string& folder) {
  namespace fs = std::filesystem;
  NameData data;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return data;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.path().extension() == ".txt") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  std::set<std::pair<std::string, std::size_t>> seen;
  for (std::size_t label = 0; label < files.size(); ++label) {
    data.languages.push_back(files[label].stem().string());
    std::ifstream in(files[label], std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    std::string line;
    while (std::getline(text, line)) {
      const std::string name = strip(line);
      if (name.empty() || !seen.insert({name, label}).second) continue;
      std::string folded = examples::fold_to_ascii(name);
      if (!folded.empty()) data.pairs.push_back({std::move(folded), label});
    }
  }
  std::uint64_t state = 0;
  for (std::size_t i = data.pairs.size(); i-- > 1;)
    std::swap(data.pairs[i], data.pairs[splitmix64(state) % (i + 1)]);
  return data;
}

OneHotBatch one_hot_batch(const std::vector<NamePair>& pairs, std::size_t begin, std::size_t end) {
  std::vector<NamePair> chunk(pairs.begin() + static_cast<long>(begin),
                              pairs.begin() + static_cast<long>(end));
  std::stable_sort(chunk.begin(), chunk.end(), [](const NamePair& a, const NamePair& b) {
    return a.name.size() > b.name.size();
  });
  const std::string& alphabet = examples::ascii_letters_vocabulary();
  OneHotBatch out;
  out.steps = chunk.front().name.size();
  out.batch = chunk.size();
  out.width = alphabet.size();
  out.x.assign(out.steps * out.batch * out.width, 0.0f);
  for (std::size_t b = 0; b < out.batch; ++b) {
    const std::string& name = chunk[b].name;
    for (std::size_t t = 0; t < name.size(); ++t)
      out.x[(t * out.batch + b) * out.width + alphabet.find(name[t])] = 1.0f;
    out.lengths.push_back(name.size());
    out.labels.push_back(static_cast<std::int64_t>(chunk[b].label));
  }
  return out;
}

}  // namespace tg::bench
