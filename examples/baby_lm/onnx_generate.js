// Greedy generation with baby_lm's exported step (`baby_lm export`) in ONNX Runtime, outside
// tapegrad: the prompt is read in one call from a zero state, then the most likely character is
// fed back one at a time with the LSTM state carried, as `baby_lm generate --temperature 0` does.
//
//   NODE_PATH=tests/onnx/node_modules node examples/baby_lm/onnx_generate.js baby_lm.onnx "me want" 60
//
// Prints the prompt followed by the generated characters (baby_lm.json beside the model gives
// the vocabulary: character i is token i; an empty prompt starts a new line).
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [modelPath, prompt = '', lengthText = '60'] = process.argv.slice(2);
  const info = JSON.parse(fs.readFileSync(modelPath.replace(/\.onnx$/, '') + '.json', 'utf8'));
  const token = new Map(info.vocabulary.map((ch, i) => [ch, i]));
  const ids = [...(prompt || '\n')].map((ch) => {
    if (!token.has(ch)) throw new Error(`'${ch}' is not in the model's vocabulary`);
    return token.get(ch);
  });
  const session = await ort.InferenceSession.create(modelPath);
  const zeros = () => new ort.Tensor('float32', new Float32Array(info.layers * info.units), [info.layers, 1, info.units]);
  let feeds = { ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]), h0: zeros(), c0: zeros() };
  let text = '';
  const V = info.vocabulary.length;
  for (let i = 0; i < Number(lengthText); ++i) {
    const out = await session.run(feeds);
    const steps = out.logits.dims[1];
    const last = out.logits.data.subarray((steps - 1) * V, steps * V);
    let best = 0;
    for (let k = 1; k < V; ++k) if (last[k] > last[best]) best = k;  // the first of equal ones
    text += info.vocabulary[best];
    feeds = { ids: new ort.Tensor('int64', BigInt64Array.from([BigInt(best)]), [1, 1]), h0: out.h, c0: out.c };
  }
  process.stdout.write(`${prompt}${text}\n`);
}

main().catch((e) => {
  console.error(`onnx_generate.js: ${e.message}`);
  process.exit(2);
});
