// nn::Module: parameter naming and registration, modes, dtype conversion, state dicts, summary.
#include "tapegrad/nn/module.hpp"

#include <limits>

#include <fmt/format.h>

#include <cxxabi.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <set>
#include <typeinfo>

#include "tapegrad/autograd/function.hpp"

namespace tg::nn {

namespace {

std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// Keras writes counts as 1,234,567.
std::string group_thousands(std::size_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string join_keys(const std::vector<std::string>& keys) {
  return fmt::format("{}", fmt::join(keys, ", "));
}

}  // namespace

std::string Module::type_name() const {
  // The dynamic type's name as the compiler mangles it, demangled ("tg::nn::Linear",
  // "MyModel<float>"), then stripped of its namespaces.
  int status = 0;
  const std::unique_ptr<char, void (*)(void*)> demangled(
      abi::__cxa_demangle(typeid(*this).name(), nullptr, nullptr, &status), std::free);
  std::string name = status == 0 && demangled ? demangled.get() : typeid(*this).name();
  const std::size_t template_start = std::min(name.find('<'), name.size());
  const std::size_t last_scope = name.rfind("::", template_start);
  return last_scope == std::string::npos ? name : name.substr(last_scope + 2);
}

Tensor Module::forward(const Tensor&) {
  throw Error(type_name() + ": forward(Tensor) is not supported by this module");
}

Shape Module::output_shape(const Shape& input_shape) const {
  Shape shape = input_shape;
  for (const auto& [name, child] : children_) shape = child->output_shape(shape);
  return shape;
}

void Module::check_new_name(const char* what, const std::string& name) const {
  if (name.empty() || name.find('.') != std::string::npos)
    throw Error(fmt::format("{}: {}: invalid name '{}' (non-empty, no '.')", what, type_name(), name));
  const auto same = [&](const auto& entry) { return entry.first == name; };
  if (std::any_of(params_.begin(), params_.end(), same) ||
      std::any_of(children_.begin(), children_.end(), same) ||
      std::any_of(buffers_.begin(), buffers_.end(), [&](const Buffer& b) { return b.name == name; }))
    throw Error(fmt::format("{}: {}: name '{}' is already taken", what, type_name(), name));
}

const Tensor& Module::register_parameter(std::string name, Tensor value) {
  check_new_name("register_parameter", name);
  if (!value.defined())
    throw Error(fmt::format("register_parameter: {}: '{}' is an undefined tensor", type_name(), name));
  if (!value.is_leaf())
    throw Error(fmt::format("register_parameter: {}: '{}' is not a leaf tensor (detach() it)",
                            type_name(), name));
  value.set_requires_grad(true);
  value.set_name(name);
  params_.emplace_back(std::move(name), std::move(value));
  return params_.back().second;
}

const Tensor& Module::register_buffer(std::string name, Tensor value, bool persistent) {
  check_new_name("register_buffer", name);
  if (!value.defined())
    throw Error(fmt::format("register_buffer: {}: '{}' is an undefined tensor", type_name(), name));
  // A buffer is state, not a graph node: it is detached so that updating it in forward (running
  // statistics) never keeps a tape alive or asks for a gradient.
  if (!value.is_leaf() || value.requires_grad()) value = value.detach();
  value.set_name(name);
  buffers_.push_back({std::move(name), std::move(value), persistent});
  return buffers_.back().value;
}

void Module::adopt_child(std::string name, std::shared_ptr<Module> module) {
  check_new_name("register_module", name);
  if (!module) throw Error(fmt::format("register_module: {}: '{}' is null", type_name(), name));
  // Tensor names are set bottom-up: a child's parameters are named relative to the child, and
  // each adoption prefixes them, so a full tree carries PyTorch's names into DOT graphs.
  for (const auto& [local, tensor] : module->named_parameters()) tensor.set_name(join_name(name, local));
  for (const auto& [local, tensor] : module->named_buffers()) tensor.set_name(join_name(name, local));
  children_.emplace_back(std::move(name), std::move(module));
}

void Module::collect(const std::string& prefix, NamedTensors& out, bool with_buffers,
                     bool all_buffers) const {
  for (const auto& [name, tensor] : params_) out.emplace_back(join_name(prefix, name), tensor);
  if (with_buffers)
    for (const Buffer& b : buffers_)
      if (b.persistent || all_buffers) out.emplace_back(join_name(prefix, b.name), b.value);
  for (const auto& [name, child] : children_)
    child->collect(join_name(prefix, name), out, with_buffers, all_buffers);
}

void Module::collect_buffers(const std::string& prefix, NamedTensors& out) const {
  for (const Buffer& b : buffers_) out.emplace_back(join_name(prefix, b.name), b.value);
  for (const auto& [name, child] : children_) child->collect_buffers(join_name(prefix, name), out);
}

NamedTensors Module::named_buffers() const {
  NamedTensors all;
  collect_buffers("", all);
  return all;
}

std::vector<Tensor> Module::buffers() const {
  std::vector<Tensor> out;
  for (auto& entry : named_buffers()) out.push_back(std::move(entry.second));
  return out;
}

NamedTensors Module::named_parameters() const {
  NamedTensors all;
  collect("", all);
  NamedTensors unique;
  std::set<const TensorImpl*> seen;
  for (auto& entry : all) {
    if (seen.insert(entry.second.impl_ptr().get()).second) unique.push_back(std::move(entry));
  }
  return unique;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& entry : named_parameters()) out.push_back(std::move(entry.second));
  return out;
}

std::size_t Module::parameter_count() const {
  std::size_t n = 0;
  for (const Tensor& t : parameters()) n += t.size();
  return n;
}

std::size_t Module::trainable_parameter_count() const {
  std::size_t n = 0;
  for (const Tensor& t : parameters())
    if (t.requires_grad()) n += t.size();
  return n;
}

void Module::train(bool on) {
  const bool changed = training_ != on;
  training_ = on;
  for (const auto& entry : children_) entry.second->train(on);
  if (changed) on_mode_change();
}

void Module::zero_grad() {
  for (const Tensor& t : parameters()) t.zero_grad();
}

void Module::to(DType dtype) {
  std::vector<Tensor> tensors = parameters();
  for (const Tensor& b : buffers()) tensors.push_back(b);
  for (const Tensor& t : tensors) {
    if (t.dtype() == dtype) continue;
    // Swapping the arrays inside the existing TensorImpl keeps every handle (optimizers,
    // layers' members) pointing at the converted parameter.
    Tensor converted = t.to(dtype);
    TensorImpl& impl = t.impl();
    impl.arrays = std::move(converted.impl().arrays);
    impl.has_grad = false;
  }
}

std::map<std::string, Tensor> Module::state_dict() const {
  NamedTensors all;
  collect("", all, /*with_buffers=*/true);
  std::map<std::string, Tensor> out;
  for (const auto& [name, tensor] : all) out.emplace(name, tensor.detach());
  return out;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  NamedTensors all;
  collect("", all, /*with_buffers=*/true);
  std::vector<std::string> missing;
  std::set<std::string> model_keys;
  for (const auto& [name, tensor] : all) {
    model_keys.insert(name);
    const auto it = state.find(name);
    if (it == state.end()) {
      missing.push_back(name);
      continue;
    }
    if (!it->second.defined())
      throw Error(fmt::format("load_state_dict: {} is an undefined tensor in the checkpoint", name));
    if (it->second.shape() != tensor.shape())
      throw Error(fmt::format("load_state_dict: shape mismatch for {}: checkpoint {}, model {}",
                              name, shape_str(it->second.shape()), shape_str(tensor.shape())));
    // One NaN weight makes every output NaN, silently: refused like a wrong shape.
    const Tensor& source = it->second;
    dispatch(source.dtype(), [&, &name = name](auto s) {
      using T = decltype(s);
      const auto& v = source.value<T>();
      const T* bad = std::find_if(v.data(), v.data() + v.size(), [](T x) { return !std::isfinite(x); });
      if (bad != v.data() + v.size())
        throw NonFiniteError("load_state_dict", name, static_cast<std::size_t>(bad - v.data()),
                             static_cast<double>(*bad));
    });
  }
  std::vector<std::string> unexpected;
  for (const auto& entry : state)
    if (!model_keys.count(entry.first)) unexpected.push_back(entry.first);
  if (strict && (!missing.empty() || !unexpected.empty())) {
    std::string message = "load_state_dict:";
    if (!missing.empty()) message += " missing keys: " + join_keys(missing) + ";";
    if (!unexpected.empty()) message += " unexpected keys: " + join_keys(unexpected) + ";";
    message.pop_back();
    throw Error(message);
  }
  for (const auto& [name, tensor] : all) {
    const auto it = state.find(name);
    if (it == state.end()) continue;
    dispatch(tensor.dtype(), [&, &tensor = tensor](auto s) {
      using T = decltype(s);
      const Tensor source = it->second.dtype() == tensor.dtype() ? it->second : it->second.to(tensor.dtype());
      tensor.mutable_value<T>() = source.value<T>();
    });
  }
}

const Shape& Module::unknown_shape() {
  static const Shape unknown{std::numeric_limits<std::size_t>::max()};
  return unknown;
}

Module& Module::set_matmul_precision(std::optional<MatmulPrecision> precision) {
  matmul_precision_ = precision;
  for (const auto& child : children_) child.second->set_matmul_precision(precision);
  return *this;
}

Module& Module::set_requires_grad(bool requires_grad) {
  for (const Tensor& p : parameters()) p.set_requires_grad(requires_grad);
  return *this;
}

Shape Module::summary_rows(const std::string& name, const Shape& input_shape,
                           std::vector<SummaryRow>& rows) const {
  if (children_.empty()) {
    SummaryRow row{name, type_name(), unknown_shape(), parameter_count(), false};
    if (input_shape != unknown_shape()) {
      row.output_shape = output_shape(input_shape);
      row.output_known = true;
    }
    rows.push_back(row);
    return row.output_shape;
  }
  if (!params_.empty()) {
    // A container's own parameters get a row of their own, so that the rows add up.
    std::size_t own = 0;
    for (const auto& entry : params_) own += entry.second.size();
    rows.push_back({name, type_name(), input_shape, own, input_shape != unknown_shape()});
  }
  Shape shape = input_shape;
  for (const auto& [child_name, child] : children_) {
    const std::string child_path = join_name(name, child_name);
    if (children_form_a_chain()) {  // a shape a chain does not take is the caller's error
      shape = child->summary_rows(child_path, shape, rows);
      continue;
    }
    // Feeding the children in order is only a guess for other models: where a child does not
    // take the shape, its rows (and the rest) are listed with unknown shapes instead.
    const std::size_t before = rows.size();
    try {
      shape = child->summary_rows(child_path, shape, rows);
    } catch (const Error&) {
      rows.resize(before);
      shape = child->summary_rows(child_path, unknown_shape(), rows);
    }
  }
  return shape;
}

std::string Module::summary() const { return summary(unknown_shape()); }

std::string Module::summary(const Shape& input_shape) const {
  std::vector<SummaryRow> rows;
  summary_rows("", input_shape, rows);

  std::vector<std::array<std::string, 3>> cells;
  cells.push_back({"Layer (type)", "Output Shape", "Param #"});
  for (const SummaryRow& row : rows) {
    std::string layer = row.name.empty() ? row.type : fmt::format("{} ({})", row.name, row.type);
    cells.push_back({layer, row.output_known ? shape_str(row.output_shape) : "?",
                     group_thousands(row.params)});
  }
  std::array<std::size_t, 3> width{0, 0, 0};
  for (const auto& line : cells)
    for (std::size_t c = 0; c < 3; ++c) width[c] = std::max(width[c], line[c].size() + 3);
  const std::size_t total_width = 1 + width[0] + width[1] + width[2];

  const auto format_line = [&](const std::array<std::string, 3>& line) {
    std::string text = fmt::format(" {:<{}}{:<{}}{}", line[0], width[0], line[1], width[1], line[2]);
    return text + "\n";
  };
  std::string out = fmt::format("Model: \"{}\"\n", type_name());
  out += std::string(total_width, '_') + "\n";
  out += format_line(cells[0]);
  out += std::string(total_width, '=') + "\n";
  for (std::size_t i = 1; i < cells.size(); ++i) out += format_line(cells[i]);
  out += std::string(total_width, '=') + "\n";
  const std::size_t total = parameter_count();
  const std::size_t trainable = trainable_parameter_count();
  out += "Total params: " + group_thousands(total) + "\n";
  out += "Trainable params: " + group_thousands(trainable) + "\n";
  out += "Non-trainable params: " + group_thousands(total - trainable) + "\n";
  out += std::string(total_width, '_') + "\n";
  return out;
}

}  // namespace tg::nn
