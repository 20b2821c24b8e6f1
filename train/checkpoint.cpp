// Training checkpoints: one flat .npz, keys grouped by prefix.
#include "tapegrad/train/checkpoint.hpp"

#include <fmt/format.h>

#include "tapegrad/autograd/function.hpp"
#include "tapegrad/train/parallel.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace tg::train {

namespace {
const std::string kMeta = "meta.";
const std::string kOptim = "optim.";
const std::string kRng = "rng.state";

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}
}  // namespace

void save_checkpoint(const std::string& path, const nn::Module& model,
                     const optim::Optimizer* optimizer, const Generator* generator,
                     const CheckpointMeta& meta) {
  nn::Archive archive;
  archive.tensors = model.state_dict();
  if (optimizer)
    for (auto& [key, tensor] : optimizer->state_dict(kOptim)) archive.tensors.emplace(key, tensor);
  archive.strings[kMeta + "example"] = meta.example;
  for (const auto& [key, value] : meta.text) archive.strings[kMeta + key] = value;
  if (generator) archive.strings[kRng] = generator->state();
  // A diverged run must not replace a good checkpoint with NaN weights: refuse before writing.
  // Only the weights: optimizer entries may hold NaN on purpose (e.g. an unset initial_lr).
  for (const auto& entry : model.state_dict()) {
    const std::string& key = entry.first;
    const Tensor& tensor = entry.second;  // named: C++17 lambdas cannot capture a binding
    const bool finite = dispatch(tensor.dtype(), [&](auto scalar) {
      using T = decltype(scalar);
      const auto& v = tensor.value<T>();
      return std::all_of(v.data(), v.data() + v.size(), [](T x) { return std::isfinite(x); });
    });
    if (!finite)
      throw Error(fmt::format("{}: not saved: {} holds NaN or infinity (training diverged; the "
                              "previous checkpoint, if any, is kept)",
                              path, key));
  }
  if (parallel().is_root()) nn::save_npz(path, archive);  // rank 0 writes the run's files
}

void check_loss_finite(double loss, std::size_t epoch, std::size_t step) {
  if (std::isfinite(loss)) return;
  // A NaN's sign bit depends on which instruction produced it (fmt prints "-nan" for some), so
  // the message names it without one: the same failure reads the same on every machine.
  const std::string value = std::isnan(loss) ? "nan" : fmt::format("{}", loss);
  throw Error(fmt::format("training diverged: the loss is {} at epoch {}, step {}; stopped "
                          "without saving (the last good checkpoint is kept); try a smaller --lr "
                          "or --clip",
                          value, epoch, step));
}

CheckpointMeta read_checkpoint_meta(const nn::Archive& archive, const std::string& path,
                                    const std::string& expected_example) {
  const auto example = archive.strings.find(kMeta + "example");
  if (example == archive.strings.end())
    throw Error(fmt::format("{}: not a tapegrad example checkpoint (no meta.example entry)", path));
  if (example->second != expected_example)
    throw Error(fmt::format("{}: this is a {} checkpoint, not a {} one", path, example->second,
                            expected_example));
  CheckpointMeta meta{example->second, {}};
  for (const auto& [key, value] : archive.strings)
    if (starts_with(key, kMeta) && key != kMeta + "example") meta.text[key.substr(kMeta.size())] = value;
  return meta;
}

MetaReader::MetaReader(const std::map<std::string, std::string>& text, std::string path,
                       std::string missing)
    : text_(text), path_(std::move(path)), missing_(std::move(missing)) {}

const std::string& MetaReader::text(const std::string& key) const {
  const auto it = text_.find(key);
  if (it == text_.end())
    throw Error(fmt::format("{}: {}", path_, fmt::format(fmt::runtime(missing_), key)));
  return it->second;
}

std::size_t MetaReader::size(const std::string& key, std::size_t min, std::size_t max,
                             const std::string& what) const {
  const std::string& text = this->text(key);
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  // strtoull accepts "-5" as a huge value: the sign is refused before the range is looked at.
  if (text.empty() || *end != '\0' || errno != 0 || text[0] == '-' || v < min || v > max)
    reject(key, text, what);
  return static_cast<std::size_t>(v);
}

double MetaReader::number(const std::string& key, double min, std::optional<double> below,
                          const std::string& what) const {
  const std::string& text = this->text(key);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  // Written so that NaN fails every bound.
  if (text.empty() || *end != '\0' || !(v >= min && (!below || v < *below)))
    reject(key, text, what);
  return v;
}

void MetaReader::reject(const std::string& key, const std::string& text,
                        const std::string& what) const {
  throw Error(fmt::format("{}: meta.{} is '{}'{}", path_, key, text,
                          what.empty() ? "" : ", not " + what));
}

namespace {

void check_text_size(const nn::EntryHeader& h) {
  if (h.data_bytes > kMaxCheckpointTextBytes)
    throw Error(fmt::format("a text entry of {} bytes, more than the {} a checkpoint's metadata "
                            "may hold",
                            h.data_bytes, kMaxCheckpointTextBytes));
}

bool is_float(const nn::EntryHeader& h) {
  return h.type == nn::EntryType::Float32 || h.type == nn::EntryType::Float64;
}

}  // namespace

CheckpointIndex read_checkpoint_index(const std::string& path, const std::string& expected_example) {
  CheckpointIndex index;
  const nn::Archive text =
      nn::load_npz(path, [&](const std::string& key, const nn::EntryHeader& h) {
        if (h.type != nn::EntryType::Text) {
          index.arrays.emplace(key, h);
          return false;
        }
        check_text_size(h);
        return true;
      });
  index.meta = read_checkpoint_meta(text, path, expected_example);
  return index;
}

nn::Archive read_checkpoint_for(const std::string& path, const nn::Module& model,
                                bool with_optimizer) {
  std::map<std::string, Shape> expected;
  for (const auto& [key, tensor] : model.state_dict()) expected.emplace(key, tensor.shape());
  return nn::load_npz(path, [&](const std::string& key, const nn::EntryHeader& h) {
    if (h.type == nn::EntryType::Text) {
      check_text_size(h);
      return true;
    }
    if (starts_with(key, kOptim)) return with_optimizer;
    const auto it = expected.find(key);
    if (it == expected.end()) {
      if (is_float(h))
        throw Error(fmt::format("a {} array {} that the model does not have", to_string(h.type),
                                shape_str(h.shape)));
      return false;
    }
    if (!is_float(h) || h.shape != it->second)
      throw Error(fmt::format("the file holds a {} array {}, the model's {} is {}",
                              to_string(h.type), shape_str(h.shape), key, shape_str(it->second)));
    return true;
  });
}

void load_checkpoint_state(const nn::Archive& archive, const std::string& path, nn::Module& model,
                           optim::Optimizer* optimizer, Generator* generator) {
  std::map<std::string, Tensor> weights, optimizer_state;
  for (const auto& [key, tensor] : archive.tensors)
    (starts_with(key, kOptim) ? optimizer_state : weights).emplace(key, tensor);
  try {
    model.load_state_dict(weights);
    if (optimizer && !optimizer_state.empty()) optimizer->load_state_dict(optimizer_state, kOptim);
    const auto rng = archive.strings.find(kRng);
    if (generator && rng != archive.strings.end()) generator->set_state(rng->second);
  } catch (const NonFiniteError& e) {
    throw NonFiniteError(path, e.name(), e.index(), e.value());
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path, e.what()));
  }
}

}  // namespace tg::train
