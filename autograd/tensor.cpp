// Tensor handle: construction, accessors, conversion and the entry points of backward.
#include "tapegrad/autograd/tensor.hpp"

#include "autograd/size_check.hpp"

#include <fmt/format.h>

#include <malloc.h>

#include <cstdlib>
#include <xtensor/xbuilder.hpp>

#include "tapegrad/autograd/tape.hpp"

namespace tg {

std::string to_string(DType dtype) { return dtype == DType::Float32 ? "float32" : "float64"; }

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ",")); }

namespace {
// Without a sign for NaN: which bit pattern a NaN carries depends on how it was made.
std::string non_finite_text(double v) { return v != v ? "nan" : v > 0 ? "inf" : "-inf"; }
}  // namespace

NonFiniteError::NonFiniteError(const std::string& context, std::string name, std::size_t index,
                               double value)
    : Error(fmt::format("{}{}{}[{}] is {}", context, context.empty() ? "" : ": ", name, index,
                        non_finite_text(value))),
      name_(std::move(name)),
      index_(index),
      value_(value) {}

// A training step allocates and frees the same few hundred arrays every iteration. With glibc's
// defaults the freed top of the heap is returned to the kernel after each backward and every
// array of the next step page-faults on first touch (measured: ~100 us per [32,128] op instead
// of ~1 us), and arrays over 128 KiB are mmap'ed and unmapped each time. Keeping freed memory
// in the process makes steady-state steps fault-free; peak memory is unchanged. It changes malloc
// for the whole process, so the library does it only when the program asks.
void tune_malloc_for_training() {
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

namespace {

template <class T>
std::shared_ptr<TensorImpl> make_impl(xt::xarray<T>&& value, bool requires_grad) {
  auto impl = std::make_shared<TensorImpl>();
  impl->arrays = TensorImpl::Arrays<T>{std::move(value), {}};
  impl->requires_grad = requires_grad;
  return impl;
}

template <class F>
decltype(auto) with_dtype(DType dtype, F&& f) {
  if (dtype == DType::Float64) return f(double{});
  return f(float{});
}

}  // namespace

TensorImpl::TensorImpl() = default;
TensorImpl::~TensorImpl() {
  if (recycler.expired()) return;
  if (auto r = recycler.lock()) r->take(*this);
}

Tensor::Tensor(xt::xarray<float> value, bool requires_grad)
    : impl_(make_impl(std::move(value), requires_grad)) {}
Tensor::Tensor(xt::xarray<double> value, bool requires_grad)
    : impl_(make_impl(std::move(value), requires_grad)) {}

Tensor Tensor::zeros(const Shape& shape, DType dtype, bool requires_grad) {
  return full(shape, 0.0, dtype, requires_grad);
}

Tensor Tensor::ones(const Shape& shape, DType dtype, bool requires_grad) {
  return full(shape, 1.0, dtype, requires_grad);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, bool requires_grad) {
  return with_dtype(dtype, [&](auto s) {
    using T = decltype(s);
    // An overflowing count would allocate a wrapped, small buffer; a failed allocation names
    // the shape instead of surfacing as a bare std::bad_alloc.
    checked_numel(shape, sizeof(T), "Tensor::full");
    try {
      xt::xarray<T> a = xt::xarray<T>::from_shape(shape);
      a.fill(static_cast<T>(value));
      return Tensor(std::move(a), requires_grad);
    } catch (const std::bad_alloc&) {
      throw_allocation_failure(shape, sizeof(T), "Tensor::full");
    }
  });
}

Tensor Tensor::scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, DType dtype,
                           bool requires_grad) {
  Tensor t = zeros(shape, dtype, requires_grad);
  if (values.size() != t.size())
    throw Error(fmt::format("Tensor::from_vector: {} values for shape {} ({} elements)",
                            values.size(), shape_str(shape), t.size()));
  with_dtype(dtype, [&](auto s) {
    using T = decltype(s);
    T* p = t.impl().get<T>().value.data();  // a new tensor: not a write to count
    for (std::size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
  });
  return t;
}

Tensor Tensor::uniform(const Shape& shape, double lo, double hi, DType dtype, Generator& gen) {
  Tensor t = zeros(shape, dtype);
  with_dtype(dtype, [&](auto s) {
    using T = decltype(s);
    for (auto& x : t.impl().get<T>().value) x = static_cast<T>(gen.uniform(lo, hi));
  });
  return t;
}

Tensor Tensor::normal(const Shape& shape, double mean, double stddev, DType dtype,
                      Generator& gen) {
  Tensor t = zeros(shape, dtype);
  with_dtype(dtype, [&](auto s) {
    using T = decltype(s);
    for (auto& x : t.impl().get<T>().value) x = static_cast<T>(mean + stddev * gen.normal());
  });
  return t;
}

TensorImpl& Tensor::impl() const {
  if (!impl_) throw Error("tensor: use of an undefined tensor");
  return *impl_;
}

Shape Tensor::shape() const {
  return with_dtype(dtype(), [&](auto s) {
    const auto& sh = value<decltype(s)>().shape();
    return Shape(sh.begin(), sh.end());
  });
}

std::size_t Tensor::dim() const {
  return with_dtype(dtype(), [&](auto s) { return value<decltype(s)>().dimension(); });
}

std::size_t Tensor::size() const {
  return with_dtype(dtype(), [&](auto s) { return value<decltype(s)>().size(); });
}

std::size_t Tensor::size(int axis) const {
  const Shape sh = shape();
  const int n = static_cast<int>(sh.size());
  const int a = axis < 0 ? axis + n : axis;
  if (a < 0 || a >= n)
    throw Error(fmt::format("size: axis {} out of range for shape {}", axis, shape_str(sh)));
  return sh[static_cast<std::size_t>(a)];
}

double Tensor::item() const {
  if (size() != 1)
    throw Error(fmt::format("item: tensor of shape {} has {} elements, not 1",
                            shape_str(shape()), size()));
  return with_dtype(dtype(), [&](auto s) {
    return static_cast<double>(*value<decltype(s)>().data());
  });
}

std::vector<double> Tensor::to_vector() const {
  return with_dtype(dtype(), [&](auto s) {
    const auto& v = value<decltype(s)>();
    return std::vector<double>(v.begin(), v.end());
  });
}

template <class T>
const xt::xarray<T>& Tensor::value() const& {
  TensorImpl& i = impl();
  if (i.dtype() != dtype_of<T>())
    throw Error(fmt::format("value: tensor is {}, accessed as {}", to_string(i.dtype()),
                            to_string(dtype_of<T>())));
  return i.get<T>().value;
}

template <class T>
xt::xarray<T>& Tensor::mutable_value() const& {
  TensorImpl& i = impl();
  if (i.dtype() != dtype_of<T>())
    throw Error(fmt::format("mutable_value: tensor is {}, accessed as {}", to_string(i.dtype()),
                            to_string(dtype_of<T>())));
  ++i.version;
  return i.get<T>().value;
}

template <class T>
xt::xarray<T>& Tensor::grad() const& {
  TensorImpl& i = impl();
  if (i.dtype() != dtype_of<T>())
    throw Error(fmt::format("grad: tensor is {}, accessed as {}", to_string(i.dtype()),
                            to_string(dtype_of<T>())));
  if (!i.is_leaf()) {
    if (!i.hooks || !i.hooks->retains_grad)
      throw Error("grad: the gradient of a non-leaf tensor is not kept; call retain_grad() on "
                  "it before backward");
    if (!i.hooks->retained.defined())
      throw Error("grad: tensor has no gradient (backward not run, or zeroed)");
    return i.hooks->retained.impl().get<T>().value;
  }
  if (!i.has_grad) throw Error("grad: tensor has no gradient (backward not run, or zeroed)");
  return i.get<T>().grad;
}

template const xt::xarray<float>& Tensor::value<float>() const&;
template const xt::xarray<double>& Tensor::value<double>() const&;
template xt::xarray<float>& Tensor::mutable_value<float>() const&;
template xt::xarray<double>& Tensor::mutable_value<double>() const&;
template xt::xarray<float>& Tensor::grad<float>() const&;
template xt::xarray<double>& Tensor::grad<double>() const&;

bool Tensor::has_grad() const {
  if (!impl_) return false;
  if (impl_->is_leaf()) return impl_->has_grad;
  return impl_->hooks && impl_->hooks->retained.defined();
}

const Tensor& Tensor::retain_grad() const {
  if (!requires_grad())
    throw Error("retain_grad: tensor does not require grad, so it will never have a gradient");
  TensorImpl& i = impl();
  if (!i.hooks) i.hooks = std::make_unique<GradHooks>();
  i.hooks->retains_grad = true;
  return *this;
}

bool Tensor::retains_grad() const {
  return impl_ && !impl_->is_leaf() && impl_->hooks && impl_->hooks->retains_grad;
}

const Tensor& Tensor::register_hook(GradHook hook) const {
  if (!requires_grad())
    throw Error("register_hook: tensor does not require grad, so no gradient will reach it");
  if (!hook) throw Error("register_hook: empty hook");
  TensorImpl& i = impl();
  if (!i.hooks) i.hooks = std::make_unique<GradHooks>();
  i.hooks->hooks.push_back(std::move(hook));
  return *this;
}

Tensor Tensor::grad_tensor() const {
  if (impl_ && impl_->grad_graph && impl_->has_grad) return Tensor(impl_->grad_graph);
  return with_dtype(dtype(), [&](auto s) { return Tensor(grad<decltype(s)>()); });
}

void Tensor::zero_grad() const {
  if (!impl_) return;
  impl_->has_grad = false;
  impl_->grad_graph = nullptr;
  if (impl_->hooks) impl_->hooks->retained = Tensor();
}

const Tensor& Tensor::set_requires_grad(bool requires_grad) const {
  if (!impl().is_leaf())
    throw Error("set_requires_grad: only leaf tensors can change requires_grad (use detach())");
  impl_->requires_grad = requires_grad;
  return *this;
}

const Tensor& Tensor::set_name(std::string name) const {
  impl().name = std::move(name);
  return *this;
}

Tensor Tensor::detach() const {
  return with_dtype(dtype(), [&](auto s) { return Tensor(value<decltype(s)>()); });
}

Tensor Tensor::to(DType target) const {
  return with_dtype(dtype(), [&](auto s) {
    const auto& v = value<decltype(s)>();
    return with_dtype(target, [&](auto t) {
      using T = decltype(t);
      xt::xarray<T> converted = xt::xarray<T>::from_shape(v.shape());
      std::copy(v.begin(), v.end(), converted.begin());
      return Tensor(std::move(converted), requires_grad());
    });
  });
}

void Tensor::backward(const Tensor& seed, std::optional<bool> retain_graph,
                      bool create_graph) const {
  tg::backward({*this}, seed.defined() ? std::vector<Tensor>{seed} : std::vector<Tensor>{},
               retain_graph, create_graph);
}

Indices::Indices(std::vector<std::int64_t> values)
    : data(std::move(values)), shape{data.size()} {}

Indices::Indices(std::vector<std::int64_t> values, Shape s)
    : data(std::move(values)), shape(std::move(s)) {
  // Checked: a wrapped product could equal data.size() for a shape that is far larger.
  const std::size_t n = checked_numel(shape, sizeof(std::int64_t), "Indices");
  if (n != data.size())
    throw Error(fmt::format("Indices: {} values for shape {}", data.size(), shape_str(shape)));
}

}  // namespace tg
