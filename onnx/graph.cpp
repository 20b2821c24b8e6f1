// tg::onnx::Graph: nodes, initializers, inputs and outputs written into onnx::ModelProto, the
// checker, and the operator helpers.
#include "tapegrad/onnx/graph.hpp"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace tg::onnx {

namespace {

int proto_type(ElementType type) {
  switch (type) {
    case ElementType::Float: return ::onnx::TensorProto::FLOAT;
    case ElementType::Int64: return ::onnx::TensorProto::INT64;
    case ElementType::Int32: return ::onnx::TensorProto::INT32;
    case ElementType::Bool: return ::onnx::TensorProto::BOOL;
  }
  return ::onnx::TensorProto::UNDEFINED;
}

void set_value_info(::onnx::ValueInfoProto* info, const std::string& name, ElementType type,
                    const std::vector<Dim>* shape) {
  info->set_name(name);
  ::onnx::TypeProto_Tensor* tensor = info->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(proto_type(type));
  if (!shape) return;
  ::onnx::TensorShapeProto* dims = tensor->mutable_shape();
  for (const Dim& d : *shape) {
    ::onnx::TensorShapeProto_Dimension* dim = dims->add_dim();
    if (!d.name.empty()) dim->set_dim_param(d.name);
    else if (d.size >= 0) dim->set_dim_value(d.size);
  }
}

void set_attribute(::onnx::AttributeProto* a, const Attribute& attribute) {
  a->set_name(attribute.name);
  const Attribute::Value& v = attribute.value;
  if (const auto* i = std::get_if<std::int64_t>(&v)) {
    a->set_type(::onnx::AttributeProto::INT);
    a->set_i(*i);
  } else if (const auto* f = std::get_if<float>(&v)) {
    a->set_type(::onnx::AttributeProto::FLOAT);
    a->set_f(*f);
  } else if (const auto* s = std::get_if<std::string>(&v)) {
    a->set_type(::onnx::AttributeProto::STRING);
    a->set_s(*s);
  } else if (const auto* is = std::get_if<std::vector<std::int64_t>>(&v)) {
    a->set_type(::onnx::AttributeProto::INTS);
    for (std::int64_t x : *is) a->add_ints(x);
  } else if (const auto* fs = std::get_if<std::vector<float>>(&v)) {
    a->set_type(::onnx::AttributeProto::FLOATS);
    for (float x : *fs) a->add_floats(x);
  } else if (const auto* ss = std::get_if<std::vector<std::string>>(&v)) {
    a->set_type(::onnx::AttributeProto::STRINGS);
    for (const std::string& x : *ss) a->add_strings(x);
  }
}

}  // namespace

struct Graph::Model {
  ::onnx::ModelProto proto;
};

Graph::Graph(const std::string& name) : model_(std::make_unique<Model>()) {
  model_->proto.set_ir_version(8);  // ONNX 1.10-1.12: what opset 17's runtimes read
  model_->proto.set_producer_name("tapegrad");
  model_->proto.set_producer_version("0.1.0");
  ::onnx::OperatorSetIdProto* opset = model_->proto.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpsetVersion);
  model_->proto.mutable_graph()->set_name(name);
}

Graph::~Graph() = default;
Graph::Graph(Graph&&) noexcept = default;
Graph& Graph::operator=(Graph&&) noexcept = default;

std::string Graph::unique(const std::string& hint) {
  return fmt::format("{}_{}", hint.empty() ? "v" : hint, counter_++);
}

std::string Graph::input(const std::string& name, ElementType type, const std::vector<Dim>& shape) {
  set_value_info(model_->proto.mutable_graph()->add_input(), name, type, &shape);
  return name;
}

void Graph::output(const std::string& value, const std::string& name, ElementType type,
                   const std::vector<Dim>& shape) {
  add_output(value, name, type, &shape);
}

void Graph::output(const std::string& value, const std::string& name, ElementType type,
                   std::size_t rank) {
  const std::vector<Dim> shape(rank, Dim::unknown());
  add_output(value, name, type, &shape);
}

