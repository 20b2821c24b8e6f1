// baby_lm's window mode, as the seed: shuffled windows of characters, each predicting the next one.
//
// By default every prefix of a window predicts its next character too (the top LSTM returns
// every step, as Keras' return_sequences=True), not only the whole window. Generation steps the
// LSTM one character at a time with its state carried, so it asks for predictions after 7, 8,
// ..., 60 characters; a model scored only after exactly 15 characters from a zero state has
// never been taught those. Measured on the seed's 130 phrases: 74-78% of the words generated from
// "me want" at temperature 0.5 are corpus words when only the last step is scored, 100% when
// every step is. --last-step-only trains exactly as the seed.
#include "baby_lm/train.hpp"

#include <cstdio>
#include <optional>

#include <fmt/format.h>

#include <tapegrad/autograd/ops/elementwise.hpp>
#include <tapegrad/autograd/ops/loss.hpp>
#include <tapegrad/autograd/tape.hpp>
#include <tapegrad/train/checkpoint.hpp>
#include <tapegrad/train/early_stopping.hpp>
#include <tapegrad/train/svg.hpp>

#include "common/job.hpp"

namespace tg::baby_lm {

WindowScore evaluate_windows(BabyLM& model, const std::vector<std::int64_t>& ids,
                             std::size_t window, std::size_t batch, const std::string& what) {
  NoGradGuard no_grad;
  nn::EvalModeGuard eval(model);
  WindowScore score;
  score.windows = window_count(ids.size(), window, what);
  std::vector<std::size_t> starts(score.windows);
  for (std::size_t i = 0; i < starts.size(); ++i) starts[i] = i;
  Indices inputs, targets;
  LastStepScore last;
  for (std::size_t first = 0; first < score.windows; first += batch) {
    const std::size_t n = std::min(batch, score.windows - first);
    fill_windows(ids, window, starts.data() + first, n, inputs, targets);
    const LastStepScore s = score_last_steps(model.forward(inputs, {}, false).logits, targets, 1);
    last.loss_sum += s.loss_sum;
    last.correct += s.correct;
  }
  score.loss = last.loss_sum / double(score.windows);
  score.accuracy = double(last.correct) / double(score.windows);
  return score;
}

int train_windows(Session& s) {
  const TrainOptions& o = s.options;
  BabyLM& model = *s.model;
  const std::vector<std::int64_t>& ids = s.corpus.ids;
  const std::size_t windows = window_count(ids.size(), o.window, o.corpus.string());
  // Under mpirun each global batch of N x --batch windows is split between the ranks.
  examples::Job& job = examples::Job::current();
  const std::size_t global_batch = o.batch * static_cast<std::size_t>(job.size());
  const std::size_t batches = (windows + global_batch - 1) / global_batch;
  const double clip = o.clip < 0 ? 0.0 : o.clip;
  const bool every_step = !o.last_step_only;
  const std::size_t steps_scored = every_step ? o.window : 1;
  const nn::NamedTensors params = model.named_parameters();
  std::printf("window mode: %zu windows of %zu characters, %zu batches of %zu per epoch; "
              "the loss scores %s\n",
              windows, o.window, batches, global_batch,
              every_step ? "the prediction after every prefix of a window (accuracy and "
                           "last-step loss: after the whole window)"
                         : "only the prediction after the whole window");

  const std::vector<std::string> columns{"epoch", "loss", "last_step_loss", "accuracy",
                                         "windows_per_s", "epoch_seconds", "train_seconds"};
  // The loop's state at the end of an epoch is the resume point: with it saved, an interrupted
  // run resumed is the same run.
  std::optional<tg::train::ResumeState> resumed;
  if (!o.resume.empty()) resumed = tg::train::ResumeState::load(s.run_dir, kExampleName);
  std::size_t first_epoch = 1;
  if (resumed) {
    if (resumed->size("finished"))
      throw Error("--resume: " + tg::train::quoted(s.run_dir) + " has finished; nothing to resume");
    first_epoch = resumed->size("epoch") + 1;
  }
  tg::train::CsvWriter csv =
      resumed ? tg::train::CsvWriter(s.run_dir / "metrics.csv", columns, first_epoch - 1)
              : tg::train::CsvWriter(s.run_dir / "metrics.csv", columns);
  tg::train::LineChart chart;
  chart.title = "baby_lm training loss";
  chart.x_label = "epoch";
  chart.y_label = "loss (nats per character)";
  chart.series.push_back({every_step ? "training loss (every step)" : "training loss", {}, false});
  if (every_step) chart.series.push_back({"after the whole window", {}, true});
  chart.y_min = 0.0;
  tg::train::EarlyStopTracker stopping(o.patience);
  double train_seconds = 0;
  std::size_t target_epoch = 0;
  double target_seconds = 0;
  Indices inputs, targets;
  if (resumed) {
    resume_session(s, *resumed);
    resumed->get("stopping.", stopping);
    train_seconds = resumed->number("train_seconds");
    target_epoch = resumed->size("target_epoch");
    target_seconds = resumed->number("target_seconds");
    for (const auto& row : csv.kept()) {
      chart.series[0].points.push_back({std::stod(row.at(0)), std::stod(row.at(1))});
      if (every_step) chart.series[1].points.push_back({std::stod(row.at(0)), std::stod(row.at(2))});
    }
    std::printf("resuming after epoch %zu\n", first_epoch - 1);
  }
  const auto save_resume_point = [&](std::size_t epoch, bool finished,
                                     const tg::train::EpochPosition* stopped_in = nullptr) {
    tg::train::ResumeState state = resume_state(s);
    if (stopped_in) stopped_in->put(state);
    state.put("stopping.", stopping);
    state.put_size("epoch", epoch);
    state.put_size("finished", finished);
    state.put_number("train_seconds", train_seconds);
    state.put_size("target_epoch", target_epoch);
    state.put_number("target_seconds", target_seconds);
    state.save(s.run_dir);
  };
  if (!resumed) save_resume_point(0, false);
  std::optional<tg::train::EpochPosition> stopped_in;  // of a run stopped in the middle of an epoch
  if (resumed) stopped_in = tg::train::EpochPosition::get(*resumed, windows);
  if (stopped_in && (stopped_in->order.size() != windows || stopped_in->next_batch > batches))
    throw Error("--resume: the saved position in the stopped epoch does not fit this corpus");

  job.attach(model);
  tg::train::StopRequest signal_stop(s.run_dir);
  model.train();
  std::size_t epoch = first_epoch;
  for (; epoch <= o.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    // An epoch stopped by a signal continues with its own order, where it stopped.
    const bool continuing = stopped_in && stopped_in->epoch == epoch;
    const std::vector<std::size_t> order =
        continuing ? stopped_in->order : shuffled_order(windows, s.gen);
    tg::train::Progress progress(
        batches, tg::train::epoch_progress(fmt::format("epoch {}/{}", epoch, o.epochs), "windows"));
    LastStepScore last;
    std::size_t first_batch = 0;
    double earlier_seconds = 0;
    if (continuing) {
      first_batch = stopped_in->continue_in(progress);
      earlier_seconds = stopped_in->seconds;
      last.loss_sum = stopped_in->sums["last_loss_sum"];
      last.correct = static_cast<std::size_t>(stopped_in->sums["last_correct"]);
      last.count = static_cast<std::size_t>(stopped_in->sums["last_count"]);
      stopped_in.reset();
    }
    for (std::size_t b = first_batch; b < batches; ++b) {
      if (signal_stop.requested()) {
        tg::train::EpochPosition position = tg::train::EpochPosition::at(epoch, b, progress);
        position.order = order;
        position.seconds = seconds_since(start) + earlier_seconds;
        position.sums = {{"last_loss_sum", last.loss_sum},
                         {"last_correct", double(last.correct)},
                         {"last_count", double(last.count)}};
        save_resume_point(epoch - 1, false, &position);
        signal_stop.stopped(epoch, b);
      }
      const std::size_t global_first = b * global_batch;
      const std::size_t global_n = std::min(global_batch, windows - global_first);
      const auto [share_first, share_last] = job.share(global_n);
      const std::size_t n = share_last - share_first;
      // [this rank's part of the global mean loss, last-step loss sum, correct, count], summed.
      std::vector<double> step_stats(4, 0.0);
      s.optimizer->zero_grad();
      if (n > 0) {
        fill_windows(ids, o.window, order.data() + global_first + share_first, n, inputs, targets,
                     every_step);
        const LmOutput out = model.forward(inputs, {}, every_step);
        const Tensor loss = cross_entropy(out.logits, targets);
        const double share = double(n) / double(global_n);
        (job.size() > 1 ? loss * examples::share_loss_scale(job, double(n), double(global_n))
                        : loss)
            .backward();
        const LastStepScore batch_last = score_last_steps(out.logits, targets, steps_scored);
        step_stats = {loss.item() * share, batch_last.loss_sum, double(batch_last.correct),
                      double(batch_last.count)};
      }
      job.average_gradients();
      job.sum(step_stats);
      tg::train::check_loss_finite(step_stats[0], epoch, b + 1);
      if (clip > 0) optim::clip_grad_norm(params, clip);
      s.optimizer->step();
      last.loss_sum += step_stats[1];
      last.correct += static_cast<std::size_t>(step_stats[2]);
      last.count += static_cast<std::size_t>(step_stats[3]);
      const std::string accuracy = fmt::format("acc {:.1f}%", 100.0 * last.correct / last.count);
      progress.set_note(every_step ? fmt::format("last step {:.4f}  {}",
                                                 last.loss_sum / last.count, accuracy)
                                   : accuracy);
      progress.step(step_stats[0], global_n);
    }
    const double epoch_seconds = seconds_since(start) + earlier_seconds;
    train_seconds += epoch_seconds;
    const double loss = progress.mean_loss(), accuracy = double(last.correct) / windows;
    const double last_step_loss = last.loss_sum / double(windows);
    const bool improved = stopping.update(loss, epoch, model);
    if (!target_epoch && loss < o.target_loss) {
      target_epoch = epoch;
      target_seconds = train_seconds;
    }
    progress.finish(fmt::format("train {:.1f}s{}", train_seconds, improved ? "  (best)" : ""));

    csv.write_row({epoch, loss, last_step_loss, accuracy, windows / epoch_seconds, epoch_seconds,
                   train_seconds});
    chart.series[0].points.push_back({double(epoch), loss});
    if (every_step) chart.series[1].points.push_back({double(epoch), last_step_loss});
    tg::train::write_line_chart(s.run_dir / "loss.svg", chart);
    s.info.extra["epochs"] = std::to_string(epoch);
    if (improved) {
      s.info.extra["best_epoch"] = std::to_string(epoch);
      s.info.extra["best_loss"] = fmt::format("{:.6f}", loss);
      save_session(s);
    }
    const bool stop = stopping.should_stop();
    save_resume_point(epoch, stop || epoch == o.epochs);
    if (stop) {
      std::printf("early stopping: no improvement on %.4f (epoch %zu) for %zu epochs\n",
                  stopping.best(), stopping.best_epoch(), o.patience);
      break;
    }
  }
  stopping.restore(model);
  save_session(s);
  std::printf("best loss %.4f at epoch %zu (weights restored); %.1f s of training\n",
              stopping.best(), stopping.best_epoch(), train_seconds);
  job.print_communication_share(train_seconds);
  if (target_epoch)
    std::printf("loss first below %g at epoch %zu, after %.1f s of training\n", o.target_loss,
                target_epoch, target_seconds);
  else
    std::printf("loss never fell below %g\n", o.target_loss);
  std::printf("saved %s, %s, %s\n", (s.run_dir / "model.npz").string().c_str(),
              (s.run_dir / "metrics.csv").string().c_str(),
              (s.run_dir / "loss.svg").string().c_str());
  std::printf("samples:\n");
  print_samples(s, {"me want", "me love", "me see"}, o.sample_length);
  return 0;
}

}  // namespace tg::baby_lm
