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
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <vector>

#include "tapegrad/autograd/tensor.hpp"

namespace tg {

// One recorded op. `backward` reads the output's gradient and adds into its inputs' gradients.
struct Node {
  const char* op = "";
  std::uint64_t sequence = 0;  // execution order; inputs' nodes have smaller numbers
  // One per input: the input, and the node that produced it at recording time (null for a leaf
  // or a tensor that needs no gradient). An input that is the node's own output (an op that
  // writes the tensor it reads, like the recurrent steps) is kept as null: owning it would be a
  // cycle.
  struct Edge {
    std::shared_ptr<TensorImpl> input;
    std::shared_ptr<Node> producer;
  };
  std::vector<Edge> edges;
  TensorImpl* output = nullptr;  // not owned: the output owns the node, or a later node owns both
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
// nodes unless retain_graph. Throws tg::Error, before computing anything, when a reachable node
// was released by an earlier backward.
void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& seeds = {},
              bool retain_graph = false);

// The gradients of `outputs` (seeded as in backward) with respect to `inputs`, returned in input
// order without touching any .grad, as torch.autograd.grad. An input the outputs do not depend
// on is an error, or an undefined Tensor with allow_unused.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& seeds = {}, bool retain_graph = false,
                         bool allow_unused = false);

// The nodes reachable from `roots`, in execution order (for tests, debugging and the DOT writer).
std::vector<std::shared_ptr<const Node>> graph_nodes(const std::vector<Tensor>& roots);

// The graph reachable from `roots` in Graphviz DOT: one box per op, one ellipse per tensor.
void write_dot(std::ostream& out, const std::vector<Tensor>& roots);

// Whether ops record (per thread).
bool grad_enabled();
void set_grad_enabled(bool enabled);

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
// Records `node` as the producer of `output`: numbers it, links its inputs' producers, and makes
// the output a non-leaf that requires grad. Used by record() in function.hpp.
void attach_node(const std::shared_ptr<Node>& node, TensorImpl& output,
                 const std::vector<Tensor>& inputs);
}  // namespace detail

}  // namespace tg
