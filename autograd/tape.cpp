// The graph's engine: recording, iterative teardown, backward, tg::grad (create_graph), hooks.
#include "tapegrad/autograd/tape.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <ostream>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "tapegrad/autograd/function.hpp"
#include "tapegrad/autograd/ops/elementwise.hpp"

namespace tg {

namespace {

thread_local bool g_grad_enabled = true;
std::atomic<std::uint64_t> g_sequence{0};
std::atomic<std::size_t> g_live_nodes{0};

// Edges of dying nodes wait here while the outermost ~Node drains them (see tape.hpp). A plain
// pointer: a thread_local with a destructor could be gone before the last tensor of the thread.
struct Teardown {
  std::vector<std::shared_ptr<Node>> nodes;
  std::vector<std::shared_ptr<TensorImpl>> tensors;
};
thread_local Teardown* t_teardown = nullptr;

}  // namespace

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool enabled) { g_grad_enabled = enabled; }
std::size_t live_node_count() { return g_live_nodes.load(std::memory_order_relaxed); }

Node::Node() { g_live_nodes.fetch_add(1, std::memory_order_relaxed); }

Node::~Node() {
  g_live_nodes.fetch_sub(1, std::memory_order_relaxed);
  const bool outermost = t_teardown == nullptr;
  Teardown local;
  Teardown& work = outermost ? local : *t_teardown;
  // The edges go onto the work list before the closure dies, so the closure's copies of the same
  // inputs are never the last owners: nothing below is destroyed recursively from here.
  for (Edge& e : edges) {
    if (e.producer) work.nodes.push_back(std::move(e.producer));
    if (e.input) work.tensors.push_back(std::move(e.input));
  }
  backward = nullptr;
  if (!outermost) return;
  t_teardown = &local;
  while (!work.nodes.empty() || !work.tensors.empty()) {
    if (!work.tensors.empty()) {
      std::shared_ptr<TensorImpl> t = std::move(work.tensors.back());
      work.tensors.pop_back();
      if (t.use_count() == 1 && t->grad_fn) work.nodes.push_back(std::move(t->grad_fn));
    } else {
      std::shared_ptr<Node> n = std::move(work.nodes.back());
      work.nodes.pop_back();  // if it was the last owner, ~Node runs here, one level deep
    }
  }
  t_teardown = nullptr;
}

namespace detail {

void attach_node(const std::shared_ptr<Node>& node, TensorImpl& output,
                 const std::vector<Tensor>& inputs, std::uint32_t saved_inputs,
                 bool output_saved) {
  node->sequence = g_sequence.fetch_add(1, std::memory_order_relaxed) + 1;
  node->edges.reserve(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    TensorImpl* impl = t.impl_ptr().get();
    if (impl == &output) {  // the op reads what it writes: link the previous producer only
      node->edges.push_back({nullptr, output.grad_fn});
      continue;
    }
    const bool saved = i < 32 && ((saved_inputs >> i) & 1u) && impl;
    node->edges.push_back({t.impl_ptr(), t.requires_grad() ? impl->grad_fn : nullptr,
                           saved ? impl->version : 0, saved});
  }
  node->output = &output;
  node->output_saved = output_saved;
  node->output_version = output.version;
  output.requires_grad = true;
  output.grad_fn = node;
}

}  // namespace detail

