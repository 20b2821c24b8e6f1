// Resumable training: the resume checkpoint, the epoch position and the recorded command line.
#include "tapegrad/train/resume.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "tapegrad/autograd/error.hpp"
#include "tapegrad/train/files.hpp"
#include "tapegrad/train/parallel.hpp"

namespace tg::train {
namespace fs = std::filesystem;

namespace {

const std::string kArgsKey = "run.args";
const std::string kExampleKey = "run.example";

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

std::map<std::string, Tensor> with_prefix(const std::string& prefix,
                                          const std::map<std::string, Tensor>& state) {
  std::map<std::string, Tensor> out;
  for (const auto& [key, tensor] : state) out.emplace(prefix + key, tensor);
  return out;
}

}  // namespace

void ResumeState::set_run(const std::string& example, const std::string& args) {
  put(kExampleKey, example);
  put(kArgsKey, args);
}

const std::string& ResumeState::run_args() const { return text(kArgsKey); }

void ResumeState::put(const std::string& key, const std::string& text) {
  archive_.strings[key] = text;
}
void ResumeState::put_number(const std::string& key, double value) {
  put(key, fmt::format("{}", value));  // shortest text that reads back to the same double
}
void ResumeState::put_size(const std::string& key, std::size_t value) {
  put(key, std::to_string(value));
}
void ResumeState::put(const std::string& prefix, const nn::Module& module) {
  for (auto& [key, tensor] : with_prefix(prefix, module.state_dict()))
    archive_.tensors[key] = tensor.clone();
}
void ResumeState::put(const std::string& prefix, const optim::Optimizer& optimizer) {
  for (auto& [key, tensor] : optimizer.state_dict(prefix)) archive_.tensors[key] = tensor;
}
void ResumeState::put(const std::string& prefix, const optim::LRScheduler& schedule) {
  for (auto& [key, tensor] : schedule.state_dict(prefix)) archive_.tensors[key] = tensor;
}
void ResumeState::put(const std::string& key, const Generator& generator) {
  put(key, generator.state());
}
void ResumeState::put(const std::string& prefix, const EarlyStopTracker& stopping) {
  put_number(prefix + "best", stopping.best());
  put_size(prefix + "best_epoch", stopping.best_epoch());
  put_size(prefix + "waited", stopping.waited());
  for (const auto& [key, tensor] : stopping.best_state())
    archive_.tensors[prefix + "state." + key] = tensor;
}

void ResumeState::put_tensor(const std::string& key, const Tensor& tensor) {
  archive_.tensors[key] = tensor.clone();
}

void ResumeState::put_indices(const std::string& key, const std::vector<std::size_t>& values) {
  archive_.integers[key] = Indices(std::vector<std::int64_t>(values.begin(), values.end()));
}

std::vector<std::size_t> ResumeState::indices(const std::string& key) const {
  const auto it = archive_.integers.find(key);
  if (it == archive_.integers.end()) throw Error(fmt::format("{}: no {} entry", path_, key));
  std::vector<std::size_t> out;
  out.reserve(it->second.size());
  for (const std::int64_t v : it->second.data) {
    if (v < 0) throw Error(fmt::format("{}: {} holds a negative index", path_, key));
    out.push_back(static_cast<std::size_t>(v));
  }
  return out;
}

bool ResumeState::contains(const std::string& key) const { return archive_.contains(key); }

Tensor ResumeState::tensor(const std::string& key, const Shape& shape) const {
  const auto it = archive_.tensors.find(key);
  if (it == archive_.tensors.end()) throw Error(fmt::format("{}: no {} entry", path_, key));
  if (it->second.shape() != shape)
    throw Error(fmt::format("{}: {} has shape {}, not {}", path_, key, shape_str(it->second.shape()),
                            shape_str(shape)));
  return it->second;
}

const std::string& ResumeState::text(const std::string& key) const {
  const auto it = archive_.strings.find(key);
  if (it == archive_.strings.end()) throw Error(fmt::format("{}: no {} entry", path_, key));
  return it->second;
}
std::map<std::string, std::string> ResumeState::texts(const std::string& prefix) const {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : archive_.strings)
    if (starts_with(key, prefix)) out.emplace(key.substr(prefix.size()), value);
  return out;
}

double ResumeState::number(const std::string& key) const {
  const std::string& t = text(key);
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (t.empty() || *end != '\0') throw Error(fmt::format("{}: {} is not a number", path_, key));
  return v;
}
std::size_t ResumeState::size(const std::string& key) const {
  const std::string& t = text(key);
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(t.c_str(), &end, 10);
  if (t.empty() || t[0] == '-' || *end != '\0' || errno)
    throw Error(fmt::format("{}: {} is not a count", path_, key));
  return static_cast<std::size_t>(v);
}
std::map<std::string, Tensor> ResumeState::prefixed(const std::string& prefix) const {
  std::map<std::string, Tensor> out;
  for (const auto& [key, tensor] : archive_.tensors)
    if (starts_with(key, prefix)) out.emplace(key.substr(prefix.size()), tensor);
  return out;
}
void ResumeState::get(const std::string& prefix, nn::Module& module) const {
  try {
    module.load_state_dict(prefixed(prefix));
  } catch (const NonFiniteError& e) {
    throw NonFiniteError(path_, prefix + e.name(), e.index(), e.value());
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path_, e.what()));
  }
}
void ResumeState::get(const std::string& prefix, optim::Optimizer& optimizer) const {
  try {
    optimizer.load_state_dict(archive_.tensors, prefix);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path_, e.what()));
  }
}
void ResumeState::get(const std::string& prefix, optim::LRScheduler& schedule) const {
  try {
    schedule.load_state_dict(archive_.tensors, prefix);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path_, e.what()));
  }
}
void ResumeState::get(const std::string& key, Generator& generator) const {
  try {
    generator.set_state(text(key));
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}: {}", path_, key, e.what()));
  }
}
void ResumeState::get(const std::string& prefix, EarlyStopTracker& stopping) const {
  stopping.resume(number(prefix + "best"), size(prefix + "best_epoch"), size(prefix + "waited"),
                  prefixed(prefix + "state."));
}

