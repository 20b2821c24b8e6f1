// baby_lm's stateful mode for long texts: contiguous streams, truncated BPTT, held-out bits/char.
#include "baby_lm/train.hpp"

#include <cmath>
#include <cstdio>
#include <optional>

#include <fmt/format.h>
#include <xtensor/xadapt.hpp>
#include <xtensor/xview.hpp>

#include <tapegrad/autograd/ops/loss.hpp>
#include <tapegrad/autograd/tape.hpp>
#include <tapegrad/train/checkpoint.hpp>
#include <tapegrad/train/early_stopping.hpp>
#include <tapegrad/train/resume.hpp>
#include <tapegrad/train/svg.hpp>

#include "common/job.hpp"
#include "common/text.hpp"

namespace tg::baby_lm {

namespace {

struct Split {
  std::vector<std::int64_t> train, val;
};

// The last `fraction` of the tokens held out; each part must have room for its streams.
Split split_tail(const std::vector<std::int64_t>& ids, double fraction, std::size_t streams,
                 const std::string& what) {
  if (!(fraction > 0.0 && fraction < 1.0))
    throw Error(fmt::format("--val-fraction: must be in (0, 1), got {}", fraction));
  const auto held = static_cast<std::size_t>(std::llround(fraction * double(ids.size())));
  if (held < 2 || ids.size() - held < streams + 1)
    throw Error(fmt::format("{}: {} characters are too few to hold out {:.0f}% and cut the rest "
                            "into {} streams",
                            what, ids.size(), fraction * 100, streams));
  Split split;
  split.train.assign(ids.begin(), ids.end() - static_cast<std::ptrdiff_t>(held));
  split.val.assign(ids.end() - static_cast<std::ptrdiff_t>(held), ids.end());
  return split;
}

// Rows [first, last) of a [streams, steps] batch: one rank's streams.
Indices stream_rows(const Indices& batch, std::size_t first, std::size_t last) {
  const std::size_t steps = batch.shape.at(1);
  return Indices(std::vector<std::int64_t>(batch.data.begin() + std::ptrdiff_t(first * steps),
                                           batch.data.begin() + std::ptrdiff_t(last * steps)),
                 {last - first, steps});
}

// Every rank's carried stream states put together ([1, streams, units] per layer, as a run of
// one process holds them), so that a stopped data-parallel run saves where it stopped.
LmState all_streams(const LmState& mine, std::size_t streams, const examples::Job& job) {
  const auto gather = [&](const Tensor& part) {
    const auto& rows = part.value<float>();
    const std::size_t units = part.shape().at(2);
    std::vector<float> whole =
        job.all_gather_rows(std::vector<float>(rows.begin(), rows.end()), streams, units);
    return Tensor(xt::xarray<float>(xt::adapt(whole, Shape{1, streams, units})));
  };
  LmState out;
  for (const nn::RecurrentState& layer : mine) out.push_back({gather(layer.h), gather(layer.c)});
  return out;
}

// This rank's streams [first, last) of a saved [1, streams, units] state.
Tensor own_streams(const Tensor& whole, std::size_t first, std::size_t last) {
  return Tensor(xt::xarray<float>(
      xt::view(whole.value<float>(), xt::all(), xt::range(first, last), xt::all())));
}

}  // namespace

void check_stateful(const TrainOptions& o, const Corpus& corpus) {
  const std::string what = o.corpus.string();
  corpus.vocab.encode(examples::decode_utf8(o.sample_prompt, {"--sample-prompt", 0}),
                      "--sample-prompt");
  // The default prompt starts a line: without a newline in the corpus the first validation
  // would fail after a whole epoch of training.
  if (o.sample_prompt.empty() && !corpus.vocab.contains(U'\n'))
    throw Error(what + ": the corpus has no newline, so samples cannot start a line; pass "
                       "--sample-prompt TEXT");
  const std::size_t streams = o.batch * static_cast<std::size_t>(examples::Job::current().size());
  const Split split = split_tail(corpus.ids, o.val_fraction, streams, what);
  (void)StreamBatches(split.train, streams, o.bptt, what);
  (void)StreamBatches(split.val, std::min(streams, split.val.size() - 1), o.bptt, "held-out tail");
}

double evaluate_streams(BabyLM& model, const StreamBatches& batches) {
  NoGradGuard no_grad;
  nn::EvalModeGuard eval(model);
  CrossEntropyOptions sum;
  sum.reduction(Reduction::Sum);
  LmState state;
  Indices inputs, targets;
  double total = 0;
  std::size_t count = 0;
  for (std::size_t k = 0; k < batches.batches(); ++k) {
    batches.batch(k, inputs, targets);
    const LmOutput out = model.forward(inputs, state, true);
    total += cross_entropy(out.logits, Indices(targets.data), sum).item();
    count += targets.size();
    state = out.state;
  }
  return total / double(count);
}

int train_stateful(Session& s) {
  const TrainOptions& o = s.options;
  BabyLM& model = *s.model;
  const std::string what = o.corpus.string();
  // Under mpirun the text is cut into N x --batch streams; each rank trains --batch of them,
  // carrying their state from batch to batch.
  examples::Job& job = examples::Job::current();
  const std::size_t streams = o.batch * static_cast<std::size_t>(job.size());
  const auto [first_stream, last_stream] = job.share(streams);
  const Split split = split_tail(s.corpus.ids, o.val_fraction, streams, what);
  const StreamBatches train_batches(split.train, streams, o.bptt, what);
  // Every rank scores the whole held-out tail, cut as a 1-process run of the global batch cuts
  // it, so all ranks (and runs of any size) take the same early-stopping decisions.
  const StreamBatches val_batches(split.val, std::min(streams, split.val.size() - 1), o.bptt,
                                  "held-out tail");
  const std::size_t batches = train_batches.batches();
  const double clip = o.clip < 0 ? 5.0 : o.clip;
  const nn::NamedTensors params = model.named_parameters();
  std::printf("stateful mode: %zu training characters as %zu streams of %zu, %zu batches of "
              "%zu x %zu per epoch; %zu held-out characters; gradient norm clipped at %g\n",
              split.train.size(), streams, train_batches.stream_length(), batches, streams,
              o.bptt, split.val.size(), clip);

  const std::vector<std::string> columns{"epoch",    "step",    "train_chars",
                                         "train_loss", "train_bpc", "val_loss",
                                         "val_bpc",  "chars_per_s", "train_seconds"};
  // The resume point is the end of an epoch (after its validation), as in window mode; one
  // metrics row per validation.
  std::optional<tg::train::ResumeState> resumed;
  if (!o.resume.empty()) resumed = tg::train::ResumeState::load(s.run_dir, kExampleName);
  if (resumed && resumed->size("finished"))
    throw Error("--resume: " + tg::train::quoted(s.run_dir) + " has finished; nothing to resume");
  tg::train::CsvWriter csv = resumed ? tg::train::CsvWriter(s.run_dir / "metrics.csv", columns,
                                                            resumed->size("validations"))
                                     : tg::train::CsvWriter(s.run_dir / "metrics.csv", columns);
  tg::train::LineChart chart;
  chart.title = "baby_lm stateful training";
  chart.x_label = "batches";
  chart.y_label = "bits per character";
  chart.series.push_back({"training", {}, false});
  chart.series.push_back({"validation (held-out tail)", {}, true});
  chart.y_min = 0.0;
  tg::train::EarlyStopTracker stopping(o.patience);
  Generator sample_gen(o.seed + 1);
  SamplingOptions sampling;
  sampling.temperature = 0.8;

  double train_seconds = 0, interval_seconds = 0, interval_loss = 0;
  std::size_t step = 0, train_chars = 0, interval_chars = 0, validations = 0;
  // Validation, report row, chart and sample; returns whether early stopping says stop.
  auto validate = [&](std::size_t epoch, tg::train::Progress* progress) {
    const double val = evaluate_streams(model, val_batches);
    const double train_loss = interval_loss / double(interval_chars);
    const double rate = interval_chars / interval_seconds;
    const bool improved = stopping.update(val, ++validations, model);
    const std::string sample = generate(model, s.corpus.vocab, o.sample_prompt, o.sample_length,
                                        sampling, sample_gen, "--sample-prompt");
    const std::string report = fmt::format(
        "validation at batch {}: {:.4f} bits/char held out (training {:.4f}), {:.0f} chars/s{}\n"
        "  sample: {}",
        step, nats_to_bits(val), nats_to_bits(train_loss), rate, improved ? "  (best)" : "",
        one_line(o.sample_prompt + sample));
    if (progress)
      progress->message(report);
    else
      std::printf("%s\n", report.c_str());
    csv.write_row({epoch, step, train_chars, train_loss, nats_to_bits(train_loss), val,
                   nats_to_bits(val), rate, train_seconds});
    chart.series[0].points.push_back({double(step), nats_to_bits(train_loss)});
    chart.series[1].points.push_back({double(step), nats_to_bits(val)});
    tg::train::write_line_chart(s.run_dir / "loss.svg", chart);
    s.info.extra["epochs"] = std::to_string(epoch);
    if (improved) {
      s.info.extra["best_val_bpc"] = fmt::format("{:.6f}", nats_to_bits(val));
      save_session(s);
    }
    interval_loss = interval_seconds = 0;
    interval_chars = 0;
    return stopping.should_stop();
  };

  std::size_t first_epoch = 1;
  if (resumed) {
    resume_session(s, *resumed);
    resumed->get("stopping.", stopping);
    resumed->get("rng.sample", sample_gen);
    first_epoch = resumed->size("epoch") + 1;
    step = resumed->size("step");
    train_chars = resumed->size("train_chars");
    validations = resumed->size("validations");
    train_seconds = resumed->number("train_seconds");
    for (const auto& row : csv.kept()) {
      chart.series[0].points.push_back({std::stod(row.at(1)), std::stod(row.at(4))});
      chart.series[1].points.push_back({std::stod(row.at(1)), std::stod(row.at(6))});
    }
    std::printf("resuming after epoch %zu\n", first_epoch - 1);
  }
  const auto save_resume_point = [&](std::size_t epoch, bool finished,
                                     const tg::train::EpochPosition* stopped_in = nullptr,
                                     const LmState* carried = nullptr) {
    tg::train::ResumeState state = resume_state(s);
    if (stopped_in) stopped_in->put(state);
    if (carried)
      for (std::size_t l = 0; l < carried->size(); ++l) {
        state.put_tensor(fmt::format("partial.state{}.h", l), (*carried)[l].h);
        state.put_tensor(fmt::format("partial.state{}.c", l), (*carried)[l].c);
      }
    state.put("stopping.", stopping);
    state.put("rng.sample", sample_gen);
    state.put_size("epoch", epoch);
    state.put_size("finished", finished);
    state.put_size("step", step);
    state.put_size("train_chars", train_chars);
    state.put_size("validations", validations);
    state.put_number("train_seconds", train_seconds);
    state.save(s.run_dir);
  };
  if (!resumed) save_resume_point(0, false);
  std::optional<tg::train::EpochPosition> stopped_in;  // of a run stopped in the middle of an epoch
  if (resumed) stopped_in = tg::train::EpochPosition::get(*resumed, 0);  // no saved order
  if (stopped_in && stopped_in->next_batch > batches)
    throw Error("--resume: the saved position in the stopped epoch does not fit this corpus");

  job.attach(model);
  tg::train::StopRequest signal_stop(s.run_dir);
  model.train();
  bool stop = false;
  Indices inputs, targets;
  for (std::size_t epoch = first_epoch; epoch <= o.epochs && !stop; ++epoch) {
    LmState state;  // each epoch reads the streams from their start
    tg::train::Progress progress(
        batches,
        tg::train::epoch_progress(fmt::format("epoch {}/{}", epoch, o.epochs), "chars", 10));
    std::size_t first_batch = 0;
    if (stopped_in && stopped_in->epoch == epoch) {  // continue where a signal stopped it
      first_batch = stopped_in->continue_in(progress);
      interval_loss = stopped_in->sums["interval_loss"];
      interval_seconds = stopped_in->sums["interval_seconds"];
      interval_chars = static_cast<std::size_t>(stopped_in->sums["interval_chars"]);
      const Shape shape{1, streams, model.config().units};
      for (std::size_t l = 0; first_batch > 0 && l < model.config().layers; ++l) {
        const Tensor h = resumed->tensor(fmt::format("partial.state{}.h", l), shape);
        const Tensor c = resumed->tensor(fmt::format("partial.state{}.c", l), shape);
        state.push_back({own_streams(h, first_stream, last_stream),
                         own_streams(c, first_stream, last_stream)});
      }
      stopped_in.reset();
    }
    for (std::size_t k = first_batch; k < batches && !stop; ++k) {
      if (signal_stop.requested()) {  // agreed by every rank of a job
        tg::train::EpochPosition position = tg::train::EpochPosition::at(epoch, k, progress);
        position.sums = {{"interval_loss", interval_loss},
                         {"interval_seconds", interval_seconds},
                         {"interval_chars", double(interval_chars)}};
        const LmState carried = all_streams(state, streams, job);
        save_resume_point(epoch - 1, false, &position, &carried);
        signal_stop.stopped(epoch, k);
      }
      const auto start = std::chrono::steady_clock::now();
      train_batches.batch(k, inputs, targets);
      if (job.size() > 1) {
        inputs = stream_rows(inputs, first_stream, last_stream);
        targets = stream_rows(targets, first_stream, last_stream);
      }
      const LmOutput out = model.forward(inputs, state, true);
      const Tensor loss = cross_entropy(out.logits, Indices(targets.data));
      s.optimizer->zero_grad();
      // Every rank has as many streams, so the mean of the ranks' means is the global mean.
      loss.backward();
      job.average_gradients();
      std::vector<double> step_stats{loss.item() / double(job.size())};
      job.sum(step_stats);
      const double value = step_stats[0];
      const std::size_t chars = targets.size() * static_cast<std::size_t>(job.size());
      tg::train::check_loss_finite(value, epoch, step + 1);
      if (clip > 0) optim::clip_grad_norm(params, clip);
      s.optimizer->step();
      // Truncated BPTT: the next batch starts from this state but does not backpropagate into it.
      state = detach(out.state);
      const double seconds = seconds_since(start);
      train_seconds += seconds;
      interval_seconds += seconds;
      interval_loss += value * double(chars);
      interval_chars += chars;
      train_chars += chars;
      ++step;
      progress.set_note(fmt::format("{:.3f} bits/char", nats_to_bits(value)));
      progress.step(value, chars);
      if (o.val_every && step % o.val_every == 0 && k + 1 < batches)
        stop = validate(epoch, &progress);
    }
    progress.finish(fmt::format("train {:.1f}s", train_seconds));
    if (!stop && interval_chars) stop = validate(epoch, nullptr);
    save_resume_point(epoch, stop || epoch == o.epochs);
  }
  if (stop)
    std::printf("early stopping: held-out loss has not improved for %zu validations\n",
                o.patience);
  stopping.restore(model);
  save_session(s);
  std::printf("best held-out %.4f bits/char (validation %zu, weights restored); %.1f s of "
              "training, %.0f chars/s on average\n",
              nats_to_bits(stopping.best()), stopping.best_epoch(), train_seconds,
              train_chars / train_seconds);
  job.print_communication_share(train_seconds);
  std::printf("saved %s, %s, %s\nsamples:\n", (s.run_dir / "model.npz").string().c_str(),
              (s.run_dir / "metrics.csv").string().c_str(),
              (s.run_dir / "loss.svg").string().c_str());
  print_samples(s, {o.sample_prompt}, o.sample_length);
  return 0;
}

}  // namespace tg::baby_lm
