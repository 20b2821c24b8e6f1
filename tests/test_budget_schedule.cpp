// tg::train::BudgetSchedule: the learning rate of every step (warm-up, cosine or linear decay to
// the floor at the run's last step), with an epoch budget, a time budget, and across a resume.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <csignal>
#include <thread>

#include "tapegrad/autograd/ops.hpp"
#include "tapegrad/nn/nn.hpp"
#include "tapegrad/optim/optim.hpp"
#include "tapegrad/train/train.hpp"
#include "test_support.hpp"

using namespace tg;

namespace {

// The learning rate each step ran with (read before the schedule sets the next one).
struct RateLog : train::Callback {
  std::vector<double> rates;
  void on_batch_end(train::Trainer& t, const train::Batch&, double) override {
    rates.push_back(t.optimizer().lr());
  }
};

// y = 2x - 1 on 64 points in 8 batches an epoch, SGD at lr 0.1.
struct Line {
  Generator init{2}, shuffle{3};
  nn::Linear model{nn::LinearOptions(1, 1), init};
  optim::SGD sgd{model.parameters(), optim::SGDOptions{0.1}};
  Tensor x = Tensor::uniform({64, 1}, -1, 1, DType::Float32, init);
  Tensor y = x * 2.0 - 1.0;

  train::FitResult fit(const train::TrainerOptions& options,
                       const std::vector<std::shared_ptr<train::Callback>>& callbacks,
                       std::function<void()> in_step = {}) {
    train::Trainer trainer(model, sgd, options);
    trainer.track("shuffle", shuffle);
    for (const auto& cb : callbacks) trainer.callback(cb);
    return trainer.fit([this](std::size_t) { return data::shuffled_batches(64, 8, shuffle); },
                       [&, this](const train::Batch& b) {
                         if (in_step) in_step();
                         const Indices rows(std::vector<std::int64_t>(b.items.begin(), b.items.end()));
                         const Tensor err = model(index_select(x, 0, rows)) - index_select(y, 0, rows);
                         return train::StepOutput{mean(err * err), {}};
                       });
  }
};

train::TrainerOptions quiet() {
  return train::TrainerOptions().progress_bar(false).metrics_file("").curves_file("");
}

}  // namespace

TEST_CASE("BudgetSchedule: warm-up, then a cosine to the floor at the last of max_epochs' steps",
          "[train][schedule]") {
  for (const train::Decay decay : {train::Decay::Cosine, train::Decay::Linear}) {
    Line line;
    auto log = std::make_shared<RateLog>();
    auto schedule = std::make_shared<train::BudgetSchedule>(
        train::BudgetScheduleOptions().warmup_steps(4).floor(0.05).decay(decay));
    line.fit(quiet().max_epochs(3), {log, schedule});
    REQUIRE(log->rates.size() == 24);
    CHECK(schedule->total_steps() == 24);
    // By hand: 0.1 (k + 1) / 4 for k < 4; then 0.1 (0.05 + 0.95 s(t)), t = (k - 4) / 19.
    for (std::size_t k = 0; k < 24; ++k) {
      const double t = k < 4 ? 0 : (static_cast<double>(k) - 4) / 19.0;
      const double s = decay == train::Decay::Cosine ? 0.5 * (1 + std::cos(M_PI * t)) : 1 - t;
      const double expected = k < 4 ? 0.1 * static_cast<double>(k + 1) / 4 : 0.1 * (0.05 + 0.95 * s);
      INFO("step " << k);
      CHECK(log->rates[k] == Approx(expected).epsilon(1e-12));
    }
    CHECK(log->rates[3] == Approx(0.1));            // warm-up reaches the base rate
    CHECK(log->rates.back() == Approx(0.1 * 0.05));  // the floor at the last step
  }
  CHECK_THROWS_WITH(train::BudgetSchedule(train::BudgetScheduleOptions().floor(1.5)),
                    Catch::Contains("floor must be in [0, 1]"));
}

TEST_CASE("BudgetSchedule: with a time budget, the decay ends near the budget's last step",
          "[train][schedule]") {
  Line line;
  auto log = std::make_shared<RateLog>();
  auto schedule = std::make_shared<train::BudgetSchedule>(
      train::BudgetScheduleOptions().warmup_steps(5).skip_steps(3).measure_steps(10).floor(0.1));
  // Steps of about 4 ms (a sleep, whatever the machine's load) and a 0.6 s budget: some 150 of
  // the 8000 steps of max_epochs.
  const train::FitResult r = line.fit(quiet().max_epochs(1000).max_time(0.6), {log, schedule},
                                      [] { std::this_thread::sleep_for(std::chrono::milliseconds(4)); });
  CHECK(r.stop_reason == "time limit");
  REQUIRE(schedule->total_steps() > 13);
  // The estimate is the budget over the measured time per step: within a factor of two of the
  // steps the budget held, and the last steps near the floor.
  CHECK(static_cast<double>(schedule->total_steps()) > 0.5 * static_cast<double>(r.steps));
  CHECK(static_cast<double>(schedule->total_steps()) < 2.0 * static_cast<double>(r.steps));
  CHECK(schedule->total_steps() < 8000);
  CHECK(log->rates.back() < 0.1 * 0.6);
  CHECK(log->rates[12] == Approx(0.1));  // the base rate while measuring
}

TEST_CASE("BudgetSchedule: a run shorter than 4 warm-ups warms up over its first quarter",
          "[train][schedule]") {
  Line line;
  auto log = std::make_shared<RateLog>();
  line.fit(quiet().max_epochs(3),
           {log, std::make_shared<train::BudgetSchedule>(
                     train::BudgetScheduleOptions().warmup_steps(100).floor(0.0))});
  REQUIRE(log->rates.size() == 24);
  // 24 steps: 6 of warm-up (0.1 (k + 1) / 6), then the cosine from 0.1 to 0: t = (k - 6) / 17.
  // The first step is taken before the length is known, at the full warm-up's first rate.
  CHECK(log->rates[0] == Approx(0.1 / 100).epsilon(1e-12));
  for (std::size_t k = 1; k < 6; ++k)
    CHECK(log->rates[k] == Approx(0.1 * static_cast<double>(k + 1) / 6).epsilon(1e-12));
  CHECK(log->rates[5] == Approx(0.1));
  CHECK(log->rates[14] == Approx(0.1 * 0.5 * (1 + std::cos(M_PI * 8.0 / 17.0))).epsilon(1e-12));
  CHECK(log->rates.back() == Approx(0.0).margin(1e-15));
}

TEST_CASE("BudgetSchedule: an interrupted run resumes on the same curve, bit for bit",
          "[train][schedule]") {
  tg::testing::TempDir dir;
  const auto options = train::BudgetScheduleOptions().warmup_steps(3).floor(0.0);
  Line whole;
  whole.fit(quiet().max_epochs(3), {std::make_shared<train::BudgetSchedule>(options)});

  Line first;
  int steps = 0;
  CHECK_THROWS_AS(first.fit(quiet().max_epochs(3).run_dir(dir.path),
                            {std::make_shared<train::BudgetSchedule>(options)},
                            [&] { if (++steps == 13) std::raise(SIGINT); }),
                  train::Interrupted);
  Line second;
  second.fit(quiet().max_epochs(3).run_dir(dir.path).resume(true),
             {std::make_shared<train::BudgetSchedule>(options)});
  CHECK(second.model.weight().to_vector() == whole.model.weight().to_vector());
  CHECK(second.model.bias().to_vector() == whole.model.bias().to_vector());
  CHECK(second.sgd.lr() == whole.sgd.lr());
}
