// Optimizer base: group checks, the step loop, and the state dict with its strict loading.
#include "tapegrad/optim/optimizer.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <set>

#include "tapegrad/autograd/tape.hpp"
#include "optim/state_io.hpp"

namespace tg::optim {

namespace {

// Parses "<digits>.<rest>" (after "group"); false if it is not of that form.
bool parse_group_key(const std::string& s, std::size_t& index, std::string& field) {
  const std::size_t dot = s.find('.');
  if (dot == 0 || dot == std::string::npos) return false;
  index = 0;
  for (std::size_t i = 0; i < dot; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    index = index * 10 + static_cast<std::size_t>(s[i] - '0');
  }
  field = s.substr(dot + 1);
  return true;
}

}  // namespace

ParamList::ParamList(const std::vector<Tensor>& tensors) {
  for (std::size_t i = 0; i < tensors.size(); ++i) named_.emplace_back(std::to_string(i), tensors[i]);
}

std::vector<ParamGroupSpec> single_group(ParamList params) {
  std::vector<ParamGroupSpec> groups(1);
  groups[0].params = std::move(params.named());
  return groups;
}

Optimizer::Optimizer(std::string type_name, std::vector<ParamGroupSpec> groups, double lr,
                     double weight_decay, std::vector<std::string> buffer_names)
    : type_name_(std::move(type_name)), buffer_names_(std::move(buffer_names)) {
  std::set<std::string> names;
  std::set<const TensorImpl*> tensors;
  std::size_t count = 0;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    ParamGroup group;
    group.lr = groups[g].lr.value_or(lr);
    group.weight_decay = groups[g].weight_decay.value_or(weight_decay);
    if (!(group.lr >= 0.0)) fail(fmt::format("invalid learning rate: {} (group {})", group.lr, g));
    if (!(group.weight_decay >= 0.0))
      fail(fmt::format("invalid weight_decay value: {} (group {})", group.weight_decay, g));
    for (const auto& [name, tensor] : groups[g].params) {
      if (!tensor.defined()) fail(fmt::format("parameter '{}' is an undefined tensor", name));
      if (!names.insert(name).second)
        fail(fmt::format("parameter name '{}' appears more than once", name));
      if (!tensors.insert(&tensor.impl()).second)
        fail(fmt::format("parameter '{}' is a tensor already given under another name", name));
    }
    count += groups[g].params.size();
    group.params = std::move(groups[g].params);
    groups_.push_back(std::move(group));
    states_.emplace_back(groups_.back().params.size());
  }
  if (count == 0) fail("got an empty parameter list");
}

void Optimizer::fail(const std::string& what) const {
  throw Error(fmt::format("{}: {}", type_name_, what));
}

void Optimizer::zero_grad() {
  for (const ParamGroup& group : groups_)
    for (const auto& named : group.params) named.second.zero_grad();
}

void Optimizer::step() {
  NoGradGuard no_grad;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const ParamGroup& group = groups_[g];
    for (std::size_t i = 0; i < group.params.size(); ++i) {
      const auto& [name, param] = group.params[i];
      if (!param.has_grad()) continue;
      const std::size_t grad_size = param.dtype() == DType::Float64
                                        ? param.grad<double>().size()
                                        : param.grad<float>().size();
      if (grad_size != param.size())
        fail(fmt::format("step: gradient of '{}' has {} elements, the parameter {}", name,
                         grad_size, shape_str(param.shape())));
      ParamState& state = states_[g][i];
      if (state.step == 0) {
        state.buffers.clear();  // partly filled if an allocation below threw on an earlier call
        for (std::size_t b = 0; b < buffer_names_.size(); ++b)
          state.buffers.push_back(
              Tensor::full(param.shape(), initial_buffer_value(b), param.dtype()));
      }
      for (const Tensor& buffer : state.buffers)
        if (buffer.dtype() != param.dtype() || buffer.size() != param.size())
          fail(fmt::format("step: the state of '{}' is {} {} but the parameter is {} {} (converted "
                           "after its first update?)", name, to_string(buffer.dtype()),
                           shape_str(buffer.shape()), to_string(param.dtype()),
                           shape_str(param.shape())));
      ++state.step;
      update(group, param, state);
    }
  }
  ++step_count_;
}

void Optimizer::check_group(const char* op, std::size_t group) const {
  if (group >= groups_.size())
    fail(fmt::format("{}: no group {} ({} groups)", op, group, groups_.size()));
}

