// The tape: every recorded op in execution order, replayed in reverse by backward().
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <vector>

#include "autograd/tensor.hpp"

namespace tg {

// One recorded op. `backward` reads the output's gradient and adds into its inputs' gradients.
struct Node {
  const char* op = "";
  std::vector<std::shared_ptr<TensorImpl>> inputs;
  std::shared_ptr<TensorImpl> output;
  std::function<void()> backward;
};

// Because nodes are appended as ops run, the tape is already in topological order: backward is
// one reverse loop. Nodes hold their tensors but tensors never point back at nodes, so there are
// no ownership chains and clearing a tape of any length is a flat loop.
class Tape {
 public:
  static Tape& current();  // the calling thread's tape

  void push(Node node) { nodes_.push_back(std::move(node)); }
  std::size_t size() const { return nodes_.size(); }
  const std::vector<Node>& nodes() const { return nodes_; }
  void clear() { nodes_.clear(); }

  // Gradients of `root` (seeded with `seed`, of root's shape) with respect to everything on the
  // tape; leaf gradients accumulate across calls, intermediate ones start from zero each call.
  void backward(const Tensor& root, const Tensor& seed, bool retain_graph = false);

  // The recorded graph in Graphviz DOT: one box per op, one ellipse per tensor (with shape).
  void write_dot(std::ostream& out) const;

 private:
  std::vector<Node> nodes_;
};

// Whether ops record on the tape (per thread).
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

}  // namespace tg
