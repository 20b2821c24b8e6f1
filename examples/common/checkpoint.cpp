// Training checkpoints: one flat .npz, keys grouped by prefix.
#include "common/checkpoint.hpp"

#include <fmt/format.h>

namespace tg::examples {

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
  nn::save_npz(path, archive);
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
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path, e.what()));
  }
}

}  // namespace tg::examples