double Optimizer::lr(std::size_t group) const {
  check_group("lr", group);
  return groups_[group].lr;
}

void Optimizer::set_lr(std::size_t group, double lr) {
  check_group("set_lr", group);
  if (!(lr >= 0.0)) fail(fmt::format("set_lr: invalid learning rate: {}", lr));
  groups_[group].lr = lr;
}

void Optimizer::set_lr(double lr) {
  for (std::size_t g = 0; g < groups_.size(); ++g) set_lr(g, lr);
}

void Optimizer::set_weight_decay(std::size_t group, double weight_decay) {
  check_group("set_weight_decay", group);
  if (!(weight_decay >= 0.0))
    fail(fmt::format("set_weight_decay: invalid weight_decay value: {}", weight_decay));
  groups_[group].weight_decay = weight_decay;
}

void Optimizer::set_initial_lr(std::size_t group, double initial_lr) {
  check_group("set_initial_lr", group);
  groups_[group].initial_lr = initial_lr;
}

const ParamState& Optimizer::state(const std::string& param) const {
  for (std::size_t g = 0; g < groups_.size(); ++g)
    for (std::size_t i = 0; i < groups_[g].params.size(); ++i)
      if (groups_[g].params[i].first == param) return states_[g][i];
  fail(fmt::format("state: no parameter named '{}'", param));
}

std::map<std::string, Tensor> Optimizer::state_dict(const std::string& prefix) const {
  std::map<std::string, Tensor> out;
  out[prefix + "step"] = detail::scalar64(static_cast<double>(step_count_));
  out[prefix + "groups"] = detail::scalar64(static_cast<double>(groups_.size()));
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const ParamGroup& group = groups_[g];
    const std::string key = fmt::format("{}group{}.", prefix, g);
    out[key + "params"] = detail::scalar64(static_cast<double>(group.params.size()));
    out[key + "lr"] = detail::scalar64(group.lr);
    out[key + "weight_decay"] = detail::scalar64(group.weight_decay);
    // Like PyTorch's, only once a scheduler has set it (a NaN "unset" would be saved otherwise).
    if (!std::isnan(group.initial_lr)) out[key + "initial_lr"] = detail::scalar64(group.initial_lr);
    for (std::size_t i = 0; i < group.params.size(); ++i) {
      const ParamState& state = states_[g][i];
      if (state.step == 0) continue;
      const std::string skey = prefix + "state." + group.params[i].first + ".";
      out[skey + "step"] = detail::scalar64(static_cast<double>(state.step));
      for (std::size_t b = 0; b < buffer_names_.size(); ++b)
        out[skey + buffer_names_[b]] = state.buffers[b].clone();
    }
  }
  return out;
}

