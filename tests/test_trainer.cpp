// tg::train::Trainer: the same numbers as a hand-written loop, its stops (time limit, early
// stopping, a diverged loss, signals), its run folder and resume.
#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/nn/nn.hpp"
#include "tapegrad/optim/optim.hpp"
#include "tapegrad/train/train.hpp"

using namespace tg;
namespace fs = std::filesystem;

namespace {

// A folder removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("tapegrad_trainer_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    fs::remove_all(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

// y = 3 x0 - 2 x1 + 1 with noise, 256 points.
struct Regression {
  Tensor x, y;
  Regression() {
    Generator gen(5);
    x = Tensor::uniform({256, 2}, -1, 1, DType::Float32, gen);
    const Tensor noise = Tensor::uniform({256, 1}, -0.1, 0.1, DType::Float32, gen);
    y = matmul(x, Tensor::from_vector({3.0, -2.0}, {2, 1})) + 1.0 + noise;
  }
  Tensor rows(const Tensor& t, const std::vector<std::size_t>& items) const {
    return index_select(t, 0, Indices(std::vector<std::int64_t>(items.begin(), items.end())));
  }
};

struct Setup {
  Regression data;
  Generator init{9};
  nn::Linear model{nn::LinearOptions(2, 1), init};
  optim::SGD sgd{model.parameters(), optim::SGDOptions{0.1}};
  Generator shuffle{1};

  train::PlanFn plan() {
    return [this](std::size_t) { return data::shuffled_batches(256, 32, shuffle); };
  }
  train::StepFn step() {
    return [this](const train::Batch& b) {
      const Tensor err = model(data.rows(data.x, b.items)) - data.rows(data.y, b.items);
      return train::StepOutput{mean(err * err), {{"abs_error", mean(abs(err)).item()}}};
    };
  }
  train::ValidateFn validate() {
    return [this] {
      const Tensor err = model(data.x) - data.y;
      return train::Logs{{"val_loss", mean(err * err).item()}};
    };
  }
};

train::TrainerOptions quiet() {
  return train::TrainerOptions().progress_bar(false).handle_signals(true);
}

std::vector<std::vector<double>> weights_of(const nn::Module& m) {
  std::vector<std::vector<double>> w;
  for (const auto& [name, t] : m.state_dict()) w.push_back(t.to_vector());
  return w;
}

}  // namespace

TEST_CASE("the Trainer computes what a hand-written loop computes, bit for bit", "[train]") {
  Setup a;
  optim::StepLR decay_a(a.sgd, 2, 0.5);
  train::Trainer trainer(a.model, a.sgd, quiet().max_epochs(5).gradient_clip_val(0.5));
  trainer.scheduler(decay_a).track("shuffle", a.shuffle);
  const train::FitResult r = trainer.fit(a.plan(), a.step(), a.validate());

  Setup b;  // the same loop by hand
  optim::StepLR decay_b(b.sgd, 2, 0.5);
  double last_val = 0;
  for (int epoch = 0; epoch < 5; ++epoch) {
    for (const auto& batch : data::shuffled_batches(256, 32, b.shuffle)) {
      b.sgd.zero_grad();
      const Tensor err = b.model(b.data.rows(b.data.x, batch)) - b.data.rows(b.data.y, batch);
      mean(err * err).backward();
      optim::clip_grad_norm(b.model.parameters(), 0.5);
      b.sgd.step();
    }
    NoGradGuard no_grad;
    const Tensor err = b.model(b.data.x) - b.data.y;
    last_val = mean(err * err).item();
    decay_b.step();
  }
  CHECK(weights_of(a.model) == weights_of(b.model));
  REQUIRE(r.history.size() == 5);
  CHECK(r.history.back().at("val_loss") == last_val);
  CHECK(r.steps == 5 * 8);
  CHECK(r.stop_reason == "max_epochs");
  CHECK(r.history.back().count("abs_error") == 1);
  CHECK(r.history.back().at("lr") == Approx(0.1 * 0.25));  // lr of the epoch: before its step
  CHECK_FALSE(a.model.is_training());
}

