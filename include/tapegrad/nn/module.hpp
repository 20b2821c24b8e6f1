// nn::Module: a tree of named parameters, buffers and child modules, with PyTorch's naming and modes.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/autograd/autocast.hpp"
#include "tapegrad/autograd/error.hpp"
#include "tapegrad/autograd/tensor.hpp"

namespace tg::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// One line of Module::summary().
struct SummaryRow {
  std::string name;  // hierarchical ("encoder.lstm")
  std::string type;  // type_name()
  Shape output_shape;  // meaningful only when output_known
  std::size_t params = 0;
  bool output_known = true;  // false where the shape cannot be derived (not a chain, no input)
};

class Module {
 public:
  // The shape summary_rows passes on where no shape is known.
  static const Shape& unknown_shape();

  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The layer's name in summaries and errors ("Linear", "LSTM"). The default is the class's
  // own name without its namespaces; override it only to show another.
  virtual std::string type_name() const;
  // One-input, one-output modules (everything that can sit in a Sequential) override this.
  // The default throws tg::Error naming the type.
  virtual Tensor forward(const Tensor& input);
  // The same as forward(input), as PyTorch's __call__.
  Tensor operator()(const Tensor& input) { return forward(input); }
  // Keras-style output shape for an input shape, used by summary() (batch axis included).
  // The default chains the children in order; a module without children keeps the shape
  // (right for activations and dropout: every layer that changes shapes overrides it).
  virtual Shape output_shape(const Shape& input_shape) const;

  // Buffers: tensors that are state but not trained (BatchNorm's running statistics), named as
  // parameters are. Persistent ones are in state_dict(); all are converted by to(dtype).
  NamedTensors named_buffers() const;
  std::vector<Tensor> buffers() const;