void Graph::add_output(const std::string& value, const std::string& name, ElementType type,
                       const std::vector<Dim>* shape) {
  if (value != name) {
    ::onnx::NodeProto* n = model_->proto.mutable_graph()->add_node();
    n->set_op_type("Identity");
    n->set_name(unique("Identity"));
    n->add_input(value);
    n->add_output(name);
  }
  set_value_info(model_->proto.mutable_graph()->add_output(), name, type, shape);
}

std::string Graph::initializer(const std::string& name, const Tensor& values) {
  const Shape shape = values.shape();
  const std::vector<double> v = values.to_vector();
  return initializer(name, std::vector<float>(v.begin(), v.end()),
                     std::vector<std::int64_t>(shape.begin(), shape.end()));
}

std::string Graph::initializer(const std::string& name, const std::vector<float>& values,
                               const std::vector<std::int64_t>& dims) {
  ::onnx::TensorProto* t = model_->proto.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(::onnx::TensorProto::FLOAT);
  for (std::int64_t d : dims) t->add_dims(d);
  // Little-endian raw bytes: ONNX's compact form for float data.
  t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()),
                              values.size() * sizeof(float)));
  return name;
}

std::string Graph::initializer_int64(const std::string& name,
                                     const std::vector<std::int64_t>& values,
                                     const std::vector<std::int64_t>& dims) {
  ::onnx::TensorProto* t = model_->proto.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(::onnx::TensorProto::INT64);
  for (std::int64_t d : dims) t->add_dims(d);
  for (std::int64_t v : values) t->add_int64_data(v);
  return name;
}

std::string Graph::int64s(const std::vector<std::int64_t>& values, const std::string& hint) {
  return initializer_int64(unique(hint), values, {static_cast<std::int64_t>(values.size())});
}

std::string Graph::scalar(float value, const std::string& hint) {
  return initializer(unique(hint), std::vector<float>{value}, {});
}

std::vector<std::string> Graph::node(const std::string& op_type,
                                     const std::vector<std::string>& inputs, std::size_t outputs,
                                     const std::vector<Attribute>& attributes,
                                     const std::string& hint) {
  ::onnx::NodeProto* n = model_->proto.mutable_graph()->add_node();
  n->set_op_type(op_type);
  const std::string base = unique(hint.empty() ? op_type : hint);
  n->set_name(base);
  for (const std::string& in : inputs) n->add_input(in);
  std::vector<std::string> names;
  for (std::size_t i = 0; i < outputs; ++i) {
    names.push_back(outputs == 1 ? base : fmt::format("{}_out{}", base, i));
    n->add_output(names.back());
  }
  for (const Attribute& a : attributes) set_attribute(n->add_attribute(), a);
  return names;
}

std::string Graph::op(const std::string& op_type, const std::vector<std::string>& inputs,
                      const std::vector<Attribute>& attributes, const std::string& hint) {
  return node(op_type, inputs, 1, attributes, hint).front();
}

void Graph::metadata(const std::string& key, const std::string& value) {
  ::onnx::StringStringEntryProto* entry = model_->proto.add_metadata_props();
  entry->set_key(key);
  entry->set_value(value);
}

void Graph::doc_string(const std::string& text) { model_->proto.set_doc_string(text); }

void Graph::check() const {
  try {
    ::onnx::checker::check_model(model_->proto);
    // Strict shape inference on a copy: an operator given inputs of the wrong rank or type fails
    // here, at export, rather than when a runtime loads the file.
    ::onnx::ModelProto copy = model_->proto;
    ::onnx::shape_inference::InferShapes(copy, ::onnx::OpSchemaRegistry::Instance(),
                                         ::onnx::ShapeInferenceOptions(true, 1, false));
  } catch (const std::exception& e) {
    throw Error(fmt::format("onnx export: the model '{}' fails ONNX's checker: {}",
                            model_->proto.graph().name(), e.what()));
  }
}

std::string Graph::serialize() const {
  std::string bytes;
  if (!model_->proto.SerializeToString(&bytes)) throw Error("onnx export: the model did not serialize");
  return bytes;
}

