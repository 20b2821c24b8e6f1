// seq2seq command line: the train / eval / translate subcommands and every flag's help.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/cli.hpp"
#include "common/run_flags.hpp"
#include "seq2seq/commands.hpp"
#include "seq2seq/export.hpp"
#include "tapegrad/nn/rnn_kinds.hpp"

namespace tg::examples::seq2seq {

namespace {

void add_train_options(CLI::App& cmd, TrainArgs& a) {
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
  integer_in(cmd.add_option("--beam", a.beam,
                            "Beam width of the final test report beside greedy decoding; 1 = "
                            "greedy only"),
             1, 100);
  integer_in(cmd.add_option("--seed", a.seed,
                            "Seed of the generated data, the split, the initialisation and the "
                            "shuffling"),
             0, UINT64_MAX);
  add_threads_option(cmd, a.threads);
  add_run_flags(cmd, a.run, kExampleName,
                "the checkpoint, metrics.csv, pictures and the data parts");
}

}  // namespace

int seq2seq_main(int argc, char** argv) {
  return run_main(argc, argv, [&]() -> int {
    CLI::App app{
        "Character-level sequence-to-sequence model with attention (tapegrad example): a "
        "bidirectional GRU / LSTM encoder and an attention decoder, trained by default to write "
        "human dates (\"3rd of March 1999\", \"03/03/99\") as ISO dates (1999-03-03).",
        "seq2seq"};
    app.require_subcommand(1);
    app.option_defaults()->always_capture_default();
    app.footer(
        "Examples:\n"
        "  seq2seq train\n"
        "  seq2seq eval --checkpoint runs/seq2seq/<run>/model.npz\n"
        "  seq2seq translate --checkpoint runs/seq2seq/<run>/model.npz \"3rd of March 1999\" "
        "\"03/03/99\" --beam 5\n"
        "Numeric dates with the year last read day first (03/04/99 is 1999-04-03); two-digit "
        "years are 1950-2049.");

    TrainArgs train;
    CLI::App* train_cmd = app.add_subcommand(
        "train", "Train a model; writes a run folder with the checkpoint, metrics, the data parts, "
                 "attention pictures and the test report");
    add_train_options(*train_cmd, train);

    EvalArgs eval;
    CLI::App* eval_cmd = add_checkpoint_command(
        app, "eval", "Exact match of a checkpoint on a file of pairs (default: the test part of its run)",
        eval.checkpoint, eval.threads);
    eval_cmd->add_option("--data", eval.data,
                         "File of tab-separated pairs (default: test.tsv beside the checkpoint)");
    integer_in(eval_cmd->add_option("--beam", eval.beam,
                                    "Beam width reported beside greedy decoding; 1 = greedy only"),
               1, 100);

    TranslateArgs translate;
    CLI::App* translate_cmd = add_checkpoint_command(
        app, "translate", "Print each source and its translation, tab-separated",
        translate.checkpoint, translate.threads);
    integer_in(translate_cmd->add_option("--beam", translate.beam,
                                         "Beam width; 1 = greedy decoding"),
               1, 100);
    translate_cmd->add_option("sources", translate.sources, "Texts to translate")->required();

    ExportArgs export_args;
    CLI::App* export_cmd = add_export_command(app, export_args);

    parse_with_resume(app, argc, argv, kExampleName, train.run);
    if (export_cmd->parsed()) return run_export(export_args);
    if (train_cmd->parsed()) return run_train(train);
    if (eval_cmd->parsed()) return run_eval(eval);
    return run_translate(translate);
  });
}

}  // namespace tg::examples::seq2seq
