// An example's command line: a program of subcommands, one of which runs.
#include "common/program.hpp"

#include <CLI/CLI.hpp>

#include <stdexcept>

#include "common/cli.hpp"
#include "common/run_flags.hpp"

namespace tg::examples {

Program::Program(const std::string& name, const Help& help, Defaults defaults)
    : name_(name), app_(std::make_unique<CLI::App>(help.description, name)) {
  app_->require_subcommand(1);
  // Subcommands copy the option defaults when they are created (CLI11's App constructor), so
  // this shows every option's default in each subcommand's --help.
  if (defaults == Defaults::Shown) app_->option_defaults()->always_capture_default();
  std::string footer;
  for (const std::string& example : help.examples)
    footer += (footer.empty() ? "Examples:\n  " : "\n  ") + name + " " + example;
  if (!help.note.empty()) footer += (footer.empty() ? "" : "\n") + help.note;
  if (!footer.empty()) app_->footer(footer);
}

Program::~Program() = default;

CLI::App& Program::add_train_command(const std::string& description, RunFlags& flags,
                                     const std::string& out_receives, std::function<int()> run) {
  train_ = &add_command("train", description, std::move(run));
  train_flags_ = &flags;
  train_out_receives_ = out_receives;
  return *train_;
}

CLI::App& Program::add_command(const std::string& name, const std::string& description,
                               std::function<int()> run) {
  CLI::App* command = app_->add_subcommand(name, description);
  commands_.emplace_back(command, std::move(run));
  return *command;
}

CLI::App& Program::add_checkpoint_command(const std::string& name,
                                          const std::string& description,
                                          CheckpointArgs& args, std::function<int()> run) {
  CLI::App& command = add_command(name, description, std::move(run));
  command.add_option("--checkpoint", args.checkpoint, "model.npz written by train")->required();
  add_threads_option(command, args.threads);
  return command;
}

CLI::App& Program::add_export_command(const std::string& description, ExportArgs& args,
                                      const std::string& out_help, std::function<int()> run) {
  CLI::App& command = add_command("export", description, std::move(run));
  command.add_option("--checkpoint", args.checkpoint, "model.npz written by train")->required();
  command.add_option("--out", args.out, out_help)->capture_default_str();
  return command;
}

int Program::run(int argc, char** argv) {
  if (train_) {
    add_run_flags(*train_, *train_flags_, name_, train_out_receives_);
    parse_with_resume(*app_, *train_, argc, argv, name_, *train_flags_);
  } else {
    parse_args(*app_, argc, argv);
  }
  for (const auto& [command, run] : commands_)
    if (command->parsed()) return run();
  // require_subcommand(1) has refused a command line without one.
  throw std::logic_error("Program::run: no subcommand was parsed");
}

int refuse_export_without_onnx() {
  throw Error("export: this build has no ONNX export (tapegrad::onnx is built when libonnx-dev "
              "and libprotobuf-dev are installed; see scripts/deps.sh)");
}

int run_program(int argc, char** argv, const std::string& name, const Program::Help& help,
                const std::vector<AddCommand>& commands) {
  return run_main(argc, argv, [&] {
    Program program(name, help);
    for (AddCommand add : commands) add(program);
    return program.run(argc, argv);
  });
}

}  // namespace tg::examples
