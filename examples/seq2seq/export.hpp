// seq2seq export: the encoder and one decoder step with attention as two ONNX models
// (tg::onnx), so that greedy or beam decoding can run in any ONNX runtime.
#pragma once

#include <string>

#include "common/program.hpp"

namespace tg::examples::seq2seq {

// Writes, into the folder args.out (created if missing), ONNX opset 17:
//   encoder.onnx       ids int64 [batch, steps] (0 pads), lengths int64 [batch] ->
//                      outputs [batch, steps, 2*hidden], keys [batch, steps, decoder_hidden],
//                      mask bool [batch, steps] (true at padding), h [batch, decoder_hidden]
//   decoder_step.onnx  previous int64 [batch] (start: 1), h, (c: LSTM only), feed [batch,
//                      decoder_hidden] (zeros at the first step), outputs, keys, mask ->
//                      logits [batch, target size], weights [batch, steps] (attention),
//                      attentional (the next feed), h (and c)
//   seq2seq.json       the alphabets and reserved ids (padding 0; targets: start 1, end 2)
// A build without libonnx refuses with one line saying so.
int run_export(const examples::ExportArgs& args);

}  // namespace tg::examples::seq2seq
