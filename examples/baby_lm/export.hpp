// baby_lm export: one step of the language model as ONNX (tg::onnx), state in and state out, so
// that generation (sampling, feeding back) can run in any ONNX runtime.
#pragma once

#include <string>

#include "common/program.hpp"

namespace tg::baby_lm {

// Writes options.out (ONNX, opset 17). Inputs: ids int64 [batch, steps], h0 and c0 float
// [layers, batch, units] (zeros start a text). Outputs: logits [batch, steps, vocab] (the next
// character's, after each step), h and c [layers, batch, units] (the state to feed back). Beside
// it, the same path with the extension .json: the vocabulary (character i is token i), layers and
// units. A build without libonnx refuses with one line saying so.
int run_export(const examples::ExportArgs& options);

}  // namespace tg::baby_lm
