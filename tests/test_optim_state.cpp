// tg::optim state dicts: documented keys, strict loading, and runs resumed bit for bit (in memory
// and through an .npz checkpoint).
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <memory>

#include "tapegrad/nn/npz.hpp"
#include "optim_test_util.hpp"
#include "test_support.hpp"

using namespace tg;
using namespace tg::optim;
using namespace optim_test;

// ---- state dicts and resumption -----------------------------------------------------------

namespace {

// A training run: least squares in float32 plus a parameter that only gets a gradient on every
// other step (so per-parameter step counts diverge), gradient clipping, an optimizer and its
// schedules. Everything a resumed run needs is in checkpoint().
struct Trainer {
  LeastSquares problem;
  Tensor extra;
  std::unique_ptr<Optimizer> opt;
  std::vector<std::unique_ptr<LRScheduler>> scheds;
  std::unique_ptr<ReduceLROnPlateau> plateau;

  explicit Trainer(double init) : problem(DType::Float32, init) {
    extra = Tensor::full({3}, init + 1, DType::Float32, true);
  }
  nn::NamedTensors params() const {
    nn::NamedTensors p = problem.params();
    p.emplace_back("extra", extra);
    return p;
  }
  void run(int steps) {
    for (int i = 0; i < steps; ++i) {
      opt->zero_grad();
      double loss = problem.backward();
      if (opt->step_count() % 2 == 0) {
        const Tensor l = sum(extra * extra);
        l.backward();
        loss += l.item();
      }
      clip_grad_norm(params(), 2.0);
      opt->step();
      for (auto& s : scheds) s->step();
      if (plateau) plateau->step(loss);
    }
  }
  StateDict checkpoint() const {
    StateDict out = opt->state_dict();
    for (const auto& [name, t] : params()) out["model." + name] = t.clone();
    for (std::size_t i = 0; i < scheds.size(); ++i)
      for (auto& kv : scheds[i]->state_dict("sched" + std::to_string(i) + ".")) out.insert(kv);
    if (plateau)
      for (auto& kv : plateau->state_dict("plateau.")) out.insert(kv);
    return out;
  }
  void restore(const StateDict& state) {
    for (const auto& [name, t] : params()) {
      NoGradGuard no_grad;
      t.mutable_value<float>() = state.at("model." + name).value<float>();
    }
    opt->load_state_dict(state);
    for (std::size_t i = 0; i < scheds.size(); ++i)
      scheds[i]->load_state_dict(state, "sched" + std::to_string(i) + ".");
    if (plateau) plateau->load_state_dict(state, "plateau.");
  }
};

using Setup = std::function<void(Trainer&)>;

std::vector<std::pair<const char*, Setup>> resume_setups() {
  return {
      {"SGD nesterov, weight decay, two groups, StepLR",
       [](Trainer& t) {
         std::vector<ParamGroupSpec> groups{{{t.params()[0], t.params()[1]}, std::nullopt, 0.01},
                                            {{t.params()[2]}, 0.02, std::nullopt}};
         t.opt = std::make_unique<SGD>(std::move(groups), SGDOptions{0.05, 0.9, 0, 0.001, true});
         t.scheds.push_back(std::make_unique<StepLR>(*t.opt, 3, 0.5));
       }},
      {"Adam amsgrad, weight decay, cosine",
       [](Trainer& t) {
         t.opt = std::make_unique<Adam>(t.params(), AdamOptions{0.05, {0.9, 0.99}, 1e-8, 0.01, true});
         t.scheds.push_back(std::make_unique<CosineAnnealingLR>(*t.opt, 8, 0.001));
       }},
      {"AdamW, warm-up then cosine",
       [](Trainer& t) {
         t.opt = std::make_unique<AdamW>(t.params(), AdamWOptions{0.05});
         t.scheds.push_back(std::make_unique<LinearLR>(*t.opt, 0.2, 1.0, 4));
         t.scheds.push_back(std::make_unique<CosineAnnealingLR>(*t.opt, 12));
       }},
      {"RMSprop centered momentum, plateau",
       [](Trainer& t) {
         t.opt = std::make_unique<RMSprop>(t.params(), RMSpropOptions{0.01, 0.9, 1e-8, 0.01, 0.5, true});
         ReduceLROnPlateauOptions o;
         o.patience = 0;
         o.factor = 0.5;
         o.cooldown = 1;
         o.threshold = 0.2;
         t.plateau = std::make_unique<ReduceLROnPlateau>(*t.opt, o);
       }},
      {"Adagrad lr decay, exponential",
       [](Trainer& t) {
         t.opt = std::make_unique<Adagrad>(t.params(), AdagradOptions{0.1, 0.01, 0.001, 0.1});
         t.scheds.push_back(std::make_unique<ExponentialLR>(*t.opt, 0.9));
       }},
  };
}

}  // namespace

