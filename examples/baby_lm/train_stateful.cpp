// baby_lm's stateful mode for long texts: contiguous streams, truncated BPTT, held-out bits/char.
#include "baby_lm/train.hpp"

#include <cmath>
#include <cstdio>

#include <fmt/format.h>
#include <xtensor/xadapt.hpp>
#include <xtensor/xview.hpp>

#include <tapegrad/autograd/ops/loss.hpp>
#include <tapegrad/autograd/tape.hpp>
#include <tapegrad/train/parallel.hpp>
#include <tapegrad/train/resume.hpp>

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

// The streams' LSTM state, carried from batch to batch (truncated BPTT) and zero at each epoch's
// start. A run stopped inside an epoch saves it as one process holds it, [1, streams, units] per
// layer with every rank's rows, and each rank of the resumed run takes its own rows back.
class CarriedState : public tg::train::Callback, public tg::train::Stateful {
 public:
  CarriedState(std::size_t streams, std::size_t layers, std::size_t units)
      : streams_(streams), layers_(layers), units_(units) {}
  LmState state;

  void on_epoch_start(tg::train::Trainer&, std::size_t) override {
    if (!restored_) state.clear();
    restored_ = false;
  }
  void on_batch_end(tg::train::Trainer&, const tg::train::Batch& batch, double) override {
    inside_epoch_ = batch.index + 1 < batch.count;
  }
  // Called on every rank (the gather is collective). The keys are the run's own, not under
  // `prefix`: tools and tests read partial.state<layer>.h / .c.
  void save(tg::train::ResumeState& saved, const std::string&) const override {
    if (!inside_epoch_) return;
    const tg::train::Parallel& par = tg::train::parallel();
    const auto gather = [&](const Tensor& part) {
      const auto& rows = part.value<float>();
      const std::vector<float> whole = par.all_gather_rows(
          std::vector<float>(rows.begin(), rows.end()), streams_, units_);
      return Tensor(xt::xarray<float>(xt::adapt(whole, Shape{1, streams_, units_})));
    };
    for (std::size_t l = 0; l < state.size(); ++l) {
      saved.put_tensor(fmt::format("partial.state{}.h", l), gather(state[l].h));
      saved.put_tensor(fmt::format("partial.state{}.c", l), gather(state[l].c));
    }
  }
  void load(const tg::train::ResumeState& saved, const std::string&) override {
    state.clear();
    restored_ = inside_epoch_ = saved.contains("partial.state0.h");
    if (!restored_) return;
    const auto [first, last] = tg::train::parallel().share(streams_);
    const Shape shape{1, streams_, units_};
    const auto own = [&, first = first, last = last](const std::string& key) {
      const Tensor whole = saved.tensor(key, shape);
      return Tensor(xt::xarray<float>(
          xt::view(whole.value<float>(), xt::all(), xt::range(first, last), xt::all())));
    };
    for (std::size_t l = 0; l < layers_; ++l)
      state.push_back({own(fmt::format("partial.state{}.h", l)),
                       own(fmt::format("partial.state{}.c", l))});
  }

 private:
  std::size_t streams_, layers_, units_;
  bool inside_epoch_ = false, restored_ = false;
};

// The characters trained on (in all and since the last validation, with their summed loss), and
// each validation's report line with its sample.
class StreamReport : public tg::train::Callback {
 public:
  StreamReport(const StreamBatches& batches, const BestModel& best, std::string prompt)
      : batches_(batches), best_(best), prompt_(std::move(prompt)) {}
  std::string sample;  // drawn by the validation

  double train_chars() const { return train_chars_; }
  double interval_bpc() const { return nats_to_bits(interval_loss_ / interval_chars_); }

  void on_batch_end(tg::train::Trainer&, const tg::train::Batch& batch, double loss) override {
    const double chars = double(batches_.streams() * batches_.steps(batch.index));
    train_chars_ += chars;
    interval_chars_ += chars;
    interval_loss_ += loss * chars;
  }
  void on_validation_end(tg::train::Trainer& trainer, const tg::train::Logs& logs) override {
    const auto& history = trainer.history();
    const double before = history.size() >= 2 ? history[history.size() - 2].at("train_seconds") : 0;
    trainer.message(fmt::format(
        "validation at batch {}: {:.4f} bits/char held out (training {:.4f}), {:.0f} chars/s{}\n"
        "  sample: {}",
        trainer.global_step(), logs.at("val_bpc"), logs.at("train_bpc"),
        interval_chars_ / (logs.at("train_seconds") - before), best_.improved() ? "  (best)" : "",
        one_line(prompt_ + sample)));
    interval_loss_ = interval_chars_ = 0;
  }
  void save(const tg::train::Trainer&, tg::train::ResumeState& state,
            const std::string& prefix) const override {
    state.put_number(prefix + "train_chars", train_chars_);
    state.put_number(prefix + "interval_chars", interval_chars_);
    state.put_number(prefix + "interval_loss", interval_loss_);
  }
  void load(tg::train::Trainer&, const tg::train::ResumeState& state,
            const std::string& prefix) override {
    train_chars_ = state.number(prefix + "train_chars");
    interval_chars_ = state.number(prefix + "interval_chars");
    interval_loss_ = state.number(prefix + "interval_loss");
  }