TEST_CASE("the Trainer stops at its time budget and keeps the best weights", "[train]") {
  Setup s;
  auto stopping = std::make_shared<train::EarlyStopping>(
      train::EarlyStoppingOptions("val_loss").patience(0));
  train::Trainer trainer(s.model, s.sgd, quiet().max_epochs(1000000).max_time(0.2));
  trainer.callback(stopping);
  const train::FitResult r = trainer.fit(s.plan(), s.step(), s.validate());
  CHECK(r.stop_reason == "time limit");
  CHECK(r.train_seconds >= 0.2);
  CHECK(r.train_seconds < 5.0);
  CHECK(r.epochs < 1000000);
  // The weights are the best validation's.
  const Tensor err = s.model(s.data.x) - s.data.y;
  CHECK(mean(err * err).item() == stopping->best().best());
}

TEST_CASE("EarlyStopping stops after `patience` validations without improvement", "[train]") {
  Setup s;
  std::size_t calls = 0;
  // A validation that improves three times, then gets worse.
  const train::ValidateFn validate = [&] {
    ++calls;
    return train::Logs{{"score", calls <= 3 ? double(calls) : 3.0 - double(calls)}};
  };
  auto stopping = std::make_shared<train::EarlyStopping>(
      train::EarlyStoppingOptions("score").mode(train::Mode::Max).patience(2));
  train::Trainer trainer(s.model, s.sgd, quiet().max_epochs(50));
  trainer.callback(stopping);
  const train::FitResult r = trainer.fit(s.plan(), s.step(), validate);
  CHECK(r.stop_reason == "early stopping");
  CHECK(r.epochs == 5);
  CHECK(stopping->best().best() == 3.0);
  CHECK(stopping->best().best_epoch() == 3);

  // A threshold stops at once, saying so in its own words or by default in the metric's.
  for (const std::string reason : {"", "perfect score"}) {
    Setup t;
    std::size_t validations = 0;
    auto threshold = std::make_shared<train::EarlyStopping>(
        train::EarlyStoppingOptions("score").mode(train::Mode::Max).stopping_threshold(2.0)
            .threshold_reason(reason));
    train::Trainer trainer(t.model, t.sgd, quiet().max_epochs(50));
    trainer.callback(threshold);
    const train::FitResult stopped = trainer.fit(t.plan(), t.step(), [&] {
      return train::Logs{{"score", double(++validations)}};
    });
    CHECK(stopped.epochs == 2);
    CHECK(stopped.stop_reason == (reason.empty() ? "score reached 2" : reason));
  }

  auto missing = std::make_shared<train::EarlyStopping>(train::EarlyStoppingOptions("val_acc"));
  Setup t;
  train::Trainer other(t.model, t.sgd, quiet());
  other.callback(missing);
  CHECK_THROWS_WITH(other.fit(t.plan(), t.step(), t.validate()),
                    Catch::Contains("EarlyStopping: the metric 'val_acc' is not reported"));
}

TEST_CASE("a diverged loss ends the run with one line and keeps the last good resume point",
          "[train]") {
  TempDir dir;
  Setup s;
  train::Trainer trainer(s.model, s.sgd, quiet().max_epochs(3).run_dir(dir.path));
  auto step = s.step();
  std::size_t calls = 0;
  const train::StepFn poisoned = [&](const train::Batch& b) {
    train::StepOutput out = step(b);
    if (++calls == 12) out.loss = out.loss * std::nan("");
    return out;
  };
  CHECK_THROWS_WITH(trainer.fit(s.plan(), poisoned, s.validate()),
                    Catch::Contains("training diverged: the loss is nan at epoch 2, step 12"));
  // resume.npz holds epoch 1's end; the weights in it are finite.
  CHECK(train::ResumeState::load(dir.path, "tapegrad").size("epoch") == 1);
}

