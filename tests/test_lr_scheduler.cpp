// tg::optim learning-rate schedules: PyTorch 1.13's sequences, argument checks, state dicts.
#include <catch2/catch.hpp>

#include <fstream>
#include <memory>
#include <sstream>

#include "optim_test_util.hpp"

using namespace tg;
using namespace tg::optim;
using namespace optim_test;

// ---- optim_schedules.txt ------------------------------------------------------------------

namespace {

struct ScheduleCase {
  std::string name, kind;
  std::map<std::string, std::string> options;
  std::vector<double> base_lrs, metrics;
  std::vector<std::vector<double>> lrs;  // [step][group]
  double num(const std::string& key, double fallback) const {
    const auto it = options.find(key);
    return it == options.end() ? fallback : std::stod(it->second);
  }
};

std::vector<ScheduleCase> load_schedule_cases() {
  std::ifstream file(TAPEGRAD_FIXTURES_DIR "/optim_schedules.txt");
  REQUIRE(file.good());
  std::vector<ScheduleCase> cases;
  std::string line;
  while (std::getline(file, line)) {
    std::istringstream in(line);
    std::string what;
    in >> what;
    if (what == "schedule") {
      cases.emplace_back();
      in >> cases.back().name >> cases.back().kind;
    } else if (what == "option") {
      std::string key, value;
      in >> key >> value;
      cases.back().options[key] = value;
    } else if (what == "base_lrs") {
      cases.back().base_lrs = read_values(in);
    } else if (what == "metrics") {
      cases.back().metrics = read_values(in);
    } else if (what == "lrs") {
      std::size_t step = 0;
      in >> step;
      REQUIRE(step == cases.back().lrs.size());
      cases.back().lrs.push_back(read_values(in));
    } else if (what != "end" && !what.empty()) {
      FAIL("optim_schedules.txt: unexpected line: " << line);
    }
  }
  return cases;
}

ReduceLROnPlateauOptions plateau_options(const ScheduleCase& c) {
  ReduceLROnPlateauOptions o;
  o.mode = c.options.at("mode") == "max" ? ReduceLROnPlateauOptions::Mode::Max
                                          : ReduceLROnPlateauOptions::Mode::Min;
  o.factor = c.num("factor", 0.1);
  o.patience = static_cast<std::int64_t>(c.num("patience", 10));
  o.threshold = c.num("threshold", 1e-4);
  const auto tm = c.options.find("threshold_mode");
  o.threshold_mode = tm != c.options.end() && tm->second == "abs"
                         ? ReduceLROnPlateauOptions::ThresholdMode::Abs
                         : ReduceLROnPlateauOptions::ThresholdMode::Rel;
  o.cooldown = static_cast<std::int64_t>(c.num("cooldown", 0));
  o.min_lr = {c.num("min_lr", 0)};
  return o;
}

std::vector<std::unique_ptr<LRScheduler>> make_schedulers(const ScheduleCase& c, Optimizer& opt) {
  std::vector<std::unique_ptr<LRScheduler>> out;
  const auto n = [&](const char* key, double fallback) { return c.num(key, fallback); };
  if (c.kind == "steplr")
    out.push_back(std::make_unique<StepLR>(opt, static_cast<std::int64_t>(n("step_size", 0)),
                                           n("gamma", 0.1)));
  if (c.kind == "exponential") out.push_back(std::make_unique<ExponentialLR>(opt, n("gamma", 0)));
  if (c.kind == "cosine" || c.kind == "linear+cosine") {
    if (c.kind == "linear+cosine")
      out.push_back(std::make_unique<LinearLR>(opt, n("start_factor", 1.0 / 3), n("end_factor", 1),
                                               static_cast<std::int64_t>(n("total_iters", 5))));
    out.push_back(std::make_unique<CosineAnnealingLR>(
        opt, static_cast<std::int64_t>(n("T_max", 0)), n("eta_min", 0)));
  }
  if (c.kind == "linear")
    out.push_back(std::make_unique<LinearLR>(opt, n("start_factor", 1.0 / 3), n("end_factor", 1),
                                             static_cast<std::int64_t>(n("total_iters", 5))));
  return out;
}

}  // namespace

