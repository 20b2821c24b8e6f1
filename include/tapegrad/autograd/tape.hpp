// The recorded graph ("the tape"): nodes, grad mode, backward, tg::grad, hooks and the DOT writer.
//
// How it works, in the order a reader needs it:
// - Ownership. Each op whose output requires grad records one Node. The output tensor owns its
//   node (TensorImpl::grad_fn), and a node owns its inputs and the nodes that produced them
//   (`edges`), as in PyTorch and Flashlight. So a node lives exactly as long as a tensor that
//   requires grad can still reach it: when the last tensor of a graph dies, its nodes and the
//   arrays their closures saved go at once. Nothing global holds nodes; forwards that never call
//   backward (inference without NoGradGuard) free themselves.
// - Order. Every node gets a sequence number when it is recorded, from one counter. A node's
//   inputs were computed before it, so they carry smaller numbers: running the reachable nodes
//   by decreasing number is a topological order. backward collects the nodes reachable from its
//   roots with an explicit stack, sorts them and runs them in one loop: no recursion.
// - Release. backward without retain_graph releases what it ran: a released node drops its
//   closure (and the arrays it saved) and its edges but stays the grad_fn of its output, so a
//   second backward through it throws naming retain_graph. Nodes of other graphs are untouched.
// - Teardown. ~Node moves its edges onto a per-thread work list and the outermost destructor
//   drains it, so a 100,000-node chain is destroyed in a flat loop, not 100,000 nested calls.
//   For this, a closure may capture only its own inputs (listed in record()) and plain data:
//   never its output (record() passes the output to the closure when backward runs).
// - Formulas. A node's derivative is a formula over tensors (Node::formula), called with the
//   output's gradient, the inputs and the output. Without create_graph it runs unrecorded (or a
//   raw kernel, Node::backward, runs in its place where an op keeps one for speed); with
//   create_graph it runs recorded, so the gradients it returns are on the tape and can be
//   differentiated again, to any order.
// - Versions. A node remembers the version of each tensor its backward reads; backward refuses
//   one written since (Tensor::mutable_value), naming the op, as PyTorch does.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <vector>

#include "tapegrad/autograd/tensor.hpp"

namespace tg {

// An op's derivative as a formula over tensors: the gradient of each input (same shape; an
// undefined Tensor where the input needs none), given the gradient of the output, the inputs and
// the output. Written with ops, so that under create_graph it is itself recorded.
using Formula = std::function<std::vector<Tensor>(const Tensor& grad,
                                                  const std::vector<Tensor>& inputs,
                                                  const Tensor& output)>;

// One recorded op: its derivative (a formula, a raw kernel or both) and what it was computed from.
struct Node {
  const char* op = "";
  std::uint64_t sequence = 0;  // execution order; inputs' nodes have smaller numbers
  // One per input: the input, and the node that produced it at recording time (null for a leaf
  // or a tensor that needs no gradient). An input that is the node's own output (an op that
  // writes the tensor it reads, like the recurrent steps) is kept as null: owning it would be a
  // cycle. `saved`: backward reads the input's values, which must still be those of `version`.
  struct Edge {
    std::shared_ptr<TensorImpl> input;
    std::shared_ptr<Node> producer;
    std::uint64_t version = 0;
    bool saved = false;
  };
  std::vector<Edge> edges;
  TensorImpl* output = nullptr;  // not owned: the output owns the node, or a later node owns both
  bool output_saved = false;     // backward reads the output's values, as of output_version
  std::uint64_t output_version = 0;
  Formula formula;  // null only for fused ops that have no double backward (named in errors)
  // A raw kernel that reads the output's gradient and adds into the inputs' gradient buffers; run
  // instead of the formula when no graph of the backward is wanted. Null: the formula runs.
  std::function<void(TensorImpl& output)> backward;
  bool released = false;  // backward ran without retain_graph: closure and edges are gone

  Node();
  ~Node();  // iterative: see the note at the top of this file
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
};

// Nodes alive in this process: a test and the benchmark read it to show that graphs are freed.
std::size_t live_node_count();

// Back-propagates from `roots` (tensors that require grad) with the given seed gradients (one per
// root, of its shape; an empty list seeds each one-element root with 1). Runs exactly the nodes
// reachable from the roots, adds into the .grad of the leaves they reach, and releases those
// nodes unless retain_graph (which defaults to create_graph). With create_graph the backward pass
// is recorded too: Tensor::grad_tensor() of a leaf is then on the tape. Throws tg::Error, before
// computing anything, when a reachable node was released by an earlier backward, when a tensor a
// node saved was written since, or (create_graph) when a node has no formula. libtorch's order.
void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& seeds = {},
              std::optional<bool> retain_graph = std::nullopt, bool create_graph = false);

// The gradients of `outputs` (seeded as in backward) with respect to `inputs`, returned in input
// order without touching any .grad, as torch.autograd.grad and libtorch's torch::autograd::grad
// (same argument order). With create_graph the results are on the tape and can be differentiated
// again (Hessian-vector products, gradient penalties). An input the outputs do not depend on is
// an error, or an undefined Tensor with allow_unused.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& seeds = {},
                         std::optional<bool> retain_graph = std::nullopt,
                         bool create_graph = false, bool allow_unused = false);

// The nodes reachable from `roots`, in execution order (for tests, debugging and the DOT writer).
std::vector<std::shared_ptr<const Node>> graph_nodes(const std::vector<Tensor>& roots);

// The graph reachable from `roots` in Graphviz DOT: one box per op, one ellipse per tensor.
void write_dot(std::ostream& out, const std::vector<Tensor>& roots);

// Whether ops record (per thread).
bool grad_enabled();
void set_grad_enabled(bool enabled);

// Sets grad mode for its lifetime and restores the previous one (torch.set_grad_enabled).
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : previous_(grad_enabled()) { set_grad_enabled(enabled); }
  ~GradModeGuard() { set_grad_enabled(previous_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

// Turns recording off for its lifetime: inference, generation, optimizer updates.
class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

namespace detail {
// Records `node` as the producer of `output`: numbers it, links its inputs' producers, notes the
// versions of the inputs whose bit in `saved_inputs` is set (and of the output if output_saved),
// and makes the output a non-leaf that requires grad. Used by record() in function.hpp.
void attach_node(const std::shared_ptr<Node>& node, TensorImpl& output,
                 const std::vector<Tensor>& inputs, std::uint32_t saved_inputs = 0,
                 bool output_saved = false);
}  // namespace detail

}  // namespace tg