TEST_CASE("the Trainer's run folder: files, refusals, resume after a signal", "[train]") {
  TempDir dir;
  const fs::path run = dir.path / "run";
  {
    Setup s;
    train::Trainer trainer(s.model, s.sgd, quiet().max_epochs(4).run_dir(run).program("t"));
    trainer.track("shuffle", s.shuffle);
    trainer.fit(s.plan(), s.step(), s.validate());
  }
  for (const char* f : {"metrics.csv", "curves.svg", "resume.npz", ".lock"})
    CHECK(fs::exists(run / f));
  std::ifstream csv(run / "metrics.csv");
  std::string header;
  std::getline(csv, header);
  CHECK(header ==
        "epoch,step,abs_error,epoch_seconds,items_per_second,loss,lr,train_seconds,val_loss");
  std::size_t rows = 0;
  for (std::string line; std::getline(csv, line);) ++rows;
  CHECK(rows == 4);

  Setup again;
  CHECK_THROWS_WITH(train::Trainer(again.model, again.sgd, quiet().run_dir(run)).fit(
                        again.plan(), again.step()),
                    Catch::Contains("--overwrite") || Catch::Contains("not empty"));
  CHECK_THROWS_WITH(train::Trainer(again.model, again.sgd, quiet().run_dir(run).resume(true)
                                                              .program("t")).fit(again.plan(), again.step()),
                    Catch::Contains("has finished"));
  CHECK_THROWS_WITH(train::Trainer(again.model, again.sgd, quiet().run_dir(run).resume(true)
                                                              .program("other")).fit(again.plan(), again.step()),
                    Catch::Contains("is a t run, not a other one"));

  // SIGINT at the first batch of epoch 2: saved there; resumed, the same weights and rows.
  const fs::path stopped = dir.path / "stopped";
  Setup s;
  train::Trainer trainer(s.model, s.sgd, quiet().max_epochs(4).run_dir(stopped).program("t"));
  trainer.track("shuffle", s.shuffle);
  std::size_t steps = 0;
  auto step = s.step();
  const train::StepFn interrupting = [&](const train::Batch& b) {
    if (++steps == 8) std::raise(SIGINT);  // the last batch of epoch 1
    return step(b);
  };
  try {
    trainer.fit(s.plan(), interrupting, s.validate());
    FAIL("not interrupted");
  } catch (const train::Interrupted& e) {
    CHECK(e.signal() == SIGINT);
    CHECK_THAT(e.what(), Catch::Contains("SIGINT during epoch 2; the run is saved at batch 0"));
  }
  Setup r;
  train::Trainer resumed(r.model, r.sgd,
                         quiet().max_epochs(4).run_dir(stopped).resume(true).program("t"));
  resumed.track("shuffle", r.shuffle);
  resumed.fit(r.plan(), r.step(), r.validate());
  Setup whole;
  train::Trainer uninterrupted(whole.model, whole.sgd, quiet().max_epochs(4));
  uninterrupted.track("shuffle", whole.shuffle);
  uninterrupted.fit(whole.plan(), whole.step(), whole.validate());
  CHECK(weights_of(r.model) == weights_of(whole.model));
}

TEST_CASE("a run resumes only under the settings it started with", "[train]") {
  TempDir dir;
  const fs::path run = dir.path / "run";
  const train::Settings started = {{"lr", "0.1"}, {"layers", "2"}, {"note", ""}};
  const auto options = [&](const train::Settings& settings) {
    return quiet().max_epochs(3).run_dir(run).program("t").settings(settings);
  };
  {
    Setup s;
    train::Trainer trainer(s.model, s.sgd, options(started));
    trainer.track("shuffle", s.shuffle);
    std::size_t steps = 0;
    auto step = s.step();
    CHECK_THROWS_AS(trainer.fit(s.plan(),
                                [&](const train::Batch& b) {
                                  if (++steps == 3) std::raise(SIGINT);
                                  return step(b);
                                }),
                    train::Interrupted);
  }
  const auto resume = [&](const train::Settings& settings) {
    Setup r;
    train::Trainer trainer(r.model, r.sgd, options(settings).resume(true));
    trainer.track("shuffle", r.shuffle);
    trainer.fit(r.plan(), r.step());
    return weights_of(r.model);
  };
  CHECK_THROWS_WITH(resume({{"lr", "0.2"}, {"layers", "2"}, {"dropout", "0"}}),
                    "run folder '" + run.string() + "' would resume with other settings than it "
                    "started with (dropout none when it started, 0 now; lr 0.1 when it started, "
                    "0.2 now): defaults differ between builds, and some between machines; resume it "
                    "with the build and on the kind of machine that started it, or start a new "
                    "run");
  CHECK_THROWS_WITH(resume({{"lr", "0.1"}}), Catch::Contains("(layers 2 when it started, none now)"));
  // An empty value is no setting (an npz text cannot be empty): {"note", ""} is left out alike.
  const auto resumed = resume({{"lr", "0.1"}, {"layers", "2"}});
  Setup whole;
  train::Trainer uninterrupted(whole.model, whole.sgd, quiet().max_epochs(3));
  uninterrupted.track("shuffle", whole.shuffle);
  uninterrupted.fit(whole.plan(), whole.step());
  CHECK(resumed == weights_of(whole.model));
}

