// tg::onnx::Graph: an ONNX graph written node by node into ONNX's own protobuf schema
// (onnx::ModelProto from libonnx), checked by ONNX's checker and saved as a .onnx file.
//
// Export here is by construction, not by tracing the tape: each module kind has an exporter
// (tapegrad/onnx/modules.hpp) that writes the ONNX nodes computing what its forward computes,
// and a model's exporter calls them in the order its own forward runs (the examples' export.cpp
// files). So a model exports only through code that says how; a module kind without an exporter
// is refused with one line naming it (export_module), never approximated.
//
// Values are named by strings (ONNX's own convention); every node's outputs get fresh names.
// Initializers are float32 whatever the module's dtype. Opset 17 (Debian 12's libonnx 1.12).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "tapegrad/autograd/tensor.hpp"

namespace tg::onnx {

inline constexpr std::int64_t kOpsetVersion = 17;

enum class ElementType { Float, Int64, Int32, Bool };

// One dimension of a graph input or output: a fixed size, or a name for a size given at run time
// ("batch", "steps").
struct Dim {
  Dim(std::int64_t size) : size(size) {}  // NOLINT: implicit on purpose, {"batch", 3}
  Dim(int size) : size(size) {}           // NOLINT
  Dim(std::size_t size) : size(static_cast<std::int64_t>(size)) {}  // NOLINT
  Dim(const char* name) : name(name) {}   // NOLINT
  Dim(std::string name) : name(std::move(name)) {}  // NOLINT
  static Dim unknown() { return Dim(std::int64_t{-1}); }
  std::int64_t size = -1;  // -1 with no name: unknown
  std::string name;
};

// A node attribute: an integer, a float, a string or a list of integers or floats.
struct Attribute {
  using Value = std::variant<std::int64_t, float, std::string, std::vector<std::int64_t>,
                             std::vector<float>, std::vector<std::string>>;
  Attribute(std::string name, std::int64_t v) : name(std::move(name)), value(v) {}
  Attribute(std::string name, int v) : name(std::move(name)), value(std::int64_t{v}) {}
  Attribute(std::string name, float v) : name(std::move(name)), value(v) {}
  Attribute(std::string name, double v) : name(std::move(name)), value(static_cast<float>(v)) {}
  Attribute(std::string name, const char* v) : name(std::move(name)), value(std::string(v)) {}
  Attribute(std::string name, std::string v) : name(std::move(name)), value(std::move(v)) {}
  Attribute(std::string name, std::vector<std::int64_t> v) : name(std::move(name)), value(std::move(v)) {}
  Attribute(std::string name, std::vector<float> v) : name(std::move(name)), value(std::move(v)) {}
  Attribute(std::string name, std::vector<std::string> v) : name(std::move(name)), value(std::move(v)) {}
  std::string name;
  Value value;
};

class Graph {
 public:
  explicit Graph(const std::string& name);
  ~Graph();
  Graph(Graph&&) noexcept;
  Graph& operator=(Graph&&) noexcept;

  // A graph input; returns its name.
  std::string input(const std::string& name, ElementType type, const std::vector<Dim>& shape);
  // Makes `value` a graph output called `name` (through an Identity node when the names differ).
  void output(const std::string& value, const std::string& name, ElementType type,
              const std::vector<Dim>& shape);
  // The same with `rank` dimensions of unknown sizes (shape inference and the runtime tell).
  void output(const std::string& value, const std::string& name, ElementType type,
              std::size_t rank);
  // A constant of the model, stored in the file: a tensor's values as float32, or given values.
  std::string initializer(const std::string& name, const Tensor& values);
  std::string initializer(const std::string& name, const std::vector<float>& values,
                          const std::vector<std::int64_t>& dims);
  std::string initializer_int64(const std::string& name, const std::vector<std::int64_t>& values,
                                const std::vector<std::int64_t>& dims);
  // Small constants (shapes, axes, scalars), named from `hint`.
  std::string int64s(const std::vector<std::int64_t>& values, const std::string& hint = "ints");
  std::string scalar(float value, const std::string& hint = "scalar");