  // Parameters in registration order, depth first (own parameters before the children's), named
  // as PyTorch names them ("encoder.lstm.weight_ih_l0"). A tensor shared by two modules (weight
  // tying) is listed once, under its first name, as PyTorch does.
  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  std::size_t parameter_count() const;            // elements, shared tensors counted once
  std::size_t trainable_parameter_count() const;  // those with requires_grad
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
    return children_;
  }

  // Training mode (dropout active) or evaluation mode, recursively.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // The precision of this module's matrix products, and its descendants', as a Keras layer's
  // dtype policy: set, it holds in their forward whatever scope they run in (a bf16 encoder
  // beside a float32 head inside one model); std::nullopt (the default) follows the enclosing
  // tg::AutocastGuard. The built-in layers' forward() honours it; a custom forward's own
  // products do where it opens precision_scope() first, as the built-in layers do. Like
  // set_requires_grad, it applies to the children registered at the time of the call.
  Module& set_matmul_precision(std::optional<MatmulPrecision> precision);
  std::optional<MatmulPrecision> matmul_precision_setting() const { return matmul_precision_; }

  void zero_grad();
  // Freezes (false) or unfreezes every parameter of this module and its descendants, as
  // PyTorch's module.requires_grad_(): a frozen parameter gets no gradient, so optimizers leave
  // it alone, and parameter summaries count it as non-trainable.
  Module& set_requires_grad(bool requires_grad);
  // Converts every parameter and buffer in place (the Tensor handles stay valid):
  // to(DType::Float64) for gradcheck, as PyTorch's model.double(). Gradients are dropped;
  // requires_grad is kept. Call it between steps, not while a tape refers to the parameters.
  void to(DType dtype);

  // Parameters and persistent buffers by name (copies of the values, every name even for shared
  // tensors), and loading
  // them back with checks: every name must exist with the same shape; a mismatch throws naming
  // the key and both shapes. A NaN or infinite value throws tg::NonFiniteError naming the key and
  // the flat index ("load_state_dict: fc.weight[37] is nan"). Missing or unexpected keys throw
  // when strict (all are listed). Values are converted to the model's dtype. Nothing is modified
  // unless every check passes.
  std::map<std::string, Tensor> state_dict() const;
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

  // A table like Keras' model.summary(): layer, output shape, parameter count, totals.
  // Output shapes are computed from `input_shape` through output_shape() of the children; where
  // that fails (a model that is not a chain of its children) the shape shows as "?" and the
  // rest of the tree is still listed. Without an input shape every shape is "?".
  std::string summary(const Shape& input_shape) const;
  std::string summary() const;
  // Appends this module's rows and returns its output shape. A module without children is one
  // row; a container (any module with children, e.g. Sequential) is one row per descendant
  // layer, its children fed in order. Override to feed children differently in a custom model.
  virtual Shape summary_rows(const std::string& name, const Shape& input_shape,
                             std::vector<SummaryRow>& rows) const;

 protected:
  // Registers a parameter (marked requires_grad, named for DOT graphs). Names are unique within
  // a module and contain no '.'. The returned reference stays valid for the module's lifetime.
  // register_module() prefixes the child's tensor names with its own, so trees built bottom-up
  // (children complete before they are registered, as in constructors) carry full PyTorch names.
  const Tensor& register_parameter(std::string name, Tensor value);
  // Registers a buffer (never requires grad, never trained), as PyTorch's register_buffer;
  // a non-persistent one is left out of state_dict. Same naming rules as parameters.
  const Tensor& register_buffer(std::string name, Tensor value, bool persistent = true);
  template <class M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    adopt_child(std::move(name), module);
    return module;
  }
  // Whether forward feeds the children in order, each one's output to the next (Sequential):
  // then summary() reports a shape a child does not take as an error instead of "?".
  virtual bool children_form_a_chain() const { return false; }
  // A guard putting this module's products in its set precision, or in the current one when
  // unset: `const AutocastGuard precision = precision_scope();` at the top of a forward.
  // (operator() does not add it: forward and operator() compute the same.)
  AutocastGuard precision_scope() const {
    return AutocastGuard(matmul_precision_.value_or(tg::matmul_precision()));
  }
  // Called after train()/eval() changes the mode, for modules that cache per-mode state.
  virtual void on_mode_change() {}

 private:
  void adopt_child(std::string name, std::shared_ptr<Module> module);
  void check_new_name(const char* what, const std::string& name) const;
  // Appends parameters (with buffers: those too, the persistent ones only unless all_buffers).
  void collect(const std::string& prefix, NamedTensors& out, bool with_buffers = false,
               bool all_buffers = false) const;
  void collect_buffers(const std::string& prefix, NamedTensors& out) const;

  std::deque<std::pair<std::string, Tensor>> params_;  // deque: register_parameter's references stay valid
  struct Buffer {
    std::string name;
    Tensor value;
    bool persistent;
  };
  std::deque<Buffer> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
  std::optional<MatmulPrecision> matmul_precision_;
};

// Base for a model whose forward takes other arguments than one tensor: derive from
// nn::Forwarding<MyModel> and `model(args...)` calls MyModel::forward(args...), whatever its
// signature (e.g. forward(const Indices& ids) or forward(x, lengths)), as PyTorch's __call__.
template <class Derived>
class Forwarding : public Module {
 public:
  template <class... Args>
  decltype(auto) operator()(Args&&... args) {
    return static_cast<Derived&>(*this).forward(std::forward<Args>(args)...);
  }
};

// Evaluation mode (no dropout) for a scope, as PyTorch's `with torch.no_grad()` pattern for
// modes: the previous mode comes back when the scope ends, even through an exception.
class EvalModeGuard {
 public:
  explicit EvalModeGuard(Module& m) : module_(m), was_training_(m.is_training()) { m.eval(); }
  ~EvalModeGuard() { module_.train(was_training_); }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  Module& module_;
  bool was_training_;
};

// The child `name` of `parent` as an M (to export or inspect a model's layers); tg::Error naming
// it when `parent` has no such child, or one of another kind.
template <class M>
const M& child_as(const Module& parent, const std::string& name) {
  for (const auto& [child_name, child] : parent.children())
    if (child_name == name)
      if (const auto* typed = dynamic_cast<const M*>(child.get())) return *typed;
  throw Error(parent.type_name() + ": no child module '" + name + "' of the kind asked for");
}

}  // namespace tg::nn