namespace {

// The nodes reachable from the roots, by decreasing sequence number (the order backward runs
// them). With check_released, a released node among them is an error.
std::vector<std::shared_ptr<Node>> reachable(const std::vector<Tensor>& roots,
                                             const char* caller, bool check_released) {
  // A max-heap by sequence number pops nodes in the order backward runs them; a node reached
  // twice pops twice in a row, so comparing with the last one popped removes duplicates with
  // no hash set (one allocation per node less, which the per-op overhead benchmark shows).
  auto later_first = [](const std::shared_ptr<Node>& a, const std::shared_ptr<Node>& b) {
    return a->sequence < b->sequence;
  };
  std::vector<std::shared_ptr<Node>> heap, found;
  for (const Tensor& r : roots)
    if (r.defined() && r.impl().grad_fn) heap.push_back(r.impl().grad_fn);
  std::make_heap(heap.begin(), heap.end(), later_first);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later_first);
    std::shared_ptr<Node> node = std::move(heap.back());
    heap.pop_back();
    if (!found.empty() && found.back() == node) continue;
    if (check_released && node->released)
      throw Error(fmt::format(
          "{}: trying to back-propagate through a part of the graph (op '{}') that an earlier "
          "backward already ran and freed; pass retain_graph = true to that earlier backward to "
          "back-propagate through the graph again",
          caller, node->op));
    for (const Node::Edge& e : node->edges)
      if (e.producer) {
        heap.push_back(e.producer);
        std::push_heap(heap.begin(), heap.end(), later_first);
      }
    found.push_back(std::move(node));
  }
  return found;
}

// Before anything is computed: every tensor a node saved still has the version it had when the
// node was recorded, and under create_graph every node has a formula.
void check_runnable(const std::vector<std::shared_ptr<Node>>& order, const char* caller,
                    bool create_graph) {
  for (const auto& node : order) {
    if (create_graph && !node->formula)
      throw Error(fmt::format(
          "{}: op '{}' has no double backward (create_graph = true): its gradient is a fused "
          "kernel; for a recurrent layer, an op-built cell (nn::CustomCell) runs through the "
          "same driver and can be differentiated twice",
          caller, node->op));
    auto changed = [&](const char* what, std::uint64_t now, std::uint64_t then, const Shape& shape) {
      throw Error(fmt::format(
          "{}: one of the tensors op '{}' saved for its gradient ({} of shape {}) was modified "
          "in place since (version {}, saved at {}); clone() it before writing, or write it "
          "before the op runs",
          caller, node->op, what, shape_str(shape), now, then));
    };
    auto shape_of = [](const TensorImpl& t) {
      return std::visit([](auto& a) { return Shape(a.value.shape().begin(), a.value.shape().end()); },
                        t.arrays);
    };
    for (std::size_t i = 0; i < node->edges.size(); ++i) {
      const Node::Edge& e = node->edges[i];
      if (e.saved && e.input->version != e.version)
        changed(fmt::format("its input {}", i).c_str(), e.input->version, e.version,
                shape_of(*e.input));
    }
    if (node->output_saved && node->output->version != node->output_version)
      changed("its output", node->output->version, node->output_version, shape_of(*node->output));
  }
}

template <class T>
void add_into(TensorImpl& impl, const xt::xarray<T>& g) {
  accumulate_grad<T>(Tensor(impl.shared_from_this()), g);
}

// Hands a gradient array to user code as a Tensor without copying, then takes it back.
template <class T>
void call_with_gradient(xt::xarray<T>& gradient, const std::vector<Tensor::GradHook>& hooks) {
  const std::vector<std::size_t> shape(gradient.shape().begin(), gradient.shape().end());
  Tensor lent(std::move(gradient));
  try {
    for (const auto& hook : hooks) hook(lent);
  } catch (...) {
    gradient = std::move(lent.impl().get<T>().value);
    throw;
  }
  if (lent.dtype() != dtype_of<T>() || lent.shape() != shape)
    throw Error("hook: a gradient hook replaced the gradient with one of another shape or dtype");
  gradient = std::move(lent.impl().get<T>().value);
}

// A non-leaf's gradient of this pass is complete: its hooks, then retain_grad's copy.
void finish_non_leaf_gradient(TensorImpl& impl, bool keep_retained) {
  GradHooks& h = *impl.hooks;
  dispatch(impl.dtype(), [&](auto tag) {
    using T = decltype(tag);
    xt::xarray<T>& g = impl.get<T>().grad;
    if (!h.hooks.empty()) call_with_gradient<T>(g, h.hooks);
    if (!keep_retained || !h.retains_grad) return;
    if (h.retained.defined())
      h.retained.impl().get<T>().value += g;
    else
      h.retained = Tensor(xt::xarray<T>(g));
  });
}

