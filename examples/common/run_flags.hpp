// The flags of every example's `train` that say where its run goes and how it stops: --out,
// --overwrite, --resume, --allow-data-change and --time-limit, declared once and turned into the Trainer's options.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <tapegrad/train/callbacks.hpp>
#include <tapegrad/train/fingerprint.hpp>
#include <tapegrad/train/trainer.hpp>

namespace CLI {
class App;
}

namespace tg::examples {

struct RunFlags {
  std::string out;        // empty: runs/<program>/<timestamp>
  bool overwrite = false;
  std::string resume;     // the run folder to continue
  bool allow_data_change = false;  // resume on data that differs from the run's
  double time_limit = 0;  // seconds of training; 0: none
  std::string started_args;  // how the run was started (resume_command_line fills it)
  // The `train` command given (parse_with_resume sets it): its options' values when the run's
  // Trainer options are made, defaults a program derives after parsing included, are the run's
  // settings (tg::train::TrainerOptions::settings).
  CLI::App* command = nullptr;
};

// Adds --out (whose help says what the folder receives, e.g. "the checkpoint, metrics.csv and
// pictures"), --overwrite, --resume, --allow-data-change and --time-limit to `cmd`. flags.time_limit's value is the
// default shown.
void add_run_flags(CLI::App& cmd, RunFlags& flags, const std::string& program,
                   const std::string& out_receives);

// Adds the flags of the loop every example has: --epochs, --batch ("<items> per mini-batch":
// items "Pairs"), --clip (the gradients' total norm) and --patience (epochs without a better
// `monitored`, "validation accuracy", before early stopping), writing to the given fields.
void add_loop_flags(CLI::App& cmd, std::size_t& epochs, std::size_t& batch, double& clip,
                    std::size_t& patience, const std::string& items, const std::string& monitored);

// How the learning rate moves over a run: --schedule, --warmup and --lr-floor.
struct ScheduleFlags {
  std::string schedule = "constant";  // constant, cosine, linear, or a program's own
  std::size_t warmup = 0;             // steps of linear warm-up
  double floor = 0.1;                 // the last step's lr, as a fraction of --lr
};

// Adds --schedule (constant, cosine, linear, then `own` choices, each "name: what it does"),
// --warmup and --lr-floor; the flags' values are the defaults shown.
void add_schedule_flags(CLI::App& cmd, ScheduleFlags& flags,
                        const std::vector<std::string>& own = {});

// Refuses (CLI::ValidationError) --lr-floor given with a schedule that does not decay, and
// --warmup with a program's own schedule. Call it once the schedule is final.
void check_schedule_flags(const CLI::App& cmd, const ScheduleFlags& flags);

// The tg::train::BudgetSchedule the flags ask for (cosine or linear: the decay ends with the run's
// last epoch or, with --time-limit, when its time is spent; constant with a warm-up); null for
// a constant rate and for a program's own schedules.
std::shared_ptr<tg::train::Callback> budget_schedule(const ScheduleFlags& flags);

// "cosine (warm-up 100 steps, floor 0.1)" or "constant": the schedule as a run prints it.
std::string describe(const ScheduleFlags& flags);

// The Trainer's options for the flags: the run folder (--out, or a new runs/<program>/<stamp>;
// --resume's), overwrite, resume, max_time, the program's name, how it was started, its
// settings (every other option of `train` with its value now), and the lines that tell how to
// resume and what to try after a diverged loss.
tg::train::TrainerOptions trainer_options(const RunFlags& flags, const std::string& program);

// The facts a resumed run checks (TrainerOptions::same_data): the data's source as an absolute
// path ("" for generated data: "generated"), and `summary` ("1,016 names in 18 languages") with
// the fingerprint of what was read.
tg::train::DataFacts data_facts(const std::string& source, const std::string& summary,
                                const tg::train::Fingerprint& read);

// Parses argv (or, for `train --resume RUN`, the run's recorded arguments) into `app`; when
// `train` (a subcommand of app) is the command given, sets flags.command.
void parse_with_resume(CLI::App& app, CLI::App& train, int argc, char** argv,
                       const std::string& program, RunFlags& flags);

}  // namespace tg::examples