TEST_CASE("validation every N steps, and a tracked Stateful object", "[train]") {
  struct Counter : train::Stateful {
    double total = 0;
    void save(train::ResumeState& state, const std::string& prefix) const override {
      state.put_number(prefix + "total", total);
    }
    void load(const train::ResumeState& state, const std::string& prefix) override {
      total = state.number(prefix + "total");
    }
  };
  Setup s;
  Counter counter;
  train::Trainer trainer(s.model, s.sgd, quiet().max_epochs(2).val_check_interval(3));
  trainer.track("counter", counter);
  const train::StepFn step = [&, inner = s.step()](const train::Batch& b) {
    counter.total += 1;
    return inner(b);
  };
  const train::FitResult r = trainer.fit(s.plan(), step, s.validate());
  // 8 steps an epoch: validations after steps 3 and 6, the end of epoch 1 (8), 9, 12, 15, 16.
  std::vector<double> at;
  for (const auto& row : r.history) at.push_back(row.at("step"));
  CHECK(at == std::vector<double>{3, 6, 8, 9, 12, 15, 16});
  CHECK(counter.total == 16);
}

TEST_CASE("callbacks add derived values to a validation point's logs", "[train]") {
  struct Twice : train::Callback {
    void on_validation_logs(train::Trainer&, train::Logs& logs) override {
      logs["twice_val_loss"] = 2 * logs.at("val_loss");
    }
  };
  struct Reader : train::Callback {
    std::vector<double> seen;
    void on_validation_end(train::Trainer&, const train::Logs& logs) override {
      const auto it = logs.find("twice_val_loss");
      seen.push_back(it == logs.end() ? -1.0 : it->second);
    }
  };
  TempDir dir;
  Setup s;
  auto reader = std::make_shared<Reader>();
  train::Trainer trainer(
      s.model, s.sgd, quiet().max_epochs(2).run_dir(dir.path).metrics_file("").curves_file(""));
  // Registered before the callback that adds the value, the reader and the metrics file see it.
  trainer.callback(reader)
      .callback(std::make_shared<train::CsvLogger>(
          "m.csv", std::vector<train::CsvLogger::Column>{{"epoch", "epoch"},
                                                         {"twice", "twice_val_loss"}}))
      .callback(std::make_shared<Twice>());
  const train::FitResult r = trainer.fit(s.plan(), s.step(), s.validate());
  REQUIRE(r.history.size() == 2);
  for (const train::Logs& row : r.history)
    CHECK(row.at("twice_val_loss") == 2 * row.at("val_loss"));
  CHECK(reader->seen ==
        std::vector<double>{r.history[0].at("twice_val_loss"), r.history[1].at("twice_val_loss")});
  std::ifstream csv(dir.path / "m.csv");
  std::string header, first;
  std::getline(csv, header);
  std::getline(csv, first);
  CHECK(header == "epoch,twice");
  CHECK(first.rfind("1,", 0) == 0);
  CHECK(first != "1,nan");
}