TEST_CASE("a resumed run continues bit for bit", "[optim][resume]") {
  const int n = 7, m = 6;
  for (const auto& [name, setup] : resume_setups()) {
    INFO(name);
    Trainer reference(0.1);
    setup(reference);
    reference.run(n);
    const StateDict saved = reference.checkpoint();
    reference.run(m);  // keeps stepping after the save: the saved copies must not move

    Trainer resumed(-0.5);  // other initial values, all overwritten by the checkpoint
    setup(resumed);
    resumed.restore(saved);
    check_same_state(resumed.checkpoint(), saved);
    resumed.run(m);

    for (std::size_t i = 0; i < reference.params().size(); ++i)
      CHECK(reference.params()[i].second.to_vector() == resumed.params()[i].second.to_vector());
    check_same_state(resumed.checkpoint(), reference.checkpoint());
    CHECK(reference.opt->state("extra").step < reference.opt->state("fc.bias").step);
  }
}

TEST_CASE("a resumed run continues bit for bit through an .npz checkpoint", "[optim][resume]") {
  const auto setups = resume_setups();
  tg::testing::TempDir dir;
  const std::string path = (dir.path / "ckpt.npz").string();
  for (const auto& [name, setup] : {setups[1], setups[3]}) {  // Adam and RMSprop + plateau
    INFO(name);
    Trainer reference(0.1);
    setup(reference);
    reference.run(5);
    nn::Archive archive;
    archive.tensors = reference.checkpoint();
    nn::save_npz(path, archive);
    reference.run(4);

    Trainer resumed(0.3);
    setup(resumed);
    resumed.restore(nn::load_npz(path).tensors);
    resumed.run(4);
    for (std::size_t i = 0; i < reference.params().size(); ++i)
      CHECK(reference.params()[i].second.to_vector() == resumed.params()[i].second.to_vector());
    check_same_state(resumed.checkpoint(), reference.checkpoint());
  }
}

TEST_CASE("the state dict names every entry as documented", "[optim][state]") {
  const Tensor w = Tensor::ones({3, 4}, DType::Float32, true);
  const Tensor b = Tensor::ones({4}, DType::Float32, true);
  Adam opt({{{{"fc.weight", w}}, std::nullopt, std::nullopt}, {{{"fc.bias", b}}, 0.5, 0.1}},
           AdamOptions{0.01, {0.9, 0.999}, 1e-8, 0, true});
  set_grad(w, std::vector<double>(12, 0.5));
  opt.step();
  const StateDict sd = opt.state_dict();
  std::vector<std::string> keys;
  for (const auto& kv : sd) keys.push_back(kv.first);
  // No scheduler: no initial_lr (as in PyTorch, and a NaN "unset" is never saved).
  CHECK(keys == std::vector<std::string>{
                    "optim.group0.lr", "optim.group0.params", "optim.group0.weight_decay",
                    "optim.group1.lr", "optim.group1.params", "optim.group1.weight_decay",
                    "optim.groups", "optim.state.fc.weight.exp_avg",
                    "optim.state.fc.weight.exp_avg_sq", "optim.state.fc.weight.max_exp_avg_sq",
                    "optim.state.fc.weight.step", "optim.step"});
  for (const auto& [key, value] : sd)
    if (value.size() == 1) CHECK(std::isfinite(value.item()));
  // A scheduler sets it; then it is saved, and it loads back.
  ExponentialLR schedule(opt, 0.5);
  const StateDict scheduled = opt.state_dict();
  CHECK(scheduled.at("optim.group0.initial_lr").item() == 0.01);
  CHECK(scheduled.at("optim.group1.initial_lr").item() == 0.5);
  Adam reloaded({{{{"fc.weight", w}}, std::nullopt, std::nullopt}, {{{"fc.bias", b}}, 0.5, 0.1}},
                AdamOptions{0.01, {0.9, 0.999}, 1e-8, 0, true});
  reloaded.load_state_dict(scheduled);
  CHECK(reloaded.param_groups()[1].initial_lr == 0.5);
  reloaded.load_state_dict(sd);
  CHECK(std::isnan(reloaded.param_groups()[1].initial_lr));
  CHECK(sd.at("optim.group1.lr").item() == 0.5);
  CHECK(sd.at("optim.group1.weight_decay").item() == 0.1);
  CHECK(sd.at("optim.group0.weight_decay").item() == 0.0);
  CHECK(sd.at("optim.state.fc.weight.step").item() == 1);
  CHECK(sd.at("optim.state.fc.weight.exp_avg").dtype() == DType::Float32);
  CHECK(sd.at("optim.state.fc.weight.exp_avg").to_vector() ==
        std::vector<double>(12, static_cast<float>(0.1f * 0.5f)));
  CHECK(opt.state_dict("x.").count("x.state.fc.weight.exp_avg") == 1);
}

