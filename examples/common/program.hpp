// An example's command line: a program of subcommands (train, eval, predict, ...), one of which runs.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace tg::examples {

struct RunFlags;

// What every subcommand that reads a checkpoint takes: --checkpoint FILE and --threads N.
struct CheckpointArgs {
  std::string checkpoint;
  int threads = 0;
};

// What an `export` subcommand takes: the checkpoint and the file or folder to write.
struct ExportArgs {
  std::string checkpoint;
  std::string out;  // its default is the option's
};

class Program {
 public:
  // Shown: every option's --help line ends with its default (CLI11's always_capture_default).
  // PerOption: only the options that call capture_default_str() show one, for programs whose
  // defaults depend on other flags.
  enum class Defaults { Shown, PerOption };

  // What --help says above and below the options.
  struct Help {
    std::string description;
    std::vector<std::string> examples;  // command lines without the program's name
    std::string note;                   // after the examples
  };

  Program(const std::string& name, const Help& help, Defaults defaults = Defaults::Shown);
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  CLI::App& app() { return *app_; }

  // A new T that lives as long as the program: what a subcommand's options are parsed into.
  template <class T>
  T& make() {
    auto value = std::make_shared<T>();
    owned_.push_back(value);
    return *value;
  }

  // Adds the `train` subcommand, which has the run flags (--out, --overwrite, --resume,
  // --allow-data-change, --time-limit, after its own) into `flags`; `out_receives` says what the run folder holds
  // ("the checkpoint, metrics.csv and pictures").
  CLI::App& add_train_command(const std::string& description, RunFlags& flags,
                              const std::string& out_receives, std::function<int()> run);
  // Adds the subcommand `name`; `run` is what it does when it is the one given.
  CLI::App& add_command(const std::string& name, const std::string& description,
                        std::function<int()> run);
  // A subcommand that reads a checkpoint (eval, predict, translate): --checkpoint FILE
  // (required) and --threads.
  CLI::App& add_checkpoint_command(const std::string& name, const std::string& description,
                                   CheckpointArgs& args, std::function<int()> run);

  // Adds `export`: --checkpoint (required) and --out (`out_help`); `run` writes the files.
  CLI::App& add_export_command(const std::string& description, ExportArgs& args,
                               const std::string& out_help, std::function<int()> run);

  // Parses argv (`train --resume RUN`: the arguments RUN was started with), then runs the
  // subcommand given and returns its exit code.
  int run(int argc, char** argv);

 private:
  std::string name_;
  std::unique_ptr<CLI::App> app_;
  std::vector<std::pair<CLI::App*, std::function<int()>>> commands_;
  CLI::App* train_ = nullptr;
  RunFlags* train_flags_ = nullptr;
  std::string train_out_receives_;
  std::vector<std::shared_ptr<void>> owned_;
};

// The `export` of a build without ONNX export (tapegrad::onnx needs libonnx-dev and
// libprotobuf-dev): throws a tg::Error saying so.
[[noreturn]] int refuse_export_without_onnx();

// run_main (one-line errors, exit codes) around a Program: each of `commands` adds a subcommand,
// then the one given runs.
using AddCommand = void (*)(Program&);
int run_program(int argc, char** argv, const std::string& name, const Program::Help& help,
                const std::vector<AddCommand>& commands);

}  // namespace tg::examples