void call_leaf_hooks(TensorImpl& leaf) {
  if (!leaf.has_grad) return;
  dispatch(leaf.dtype(), [&](auto tag) {
    using T = decltype(tag);
    call_with_gradient<T>(leaf.get<T>().grad, leaf.hooks->hooks);
  });
}

bool has_leaf_hooks(const TensorImpl* impl) {
  return impl && impl->is_leaf() && impl->hooks && !impl->hooks->hooks.empty();
}

void check_roots(const char* caller, const std::vector<Tensor>& roots,
                 const std::vector<Tensor>& seeds) {
  if (roots.empty()) throw Error(fmt::format("{}: no tensors to back-propagate from", caller));
  if (!seeds.empty() && seeds.size() != roots.size())
    throw Error(fmt::format("{}: {} seed gradients for {} tensors", caller, seeds.size(),
                            roots.size()));
  for (std::size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    if (!r.defined()) throw Error(fmt::format("{}: tensor {} is undefined", caller, i));
    if (!r.requires_grad())
      throw Error(fmt::format("{}: tensor does not require grad (no input requires grad, it was "
                              "computed under NoGradGuard, or from gradients computed without "
                              "create_graph: pass create_graph = true to the tg::grad or backward "
                              "that made them to differentiate them again)",
                              caller));
    if (seeds.empty()) {
      if (r.size() != 1)
        throw Error(fmt::format("{}: output of shape {} is not a scalar; pass a seed gradient",
                                caller, shape_str(r.shape())));
      continue;
    }
    const Tensor& s = seeds[i];
    if (!s.defined() || s.dtype() != r.dtype() || s.shape() != r.shape())
      throw Error(fmt::format("{}: seed {} {} does not match tensor {} {}", caller,
                              s.defined() ? to_string(s.dtype()) : "undefined",
                              s.defined() ? shape_str(s.shape()) : "", to_string(r.dtype()),
                              shape_str(r.shape())));
  }
}

// A copy of the gradient in impl's buffer (a leaf's .grad, or a non-leaf's working gradient).
Tensor copy_of_gradient(TensorImpl& impl) {
  return dispatch(impl.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return Tensor(xt::xarray<T>(impl.get<T>().grad));
  });
}

// For measuring what the raw kernels save: TAPEGRAD_FORMULAS_ONLY=1 runs every op's formula
// (unrecorded) where it has a raw kernel too. Read once; a debugging knob, not a setting.
bool formulas_only() {
  static const bool only = [] {
    const char* v = std::getenv("TAPEGRAD_FORMULAS_ONLY");
    return v && std::string(v) == "1";
  }();
  return only;
}

// A non-leaf tensor whose gradient tg::grad returns: copied when complete, before its op runs.
struct Capture {
  TensorImpl* impl;
  Tensor* result;
};

// The inputs of a node as tensors, for its formula (an input that is the node's own output, kept
// as null, is the output).
std::vector<Tensor> node_inputs(const Node& node) {
  std::vector<Tensor> inputs;
  inputs.reserve(node.edges.size());
  for (const Node::Edge& e : node.edges)
    inputs.emplace_back(e.input ? e.input : node.output->shared_from_this());
  return inputs;
}

// The formula's result for input i, checked against the input.
const Tensor* formula_gradient(const Node& node, const std::vector<Tensor>& grads, std::size_t i) {
  const Node::Edge& e = node.edges[i];
  if (!e.input || !e.input->requires_grad || i >= grads.size() || !grads[i].defined())
    return nullptr;
  const Tensor& g = grads[i];
  const Tensor input(e.input);
  if (g.dtype() != input.dtype() || g.shape() != input.shape())
    throw Error(fmt::format("backward: op '{}' gave a {} gradient of shape {} for its input {}, "
                            "a {} tensor of shape {}",
                            node.op, to_string(g.dtype()), shape_str(g.shape()), i,
                            to_string(input.dtype()), shape_str(input.shape())));
  return &g;
}

