// The run flags and the Trainer's options they give.
#include "common/run_flags.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <set>

#include <tapegrad/train/budget_schedule.hpp>
#include <tapegrad/train/files.hpp>
#include <tapegrad/train/parallel.hpp>

#include "common/cli.hpp"

namespace tg::examples {

void add_run_flags(CLI::App& cmd, RunFlags& flags, const std::string& program,
                   const std::string& out_receives) {
  cmd.add_option("--out", flags.out,
                 fmt::format("Run folder for {} (default: runs/{}/<timestamp>)", out_receives,
                             program));
  cmd.add_flag("--overwrite", flags.overwrite,
               "Allow --out to name a folder that holds a checkpoint");
  cmd.add_option("--resume", flags.resume,
                 fmt::format("Continue the run in this folder where it stopped (Ctrl-C, kill, "
                             "crash): `{} train --resume RUN` alone, the flags are the run's; "
                             "without a time limit the result is the same, bit for bit, as a run "
                             "never interrupted",
                             program));
  cmd.add_flag("--allow-data-change", flags.allow_data_change,
               "With --resume: train on the data as it is now when it differs from the run's "
               "(another folder, edited files), instead of refusing");
  number_in(cmd.add_option("--time-limit", flags.time_limit,
                           "Stop training after this many seconds (validation excluded), keeping "
                           "the best weights; 0 = no limit"),
            0.0, 1e9);
}

void add_loop_flags(CLI::App& cmd, std::size_t& epochs, std::size_t& batch, double& clip,
                    std::size_t& patience, const std::string& items, const std::string& monitored) {
  integer_in(cmd.add_option("--epochs", epochs, "Maximum number of epochs"), 1, 100000);
  integer_in(cmd.add_option("--batch", batch, items + " per mini-batch"), 1, 65536);
  number_in(cmd.add_option("--clip", clip, "Clip the gradient's total norm to this; 0 = no clipping"),
            0.0, 1e9);
  integer_in(cmd.add_option("--patience", patience,
                            fmt::format("Early stopping: stop after this many epochs without a "
                                        "better {}; 0 = off (the best epoch's weights are kept "
                                        "either way)",
                                        monitored)),
             0, 100000);
}

void add_schedule_flags(CLI::App& cmd, ScheduleFlags& flags, const std::vector<std::string>& own) {
  std::vector<std::string> names = {"constant", "cosine", "linear"};
  std::string help =
      "Learning rate over the run: constant (after --warmup); cosine or linear: after --warmup, "
      "a decay to --lr-floor x --lr that ends with the last epoch or, with --time-limit, when the "
      "time is spent (the steps it holds are estimated from the speed of the first steps)";
  for (const std::string& choice : own) {
    names.push_back(choice.substr(0, choice.find(':')));
    help += "; " + choice;
  }
  cmd.add_option("--schedule", flags.schedule, help)
      ->check(CLI::IsMember(names))
      ->capture_default_str();
  integer_in(cmd.add_option("--warmup", flags.warmup,
                            "Steps over which the learning rate rises linearly to --lr (constant, "
                            "cosine and linear schedules; at most a quarter of the run)"),
             0, 100000000)
      ->capture_default_str();
  number_in(cmd.add_option("--lr-floor", flags.floor,
                           "The learning rate a cosine or linear schedule ends at, as a fraction "
                           "of --lr"),
            0.0, 1.0)
      ->capture_default_str();
}

namespace {
bool decays(const ScheduleFlags& flags) {
  return flags.schedule == "cosine" || flags.schedule == "linear";
}
}  // namespace

void check_schedule_flags(const CLI::App& cmd, const ScheduleFlags& flags) {
  if (cmd.get_option("--lr-floor")->count() > 0 && !decays(flags))
    throw CLI::ValidationError("--lr-floor", "applies to --schedule cosine or linear (the "
                                             "schedule is " + flags.schedule + ")");
  if (flags.warmup > 0 && !decays(flags) && flags.schedule != "constant")
    throw CLI::ValidationError("--warmup", "applies to --schedule constant, cosine or linear "
                                           "(the schedule is " + flags.schedule + ")");
}

std::shared_ptr<tg::train::Callback> budget_schedule(const ScheduleFlags& flags) {
  if (!decays(flags) && !(flags.schedule == "constant" && flags.warmup > 0)) return nullptr;
  // A constant rate after a warm-up is a "decay" that stays at its floor of 1.
  const double floor = decays(flags) ? flags.floor : 1.0;
  return std::make_shared<tg::train::BudgetSchedule>(
      tg::train::BudgetScheduleOptions()
          .decay(flags.schedule == "linear" ? tg::train::Decay::Linear : tg::train::Decay::Cosine)
          .warmup_steps(flags.warmup)
          .floor(floor));
}

std::string describe(const ScheduleFlags& flags) {
  if (decays(flags))
    return fmt::format("{} (warm-up {} steps, floor {})", flags.schedule, flags.warmup,
                       flags.floor);
  if (flags.schedule == "constant" && flags.warmup > 0)
    return fmt::format("constant (warm-up {} steps)", flags.warmup);
  return flags.schedule;
}

namespace {

// The value an option holds, as text: CLI11's default-capture function reads the bound variable
// (the value given or, if none, the default, or what the program set since); an option without
// one (a callback) shows what was given.
std::string value_of(CLI::Option& o) {
  const std::string shown_default = o.get_default_str();
  o.default_str("");
  o.capture_default_str();
  std::string value = o.get_default_str();
  o.default_str(shown_default);
  if (value.empty())
    for (const std::string& given : o.results()) value += (value.empty() ? "" : " ") + given;
  return value;
}

tg::train::Settings settings_of(CLI::App* command) {
  tg::train::Settings settings;
  if (!command) return settings;
  // Not settings: how this invocation continues the run, and --help.
  const std::set<std::string> not_settings = {"--resume", "--allow-data-change", "--help",
                                              "--help-all"};
  for (CLI::Option* option : command->get_options()) {
    const std::string name = option->get_name();
    if (!not_settings.count(name)) settings.emplace_back(name, value_of(*option));
  }
  return settings;
}

}  // namespace

tg::train::TrainerOptions trainer_options(const RunFlags& flags, const std::string& program) {
  std::filesystem::path dir = !flags.resume.empty() ? flags.resume : flags.out;
  if (dir.empty()) {
    // A new timestamped folder, made by rank 0; the other ranks never write, and only need to
    // know that the run has a folder (its saves are collective).
    const std::filesystem::path base = std::filesystem::path("runs") / program;
    dir = tg::train::parallel().is_root() ? tg::train::make_run_dir(base) : base / "(rank 0's)";
  }
  return tg::train::TrainerOptions()
      .run_dir(dir)
      .overwrite(flags.overwrite)
      .resume(!flags.resume.empty())
      .allow_data_change(flags.allow_data_change)
      .allow_data_change_hint("--allow-data-change")
      .max_time(flags.time_limit)
      .program(program)
      .command_line(flags.started_args)
      .settings(settings_of(flags.command))
      .resume_hint(fmt::format("resume with: {} train --resume", program))
      .divergence_hint("try a smaller --lr or --clip");
}

tg::train::DataFacts data_facts(const std::string& source, const std::string& summary,
                                const tg::train::Fingerprint& read) {
  std::error_code ec;
  const std::filesystem::path absolute = std::filesystem::absolute(source, ec);
  return {{"data source", source.empty() ? "generated" : absolute.lexically_normal().string()},
          {"data", summary + ", fingerprint " + read.hex()}};
}

void parse_with_resume(CLI::App& app, CLI::App& train, int argc, char** argv,
                       const std::string& program, RunFlags& flags) {
  std::vector<std::string> args = resume_command_line(argc, argv, program, flags.started_args);
  std::vector<char*> args_argv;
  for (std::string& arg : args) args_argv.push_back(arg.data());
  parse_args(app, static_cast<int>(args_argv.size()), args_argv.data());
  if (train.parsed()) flags.command = &train;
}

}  // namespace tg::examples
