// Runs an ONNX model in ONNX Runtime (onnxruntime-node, CPU) on the cases of a JSON file and
// compares its outputs with the ones tapegrad computed.
//
//   node compare.js model.onnx cases.json
//
// cases.json: {"cases": [{"inputs": {name: {"type": "float32"|"int64"|"bool", "dims": [...],
// "data": [...]}}, "expected": {name: {"dims": [...], "data": [...]}}}, ...]}
//
// Prints one line per output, "max_abs_diff <name> <value>" (the largest over every case; NaN
// anywhere prints NaN), then "cases <n>"; a missing output or a shape that differs prints
// "mismatch <name> ..." and exits 1. The test that runs it decides the tolerance.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function tensor(spec) {
  const n = spec.dims.reduce((a, b) => a * b, 1);
  if (spec.data.length !== n) throw new Error(`input of dims [${spec.dims}] has ${spec.data.length} values`);
  if (spec.type === 'int64') return new ort.Tensor('int64', BigInt64Array.from(spec.data.map(BigInt)), spec.dims);
  if (spec.type === 'bool') return new ort.Tensor('bool', Uint8Array.from(spec.data), spec.dims);
  return new ort.Tensor('float32', Float32Array.from(spec.data), spec.dims);
}

async function main() {
  const [modelPath, casesPath] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1,
  });
  const { cases } = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
  const worst = {};
  let failed = false;
  for (const [i, c] of cases.entries()) {
    const feeds = {};
    for (const [name, spec] of Object.entries(c.inputs)) feeds[name] = tensor(spec);
    const results = await session.run(feeds);
    for (const [name, want] of Object.entries(c.expected)) {
      const got = results[name];
      if (!got) {
        console.log(`mismatch ${name} case ${i}: no such output`);
        failed = true;
        continue;
      }
      if (got.dims.length !== want.dims.length || got.dims.some((d, k) => d !== want.dims[k])) {
        console.log(`mismatch ${name} case ${i}: dims [${got.dims}] expected [${want.dims}]`);
        failed = true;
        continue;
      }
      let m = worst[name] ?? 0;
      for (let k = 0; k < want.data.length; ++k) {
        const w = want.data[k] === null ? NaN : want.data[k];  // tapegrad's NaN is written null
        const d = Math.abs(Number(got.data[k]) - w);
        if (!(d <= m)) m = d;  // NaN sticks: NaN <= m is false, and so is m <= NaN afterwards
        if (Number.isNaN(d)) { m = NaN; break; }
      }
      worst[name] = Number.isNaN(worst[name]) ? NaN : m;
    }
  }
  for (const [name, m] of Object.entries(worst)) console.log(`max_abs_diff ${name} ${m}`);
  console.log(`cases ${cases.length}`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(`error ${e.message}`);
  process.exit(1);
});