void Graph::save(const std::string& path) const {
  check();
  const std::string bytes = serialize();
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) throw Error(fmt::format("onnx export: cannot write {}", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error(fmt::format("onnx export: cannot rename {} to {}: {}", tmp, path, ec.message()));
}

// ---- operators --------------------------------------------------------------------------

std::string add(Graph& g, const std::string& a, const std::string& b) { return g.op("Add", {a, b}); }
std::string sub(Graph& g, const std::string& a, const std::string& b) { return g.op("Sub", {a, b}); }
std::string mul(Graph& g, const std::string& a, const std::string& b) { return g.op("Mul", {a, b}); }
std::string div(Graph& g, const std::string& a, const std::string& b) { return g.op("Div", {a, b}); }
std::string matmul(Graph& g, const std::string& a, const std::string& b) {
  return g.op("MatMul", {a, b});
}
std::string tanh(Graph& g, const std::string& x) { return g.op("Tanh", {x}); }
std::string sigmoid(Graph& g, const std::string& x) { return g.op("Sigmoid", {x}); }
std::string relu(Graph& g, const std::string& x) { return g.op("Relu", {x}); }
std::string exp(Graph& g, const std::string& x) { return g.op("Exp", {x}); }
std::string log(Graph& g, const std::string& x) { return g.op("Log", {x}); }
std::string softmax(Graph& g, const std::string& x, std::int64_t axis) {
  return g.op("Softmax", {x}, {{"axis", axis}});
}
std::string log_softmax(Graph& g, const std::string& x, std::int64_t axis) {
  return g.op("LogSoftmax", {x}, {{"axis", axis}});
}
// Opset 13 moved ReduceSum's axes to an input; ReduceMean and ReduceMax keep the attribute to 17.
std::string reduce_sum(Graph& g, const std::string& x, const std::vector<std::int64_t>& axes,
                       bool keepdims) {
  return g.op("ReduceSum", {x, g.int64s(axes, "axes")}, {{"keepdims", keepdims ? 1 : 0}});
}
std::string reduce_mean(Graph& g, const std::string& x, const std::vector<std::int64_t>& axes,
                        bool keepdims) {
  return g.op("ReduceMean", {x}, {{"axes", axes}, {"keepdims", keepdims ? 1 : 0}});
}
std::string reduce_max(Graph& g, const std::string& x, const std::vector<std::int64_t>& axes,
                       bool keepdims) {
  return g.op("ReduceMax", {x}, {{"axes", axes}, {"keepdims", keepdims ? 1 : 0}});
}
std::string argmax(Graph& g, const std::string& x, std::int64_t axis, bool keepdims) {
  return g.op("ArgMax", {x}, {{"axis", axis}, {"keepdims", keepdims ? 1 : 0}});
}
std::string reshape(Graph& g, const std::string& x, const std::vector<std::int64_t>& shape) {
  return g.op("Reshape", {x, g.int64s(shape, "shape")});
}
std::string transpose(Graph& g, const std::string& x, const std::vector<std::int64_t>& perm) {
  return g.op("Transpose", {x}, {{"perm", perm}});
}
std::string concat(Graph& g, const std::vector<std::string>& xs, std::int64_t axis) {
  if (xs.size() == 1) return xs.front();
  return g.op("Concat", xs, {{"axis", axis}});
}
std::string slice(Graph& g, const std::string& x, std::int64_t axis, std::int64_t start,
                  std::int64_t end) {
  return g.op("Slice", {x, g.int64s({start}, "starts"), g.int64s({end}, "ends"),
                        g.int64s({axis}, "axes")});
}
std::string unsqueeze(Graph& g, const std::string& x, const std::vector<std::int64_t>& axes) {
  return g.op("Unsqueeze", {x, g.int64s(axes, "axes")});
}
std::string squeeze(Graph& g, const std::string& x, const std::vector<std::int64_t>& axes) {
  return g.op("Squeeze", {x, g.int64s(axes, "axes")});
}
std::string cast(Graph& g, const std::string& x, ElementType to) {
  return g.op("Cast", {x}, {{"to", std::int64_t{proto_type(to)}}});
}
std::string gather(Graph& g, const std::string& data, const std::string& indices,
                   std::int64_t axis) {
  return g.op("Gather", {data, indices}, {{"axis", axis}});
}
std::string where(Graph& g, const std::string& condition, const std::string& a,
                  const std::string& b) {
  return g.op("Where", {condition, a, b});
}

}  // namespace tg::onnx
