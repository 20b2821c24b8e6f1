// Training checkpoints: model, optimizer, RNG and metadata in one .npz.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "tapegrad/autograd/random.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/nn/npz.hpp"
#include "tapegrad/optim/optimizer.hpp"

namespace tg::train {

// What a checkpoint holds beside the weights: which program wrote it (the examples' names:
// "name_language", "baby_lm"), and free-form text entries (vocabulary, labels,
// hyper-parameters, epoch, ...).
struct CheckpointMeta {
  std::string example;
  std::map<std::string, std::string> text;
};

// Keys: the model's state_dict names as they are ("lstm.weight_ih_l0"), "optim.*" for the
// optimizer, "meta.example", "meta.<key>" for metadata and "rng.state" for the generator, so
// `numpy.load` shows PyTorch-style parameter names. Written atomically (nn::save_npz). Refused
// (tg::Error, nothing written) when a weight is NaN or infinite.
void save_checkpoint(const std::string& path, const nn::Module& model,
                     const optim::Optimizer* optimizer, const Generator* generator,
                     const CheckpointMeta& meta);

// Training has diverged when the loss is NaN or infinite: continuing would only produce (and
// save) garbage. Throws tg::Error saying where, that the last good checkpoint is kept, and what
// to try (the examples exit with code 2).
void check_loss_finite(double loss, std::size_t epoch, std::size_t step);

// Reads only the metadata, so a program can rebuild the model (sizes, vocabulary) before
// loading the weights. Throws tg::Error naming the file when it is not a checkpoint of
// `expected_example` (another program's, or no tapegrad checkpoint at all).
CheckpointMeta read_checkpoint_meta(const nn::Archive& archive, const std::string& path,
                                    const std::string& expected_example);

// Typed reads of CheckpointMeta::text, so that every program rejects a damaged entry the same
// way. Each failure is a tg::Error starting with the checkpoint's path; a bad value reads
// "<path>: meta.<key> is '<text>', not <what>" (without ", not <what>" when `what` is empty).
// The reader refers to `text`, which must outlive it.
class MetaReader {
 public:
  // `missing` words the error for an absent entry (after "<path>: "), {} standing for the key:
  // programs phrase it differently (the examples' messages are kept as users know them).
  MetaReader(const std::map<std::string, std::string>& text, std::string path,
             std::string missing);

  const std::string& text(const std::string& key) const;
  // A decimal integer in [min, max] (no sign, nothing after the digits).
  std::size_t size(const std::string& key, std::size_t min, std::size_t max,
                   const std::string& what) const;
  // A number v >= min, and v < below when `below` is given.
  double number(const std::string& key, double min, std::optional<double> below,
                const std::string& what) const;

 private:
  [[noreturn]] void reject(const std::string& key, const std::string& text,
                           const std::string& what) const;

  const std::map<std::string, std::string>& text_;
  std::string path_;
  std::string missing_;
};

// A checkpoint's metadata and the headers of its arrays, read without decompressing any array:
// what a program needs to rebuild its model and check the file's sizes against it before reading
// the weights (read_checkpoint_for). Throws as read_checkpoint_meta, and for a text entry of more
// than kMaxCheckpointTextBytes.
struct CheckpointIndex {
  CheckpointMeta meta;
  std::map<std::string, nn::EntryHeader> arrays;  // every entry that is not text, by key
};
CheckpointIndex read_checkpoint_index(const std::string& path, const std::string& expected_example);

// A text entry larger than this (UTF-32 bytes: 4 Mi characters) is no metadata: refused from its
// header.
inline constexpr std::uint64_t kMaxCheckpointTextBytes = std::uint64_t{16} << 20;

// Reads the checkpoint at `path` for `model`, each entry checked from its header before its data
// is decompressed: an entry named as one of the model's state_dict tensors must be a float array
// of that tensor's shape, and any other float array is refused (so a small deflated entry that
// declares a huge array costs nothing). "optim.*" entries are read only `with_optimizer`; text
// entries (metadata, the generator's state) are read up to kMaxCheckpointTextBytes; other
// integer arrays are skipped. tg::Error naming the file, the key and both shapes.
nn::Archive read_checkpoint_for(const std::string& path, const nn::Module& model,
                                bool with_optimizer);

// Loads weights (strictly: names and shapes must match; NaN and infinity are refused with
// tg::NonFiniteError "<path>: fc.weight[37] is nan"), and the optimizer and generator state when
// given and present.
void load_checkpoint_state(const nn::Archive& archive, const std::string& path, nn::Module& model,
                           optim::Optimizer* optimizer, Generator* generator);

}  // namespace tg::train
