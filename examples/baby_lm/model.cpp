// baby_lm's model: the layer stack, its forward pass with carried state, and checkpoint metadata.
#include "baby_lm/model.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/limits.hpp"

#include <tapegrad/autograd/ops/shape.hpp>
#include <tapegrad/train/checkpoint.hpp>

#include "common/text.hpp"

namespace tg::baby_lm {

LmState detach(const LmState& state) {
  LmState out;
  out.reserve(state.size());
  for (const nn::RecurrentState& s : state) out.push_back({s.h.detach(), s.c.detach()});
  return out;
}

namespace {

void check_config(const ModelConfig& c) {
  if (c.vocab == 0 || c.embed == 0 || c.units == 0 || c.layers == 0)
    throw Error(fmt::format("BabyLM: vocab {}, embed {}, units {} and layers {} must be positive",
                            c.vocab, c.embed, c.units, c.layers));
  if (!(c.dropout >= 0.0 && c.dropout < 1.0))
    throw Error(fmt::format("BabyLM: dropout must be in [0, 1), got {}", c.dropout));
}

}  // namespace

BabyLM::BabyLM(const ModelConfig& config, Generator& gen)
    : config_((check_config(config), config)), dropout_gen_(gen.next_u64()) {
  emb_ = register_module("emb", std::make_shared<nn::Embedding>(config.vocab, config.embed, -1, gen));
  for (std::size_t l = 0; l < config.layers; ++l) {
    nn::RecurrentOptions o;
    o.input_size(l == 0 ? config.embed : config.units);
    o.hidden_size(config.units);
    o.batch_first(true);
    o.return_sequences(l + 1 < config.layers || config.all_steps);
    const std::string n = std::to_string(l + 1);
    lstms_.push_back(register_module("lstm" + n, std::make_shared<nn::LSTM>(o, gen)));
    drops_.push_back(
        register_module("drop" + n, std::make_shared<nn::Dropout>(config.dropout, dropout_gen_)));
  }
  fc_ = register_module("fc", std::make_shared<nn::Linear>(config.units, config.vocab, true, gen));
}

LmOutput BabyLM::forward(const Indices& ids, const LmState& state, bool all_steps) {
  if (ids.shape.size() != 2 || ids.shape[0] == 0 || ids.shape[1] == 0)
    throw Error(fmt::format("BabyLM: token ids {} (expected [batch, steps])", shape_str(ids.shape)));
  if (!state.empty() && state.size() != lstms_.size())
    throw Error(fmt::format("BabyLM: a state of {} layers for a model of {}", state.size(),
                            lstms_.size()));
  const std::size_t L = lstms_.size();
  LmOutput out;
  out.state.resize(L);
  Tensor x = emb_->forward(ids);
  for (std::size_t l = 0; l < L; ++l) {
    nn::RecurrentOutput r = lstms_[l]->forward(x, state.empty() ? nn::RecurrentState{} : state[l]);
    out.state[l] = r.state;
    x = drops_[l]->forward(l + 1 == L && !all_steps ? r.last : r.output);
  }
  out.logits = fc_->forward(x);
  if (all_steps) out.logits = reshape(out.logits, {-1, static_cast<long>(config_.vocab)});
  return out;
}

// ---- checkpoint metadata ------------------------------------------------------------------

namespace {

// Keys of the structural entries; anything else in RunInfo::extra is stored under its own name.
const char* const kStructural[] = {"vocab", "embed", "units", "layers", "dropout",
                                   "mode",  "window", "bptt", "corpus"};

std::string number_text(double value) { return fmt::format("{}", value); }

// Typed reads of the metadata, with baby_lm's wording of a missing entry.
tg::train::MetaReader meta_reader(const std::map<std::string, std::string>& meta,
                                  const std::string& path) {
  return tg::train::MetaReader(meta, path,
                               "checkpoint has no meta.{} entry; was it written by an older or "
                               "damaged baby_lm?");
}

// Far beyond any model this example trains: a larger value is a damaged entry.
constexpr std::size_t kMaxSize = std::size_t{1} << 32;

}  // namespace

void save_model(const std::string& path, const BabyLM& model, const optim::Optimizer* optimizer,
                const Generator* generator, const RunInfo& info) {
  const ModelConfig& c = model.config();
  tg::train::CheckpointMeta meta{kExampleName, info.extra};
  meta.text["vocab"] = info.vocab.utf8();
  meta.text["embed"] = std::to_string(c.embed);
  meta.text["units"] = std::to_string(c.units);
  meta.text["layers"] = std::to_string(c.layers);
  meta.text["dropout"] = number_text(c.dropout);
  meta.text["mode"] = info.mode;
  meta.text["window"] = std::to_string(info.window);
  meta.text["bptt"] = std::to_string(info.bptt);
  meta.text["corpus"] = info.corpus;
  tg::train::save_checkpoint(path, model, optimizer, generator, meta);
}

double parameter_estimate(const ModelConfig& c) {
  const double vocab = double(c.vocab);
  return vocab * double(c.embed) + examples::recurrent_parameters(4, c.embed, c.units, c.layers, false) +
         (double(c.units) + 1) * vocab;
}

LoadedModel load_model(const std::string& path) {
  // The metadata and the arrays' headers first: the weights are read once the model they must
  // fit is known.
  const tg::train::CheckpointIndex index = tg::train::read_checkpoint_index(path, kExampleName);
  const tg::train::CheckpointMeta& meta = index.meta;
  LoadedModel loaded;
  RunInfo& info = loaded.info;
  const tg::train::MetaReader read = meta_reader(meta.text, path);
  const std::string& vocab_text = read.text("vocab");
  try {
    info.vocab = Vocabulary(examples::decode_utf8(vocab_text));
  } catch (const Error& e) {
    throw Error(fmt::format("{}: meta.vocab is not a vocabulary ({})", path, e.what()));
  }
  if (info.vocab.size() == 0) throw Error(path + ": meta.vocab is empty");
  info.model.vocab = info.vocab.size();
  info.model.embed = read.size("embed", 1, kMaxSize, "a positive integer");
  info.model.units = read.size("units", 1, kMaxSize, "a positive integer");
  info.model.layers = read.size("layers", 1, kMaxSize, "a positive integer");
  info.model.dropout = read.number("dropout", 0, 1, "a number in [0, 1)");
  info.mode = read.text("mode");
  if (info.mode != "window" && info.mode != "stateful")
    throw Error(fmt::format("{}: meta.mode is '{}', not 'window' or 'stateful'", path, info.mode));
  info.model.all_steps = info.mode == "stateful";
  info.window = read.size("window", 1, kMaxSize, "a positive integer");
  info.bptt = read.size("bptt", 1, kMaxSize, "a positive integer");
  info.corpus = read.text("corpus");
  for (const auto& [key, value] : meta.text)
    if (std::find(std::begin(kStructural), std::end(kStructural), key) == std::end(kStructural))
      info.extra[key] = value;
  examples::check_parameter_count(index.arrays, path, parameter_estimate(info.model));
  // The weights overwrite this initialisation; the generator only has to exist.
  Generator gen(0);
  loaded.model = std::make_unique<BabyLM>(info.model, gen);
  const nn::Archive archive = tg::train::read_checkpoint_for(path, *loaded.model, false);
  tg::train::load_checkpoint_state(archive, path, *loaded.model, nullptr, nullptr);
  return loaded;
}

}  // namespace tg::baby_lm
