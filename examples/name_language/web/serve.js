// Serves the page on 127.0.0.1 only (never another address):
//
//   node serve.js --model DIR [--ort DIR] [--port N]
//
// /            this folder (index.html, app.js)
// /model.onnx, /model.json   from --model (what `name_language export --out DIR/model.onnx` wrote)
// /ort/...     onnxruntime-web's dist folder (--ort; default: the one tests/onnx/node_modules holds)
//
// Prints "serving http://127.0.0.1:PORT/" once listening (port 0, the default, picks a free one).
// For any other static host, copy index.html, app.js, model.onnx, model.json and, into ort/,
// onnxruntime-web's dist/ort.min.js, ort-wasm-simd-threaded.mjs and ort-wasm-simd-threaded.wasm.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.json': 'application/json', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream',
  '.png': 'image/png', '.map': 'application/json',
};

function serve(options) {
  const roots = [
    ['/ort/', options.ort],
    ['/model.', options.model, (p) => path.basename(p)],
    ['/', __dirname],
  ];
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname);
    const target = url === '/' ? '/index.html' : url;
    for (const [prefix, dir, rename] of roots) {
      if (!target.startsWith(prefix)) continue;
      const rel = rename ? rename(target) : target.slice(prefix.length);
      const file = path.resolve(dir, rel);
      if (!file.startsWith(path.resolve(dir) + path.sep)) break;  // no way out of the folder
      fs.readFile(file, (err, data) => {
        if (err) { res.writeHead(404); res.end('not found'); return; }
        res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
        res.end(data);
      });
      return;
    }
    res.writeHead(404);
    res.end('not found');
  });
  return new Promise((resolve) => server.listen(options.port ?? 0, '127.0.0.1', () => resolve(server)));
}

function parse(argv) {
  const o = { ort: path.resolve(__dirname, '../../../tests/onnx/node_modules/onnxruntime-web/dist'), port: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--model') o.model = path.resolve(value);
    else if (flag === '--ort') o.ort = path.resolve(value);
    else if (flag === '--port') o.port = Number(value);
    else throw new Error(`unknown flag ${flag} (expected --model, --ort, --port)`);
  }
  if (!o.model) throw new Error('--model DIR is required (the folder holding model.onnx and model.json)');
  return o;
}

if (require.main === module) {
  serve(parse(process.argv.slice(2))).then((server) => {
    console.log(`serving http://127.0.0.1:${server.address().port}/`);
  }).catch((e) => { console.error(`serve.js: ${e.message}`); process.exit(2); });
}

module.exports = { serve, parse };