TEST_CASE("learning-rate schedules follow PyTorch's sequences", "[optim][schedule][fixtures]") {
  const std::vector<ScheduleCase> cases = load_schedule_cases();
  REQUIRE(cases.size() == 11);
  std::size_t values = 0, exact = 0;
  for (const ScheduleCase& c : cases) {
    INFO("schedule " << c.name);
    ScheduleRig rig(c.base_lrs);
    std::unique_ptr<ReduceLROnPlateau> plateau;
    std::vector<std::unique_ptr<LRScheduler>> scheds;
    if (c.kind == "plateau")
      plateau = std::make_unique<ReduceLROnPlateau>(*rig.opt, plateau_options(c));
    else
      scheds = make_schedulers(c, *rig.opt);
    REQUIRE((plateau || !scheds.empty()));
    for (std::size_t step = 0; step < c.lrs.size(); ++step) {
      INFO("step " << step);
      if (step > 0) {
        rig.opt->step();
        if (plateau) plateau->step(c.metrics.at(step - 1));
        for (auto& s : scheds) s->step();
      }
      const std::vector<double> got = rig.lrs();
      const std::vector<double>& last = plateau ? plateau->get_last_lr() : scheds.back()->get_last_lr();
      CHECK(last == got);
      for (std::size_t g = 0; g < got.size(); ++g) {
        CHECK(got[g] == Approx(c.lrs[step][g]).epsilon(1e-13).margin(0));
        ++values;
        exact += got[g] == c.lrs[step][g];

      }
    }
  }
  // Same double arithmetic in the same order as Python, and the same libm cos.
#ifdef __GLIBC__
  CHECK(exact == values);
#endif
}

TEST_CASE("schedules record initial_lr once and refuse bad arguments", "[optim][schedule]") {
  ScheduleRig rig({0.1});
  LinearLR warmup(*rig.opt, 0.5, 1.0, 2);
  CHECK(rig.opt->lr() == 0.05);
  CHECK(rig.opt->param_groups()[0].initial_lr == 0.1);
  CosineAnnealingLR cosine(*rig.opt, 10);
  CHECK(cosine.base_lrs() == std::vector<double>{0.1});  // initial_lr, not the warmed-down lr
  CHECK(rig.opt->lr() == 0.05);
  CHECK_THROWS_WITH(StepLR(*rig.opt, 0), Catch::StartsWith("StepLR: step_size"));
  CHECK_THROWS_WITH(LinearLR(*rig.opt, 0.0), Catch::StartsWith("LinearLR: start_factor"));
  CHECK_THROWS_WITH(CosineAnnealingLR(*rig.opt, 0), Catch::StartsWith("CosineAnnealingLR: T_max"));
  ReduceLROnPlateauOptions bad;
  bad.factor = 1.0;
  CHECK_THROWS_WITH(ReduceLROnPlateau(*rig.opt, bad), Catch::Contains("factor should be < 1.0"));
  bad.factor = 0.5;
  bad.min_lr = {0, 0};
  CHECK_THROWS_WITH(ReduceLROnPlateau(*rig.opt, bad), Catch::Contains("expected 1 min_lrs, got 2"));
}

TEST_CASE("scheduler state dicts round-trip and refuse mismatches", "[optim][schedule][state]") {
  ScheduleRig rig({0.1, 0.05});
  ReduceLROnPlateauOptions o;
  o.patience = 1;
  ReduceLROnPlateau plateau(*rig.opt, o);
  for (double metric : {1.0, 0.5, 0.6, 0.7}) plateau.step(metric);
  const StateDict sd = plateau.state_dict();
  CHECK(sd.at("sched.best").item() == 0.5);
  CHECK(sd.at("sched.last_epoch").item() == 4);
  ScheduleRig other({0.1, 0.05});
  ReduceLROnPlateau fresh(*other.opt, o);
  fresh.load_state_dict(sd);
  CHECK(fresh.best() == 0.5);
  CHECK(fresh.get_last_lr() == plateau.get_last_lr());
  StateDict bad = sd;
  bad.erase("sched.best");
  CHECK_THROWS_WITH(fresh.load_state_dict(bad),
                    Catch::StartsWith("ReduceLROnPlateau::load_state_dict: sched.best: missing"));

  StepLR step(*rig.opt, 2);
  step.step();
  ScheduleRig one_group({0.1});
  StepLR narrow(*one_group.opt, 2);
  CHECK_THROWS_WITH(narrow.load_state_dict(step.state_dict()),
                    Catch::Contains("sched.base_lrs: expected 1 values, got shape [2]"));
  bad = step.state_dict();
  bad["sched.gamma"] = Tensor::scalar(0.5);
  CHECK_THROWS_WITH(step.load_state_dict(bad), Catch::Contains("sched.gamma: unknown key"));
}

