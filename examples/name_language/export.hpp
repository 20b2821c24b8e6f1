// name_language export: the classifier as an ONNX model (tg::onnx), with its vocabulary and
// labels in a JSON file beside it, for ONNX Runtime and the web page in name_language/web/.
#pragma once

#include <string>

#include "common/program.hpp"

namespace tg::examples::names {

// Writes args.out (ONNX, opset 17: inputs ids int64 [batch, steps] and lengths int64 [batch];
// outputs logits and probabilities [batch, languages]) and, beside it, the same path with the
// extension .json: charset, alphabet (character i has id i + 1; 0 is unknown and padding) and
// labels. A build without libonnx refuses with one line saying so.
int run_export(const examples::ExportArgs& args);

}  // namespace tg::examples::names
