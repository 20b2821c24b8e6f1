// Tape: recording, the reverse replay, grad mode and the DOT writer.
#include "autograd/tape.hpp"

#include <fmt/format.h>

#include <ostream>
#include <unordered_map>

namespace tg {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool enabled) { g_grad_enabled = enabled; }

Tape& Tape::current() {
  thread_local Tape tape;
  return tape;
}

void Tape::backward(const Tensor& root, const Tensor& seed, bool retain_graph) {
  if (!root.requires_grad())
    throw Error("backward: tensor does not require grad (no input requires grad, or it was "
                "computed under NoGradGuard)");
  if (seed.dtype() != root.dtype() || seed.shape() != root.shape())
    throw Error(fmt::format("backward: seed {} {} does not match tensor {} {}",
                            to_string(seed.dtype()), shape_str(seed.shape()),
                            to_string(root.dtype()), shape_str(root.shape())));
  // Intermediate gradients belong to one backward pass; leaves keep accumulating.
  for (Node& node : nodes_) node.output->has_grad = false;

  TensorImpl& r = root.impl();
  if (root.dtype() == DType::Float64) {
    r.get<double>().grad = seed.value<double>();
  } else {
    r.get<float>().grad = seed.value<float>();
  }
  r.has_grad = true;

  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) {
    if (it->output->has_grad) it->backward();
  }
  if (!retain_graph) clear();
}

void Tape::write_dot(std::ostream& out) const {
  std::unordered_map<const TensorImpl*, std::string> ids;
  auto tensor_id = [&](const std::shared_ptr<TensorImpl>& t) {
    auto found = ids.find(t.get());
    if (found != ids.end()) return found->second;
    std::string id = fmt::format("t{}", ids.size());
    ids.emplace(t.get(), id);
    const std::string shape = std::visit(
        [](auto& a) { return shape_str(a.value.shape()); }, t->arrays);
    const std::string label = t->name.empty() ? shape : t->name + "\\n" + shape;
    out << fmt::format("  {} [shape=ellipse, label=\"{}\"{}];\n", id, label,
                       t->is_leaf ? ", style=filled, fillcolor=lightblue" : "");
    return id;
  };
  out << "digraph tape {\n  rankdir=LR;\n";
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const Node& node = nodes_[i];
    const std::string op_id = fmt::format("op{}", i);
    out << fmt::format("  {} [shape=box, label=\"{}\"];\n", op_id, node.op);
    for (const auto& input : node.inputs) out << "  " << tensor_id(input) << " -> " << op_id << ";\n";
    out << "  " << op_id << " -> " << tensor_id(node.output) << ";\n";
  }
  out << "}\n";
}

}  // namespace tg