void Optimizer::load_state_dict(const std::map<std::string, Tensor>& state,
                                const std::string& prefix) {
  auto error = [&](const std::string& key, const std::string& what) {
    return detail::load_error(type_name_, key, what);
  };
  auto scalar = [&](const std::string& key, const Tensor& t) {
    if (!t.defined() || t.size() != 1)
      throw error(key, fmt::format("expected one value, got shape {}",
                                   t.defined() ? shape_str(t.shape()) : "undefined"));
    return t.item();
  };
  auto count = [&](const std::string& key, const Tensor& t) {
    const double v = scalar(key, t);
    if (!(v >= 0) || !detail::is_exact_integer(v))
      throw error(key, fmt::format("expected a non-negative integer, got {}", v));
    return static_cast<std::int64_t>(v);
  };

  // Where each parameter name lives.
  std::map<std::string, std::pair<std::size_t, std::size_t>> index;
  for (std::size_t g = 0; g < groups_.size(); ++g)
    for (std::size_t i = 0; i < groups_[g].params.size(); ++i)
      index[groups_[g].params[i].first] = {g, i};

  // Parse everything into new values first: a refused state dict changes nothing.
  std::optional<std::int64_t> step_count;
  std::optional<std::int64_t> group_count;
  std::vector<std::map<std::string, double>> group_fields(groups_.size());
  std::vector<std::vector<ParamState>> states(groups_.size());
  for (std::size_t g = 0; g < groups_.size(); ++g) states[g].resize(groups_[g].params.size());

  const std::string state_prefix = prefix + "state.";
  for (const auto& [key, tensor] : state) {
    if (!detail::starts_with(key, prefix)) continue;
    const std::string rest = key.substr(prefix.size());
    if (rest == "step") {
      step_count = count(key, tensor);
    } else if (rest == "groups") {
      group_count = count(key, tensor);
    } else if (detail::starts_with(rest, "group")) {
      std::size_t g = 0;
      std::string field;
      if (!parse_group_key(rest.substr(5), g, field) ||
          (field != "params" && field != "lr" && field != "weight_decay" && field != "initial_lr"))
        throw error(key, "unknown key");
      if (g >= groups_.size())
        throw error(key, fmt::format("no group {}: the optimizer has {} groups", g, groups_.size()));
      group_fields[g][field] = scalar(key, tensor);
    } else if (detail::starts_with(key, state_prefix)) {
      const std::size_t dot = key.rfind('.');
      if (dot <= state_prefix.size()) throw error(key, "expected state.<parameter>.<buffer>");
      const std::string name = key.substr(state_prefix.size(), dot - state_prefix.size());
      const std::string buffer = key.substr(dot + 1);
      const auto where_param = index.find(name);
      if (where_param == index.end())
        throw error(key, fmt::format("no parameter named '{}' in this optimizer", name));
      const auto [g, i] = where_param->second;
      const Tensor& param = groups_[g].params[i].second;
      ParamState& ps = states[g][i];
      // Undefined until their key is read: the checks below find the missing buffers by that.
      ps.buffers.resize(buffer_names_.size());
      if (buffer == "step") {
        ps.step = count(key, tensor);
        if (ps.step == 0) throw error(key, "expected a step count >= 1");
        continue;
      }
      std::size_t b = 0;
      while (b < buffer_names_.size() && buffer_names_[b] != buffer) ++b;
      if (b == buffer_names_.size())
        throw error(key, fmt::format("{} has no buffer '{}'{}", type_name_, buffer,
                                     buffer_names_.empty()
                                         ? std::string(" (it keeps no buffers with these options)")
                                         : fmt::format(" (its buffers: {})",
                                                       fmt::join(buffer_names_, ", "))));
      if (!tensor.defined() || tensor.shape() != param.shape())
        throw error(key, fmt::format("shape {} but parameter '{}' has shape {}",
                                     tensor.defined() ? shape_str(tensor.shape()) : "undefined",
                                     name, shape_str(param.shape())));
      ps.buffers[b] = tensor.to(param.dtype());  // a copy: the caller's map stays untouched
    } else {
      throw error(key, "unknown key");
    }
  }

  if (!step_count) throw error(prefix + "step", "missing");
  if (!group_count) throw error(prefix + "groups", "missing");
  if (static_cast<std::size_t>(*group_count) != groups_.size())
    throw error(prefix + "groups", fmt::format("{} groups in the state, {} in the optimizer",
                                               *group_count, groups_.size()));
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const std::string gkey = fmt::format("{}group{}.", prefix, g);
    for (const char* field : {"params", "lr", "weight_decay"})
      if (!group_fields[g].count(field)) throw error(gkey + field, "missing");
    if (group_fields[g]["params"] != static_cast<double>(groups_[g].params.size()))
      throw error(gkey + "params", fmt::format("{} parameters in the state, {} in the group",
                                               group_fields[g]["params"], groups_[g].params.size()));
    if (!(group_fields[g]["lr"] >= 0.0) || !(group_fields[g]["weight_decay"] >= 0.0))
      throw error(gkey + "lr", fmt::format("invalid lr {} or weight_decay {}",
                                           group_fields[g]["lr"], group_fields[g]["weight_decay"]));
    for (std::size_t i = 0; i < groups_[g].params.size(); ++i) {
      const ParamState& ps = states[g][i];
      if (ps.step == 0 && ps.buffers.empty()) continue;  // no state: not yet updated
      const std::string skey = state_prefix + groups_[g].params[i].first + ".";
      if (ps.step == 0) throw error(skey + "step", "missing");
      for (std::size_t b = 0; b < buffer_names_.size(); ++b)
        if (!ps.buffers[b].defined()) throw error(skey + buffer_names_[b], "missing");
    }
  }

  step_count_ = *step_count;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    groups_[g].lr = group_fields[g]["lr"];
    groups_[g].weight_decay = group_fields[g]["weight_decay"];
    const auto initial_lr = group_fields[g].find("initial_lr");
    groups_[g].initial_lr = initial_lr == group_fields[g].end()
                                ? std::numeric_limits<double>::quiet_NaN()
                                : initial_lr->second;
  }
  states_ = std::move(states);
}

}  // namespace tg::optim