  // A node of `op_type` (an ONNX operator of the default domain) with `outputs` outputs named
  // after `hint` (or the op); an empty input name is ONNX's "absent optional input". Returns the
  // output names.
  std::vector<std::string> node(const std::string& op_type, const std::vector<std::string>& inputs,
                                std::size_t outputs, const std::vector<Attribute>& attributes = {},
                                const std::string& hint = "");
  // The same for a node with one output.
  std::string op(const std::string& op_type, const std::vector<std::string>& inputs,
                 const std::vector<Attribute>& attributes = {}, const std::string& hint = "");

  // A fresh value name starting with `hint`.
  std::string unique(const std::string& hint);
  // Key/value text stored in the model's metadata_props.
  void metadata(const std::string& key, const std::string& value);
  void doc_string(const std::string& text);

  // Runs ONNX's checker (onnx::checker::check_model, with shape inference) and throws tg::Error
  // "onnx export: ..." with its message when the model is not valid.
  void check() const;
  // check(), then writes the model to `path` atomically.
  void save(const std::string& path) const;
  // The model as ONNX's protobuf bytes.
  std::string serialize() const;

 private:
  void add_output(const std::string& value, const std::string& name, ElementType type,
                  const std::vector<Dim>* shape);
  // onnx::ModelProto, kept out of this header: ONNX's global namespace `onnx` would make
  // `onnx::` ambiguous in code that says `using namespace tg`.
  struct Model;
  std::unique_ptr<Model> model_;
  std::size_t counter_ = 0;
};

// ONNX operators by their effect, each one node (or a few); shapes and axes as ONNX takes them.
std::string add(Graph& g, const std::string& a, const std::string& b);
std::string sub(Graph& g, const std::string& a, const std::string& b);
std::string mul(Graph& g, const std::string& a, const std::string& b);
std::string div(Graph& g, const std::string& a, const std::string& b);
std::string matmul(Graph& g, const std::string& a, const std::string& b);
std::string tanh(Graph& g, const std::string& x);
std::string sigmoid(Graph& g, const std::string& x);
std::string relu(Graph& g, const std::string& x);
std::string exp(Graph& g, const std::string& x);
std::string log(Graph& g, const std::string& x);
std::string softmax(Graph& g, const std::string& x, std::int64_t axis);
std::string log_softmax(Graph& g, const std::string& x, std::int64_t axis);
std::string reduce_sum(Graph& g, const std::string& x, const std::vector<std::int64_t>& axes,
                       bool keepdims);
std::string reduce_mean(Graph& g, const std::string& x, const std::vector<std::int64_t>& axes,
                        bool keepdims);
std::string reduce_max(Graph& g, const std::string& x, const std::vector<std::int64_t>& axes,
                       bool keepdims);
std::string argmax(Graph& g, const std::string& x, std::int64_t axis, bool keepdims);
// shape: ONNX's Reshape (0 copies that dimension, -1 is inferred).
std::string reshape(Graph& g, const std::string& x, const std::vector<std::int64_t>& shape);
std::string transpose(Graph& g, const std::string& x, const std::vector<std::int64_t>& perm);
std::string concat(Graph& g, const std::vector<std::string>& xs, std::int64_t axis);
std::string slice(Graph& g, const std::string& x, std::int64_t axis, std::int64_t start,
                  std::int64_t end);
std::string unsqueeze(Graph& g, const std::string& x, const std::vector<std::int64_t>& axes);
std::string squeeze(Graph& g, const std::string& x, const std::vector<std::int64_t>& axes);
std::string cast(Graph& g, const std::string& x, ElementType to);
std::string gather(Graph& g, const std::string& data, const std::string& indices,
                   std::int64_t axis = 0);
// Where(condition, a, b): a where condition is true.
std::string where(Graph& g, const std::string& condition, const std::string& a,
                  const std::string& b);

}  // namespace tg::onnx
