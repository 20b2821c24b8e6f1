// The DOT writer: the graph a set of tensors reaches, for Graphviz.
#include <fmt/format.h>

#include <ostream>
#include <string>
#include <unordered_map>

#include "tapegrad/autograd/tape.hpp"

namespace tg {

void write_dot(std::ostream& out, const std::vector<Tensor>& roots) {
  std::unordered_map<const TensorImpl*, std::string> ids;
  auto tensor_id = [&](const TensorImpl* t) {
    auto found = ids.find(t);
    if (found != ids.end()) return found->second;
    std::string id = fmt::format("t{}", ids.size());
    ids.emplace(t, id);
    const std::string shape =
        std::visit([](auto& a) { return shape_str(a.value.shape()); }, t->arrays);
    const std::string label = t->name.empty() ? shape : t->name + "\\n" + shape;
    out << fmt::format("  {} [shape=ellipse, label=\"{}\"{}];\n", id, label,
                       t->is_leaf() ? ", style=filled, fillcolor=lightblue" : "");
    return id;
  };
  out << "digraph tape {\n  rankdir=LR;\n";
  const auto nodes = graph_nodes(roots);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const Node& node = *nodes[i];
    const std::string op_id = fmt::format("op{}", i);
    out << fmt::format("  {} [shape=box, label=\"{}{}\"];\n", op_id, node.op,
                       node.released ? " (freed)" : "");
    for (const Node::Edge& e : node.edges)
      out << "  " << tensor_id(e.input ? e.input.get() : node.output) << " -> " << op_id << ";\n";
    out << "  " << op_id << " -> " << tensor_id(node.output) << ";\n";
  }
  out << "}\n";
}

}  // namespace tg