std::vector<Tensor> call_formula(const Node& node, const Tensor& grad) {
  std::vector<Tensor> grads =
      node.formula(grad, node_inputs(node), Tensor(node.output->shared_from_this()));
  if (grads.size() > node.edges.size())
    throw Error(fmt::format("backward: op '{}' gave {} gradients for {} inputs", node.op,
                            grads.size(), node.edges.size()));
  return grads;
}

// Without a raw kernel, a node's formula runs unrecorded on the output's working gradient (lent
// to it as a tensor: the output's gradient is done with once its node has run), and what it
// returns is added into the inputs' gradient buffers, moved where nothing else holds it.
void run_formula_unrecorded(Node& node, TensorImpl& out) {
  dispatch(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const Tensor lent(std::move(out.get<T>().grad));
    std::vector<Tensor> grads = call_formula(node, lent);
    for (std::size_t i = 0; i < node.edges.size(); ++i) {
      const Tensor* g = formula_gradient(node, grads, i);
      if (!g) continue;
      TensorImpl& input = *node.edges[i].input;
      xt::xarray<T>& source = g->impl().get<T>().value;
      if (input.has_grad) {
        input.get<T>().grad += source;
      } else {
        const bool sole_owner = g->impl_ptr().use_count() == 1 && !g->same(lent);
        input.get<T>().grad = sole_owner ? std::move(source) : xt::xarray<T>(source);
        input.has_grad = true;
      }
    }
  });
}

// One backward pass over the nodes reachable from `roots`. `captures` (tg::grad) take copies of
// requested non-leaf gradients; `leaf_mode` false means leaf .grad is being redirected, so
// leaf hooks and retain_grad copies are skipped.
void run_pass(const std::vector<Tensor>& roots, const std::vector<Tensor>& seeds,
              const std::vector<std::shared_ptr<Node>>& order, std::vector<Capture>& captures,
              bool leaf_mode) {
  NoGradGuard no_grad;  // backward code must not record
  // Own the outputs for the pass: a hook dropping the last handle must not free them under us.
  std::vector<std::shared_ptr<TensorImpl>> outputs;
  outputs.reserve(order.size());
  for (const auto& node : order) {
    outputs.push_back(node->output->shared_from_this());
    node->output->has_grad = false;  // intermediate gradients belong to one pass
  }
  // Leaves with hooks fire after the last node that adds into them (-1: a root, no node).
  std::vector<std::pair<TensorImpl*, std::ptrdiff_t>> leaf_hooks;
  if (leaf_mode) {
    auto note = [&](TensorImpl* leaf, std::ptrdiff_t index) {
      for (auto& [impl, last] : leaf_hooks)
        if (impl == leaf) {
          last = std::max(last, index);
          return;
        }
      leaf_hooks.emplace_back(leaf, index);
    };
    for (const Tensor& r : roots)
      if (has_leaf_hooks(r.impl_ptr().get())) note(r.impl_ptr().get(), -1);
    for (std::size_t i = 0; i < order.size(); ++i)
      for (const Node::Edge& e : order[i]->edges)
        if (has_leaf_hooks(e.input.get())) note(e.input.get(), static_cast<std::ptrdiff_t>(i));
  }
  auto fire_leaf_hooks = [&](std::ptrdiff_t index) {
    for (auto& [impl, last] : leaf_hooks)
      if (last == index) call_leaf_hooks(*impl);
  };

  for (std::size_t i = 0; i < roots.size(); ++i) {
    TensorImpl& r = roots[i].impl();
    dispatch(r.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if (seeds.empty())
        add_into<T>(r, xt::xarray<T>(xt::ones<T>(r.get<T>().value.shape())));
      else
        add_into<T>(r, seeds[i].value<T>());
    });
  }
  fire_leaf_hooks(-1);

  for (std::size_t i = 0; i < order.size(); ++i) {
    Node& node = *order[i];
    TensorImpl& out = *node.output;
    if (out.has_grad && out.grad_fn.get() == &node) {  // out's gradient is complete now
      for (Capture& c : captures)
        if (c.impl == &out) *c.result = copy_of_gradient(out);
      if (out.hooks) finish_non_leaf_gradient(out, leaf_mode);
    }
    if (out.has_grad) {
      if (node.backward && !(formulas_only() && node.formula))
        node.backward(out);
      else
        run_formula_unrecorded(node, out);
    }
    if (!leaf_hooks.empty()) fire_leaf_hooks(static_cast<std::ptrdiff_t>(i));
  }
  // A non-leaf keeps no gradient after the pass (retain_grad keeps a copy, made above).
  for (const auto& node : order) node->output->has_grad = false;
}