void ResumeState::save(const fs::path& run) const {
  if (!parallel().is_root()) return;  // rank 0 writes the run's files
  nn::save_npz((run / kResumeFile).string(), archive_);
}

ResumeState ResumeState::load(const fs::path& run, const std::string& example) {
  const fs::path path = run / kResumeFile;
  std::error_code ec;
  if (!fs::is_directory(run, ec))
    throw Error("run folder " + quoted(run) + " does not exist (or is not a folder)");
  if (!fs::exists(path, ec)) {
    // A run killed during its first save leaves its lock and that save's temporary file: a new
    // run reuses such a folder as it is (claim_run_dir removes the temporary file).
    bool only_lock_and_temporaries = true;
    for (const fs::directory_entry& entry : fs::directory_iterator(run, ec)) {
      const std::string name = entry.path().filename().string();
      if (name != ".lock" && !is_temporary_file(name)) only_lock_and_temporaries = false;
    }
    if (only_lock_and_temporaries)
      throw Error("run folder " + quoted(run) + " was stopped before its first save, so there "
                  "is nothing to resume; start the run again with this folder as its run folder: "
                  "it is reused as it is");
    throw Error("run folder " + quoted(run) + " holds no " + kResumeFile +
                " (not a run of this version, or it finished before saving one)");
  }
  ResumeState state;
  state.path_ = path.string();
  state.archive_ = nn::load_npz(path.string());
  const std::string& written_by = state.text(kExampleKey);
  if (written_by != example)
    throw Error(fmt::format("run folder {} is a {} run, not a {} one", quoted(run), written_by,
                            example));
  return state;
}

std::string encode_args(const std::vector<std::string>& args) {
  // Length-prefixed: arguments may hold any character, newlines and quotes included.
  std::string out;
  for (const std::string& a : args) out += std::to_string(a.size()) + ":" + a;
  return out;
}

std::vector<std::string> decode_args(const std::string& text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t colon = text.find(':', i);
    if (colon == std::string::npos || colon == i || colon - i > 9 ||
        text.find_first_not_of("0123456789", i) != colon)
      throw Error("the recorded command line is damaged");
    const std::size_t n = std::stoul(text.substr(i, colon - i));
    if (n > text.size() - colon - 1) throw Error("the recorded command line is damaged");
    out.push_back(text.substr(colon + 1, n));
    i = colon + 1 + n;
  }
  return out;
}

void EpochPosition::put(ResumeState& state) const {
  state.put_size("partial.epoch", epoch);
  state.put_size("partial.next_batch", next_batch);
  state.put_indices("partial.order", order);
  state.put_indices("partial.batch_sizes", batch_sizes);
  state.put_size("partial.progress_items", progress_items);
  state.put_number("partial.progress_loss_sum", progress_loss_sum);
  state.put_number("partial.seconds", seconds);
  for (const auto& [key, value] : sums) state.put_number("partial.sum." + key, value);
}

std::optional<EpochPosition> EpochPosition::get(const ResumeState& state, std::size_t examples) {
  if (!state.contains("partial.epoch")) return std::nullopt;
  EpochPosition p;
  p.epoch = state.size("partial.epoch");
  p.next_batch = state.size("partial.next_batch");
  p.order = state.indices("partial.order");
  p.batch_sizes = state.indices("partial.batch_sizes");
  p.progress_items = state.size("partial.progress_items");
  p.progress_loss_sum = state.number("partial.progress_loss_sum");
  p.seconds = state.number("partial.seconds");
  for (const auto& [key, text] : state.texts("partial.sum.")) p.sums[key] = state.number("partial.sum." + key);
  std::size_t total = 0;
  for (const std::size_t size : p.batch_sizes) total += size;
  const bool order_fits = std::all_of(p.order.begin(), p.order.end(),
                                      [&](std::size_t i) { return i < examples; });
  if (p.epoch != state.size("epoch") + 1 || !order_fits ||
      (!p.batch_sizes.empty() &&
       (total != p.order.size() || p.next_batch > p.batch_sizes.size())))
    throw Error(state.path() + ": the saved position in the stopped epoch is damaged");
  return p;
}

std::size_t EpochPosition::continue_in(Progress& progress) const {
  progress.resume_from(next_batch, progress_items, progress_loss_sum);
  return next_batch;
}

std::vector<std::vector<std::size_t>> EpochPosition::batches() const {
  std::vector<std::vector<std::size_t>> out;
  std::size_t at = 0;
  for (const std::size_t size : batch_sizes) {
    out.emplace_back(order.begin() + std::ptrdiff_t(at), order.begin() + std::ptrdiff_t(at + size));
    at += size;
  }
  return out;
}

EpochPosition EpochPosition::at(std::size_t epoch, std::size_t next_batch,
                                const Progress& progress) {
  EpochPosition p;
  p.epoch = epoch;
  p.next_batch = next_batch;
  p.progress_items = progress.items();
  p.progress_loss_sum = progress.loss_sum();
  return p;
}

void EpochPosition::set_batches(const std::vector<std::vector<std::size_t>>& batches) {
  order.clear();
  batch_sizes.clear();
  for (const auto& batch : batches) {
    batch_sizes.push_back(batch.size());
    order.insert(order.end(), batch.begin(), batch.end());
  }
}

}  // namespace tg::train