TEST_CASE("WeightAverage validates the moving average of the weights and resumes exactly",
          "[train]") {
  // The raw weights after every step, read before the average takes its update.
  struct Raw : train::Callback {
    std::vector<std::vector<float>> after_step;
    void on_batch_end(train::Trainer& t, const train::Batch&, double) override {
      std::vector<float> w;
      for (const auto& [name, p] : t.model().named_parameters())
        for (double v : p.to_vector()) w.push_back(static_cast<float>(v));
      after_step.push_back(w);
    }
  };
  Setup s;
  std::vector<float> average;
  for (const auto& [name, p] : s.model.named_parameters())
    for (double v : p.to_vector()) average.push_back(static_cast<float>(v));
  auto raw = std::make_shared<Raw>();
  auto ema = std::make_shared<train::WeightAverage>(0.9);
  train::Trainer trainer(s.model, s.sgd, quiet().max_epochs(2));
  std::vector<float> validated;  // the weights the second validation saw
  const train::ValidateFn validate = [&, inner = s.validate()] {
    validated.clear();
    for (const auto& [name, p] : s.model.named_parameters())
      for (double v : p.to_vector()) validated.push_back(static_cast<float>(v));
    return inner();
  };
  trainer.callback(raw).callback(ema);
  trainer.fit(s.plan(), s.step(), validate);
  // The same average by hand: after update n, a += (1 - min(0.9, 1 - 1/(n+1))) (w - a).
  for (std::size_t n = 1; n <= raw->after_step.size(); ++n) {
    const float d = static_cast<float>(std::min(0.9, 1.0 - 1.0 / (static_cast<double>(n) + 1.0)));
    for (std::size_t k = 0; k < average.size(); ++k)
      average[k] += (1.0f - d) * (raw->after_step[n - 1][k] - average[k]);
  }
  CHECK(ema->updates() == 16);
  CHECK(validated == average);
  std::vector<float> live;  // after fit the model holds the live weights again
  for (const auto& [name, p] : s.model.named_parameters())
    for (double v : p.to_vector()) live.push_back(static_cast<float>(v));
  CHECK(live == raw->after_step.back());
  CHECK_THROWS_WITH(train::WeightAverage(1.0), Catch::Contains("decay must be in (0, 1)"));

  // Interrupted in epoch 2 and resumed: the same best weights (the average's) as in one go.
  const auto run = [](Setup& t, const train::TrainerOptions& options, const train::StepFn& step) {
    train::Trainer trainer(t.model, t.sgd, options);
    trainer.track("shuffle", t.shuffle)
        .callback(std::make_shared<train::EarlyStopping>(
            train::EarlyStoppingOptions("val_loss").patience(0)))
        .callback(std::make_shared<train::WeightAverage>(0.9));
    trainer.fit(t.plan(), step, t.validate());
    return weights_of(t.model);
  };
  TempDir dir;
  Setup a, b, c;
  std::size_t steps = 0;
  const train::StepFn interrupting = [&, inner = b.step()](const train::Batch& batch) {
    if (++steps == 13) std::raise(SIGINT);
    return inner(batch);
  };
  const auto uninterrupted = run(a, quiet().max_epochs(3), a.step());
  CHECK_THROWS_AS(run(b, quiet().max_epochs(3).run_dir(dir.path), interrupting),
                  train::Interrupted);
  CHECK(run(c, quiet().max_epochs(3).run_dir(dir.path).resume(true), c.step()) == uninterrupted);
}