// The create_graph pass: the same walk, with gradients as tensors on the tape and every node's
// formula run recorded. Returns the gradients that reached leaves (and roots that are leaves).
std::unordered_map<TensorImpl*, Tensor> run_graph_pass(
    const std::vector<Tensor>& roots, const std::vector<Tensor>& seeds,
    const std::vector<std::shared_ptr<Node>>& order, std::vector<Capture>& captures,
    bool leaf_mode) {
  GradModeGuard recording(true);
  std::unordered_map<TensorImpl*, Tensor> grads;
  auto add = [&](TensorImpl* t, const Tensor& g) {
    auto [it, fresh] = grads.try_emplace(t, g);
    if (!fresh) it->second = it->second + g;
  };
  for (std::size_t i = 0; i < roots.size(); ++i)
    add(roots[i].impl_ptr().get(),
        seeds.empty() ? Tensor::ones(roots[i].shape(), roots[i].dtype()) : seeds[i]);
  for (const auto& node_ptr : order) {
    const Node& node = *node_ptr;
    TensorImpl* out = node.output;
    const auto found = grads.find(out);
    if (found == grads.end()) continue;
    Tensor g = found->second;
    grads.erase(found);
    for (Capture& c : captures)
      if (c.impl == out) *c.result = g;
    if (out->hooks) {
      const Shape shape = g.shape();
      for (const auto& hook : out->hooks->hooks) hook(g);
      if (!g.defined() || g.shape() != shape)
        throw Error("hook: a gradient hook replaced the gradient with one of another shape");
      Tensor& kept = out->hooks->retained;
      if (leaf_mode && out->hooks->retains_grad) {
        if (!kept.defined())
          kept = g.detach();
        else
          dispatch(g.dtype(), [&](auto tag) {
            using T = decltype(tag);
            kept.impl().get<T>().value += g.value<T>();
          });
      }
    }
    const std::vector<Tensor> input_grads = call_formula(node, g);
    for (std::size_t i = 0; i < node.edges.size(); ++i)
      if (const Tensor* gi = formula_gradient(node, input_grads, i))
        add(node.edges[i].input.get(), *gi);
  }
  return grads;
}

void release(const std::vector<std::shared_ptr<Node>>& order) {
  for (const auto& node : order) {
    node->released = true;
    node->backward = nullptr;
    node->formula = nullptr;
    node->edges.clear();
  }
}

}  // namespace