 private:
  const StreamBatches& batches_;
  const BestModel& best_;
  std::string prompt_;
  double train_chars_ = 0, interval_chars_ = 0, interval_loss_ = 0;
};

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
  const std::size_t streams = o.batch * static_cast<std::size_t>(tg::train::parallel().size());
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
  using tg::train::Logs;
  const TrainOptions& o = s.options;
  BabyLM& model = *s.model;
  const std::string what = o.corpus.string();
  // Under mpirun the text is cut into N x --batch streams; each rank trains --batch of them,
  // carrying their state from batch to batch.
  const tg::train::Parallel& par = tg::train::parallel();
  const std::size_t streams = o.batch * static_cast<std::size_t>(par.size());
  const Split split = split_tail(s.corpus.ids, o.val_fraction, streams, what);
  const StreamBatches train_batches(split.train, streams, o.bptt, what);
  // Every rank scores the whole held-out tail, cut as a 1-process run of the global batch cuts
  // it, so all ranks (and runs of any size) take the same early-stopping decisions.
  const StreamBatches val_batches(split.val, std::min(streams, split.val.size() - 1), o.bptt,
                                  "held-out tail");
  const std::size_t batches = train_batches.batches();
  const double clip = o.clip < 0 ? 5.0 : o.clip;
  tg::train::Trainer trainer(model, *s.optimizer,
                             trainer_options(s)
                                 .gradient_clip_val(clip)
                                 .val_check_interval(o.val_every)
                                 .unit("chars")
                                 .log_every_percent(10));
  std::printf("stateful mode: %zu training characters as %zu streams of %zu, %zu batches of "
              "%zu x %zu per epoch; %zu held-out characters; gradient norm clipped at %g\n",
              split.train.size(), streams, train_batches.stream_length(), batches, streams,
              o.bptt, split.val.size(), clip);

  const auto carried =
      std::make_shared<CarriedState>(streams, model.config().layers, model.config().units);
  const auto stopping = early_stopping(s, "val_loss");
  const auto best = std::make_shared<BestModel>(s, "val_loss", [](const Logs& logs, std::size_t) {
    return std::map<std::string, std::string>{
        {"best_val_bpc", fmt::format("{:.6f}", logs.at("val_bpc"))}};
  });
  const auto report = std::make_shared<StreamReport>(train_batches, *best, o.sample_prompt);
  Generator sample_gen(o.seed + 1);
  SamplingOptions sampling;
  sampling.temperature = 0.8;
  tg::train::Curves::Chart chart;
  chart.title = "baby_lm stateful training";
  chart.x_key = "step";
  chart.x_label = "batches";
  chart.y_label = "bits per character";
  chart.lines = {{"train_bpc", "training"}, {"val_bpc", "validation (held-out tail)", true}};
  chart.y_min = 0.0;
  track_common(trainer, s, stopping, best);
  trainer.track("sample", sample_gen)
      .track("carried", *carried)
      .callback(carried)
      .callback(report)
      .callback(std::make_shared<IntervalCsv>(
          std::vector<std::string>{"epoch", "step", "train_chars", "train_loss", "train_bpc",
                                   "val_loss", "val_bpc", "chars_per_s", "train_seconds"},
          [](const IntervalCsv::Before& before, Logs& row) {
            row["train_loss"] = row.at("loss");
            row["chars_per_s"] = (row.at("train_chars") - before("train_chars")) /
                                 (row.at("train_seconds") - before("train_seconds"));
          }))
      .callback(std::make_shared<tg::train::Curves>("loss.svg",
                                                    std::vector<tg::train::Curves::Chart>{chart}))
      .progress_note([](const Logs& running) {
        return fmt::format("{:.3f} bits/char", running.at("bpc"));
      })
      .epoch_summary([](const Logs& logs) {
        return fmt::format("train {:.1f}s", logs.at("train_seconds"));
      });

  // Every epoch reads the streams from their start, batch k of each at once.
  const tg::train::PlanFn plan = [&](std::size_t) {
    std::vector<std::size_t> all(streams);
    for (std::size_t i = 0; i < streams; ++i) all[i] = i;
    return tg::train::EpochPlan(batches, all);
  };
  Indices inputs, targets;
  const tg::train::StepFn step = [&](const tg::train::Batch& batch) {
    train_batches.batch(batch.index, inputs, targets);
    if (par.size() > 1) {
      inputs = stream_rows(inputs, batch.items.front(), batch.items.back() + 1);
      targets = stream_rows(targets, batch.items.front(), batch.items.back() + 1);
    }
    const LmOutput out = model.forward(inputs, carried->state, true);
    // Truncated BPTT: the next batch starts from this state but does not backpropagate into it.
    carried->state = detach(out.state);
    tg::train::StepOutput result{cross_entropy(out.logits, Indices(targets.data)), {}};
    result.metrics["bpc"] = nats_to_bits(result.loss.item());
    result.weight = result.units = double(targets.size());  // a mean over characters
    return result;
  };
  const tg::train::ValidateFn validate = [&] {
    const double val = evaluate_streams(model, val_batches);
    report->sample = generate(model, s.corpus.vocab, o.sample_prompt, o.sample_length, sampling,
                              sample_gen, "--sample-prompt");
    return Logs{{"val_loss", val},
                {"val_bpc", nats_to_bits(val)},
                {"train_bpc", report->interval_bpc()},
                {"train_chars", report->train_chars()}};
  };
  const tg::train::FitResult result = trainer.fit(plan, step, validate);

  if (result.stop_reason == "early stopping")
    std::printf("early stopping: held-out loss has not improved for %zu validations\n",
                o.patience);
  std::printf("best held-out %.4f bits/char (epoch %zu, weights restored); %.1f s of "
              "training, %.0f chars/s on average\n",
              nats_to_bits(stopping->best().best()), stopping->best().best_epoch(),
              result.train_seconds, report->train_chars() / result.train_seconds);
  finish(s, result, {o.sample_prompt});
  return 0;
}

}  // namespace tg::baby_lm
