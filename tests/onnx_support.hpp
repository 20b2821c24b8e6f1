// What the ONNX export tests share: cases written as JSON, ONNX's checker (python3-onnx) and
// ONNX Runtime (onnxruntime-node, run by tests/onnx/compare.js), each reported as skipped when
// missing (and failed where TAPEGRAD_REQUIRE asks for it, as in CI).
#pragma once

#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/skip.hpp"
#include "tests/test_support.hpp"

#include <tapegrad/autograd/tensor.hpp>

#ifndef TAPEGRAD_ONNX_TEST_DIR
#error "TAPEGRAD_ONNX_TEST_DIR (tests/onnx) and TAPEGRAD_NODE_MODULES come from tests/CMakeLists.txt"
#endif

namespace tg::testing::onnx_runtime {

inline const char* const kNeedsOnnx = "onnx";                // python3-onnx: the checker
inline const char* const kNeedsOnnxRuntime = "onnxruntime";  // node + onnxruntime-node

// The tolerance of the issue: ONNX Runtime's outputs within 1e-5 of tapegrad's.
constexpr double kTolerance = 1e-5;

// One named tensor of a case.
struct Feed {
  std::string name;
  std::string type;  // "float32", "int64" or "bool"
  std::vector<std::size_t> dims;
  std::vector<double> data;
};
inline Feed float_feed(const std::string& name, const Tensor& t) {
  return {name, "float32", t.shape(), t.to_vector()};
}

struct Case {
  std::vector<Feed> inputs, expected;
};

inline std::string number(double v) {
  if (std::isnan(v)) return "null";  // compare.js then sees NaN: a failure, never a pass
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

inline std::string feeds_json(const std::vector<Feed>& feeds) {
  std::string out = "{";
  for (std::size_t i = 0; i < feeds.size(); ++i) {
    const Feed& f = feeds[i];
    out += (i ? ", \"" : "\"") + f.name + "\": {\"type\": \"" + f.type + "\", \"dims\": [";
    for (std::size_t k = 0; k < f.dims.size(); ++k) out += (k ? "," : "") + std::to_string(f.dims[k]);
    out += "], \"data\": [";
    for (std::size_t k = 0; k < f.data.size(); ++k) out += (k ? "," : "") + number(f.data[k]);
    out += "]}";
  }
  return out + "}";
}

inline std::string cases_json(const std::vector<Case>& cases) {
  std::string out = "{\"cases\": [\n";
  for (std::size_t i = 0; i < cases.size(); ++i)
    out += (i ? ",\n{\"inputs\": " : "{\"inputs\": ") + feeds_json(cases[i].inputs) +
           ", \"expected\": " + feeds_json(cases[i].expected) + "}";
  return out + "\n]}\n";
}

inline bool have_checker() {
  return run_shell("/usr/bin/python3 -c 'import onnx'", "/").code == 0;
}

inline std::string node_command() {
  return "NODE_PATH=" + shell_quote(TAPEGRAD_NODE_MODULES) + " node";
}

inline bool have_runtime() {
  return run_shell(node_command() + " -e \"require('onnxruntime-node')\"", "/").code == 0;
}

// ONNX's own checker, full_check (shape inference, strict), on a saved model.
inline RunResult check_model(const std::string& path) {
  return run_shell("/usr/bin/python3 " + shell_quote(std::string(TAPEGRAD_ONNX_TEST_DIR) + "/check.py") +
                       " " + shell_quote(path),
                   "/");
}

struct Parity {
  RunResult run;
  std::map<std::string, double> max_abs_diff;  // per output, over every case
  std::size_t cases = 0;
};

// Writes the cases next to the model and runs compare.js on them.
inline Parity runtime_parity(const std::string& model, const std::vector<Case>& cases) {
  const std::string json = model + ".cases.json";
  write_text(json, cases_json(cases));
  Parity p;
  p.run = run_shell(node_command() + " " +
                        shell_quote(std::string(TAPEGRAD_ONNX_TEST_DIR) + "/compare.js") + " " +
                        shell_quote(model) + " " + shell_quote(json),
                    "/");
  std::istringstream lines(p.run.out);
  for (std::string word, name; lines >> word;) {
    if (word == "max_abs_diff") {
      std::string value;
      lines >> name >> value;
      p.max_abs_diff[name] = value == "NaN" ? std::nan("") : std::stod(value);
    } else if (word == "cases") {
      lines >> p.cases;
    }
  }
  return p;
}

}  // namespace tg::testing::onnx_runtime

// Skips the test (returns) when ONNX's checker or ONNX Runtime is missing.
#define TG_REQUIRE_ONNX_TOOLS()                                                                  \
  do {                                                                                           \
    namespace ort_ = ::tg::testing::onnx_runtime;                                                \
    if (!ort_::have_checker())                                                                   \
      TG_SKIP(ort_::kNeedsOnnx, "python3-onnx not found (apt-get install python3-onnx)");        \
    if (!ort_::have_runtime())                                                                   \
      TG_SKIP(ort_::kNeedsOnnxRuntime,                                                           \
              "node or onnxruntime-node not found in " TAPEGRAD_NODE_MODULES                     \
              " (bash scripts/deps.sh installs them)");                                          \
  } while (false)

// The checker accepts `path`, and ONNX Runtime matches every expected output to kTolerance on
// every case (at least one output compared per case).
#define TG_CHECK_ONNX_PARITY(model_path_, cases_)                                                        \
  do {                                                                                           \
    namespace ort_ = ::tg::testing::onnx_runtime;                                                \
    const ::tg::testing::RunResult checked_ = ort_::check_model(model_path_);                          \
    INFO("checker: " << checked_.out << checked_.err);                                          \
    REQUIRE(checked_.code == 0);                                                                 \
    const ort_::Parity parity_ = ort_::runtime_parity(model_path_, cases_);                              \
    INFO("onnxruntime: " << parity_.run.out << parity_.run.err);                                 \
    REQUIRE(parity_.run.code == 0);                                                              \
    REQUIRE(parity_.cases == (cases_).size());                                                    \
    REQUIRE(parity_.max_abs_diff.size() == (cases_).front().expected.size());                     \
    for (const auto& [name_, diff_] : parity_.max_abs_diff) {                                    \
      INFO(model_path_ << ": output " << name_ << " max abs diff " << diff_);                           \
      std::printf("%s: %s max abs diff %.3g over %zu cases\n", (model_path_).c_str(), name_.c_str(),   \
                  diff_, parity_.cases);                                                         \
      CHECK(diff_ <= ort_::kTolerance);                                                          \
    }                                                                                            \
  } while (false)
