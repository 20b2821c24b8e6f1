// seq2seq model: a bidirectional GRU / LSTM encoder, a GRU / LSTM decoder with Luong attention
// over the encoder's outputs, teacher-forced training loss, greedy and beam-search decoding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/autograd/random.hpp"
#include "tapegrad/nn/nn.hpp"
#include "tapegrad/train/checkpoint.hpp"
#include "common/text.hpp"
#include "seq2seq/pairs.hpp"

namespace tg::examples::seq2seq {

// Reserved ids. Sources: 0 is padding and also any character outside the alphabet (a zero
// embedding that never learns). Targets: 0 padding (ignored by the loss), 1 start, 2 end.
inline constexpr std::int64_t kPad = 0;
inline constexpr std::int64_t kStart = 1;
inline constexpr std::int64_t kEnd = 2;
inline constexpr std::size_t kSourceReserved = 1;
inline constexpr std::size_t kTargetReserved = 3;

// Everything needed to rebuild the model (stored in the checkpoint's metadata).
struct ModelConfig {
  std::string cell = "gru";          // encoder and decoder: a cell kind's label (nn::parse_cell_kind)
  std::size_t embedding = 32;        // source and target character embeddings
  std::size_t hidden = 64;           // encoder units per direction
  std::size_t decoder_hidden = 128;  // decoder units (and the attentional vector's width)
  std::size_t max_output = 40;       // decoding stops after this many characters
  Alphabet source;                   // reserved: kSourceReserved
  Alphabet target;                   // reserved: kTargetReserved
};

std::map<std::string, std::string> to_meta(const ModelConfig& config);
// tg::Error "<path>: ..." naming a missing or invalid entry.
ModelConfig config_from_meta(const std::map<std::string, std::string>& meta, const std::string& path);
// "bidirectional GRU 64 -> GRU 128 with Luong attention, embeddings 32, 40 -> 13 characters"
std::string describe(const ModelConfig& config);
// Parameters of Seq2Seq(config), computed without building it.
double parameter_estimate(const ModelConfig& config);

// A source text as ids; characters outside the alphabet become kPad and are listed in `unknown`.
EncodedText encode_source(const std::string& text, const Alphabet& alphabet);
// Target ids followed by kEnd; tg::Error for a character outside the alphabet.
std::vector<std::int64_t> encode_target(const std::string& text, const Alphabet& alphabet);
// Ids (up to kEnd, which is left out) back to text.
std::string decode_target(const std::vector<std::int64_t>& ids, const Alphabet& alphabet);

// The encoder's result for a batch, what every decoder step attends over.
struct EncoderMemory {
  Tensor outputs;  // [B, T, 2 * hidden], zero at padded steps
  Tensor keys;     // [B, T, decoder_hidden]: outputs through the attention's weight, once
  Tensor mask;     // [B, T]: 1 at padded steps (masked_softmax's convention)
  std::vector<std::size_t> lengths;
};

// The decoder's recurrent state between steps.
struct DecoderState {
  Tensor h, c;  // [B, decoder_hidden]; c only for the LSTM
  Tensor feed;  // [B, decoder_hidden]: the last attentional vector, fed to the next step
};

struct StepResult {
  Tensor attentional;  // [B, decoder_hidden]: tanh(W_c [context; h]), what the output reads
  Tensor weights;      // [B, T]: the attention over the source steps (rows sum to 1)
};

// One decoded text: ids (without kEnd), its log-probability, and the attention of every output
// step ([steps][source positions], steps including the one that produced kEnd).
struct Decoded {
  std::vector<std::int64_t> ids;
  double log_prob = 0;
  std::vector<std::vector<float>> attention;
};

class Seq2Seq : public nn::Module {
 public:
  Seq2Seq(ModelConfig config, Generator& gen);
  std::string type_name() const override { return "Seq2Seq"; }
  using Module::forward;

  const ModelConfig& config() const { return config_; }

  // Source sequences (ids, each non-empty) -> the encoder's memory and the decoder's first state.
  EncoderMemory encode(const std::vector<std::vector<std::int64_t>>& sources, DecoderState& state);
  // One decoder step: reads the previous output characters `previous` [B], updates `state`.
  StepResult step(const EncoderMemory& memory, const Indices& previous, DecoderState& state);
  // Output logits [..., target size] of attentional vectors [..., decoder_hidden].
  Tensor logits(const Tensor& attentional);

  // Teacher forcing: the mean cross-entropy of every target character and the end mark, padding
  // ignored. targets hold ids ending with kEnd (encode_target).
  Tensor loss(const std::vector<std::vector<std::int64_t>>& sources,
              const std::vector<std::vector<std::int64_t>>& targets);

  // The most likely character at each step, for a batch of sources at once.
  std::vector<Decoded> greedy(const std::vector<std::vector<std::int64_t>>& sources);
  // Beam search of width `beam` for one source; beam 1 gives exactly greedy's output. Scores are
  // summed log-probabilities; a hypothesis ends with kEnd or after max_output characters.
  Decoded beam_search(const std::vector<std::int64_t>& source, std::size_t beam);

 private:
  // Log-probabilities [B, V] of the next character; padding and start are impossible (-inf).
  Tensor next_log_probs(const Tensor& attentional);

  ModelConfig config_;
  std::shared_ptr<nn::Embedding> source_embedding_, target_embedding_;
  std::shared_ptr<nn::RecurrentLayer> encoder_;
  std::shared_ptr<nn::Linear> bridge_;     // encoder's final states -> decoder's first h
  std::shared_ptr<nn::RecurrentCell> decoder_;
  std::shared_ptr<nn::Linear> attention_;  // Luong's "general" score: h^T W_a s
  std::shared_ptr<nn::Linear> combine_;    // [context; h] -> attentional vector
  std::shared_ptr<nn::Linear> output_;
};

}  // namespace tg::examples::seq2seq