TEST_CASE("Curves draws several charts stacked in one file, or one file each", "[train]") {
  const std::vector<train::Curves::Chart> charts{
      {"Loss", "epoch", "epoch", "mse", {{"loss", "training"}, {"val_loss", "validation", true}}},
      {"Error", "epoch", "epoch", "abs", {{"abs_error", ""}}}};
  TempDir dir;
  for (const auto files : {train::ChartFiles::Stacked, train::ChartFiles::Separate}) {
    Setup s;
    const fs::path run = dir.path / (files == train::ChartFiles::Stacked ? "stacked" : "separate");
    train::Trainer trainer(s.model, s.sgd,
                           quiet().max_epochs(2).run_dir(run).metrics_file("").curves_file(""));
    trainer.callback(std::make_shared<train::Curves>("curves.svg", charts, files));
    trainer.fit(s.plan(), s.step(), s.validate());
  }
  const auto read = [](const fs::path& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  const auto count = [](const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
      ++n;
    return n;
  };
  const std::string stacked = read(dir.path / "stacked" / "curves.svg");
  CHECK_FALSE(fs::exists(dir.path / "stacked" / "curves_2.svg"));
  CHECK(count(stacked, "<?xml") == 1);
  CHECK(count(stacked, "<svg") == 3);  // the document and a chart each
  CHECK(count(stacked, ">Loss<") == 1);
  CHECK(count(stacked, ">Error<") == 1);
  // Each chart clips to its own plot, the second placed below the first.
  CHECK(count(stacked, "clip-path=\"url(#plot1)\"") == 1);
  CHECK(count(stacked, "clip-path=\"url(#plot2)\"") == 1);
  CHECK(count(stacked, "<svg x=\"0\" y=\"420\" xmlns=") == 1);
  CHECK(count(stacked, "height=\"840\"") == 1);
  CHECK(count(read(dir.path / "separate" / "curves.svg"), ">Loss<") == 1);
  CHECK(count(read(dir.path / "separate" / "curves_2.svg"), ">Error<") == 1);
  CHECK_THROWS_WITH(train::stacked_line_charts_svg({}), Catch::Contains("no charts"));
}

TEST_CASE("each validation point logs the epoch's training seconds and items per second",
          "[train]") {
  Setup s;
  train::Trainer trainer(s.model, s.sgd, quiet().max_epochs(2).val_check_interval(3));
  const train::FitResult r = trainer.fit(s.plan(), s.step(), s.validate());
  // Validations after steps 3, 6, 8 (epoch 1's end), 9, 12, 15, 16, of 32 items a step: the
  // rate is over the epoch so far, not since the last validation.
  const std::vector<double> epoch_items{96, 192, 256, 32, 128, 224, 256};
  REQUIRE(r.history.size() == epoch_items.size());
  for (std::size_t k = 0; k < epoch_items.size(); ++k) {
    const train::Logs& row = r.history[k];
    INFO("validation " << k);
    REQUIRE(row.at("epoch_seconds") > 0);
    CHECK(row.at("items_per_second") * row.at("epoch_seconds") == Approx(epoch_items[k]));
    if (k > 0 && epoch_items[k] > epoch_items[k - 1])
      CHECK(row.at("epoch_seconds") >= r.history[k - 1].at("epoch_seconds"));
  }
  // An epoch's seconds are its share of the training seconds.
  CHECK(r.history[6].at("train_seconds") - r.history[2].at("train_seconds") ==
        Approx(r.history[6].at("epoch_seconds")));
  CHECK(r.history[2].at("train_seconds") == Approx(r.history[2].at("epoch_seconds")));
}

TEST_CASE("the progress line counts a step's units where they are not its items", "[train]") {
  // Each batch of 32 rows stands for 32 x 10 characters: the progress sums saved with a stop in
  // epoch 1 count those, while the loss and metrics stay means over the items.
  TempDir dir;
  Setup s;
  train::Trainer trainer(s.model, s.sgd, quiet().max_epochs(2).run_dir(dir.path).program("t"));
  std::size_t steps = 0;
  auto step = s.step();
  const train::StepFn counted = [&](const train::Batch& b) {
    if (++steps == 3) std::raise(SIGINT);
    train::StepOutput out = step(b);
    out.units = 10.0 * static_cast<double>(b.items.size());
    return out;
  };
  CHECK_THROWS_AS(trainer.fit(s.plan(), counted, s.validate()), train::Interrupted);
  const train::ResumeState state = train::ResumeState::load(dir.path, "t");
  const auto position = train::EpochPosition::get(state, 256);
  REQUIRE(position);
  CHECK(position->next_batch == 3);
  CHECK(position->progress_items == 3 * 32 * 10);
}
