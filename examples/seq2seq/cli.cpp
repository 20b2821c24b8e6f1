// seq2seq command line: the train / eval / translate subcommands and every flag's help.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/cli.hpp"
#include "common/program.hpp"
#include "common/run_flags.hpp"
#include "seq2seq/commands.hpp"
#include "seq2seq/export.hpp"
#include "tapegrad/nn/rnn_kinds.hpp"

namespace tg::examples::seq2seq {

namespace {

void add_beam_option(CLI::App& cmd, std::size_t& beam, const std::string& help) {
  integer_in(cmd.add_option("--beam", beam, help), 1, 100);
}

void add_train_command(Program& program) {
  TrainArgs& a = program.make<TrainArgs>();
  CLI::App& cmd = program.add_train_command(
      "Train a model; writes a run folder with the checkpoint, metrics, the data parts, "
      "attention pictures and the test report",
      a.run, "the checkpoint, metrics.csv, pictures and the data parts",
      [&a] { return run_train(a); });
  TrainOptions& t = a.train;
  cmd.add_option("--data", a.data,
                 "File of tab-separated pairs, one per line: source<TAB>target, or "
                 "source<TAB>target<TAB>group (the report breaks the accuracy down by group); "
                 "split 80/10/10 by source string. Default: generated dates");
  integer_in(cmd.add_option("--train-size", a.sizes.train,
                            "Generated dates: training pairs (ignored with --data)"),
             1, 1000000);
  integer_in(cmd.add_option("--val-size", a.sizes.validation,
                            "Generated dates: validation pairs (ignored with --data)"),
             1, 100000);
  integer_in(cmd.add_option("--test-size", a.sizes.test,
                            "Generated dates: test pairs (ignored with --data)"),
             1, 100000);
  std::vector<std::string> kinds;
  for (nn::CellKind kind : nn::kCellKinds) kinds.push_back(nn::cell_spec(kind).label);
  cmd.add_option("--cell", a.cell,
                 fmt::format("Recurrent cell of the encoder and the decoder: {}",
                             fmt::join(kinds, ", ")))
      ->check(CLI::IsMember(kinds));
  integer_in(cmd.add_option("--embedding", a.embedding, "Character embedding size (source and target)"),
             1, 4096);
  integer_in(cmd.add_option("--hidden", a.hidden, "Encoder units per direction"), 1, 4096);
  integer_in(cmd.add_option("--decoder-hidden", a.decoder_hidden,
                            "Decoder units, also the width of the attentional vector"),
             1, 4096);
  number_in(cmd.add_option("--lr", t.lr, "Adam's learning rate"), 0, 10, true);
  number_in(cmd.add_option("--lr-decay", t.lr_decay,
                           "Multiply the learning rate by this after every epoch (1 = constant)"),
            0, 1, true);
  add_loop_flags(cmd, t.epochs, t.batch, t.clip, t.patience, "Pairs",
                 "validation exact match (a perfect one stops too)");
  add_beam_option(cmd, a.beam,
                  "Beam width of the final test report beside greedy decoding; 1 = greedy only");
  integer_in(cmd.add_option("--seed", a.seed,
                            "Seed of the generated data, the split, the initialisation and the "
                            "shuffling"),
             0, UINT64_MAX);
  add_threads_option(cmd, a.threads);
}

void add_eval_command(Program& program) {
  EvalArgs& a = program.make<EvalArgs>();
  CLI::App& cmd = program.add_checkpoint_command(
      "eval",
      "Exact match of a checkpoint on a file of pairs (default: the test part of its run)",
      a, [&a] { return run_eval(a); });
  cmd.add_option("--data", a.data,
                 "File of tab-separated pairs (default: test.tsv beside the checkpoint)");
  add_beam_option(cmd, a.beam, "Beam width reported beside greedy decoding; 1 = greedy only");
}

void add_translate_command(Program& program) {
  TranslateArgs& a = program.make<TranslateArgs>();
  CLI::App& cmd = program.add_checkpoint_command(
      "translate", "Print each source and its translation, tab-separated", a,
      [&a] { return run_translate(a); });
  add_beam_option(cmd, a.beam, "Beam width; 1 = greedy decoding");
  cmd.add_option("sources", a.sources, "Texts to translate")->required();
}

void add_export_command(Program& program) {
  ExportArgs& a = program.make<ExportArgs>();
  a.out = "seq2seq_onnx";
  program.add_export_command(
      "Write the encoder and one decoder step with attention as ONNX models (opset 17), and the "
      "alphabets as JSON, into the folder --out",
      a, "Folder to write encoder.onnx, decoder_step.onnx and seq2seq.json into",
      [&a] { return run_export(a); });
}

}  // namespace

int seq2seq_main(int argc, char** argv) {
  return run_program(
      argc, argv, kExampleName,
      {"Character-level sequence-to-sequence model with attention (tapegrad example): a "
       "bidirectional GRU / LSTM encoder and an attention decoder, trained by default to write "
       "human dates (\"3rd of March 1999\", \"03/03/99\") as ISO dates (1999-03-03).",
       {"train", "eval --checkpoint runs/seq2seq/<run>/model.npz",
        "translate --checkpoint runs/seq2seq/<run>/model.npz \"3rd of March 1999\" "
        "\"03/03/99\" --beam 5"},
       "Numeric dates with the year last read day first (03/04/99 is 1999-04-03); two-digit "
       "years are 1950-2049."},
      {add_train_command, add_eval_command, add_translate_command, add_export_command});
}

}  // namespace tg::examples::seq2seq
