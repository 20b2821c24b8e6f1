// tg::Tensor: a cheap shared handle to a value array, its gradient and whether it is on the tape.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <xtensor/xarray.hpp>

#include "tapegrad/autograd/error.hpp"
#include "tapegrad/autograd/random.hpp"

namespace tg {

// Tensors hold float32 (training, inference) or float64 (gradcheck, where central differences
// need the precision). Ops dispatch on the dtype at run time, so models are written once and
// converted with Module::to(DType::Float64) for checking, as PyTorch's model.double().
enum class DType { Float32, Float64 };
std::string to_string(DType dtype);

// Makes glibc keep freed memory in the process, so that the arrays of each training step are
// reused without page faults (up to ~100x faster small ops). Process-wide: call it from main.
void tune_malloc_for_training();

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() { return DType::Float32; }
template <>
constexpr DType dtype_of<double>() { return DType::Float64; }

struct Node;
struct GradHooks;
struct TensorImpl;
class Tensor;

// Takes the arrays of a dying tensor for reuse: the recurrent layers' buffer pools, which would
// otherwise allocate (and page-fault) the same large arrays afresh on every training step.
class ArrayRecycler {
 public:
  virtual ~ArrayRecycler() = default;
  virtual void take(TensorImpl& dying) = 0;
};

// What a Tensor points to. Ops and optimizers reach the arrays through Tensor::value<T>() and
// Tensor::grad<T>(); the struct is public so that new ops can be written outside the engine.
struct TensorImpl : std::enable_shared_from_this<TensorImpl> {
  template <class T>
  struct Arrays {
    xt::xarray<T> value;
    // A leaf's accumulated gradient; for a non-leaf, the working gradient of the backward pass
    // in progress. Meaningful only while has_grad.
    xt::xarray<T> grad;
  };
  std::variant<Arrays<float>, Arrays<double>> arrays;
  bool requires_grad = false;
  bool has_grad = false;
  std::shared_ptr<Node> grad_fn;     // the node that produced this tensor; null for a leaf
  std::unique_ptr<GradHooks> hooks;  // register_hook / retain_grad, rarely used
  std::weak_ptr<ArrayRecycler> recycler;  // gets the arrays back when this tensor dies
  std::string name;                  // optional, shown in DOT graphs
  // Counts writes to the value (Tensor::mutable_value). A node remembers the versions of what its
  // backward reads, and backward refuses a tensor written since (PyTorch's version counter).
  std::uint64_t version = 0;
  // A leaf's gradient as a tensor on the tape, after backward with create_graph (the value is in
  // Arrays::grad as well); null otherwise.
  std::shared_ptr<TensorImpl> grad_graph;

