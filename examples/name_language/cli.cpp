// name_language command line: the train / eval / predict subcommands and every flag's help.
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "common/cli.hpp"
#include "common/run_flags.hpp"
#include "name_language/commands.hpp"
#include "name_language/export.hpp"
#include "name_language/model.hpp"

namespace tg::examples::names {

namespace {

void add_train_options(CLI::App& cmd, TrainArgs& a) {
  TrainOptions& t = a.train;
  cmd.add_option("--data", a.data,
                 "Folder of <Language>.txt files, UTF-8, one name per line; the file names are "
                 "the labels (default: data/names)");
  cmd.add_option("--charset", a.charset,
                 "ascii: fold to ASCII letters and \" .,;'\" (NFD, accents dropped); unicode: "
                 "keep code points")
      ->check(CLI::IsMember({"ascii", "unicode"}));
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
  number_in(cmd.add_option("--dropout", a.dropout,
                           "Dropout on the final hidden state (and between stacked layers)"),
            0.0, 0.99);
  cmd.add_option("--optimizer", t.optimizer,
                 "sgd (with --momentum), adam (AdamW when --weight-decay > 0) or rmsprop")
      ->check(CLI::IsMember({"sgd", "adam", "rmsprop"}));
  number_in(cmd.add_option("--lr", a.lr,
                           "Learning rate (default: 0.002 for adam, 0.001 for rmsprop, 0.05 for "
                           "sgd)"),
            0, 10, true);
  number_in(cmd.add_option("--lr-decay", t.lr_decay,
                           "Multiply the learning rate by this after every epoch (1 = constant)"),
            0, 1, true);
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
  add_run_flags(cmd, a.run, kExampleName, "the checkpoint, metrics.csv, pictures and split");
}

}  // namespace

int name_language_main(int argc, char** argv) {
  return run_main(argc, argv, [&]() -> int {
    CLI::App app{
        "Classifies surnames by language of origin with a character-level recurrent network "
        "(tapegrad example).",
        "name_language"};
    app.require_subcommand(1);
    // Subcommands copy the option defaults when they are created (CLI11's App constructor), so
    // this shows every option's default in each subcommand's --help.
    app.option_defaults()->always_capture_default();
    app.footer(
        "Examples:\n"
        "  name_language train --data data/names --model gru\n"
        "  name_language eval --checkpoint runs/name_language/<run>/model.npz\n"
        "  name_language predict --checkpoint runs/name_language/<run>/model.npz Rodrigo Nguyen");

    TrainArgs train;
    CLI::App* train_cmd = app.add_subcommand(
        "train", "Train a classifier; writes a run folder with the checkpoint, metrics and "
                 "pictures, and prints the test results");
    add_train_options(*train_cmd, train);

    EvalArgs eval;
    CLI::App* eval_cmd = add_checkpoint_command(
        app, "eval",
        "Evaluate a checkpoint on its test split (recomputed from the data and the seed recorded "
        "in it)",
        eval.checkpoint, eval.threads);
    eval_cmd->add_option("--data", eval.data,
                         "Data folder (default: the folder the model was trained on)");
    eval_cmd->add_option("--part", eval.part, "Which part: test, validation, train or all")
        ->check(CLI::IsMember({"test", "validation", "train", "all"}));

    PredictArgs predict;
    CLI::App* predict_cmd = add_checkpoint_command(
        app, "predict", "Print the most likely languages of each name, with probabilities",
        predict.checkpoint, predict.threads);
    integer_in(predict_cmd->add_option("--top", predict.top, "Languages shown per name"), 1, 1000);
    predict_cmd->add_option("names", predict.names, "Names to classify")->required();

    ExportArgs export_args;
    CLI::App* export_cmd = add_export_command(app, export_args);

    parse_with_resume(app, argc, argv, kExampleName, train.run);
    if (export_cmd->parsed()) return run_export(export_args);
    if (train_cmd->parsed()) return run_train(train);
    if (eval_cmd->parsed()) return run_eval(eval);
    return run_predict(predict);
  });
}

}  // namespace tg::examples::names
