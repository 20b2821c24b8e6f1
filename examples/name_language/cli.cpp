// name_language command line: the train / eval / predict subcommands and every flag's help.
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "common/cli.hpp"
#include "common/program.hpp"
#include "common/run_flags.hpp"
#include "name_language/commands.hpp"
#include "name_language/export.hpp"
#include "name_language/model.hpp"

namespace tg::examples::names {

namespace {

void add_train_command(Program& program) {
  TrainArgs& a = program.make<TrainArgs>();
  CLI::App& cmd = program.add_train_command(
      "Train a classifier; writes a run folder with the checkpoint, metrics and pictures, and "
      "prints the test results",
      a.run, "the checkpoint, metrics.csv, pictures and split", [&a] { return run_train(a); });
  TrainOptions& t = a.train;
  cmd.add_option("--data", a.data,
                 "Folder of <Language>.txt files, UTF-8, one name per line; the file names are "
                 "the labels (default: data/names)");
  cmd.add_option("--charset", a.charset,
                 "ascii: fold to ASCII letters and \" .,;'\" (NFD, accents dropped); unicode: "
                 "keep code points")
      ->check(CLI::IsMember({"ascii", "unicode"}));
  cmd.add_option("--split", a.split,
                 "names: each name with all its languages in one part, so no test name was seen "
                 "in training; pairs: each (name, language) pair on its own (earlier builds' "
                 "split)")
      ->check(CLI::IsMember({"names", "pairs"}));
  cmd.add_option("--model", a.model,
                 "Recurrent layer: rnn (plain tanh RNN), lstm, gru or mgu (minimal gated unit)")
      ->check(CLI::IsMember(cell_choices()));
  integer_in(cmd.add_option("--hidden", a.hidden, "Hidden units of the recurrent layer"), 1, 4096);
  integer_in(cmd.add_option("--layers", a.layers, "Stacked recurrent layers"), 1, 16);
  cmd.add_flag("--bidirectional,!--no-bidirectional", a.bidirectional,
               "Read each name in both directions and classify from both final states");
  integer_in(cmd.add_option("--embedding", a.embedding,
                            "Character embedding size; 0 = one-hot characters (the from-scratch "
                            "RNN's input)"),
             0, 4096);
  integer_in(cmd.add_option("--ngrams", a.ngrams,
                            "Longest character n-gram of the n-gram member, a bag of the name's "
                            "hashed 1- to N-grams averaged with the recurrent layer's answer; "
                            "0 = the recurrent layer alone"),
             0, 8);
  integer_in(cmd.add_option("--ngram-buckets", a.ngram_buckets,
                            "Rows of the n-gram member's hashed table (a prime spreads them best)"),
             1, 1 << 24);
  number_in(cmd.add_option("--prior-shift", a.prior_shift,
                           "Divide the answer's probabilities by each language's share of the "
                           "training names to this power: 0 = as trained, higher favours the "
                           "rare languages (macro accuracy) over the common ones (accuracy)"),
            0.0, 1.0);
  number_in(cmd.add_option("--dropout", a.dropout,
                           "Dropout on the final hidden state (and between stacked layers)"),
            0.0, 0.99);
  number_in(cmd.add_option("--input-dropout", a.input_dropout,
                           "Dropout on the characters' embeddings (or one-hot vectors) the "
                           "recurrent layer reads"),
            0.0, 0.99);
  cmd.add_option("--pooling", a.pooling,
                 "What the classifier reads of the recurrent layer: last (the final hidden "
                 "states) or concat (those beside the maximum and the mean of its outputs over "
                 "the name's characters)")
      ->check(CLI::IsMember({"last", "concat"}));
  cmd.add_option("--optimizer", t.optimizer,
                 "sgd (with --momentum), adam (AdamW when --weight-decay > 0) or rmsprop")
      ->check(CLI::IsMember({"sgd", "adam", "rmsprop"}));
  number_in(cmd.add_option("--lr", a.lr,
                           "Learning rate (default: 0.002 for adam, 0.001 for rmsprop, 0.05 for "
                           "sgd)"),
            0, 10, true);
  add_schedule_flags(cmd, t.schedule,
                     {"exponential: the learning rate times --lr-decay after every epoch"});
  CLI::Option* lr_decay = number_in(
      cmd.add_option("--lr-decay", t.lr_decay,
                     "Exponential schedule: multiply the learning rate by this after every epoch"),
      0, 1, true);
  cmd.parse_complete_callback([&cmd, lr_decay, &t] {
    if (lr_decay->count() > 0 && t.schedule.schedule != kExponentialSchedule)
      throw CLI::ValidationError("--lr-decay", "applies to --schedule exponential only (the "
                                               "schedule is " + t.schedule.schedule + ")");
    check_schedule_flags(cmd, t.schedule);
  });
  number_in(cmd.add_option("--label-smoothing", t.label_smoothing,
                           "Label smoothing of the loss's targets (PyTorch's): this share of "
                           "each target is spread over all languages"),
            0.0, 1.0, false, true);
  number_in(cmd.add_option("--logit-adjustment", t.logit_adjustment,
                           "Train on the logits plus TAU x log(each language's share of the "
                           "training names) (logit adjustment): the answers learn to favour the "
                           "rare languages (macro accuracy) at little cost in accuracy; 0 = off"),
            0.0, 4.0);
  number_in(cmd.add_option("--momentum", t.momentum, "Momentum of sgd"), 0.0, 0.999);
  number_in(cmd.add_option("--weight-decay", t.weight_decay, "Weight decay (regularisation)"),
            0.0, 1.0);
  cmd.add_option("--class-weights", a.class_weights,
                 "Loss weight per language: none, sqrt (1/sqrt(count)), inverse (1/count) or a "
                 "power P in [0, 1] (1/count^P); raises the small languages' recall (macro "
                 "accuracy) at some cost in overall accuracy")
      ->check([](const std::string& text) -> std::string {
        try {
          parse_class_weights(text);
          return "";
        } catch (const Error& e) {
          return e.what();
        }
      });
  cmd.add_option("--sampling", a.sampling,
                 "How an epoch draws names: natural (each once), sqrt (languages drawn ~ "
                 "sqrt(count)) or balanced (every language equally often)")
      ->check(CLI::IsMember({"natural", "sqrt", "balanced"}));
  add_loop_flags(cmd, t.epochs, t.batch, t.clip, t.patience, "Names", "validation accuracy");
  number_in(cmd.add_option("--average", t.average,
                           "Validate and keep an exponential moving average of the weights with "
                           "this decay per step (e.g. 0.99); 0 = the raw weights"),
            0.0, 0.99999);
  integer_in(cmd.add_option("--seed", a.seed,
                            "Seed of the split, the initialisation, shuffling and dropout"),
             0, UINT64_MAX);
  add_threads_option(cmd, a.threads);
  add_precision_option(cmd, a.precision);
}

void add_prior_shift_override(CLI::App& cmd, std::optional<double>& shift) {
  number_in(cmd.add_option("--prior-shift", shift,
                           "Answer with this prior shift instead of the one trained with (0 = as "
                           "trained, higher favours the rare languages)"),
            0.0, 1.0);
}

void add_eval_command(Program& program) {
  EvalArgs& a = program.make<EvalArgs>();
  CLI::App& cmd = program.add_checkpoint_command(
      "eval",
      "Evaluate a checkpoint on its test split (recomputed from the data and the seed recorded "
      "in it)",
      a, [&a] { return run_eval(a); });
  cmd.add_option("--data", a.data, "Data folder (default: the folder the model was trained on)");
  cmd.add_option("--part", a.part, "Which part: test, validation, train or all")
      ->check(CLI::IsMember({"test", "validation", "train", "all"}));
  add_prior_shift_override(cmd, a.prior_shift);
}

void add_predict_command(Program& program) {
  PredictArgs& a = program.make<PredictArgs>();
  CLI::App& cmd = program.add_checkpoint_command(
      "predict", "Print the most likely languages of each name, with probabilities",
      a, [&a] { return run_predict(a); });
  integer_in(cmd.add_option("--top", a.top, "Languages shown per name"), 1, 1000);
  add_prior_shift_override(cmd, a.prior_shift);
  cmd.add_option("names", a.names, "Names to classify")->required();
}

void add_export_command(Program& program) {
  ExportArgs& a = program.make<ExportArgs>();
  a.out = "model.onnx";
  program.add_export_command(
      "Write the classifier as an ONNX model (opset 17) for ONNX Runtime or a web page, and its "
      "vocabulary and labels as JSON beside it (--out with the extension .json)",
      a, "The .onnx file to write", [&a] { return run_export(a); });
}

}  // namespace

int name_language_main(int argc, char** argv) {
  return run_program(
      argc, argv, kExampleName,
      {"Classifies surnames by language of origin with a character-level recurrent network "
       "(tapegrad example).",
       {"train --data data/names --model gru",
        "eval --checkpoint runs/name_language/<run>/model.npz",
        "predict --checkpoint runs/name_language/<run>/model.npz Rodrigo Nguyen",
        "export --checkpoint runs/name_language/<run>/model.npz --out model.onnx"},
       ""},
      {add_train_command, add_eval_command, add_predict_command, add_export_command});
}

}  // namespace tg::examples::names