void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& seeds,
              std::optional<bool> retain_graph, bool create_graph) {
  check_roots("backward", roots, seeds);
  const auto order = reachable(roots, "backward", true);
  check_runnable(order, "backward", create_graph);
  std::vector<Capture> none;
  if (!create_graph) {
    run_pass(roots, seeds, order, none, true);
  } else {
    // Leaves get the value in .grad, as always, and the tensor on the tape in grad_graph.
    for (auto& [impl, g] : run_graph_pass(roots, seeds, order, none, true)) {
      if (!impl->is_leaf() || !impl->requires_grad) continue;
      const Tensor leaf(impl->shared_from_this());
      const bool had = impl->has_grad;
      const Tensor before = had ? leaf.grad_tensor() : Tensor();
      dispatch(impl->dtype(), [&](auto tag) {
        using T = decltype(tag);
        add_into<T>(*impl, g.value<T>());
      });
      const Tensor sum = had ? before + g : g;
      impl->grad_graph = sum.impl_ptr();
      if (impl->hooks && !impl->hooks->hooks.empty()) call_leaf_hooks(*impl);
    }
  }
  if (!retain_graph.value_or(create_graph)) release(order);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& seeds, std::optional<bool> retain_graph,
                         bool create_graph, bool allow_unused) {
  check_roots("grad", outputs, seeds);
  const auto order = reachable(outputs, "grad", true);
  check_runnable(order, "grad", create_graph);
  std::unordered_set<const TensorImpl*> leaves_used, nodes_reached;
  for (const auto& node : order) {
    nodes_reached.insert(node->output);
    for (const Node::Edge& e : node->edges)
      if (e.input && e.input->is_leaf() && e.input->requires_grad) leaves_used.insert(e.input.get());
  }
  for (const Tensor& o : outputs)
    if (o.is_leaf()) leaves_used.insert(o.impl_ptr().get());

  std::vector<Tensor> result(inputs.size());
  std::vector<Capture> captures;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& in = inputs[i];
    if (!in.defined() || !in.requires_grad())
      throw Error(fmt::format("grad: input {} does not require grad", i));
    const bool used = in.is_leaf() ? leaves_used.count(in.impl_ptr().get()) > 0
                                   : nodes_reached.count(in.impl_ptr().get()) > 0;
    if (!used && !allow_unused)
      throw Error(fmt::format("grad: input {} ({}) is not used in the graph of the outputs; pass "
                              "allow_unused = true to get an undefined tensor for it",
                              i, shape_str(in.shape())));
    if (used && !in.is_leaf()) captures.push_back({in.impl_ptr().get(), &result[i]});
  }
  auto fill_unreached = [&] {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const Tensor& in = inputs[i];
      const bool used = in.is_leaf() ? leaves_used.count(in.impl_ptr().get()) > 0
                                     : nodes_reached.count(in.impl_ptr().get()) > 0;
      if (used && !result[i].defined()) result[i] = Tensor::zeros(in.shape(), in.dtype());
    }
  };

  if (create_graph) {
    auto leaf_grads = run_graph_pass(outputs, seeds, order, captures, false);
    for (std::size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i].is_leaf()) {
        const auto found = leaf_grads.find(inputs[i].impl_ptr().get());
        if (found != leaf_grads.end()) result[i] = found->second;
      }
    fill_unreached();
    if (!retain_graph.value_or(true)) release(order);
    return result;
  }

  // Leaves' .grad stay as they are: their buffers step aside for the pass and come back after.
  struct Saved {
    std::shared_ptr<TensorImpl> impl;
    bool had_grad;
    std::variant<xt::xarray<float>, xt::xarray<double>> grad;
  };
  std::vector<Saved> saved;
  for (const TensorImpl* leaf : leaves_used) {
    TensorImpl& impl = *const_cast<TensorImpl*>(leaf);
    Saved s{impl.shared_from_this(), impl.has_grad, {}};
    dispatch(impl.dtype(), [&](auto tag) {
      using T = decltype(tag);
      s.grad = std::move(impl.get<T>().grad);
    });
    impl.has_grad = false;
    saved.push_back(std::move(s));
  }
  auto restore = [&] {
    for (Saved& s : saved) {
      dispatch(s.impl->dtype(), [&](auto tag) {
        using T = decltype(tag);
        s.impl->get<T>().grad = std::move(std::get<xt::xarray<T>>(s.grad));
      });
      s.impl->has_grad = s.had_grad;
    }
  };
  try {
    run_pass(outputs, seeds, order, captures, false);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const Tensor& in = inputs[i];
      if (in.is_leaf() && leaves_used.count(in.impl_ptr().get()) && in.impl().has_grad)
        result[i] = copy_of_gradient(in.impl());
    }
    fill_unreached();
  } catch (...) {
    restore();
    throw;
  }
  restore();
  if (!retain_graph.value_or(false)) release(order);
  return result;
}

std::vector<std::shared_ptr<const Node>> graph_nodes(const std::vector<Tensor>& roots) {
  auto order = reachable(roots, "graph_nodes", false);
  return {order.rbegin(), order.rend()};
}

}  // namespace tg