TEST_CASE("load_state_dict refuses mismatches, naming the key, and changes nothing",
          "[optim][state]") {
  const Tensor w = Tensor::ones({3, 4}, DType::Float32, true);
  const Tensor b = Tensor::ones({4}, DType::Float32, true);
  const nn::NamedTensors params{{"w", w}, {"b", b}};
  Adam source(params, AdamOptions{0.01});
  set_grad(w, std::vector<double>(12, 0.5));
  set_grad(b, std::vector<double>(4, -0.5));
  source.step();
  const StateDict good = source.state_dict();

  Adam target(params, AdamOptions{0.02});
  set_grad(w, std::vector<double>(12, 1.0));
  target.step();
  const StateDict before = target.state_dict();
  const auto refused = [&](StateDict sd, const std::string& message) {
    CHECK_THROWS_WITH(target.load_state_dict(sd), Catch::StartsWith("Adam::load_state_dict: ") &&
                                                      Catch::Contains(message));
    check_same_state(target.state_dict(), before);
  };
  StateDict sd = good;
  sd["optim.state.v.exp_avg"] = sd["optim.state.w.exp_avg"];
  refused(sd, "optim.state.v.exp_avg: no parameter named 'v'");
  sd = good;
  sd["optim.state.w.exp_avg"] = Tensor::zeros({4, 3});
  refused(sd, "optim.state.w.exp_avg: shape [4,3] but parameter 'w' has shape [3,4]");
  sd = good;
  sd.erase("optim.state.b.exp_avg_sq");
  refused(sd, "optim.state.b.exp_avg_sq: missing");
  sd = good;
  sd.erase("optim.state.b.step");
  refused(sd, "optim.state.b.step: missing");
  sd = good;
  sd["optim.state.w.momentum_buffer"] = sd["optim.state.w.exp_avg"];
  refused(sd, "optim.state.w.momentum_buffer: Adam has no buffer 'momentum_buffer'");
  sd = good;
  sd["optim.group1.lr"] = Tensor::scalar(0.1, DType::Float64);
  refused(sd, "optim.group1.lr: no group 1: the optimizer has 1 groups");
  sd = good;
  sd["optim.groups"] = Tensor::scalar(2, DType::Float64);
  refused(sd, "optim.groups: 2 groups in the state, 1 in the optimizer");
  sd = good;
  sd.erase("optim.group0.lr");
  refused(sd, "optim.group0.lr: missing");
  sd = good;
  sd["optim.momentum"] = Tensor::scalar(0.9);
  refused(sd, "optim.momentum: unknown key");
  sd = good;
  sd.erase("optim.step");
  refused(sd, "optim.step: missing");

  // Keys outside the prefix are ignored; a good load restores everything.
  sd = good;
  sd["model.w"] = w.clone();
  target.load_state_dict(sd);
  check_same_state(target.state_dict(), good);
  CHECK(target.lr() == 0.01);

  // Adam's state is not SGD's, and amsgrad needs its extra buffer.
  SGD sgd(params, SGDOptions{0.1, 0.9});
  CHECK_THROWS_WITH(sgd.load_state_dict(good),
                    Catch::Contains("optim.state.b.exp_avg: SGD has no buffer 'exp_avg'"));
  Adam ams(params, AdamOptions{0.01, {0.9, 0.999}, 1e-8, 0, true});
  CHECK_THROWS_WITH(ams.load_state_dict(good), Catch::Contains("max_exp_avg_sq: missing"));

  // Buffers of another dtype are converted to the parameter's.
  const Tensor w64 = Tensor::ones({3, 4}, DType::Float64, true);
  const Tensor b64 = Tensor::ones({4}, DType::Float64, true);
  Adam wide(nn::NamedTensors{{"w", w64}, {"b", b64}}, AdamOptions{0.01});
  wide.load_state_dict(good);
  CHECK(wide.state("w").buffers[0].dtype() == DType::Float64);
  CHECK(wide.state("w").buffers[0].to_vector() == good.at("optim.state.w.exp_avg").to_vector());
}
