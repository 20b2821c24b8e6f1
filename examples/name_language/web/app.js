// name_language in the browser: the ONNX model written by `name_language export`, run by
// onnxruntime-web (WebAssembly, one thread). model.json (written beside model.onnx) holds the
// alphabet, the charset and the language labels; names are encoded as `name_language predict`
// encodes them (examples/name_language/data.cpp, encode_for_prediction).
'use strict';

const TOP = 3;
const state = { session: null, vocab: null, ids: null, generation: 0 };

// The charset's mapping: ascii = NFD with combining marks dropped; unicode = NFC. Then trimmed.
function normalize(name, charset) {
  const mapped = charset === 'ascii' ? name.normalize('NFD').replace(/\p{M}/gu, '') : name.normalize('NFC');
  return mapped.trim();
}

function encode(name) {
  const text = normalize(name, state.vocab.charset);
  const ids = [];
  const unknown = [];
  for (const ch of text) {  // code points
    const id = state.ids.get(ch) ?? state.vocab.unknown_id;
    if (id === state.vocab.unknown_id) unknown.push(ch);
    ids.push(id);
  }
  return { ids, unknown };
}

async function classify(name) {
  const { ids, unknown } = encode(name);
  if (ids.length === 0) return { name, note: 'no characters left to read' };
  if (new TextEncoder().encode(name).length > state.vocab.max_name_bytes)
    return { name, note: `longer than ${state.vocab.max_name_bytes} bytes: not a name` };
  const feeds = {
    ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
    lengths: new ort.Tensor('int64', BigInt64Array.from([BigInt(ids.length)]), [1]),
  };
  const out = await state.session.run(feeds);
  const p = Array.from(out.probabilities.data);
  const order = p.map((_, i) => i).sort((a, b) => p[b] - p[a] || a - b).slice(0, TOP);
  return {
    name,
    top: order.map((i) => ({ label: state.vocab.labels[i], probability: p[i] })),
    note: unknown.length ? `'${unknown.join('')}' not in the model's alphabet; read as unknown` : '',
  };
}

function render(results) {
  const root = document.getElementById('results');
  root.replaceChildren();
  for (const r of results) {
    const card = document.createElement('div');
    card.className = 'result';
    card.dataset.name = r.name;
    const title = document.createElement('h2');
    title.textContent = r.name;
    card.append(title);
    for (const t of r.top ?? []) {
      const row = document.createElement('div');
      row.className = 'row';
      row.dataset.label = t.label;
      row.dataset.percent = (100 * t.probability).toFixed(1);
      const label = document.createElement('span');
      label.className = 'label';
      label.textContent = t.label;
      const pct = document.createElement('span');
      pct.className = 'pct';
      pct.textContent = `${(100 * t.probability).toFixed(1)}%`;
      const bar = document.createElement('div');
      bar.className = 'bar';
      bar.style.width = `${Math.max(1, 100 * t.probability)}%`;
      row.append(label, pct, bar);
      card.append(row);
    }
    if (r.note) {
      const note = document.createElement('div');
      note.className = 'note';
      note.textContent = r.note;
      card.append(note);
    }
    root.append(card);
  }
}

async function update() {
  const generation = ++state.generation;
  const names = document.getElementById('names').value.split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
  const results = [];
  for (const name of names) results.push(await classify(name));
  if (generation !== state.generation) return;  // a later keystroke has its own answer
  render(results);
  document.body.dataset.shown = names.join(',');
}

async function main() {
  try {
    ort.env.wasm.numThreads = 1;  // no SharedArrayBuffer needed: any static server will do
    ort.env.wasm.wasmPaths = new URL('ort/', document.baseURI).href;
    state.vocab = await (await fetch('model.json')).json();
    state.ids = new Map(state.vocab.alphabet.map((ch, i) => [ch, i + 1]));
    state.session = await ort.InferenceSession.create('model.onnx', { executionProviders: ['wasm'] });
    const input = document.getElementById('names');
    input.disabled = false;
    input.addEventListener('input', () => update().catch(fail));
    input.focus();
    document.getElementById('status').textContent =
      `Model loaded: ${state.vocab.labels.length} languages, ${state.vocab.alphabet.length} characters (${state.vocab.charset}).`;
    document.getElementById('about').textContent = 'tapegrad examples/name_language, exported with `name_language export`.';
    document.body.dataset.ready = '1';
    if (input.value) await update();
  } catch (e) {
    fail(e);
  }
}

function fail(e) {
  document.getElementById('status').textContent = `Error: ${e.message ?? e}`;
  document.body.dataset.error = String(e.message ?? e);
}

main();