  TensorImpl();
  ~TensorImpl();
  template <class T>
  Arrays<T>& get() { return std::get<Arrays<T>>(arrays); }
  DType dtype() const { return arrays.index() == 0 ? DType::Float32 : DType::Float64; }
  bool is_leaf() const { return !grad_fn; }
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (defined() is false)
  explicit Tensor(xt::xarray<float> value, bool requires_grad = false);
  explicit Tensor(xt::xarray<double> value, bool requires_grad = false);

  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32, bool requires_grad = false);
  static Tensor ones(const Shape& shape, DType dtype = DType::Float32, bool requires_grad = false);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::Float32,
                     bool requires_grad = false);
  static Tensor scalar(double value, DType dtype = DType::Float32);
  // Row-major values; throws if values.size() does not match the shape.
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape,
                            DType dtype = DType::Float32, bool requires_grad = false);
  static Tensor uniform(const Shape& shape, double lo, double hi, DType dtype = DType::Float32,
                        Generator& gen = default_generator());
  static Tensor normal(const Shape& shape, double mean = 0.0, double stddev = 1.0,
                       DType dtype = DType::Float32, Generator& gen = default_generator());

  bool defined() const { return impl_ != nullptr; }
  DType dtype() const { return impl().dtype(); }
  Shape shape() const;
  std::size_t dim() const;
  std::size_t size() const;              // number of elements
  std::size_t size(int axis) const;      // extent of one axis; negative counts from the end
  double item() const;                   // the value of a one-element tensor
  std::vector<double> to_vector() const;  // all values, row-major

  // The value and gradient arrays. T must match dtype() (tg::Error otherwise). value() is for
  // reading; mutable_value() is for writing, and counts as a write the moment it is called: a
  // backward that needs the old values (saved by an op recorded before) then throws, naming the
  // op, instead of computing a wrong gradient. grad() throws when no gradient has been
  // accumulated since the last zero_grad(), and for a non-leaf tensor unless retain_grad() was
  // called before backward (PyTorch keeps only leaves' .grad). All return references into the
  // tensor, so they cannot be called on a temporary Tensor (`model(x).value()` would dangle):
  // name the tensor first.
  template <class T = float>
  const xt::xarray<T>& value() const&;
  template <class T = float>
  const xt::xarray<T>& value() && = delete;
  template <class T = float>
  xt::xarray<T>& mutable_value() const&;
  template <class T = float>
  xt::xarray<T>& mutable_value() && = delete;
  std::uint64_t version() const { return impl().version; }
  template <class T = float>
  xt::xarray<T>& grad() const&;
  template <class T = float>
  xt::xarray<T>& grad() && = delete;
  bool has_grad() const;
  // The gradient as a tensor: after backward with create_graph, the one on the tape (so it can
  // be differentiated again); otherwise a copy, as a new leaf.
  Tensor grad_tensor() const;
  // Forget the gradient; its buffer is kept and reused by the next accumulation.
  void zero_grad() const;

  // Keep this non-leaf tensor's gradient in grad() after backward, accumulating across calls
  // like a leaf's (a leaf keeps its gradient anyway).
  const Tensor& retain_grad() const;
  bool retains_grad() const;
  // Calls `hook(grad)` in every backward that reaches this tensor, once its gradient for that
  // pass is complete. For a non-leaf, `grad` is the gradient flowing into the op that produced
  // it, before it flows on: changing it in place changes what flows on. For a leaf, `grad` is
  // its .grad after the pass has added into it (PyTorch's post-accumulate-grad hook), which is
  // where a data-parallel trainer starts averaging a parameter while backward goes on. `grad`
  // is valid during the call only (clone() it to keep it); it is lent, not copied, so during the
  // call the tensor's own grad() is empty: read the argument.
  using GradHook = std::function<void(Tensor& grad)>;
  const Tensor& register_hook(GradHook hook) const;

  bool requires_grad() const { return impl_ && impl_->requires_grad; }
  const Tensor& set_requires_grad(bool requires_grad = true) const;
  bool is_leaf() const { return impl().is_leaf(); }
  const Tensor& set_name(std::string name) const;
  const std::string& name() const { return impl().name; }

  // A new leaf sharing nothing with the tape (its value is copied): cuts BPTT.
  Tensor detach() const;
  // A leaf copy converted to another dtype (not recorded on the tape).
  Tensor to(DType dtype) const;
  Tensor clone() const { return to(dtype()); }

  // Back-propagate from this tensor: tg::backward({*this}, {seed}, retain_graph, create_graph),
  // libtorch's argument order. Without a seed (an undefined Tensor) the tensor must have one
  // element. retain_graph defaults to create_graph; without it the graph that ran is released,
  // and a second backward through it throws.
  void backward(const Tensor& seed = Tensor(), std::optional<bool> retain_graph = std::nullopt,
                bool create_graph = false) const;

  // A handle on an existing TensorImpl (for engine code that holds the impl).
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  TensorImpl& impl() const;
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Prints as PyTorch does: tensor([[...]], dtype=float32, requires_grad=True), with the shape
// when values are elided; like NumPy, a tensor of more than 1000 elements shows only its first
// and last 3 entries along each axis.
std::ostream& operator<<(std::ostream& out, const Tensor& t);

}  // namespace tg

// `std::cout << x.grad()` and `<< x.value()` print the array as a tensor does, without
// <xtensor/xio.hpp> (whose template these exact overloads take precedence over where both are seen).
namespace xt {
std::ostream& operator<<(std::ostream& out, const xarray<float>& a);
std::ostream& operator<<(std::ostream& out, const xarray<double>& a);
}  // namespace xt

namespace tg {

// What register_hook and retain_grad attach to a tensor.
struct GradHooks {
  std::vector<Tensor::GradHook> hooks;
  bool retains_grad = false;
  Tensor retained;  // a non-leaf's kept gradient (retain_grad), as a leaf tensor
};

// Integer indices with a shape: class targets, token ids, gather positions.
struct Indices {
  std::vector<std::int64_t> data;
  Shape shape;

  Indices() = default;
  Indices(std::vector<std::int64_t> values);  // 1-D
  Indices(std::vector<std::int64_t> values, Shape shape);
  std::size_t size() const { return data.size(); }
  std::int64_t operator[](std::size_t i) const { return data[i]; }
};

}  // namespace tg
