// Greedy translation with seq2seq's exported encoder and decoder step (`seq2seq export`) in ONNX
// Runtime, outside tapegrad, as `seq2seq translate --beam 1` decodes: the encoder once, then one
// decoder step per output character from the start mark, the previous character and attentional
// vector fed back, until the end mark or max_output characters.
//
//   NODE_PATH=tests/onnx/node_modules node examples/seq2seq/onnx_translate.js DIR "3rd of March 1999" ...
//
// DIR is what `seq2seq export --out DIR` wrote. Prints "source<TAB>translation" per source.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const int64 = (values, dims) => new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), dims);

async function translate(encoder, step, info, source) {
  const ids = [...source].map((ch) => {
    const i = info.source_characters.indexOf(ch);
    return i < 0 ? info.pad : info.source_reserved + i;  // unknown characters read as padding
  });
  const memory = await encoder.run({ ids: int64(ids, [1, ids.length]), lengths: int64([ids.length], [1]) });
  const D = memory.h.dims[1];
  const zeros = () => new ort.Tensor('float32', new Float32Array(D), [1, D]);
  let feeds = { previous: int64([info.start], [1]), h: memory.h, feed: zeros(),
                outputs: memory.outputs, keys: memory.keys, mask: memory.mask };
  if (step.inputNames.includes('c')) feeds.c = zeros();
  let text = '';
  for (let s = 0; s <= info.max_output; ++s) {
    const out = await step.run(feeds);
    const logits = out.logits.data;
    let best = -1;  // the most likely character; padding and the start mark are impossible
    for (let k = 0; k < logits.length; ++k)
      if (k !== info.pad && k !== info.start && (best < 0 || logits[k] > logits[best])) best = k;
    if (best === info.end || s === info.max_output) break;
    text += info.target_characters[best - info.target_reserved];
    feeds = { ...feeds, previous: int64([best], [1]), h: out.h_next, feed: out.attentional };
    if (out.c_next) feeds.c = out.c_next;
  }
  return text;
}

async function main() {
  const [dir, ...sources] = process.argv.slice(2);
  const info = JSON.parse(fs.readFileSync(path.join(dir, 'seq2seq.json'), 'utf8'));
  const encoder = await ort.InferenceSession.create(path.join(dir, 'encoder.onnx'));
  const step = await ort.InferenceSession.create(path.join(dir, 'decoder_step.onnx'));
  for (const source of sources)
    if (source) process.stdout.write(`${source}\t${await translate(encoder, step, info, source)}\n`);
}

main().catch((e) => {
  console.error(`onnx_translate.js: ${e.message}`);
  process.exit(2);
});
