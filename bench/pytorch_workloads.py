#!/usr/bin/python3
"""PyTorch half of the tapegrad-vs-PyTorch recurrent benchmark: workloads and JSON lines.

Run as /usr/bin/python3 (Debian's python3-torch 1.13). One process runs one workload at one
thread count and prints one JSON object per measurement on stdout; compare_pytorch.py runs it
next to tapegrad's build/bench/bench_recurrent, which implements the same workloads and flags.

Workloads (identical definitions on both sides)
-----------------------------------------------
a  baby_lm training step. Seed model: Embedding(28, 32) -> LSTM(32->128, output of every step)
   -> Dropout(0.2) -> LSTM(128->128, only its last step used) -> Dropout(0.2) -> Linear(128->28);
   softmax cross-entropy against the next character; Adam(lr 1e-3). Batch 32, window 15:
   input [32, 15] token ids, target [32]. Vocabulary (28): "\\n" (end of phrase), " ", "a".."z".
   Token ids are fixed pseudo-random (a pool of 16 batches, cycled): their values do not change
   the cost. A step = zero grads, forward, loss, backward, Adam update.
   Metrics: windows_per_s, chars_per_s (= windows_per_s * 15).
b  one name_language epoch. LSTM(one-hot 57 -> 128) over padded batches of 64 names with their
   lengths (pack_padded_sequence: each name's final state is its state at its own last
   character), Linear(128 -> 18) on that final state, cross-entropy, Adam(lr 1e-3).
   Data: every <Language>.txt in the names folder (default ../shared/data/names relative to the
   repository root), files in sorted name order (label = index), lines in file order, stripped,
   empty lines dropped; (raw name, language) pairs deduplicated keeping the first (18,015 pairs on
   the shared set); each name ASCII-folded (unicodedata NFD, combining marks dropped, only ASCII
   letters and " .,;'" kept: alphabet string.ascii_letters + " .,;'", 57 characters); pairs whose
   folded name is empty dropped. (Folding makes 21 of the 18,015 pairs textually equal; they are
   kept, so an epoch is 18,015 names.) Fixed shuffle: Fisher-Yates, for i = n-1 down to 1,
   j = splitmix64() % (i + 1), swap(i, j), splitmix64 seeded with 0 (state += 0x9E3779B97F4A7C15;
   z = state; z = (z ^ z>>30) * 0xBF58476D1CE4E5B9; z = (z ^ z>>27) * 0x94D049BB133111EB;
   return z ^ z>>31, all mod 2^64). Batches are consecutive slices of 64 (the last one shorter),
   each sorted by length, longest first (stable); the padded one-hot input [T_max, B, 57], the
   lengths and the labels are built before timing (the data pipeline is not what is compared).
   Metrics: names_per_s (names in the epoch / epoch time), epoch_s. Skipped, with a message on
   stderr and a {"skipped": ...} line, when the folder is absent.
c  LSTM grid: batch {1, 32, 256} x hidden {128, 512} x sequence {15, 64} x layers {1, 2};
   input size = hidden; input [T, B, H] fixed random, zero initial state. A training step:
   forward over the sequence, loss = sum(outputs * R) with R a fixed random tensor [T, B, H],
   backward, SGD(lr 1e-3) update. FLOPs counted (LSTM matrix products only): per layer per time
   step forward 2*B*(I+H)*4H, backward twice that, so a step is 3 * 2*B*(I+H)*4H * T * layers
   (nominal: the first layer's input gradient is counted though nobody needs it).
   Metrics: step_ms, gflops, peak_fraction (gflops / the sgemm peak measured in the same process).
d  generation at batch 1: the seed model of (a) (same initialisation), eval mode, no grad.
   The prompt "me want " is fed first (not timed); then 200 characters are sampled one at a
   time, the LSTM states carried from step to step: softmax, multinomial sample (seeded), read
   the index, embed it, step both LSTMs, Linear. Metric: us_per_char (timed loop / 200).
e  peak resident memory: a fresh process runs N training steps of (a), or N batches of (b)
   built one at a time, and reports its ru_maxrss. Config "of" says which. Metrics:
   peak_rss_mib and baseline_rss_mib (ru_maxrss right after the framework is loaded; for
   tapegrad at the start of main). Each repeat is another fresh process.
f  character Transformer training step: Embedding(64, 128) -> TransformerEncoder of 2 pre-LN
   TransformerEncoderLayers (d_model 128, nhead 4, dim_feedforward 512, dropout 0.1, relu,
   batch_first, norm_first) with a final LayerNorm(128) -> Linear(128 -> 64); the causal float
   mask of generate_square_subsequent_mask(64) on every layer; cross-entropy of every position
   against the next token; Adam(lr 1e-3); training mode (dropout on). Batch 32, sequence 64:
   ids [32, 64], targets [32, 64], fixed pseudo-random (a pool of 8 batches, cycled).
   The PyTorch side runs nn.TransformerEncoder(enable_nested_tensor=False), its ordinary path.
   Metrics: step_ms, tokens_per_s (= 32 * 64 / step time).
peak  sgemm peak: 2048x2048 float32 matrix product (torch.mm), best of the repeats.
   Metric: sgemm_gflops.

Each figure: warm-up, then the median of --repeats (>= 5 unless --quick) timed repeats, a repeat
being enough steps to last a minimum time (reported as steps_per_repeat).

Command line (bench_recurrent takes the same)
---------------------------------------------
  --workload a|b|c|d|e|f|peak  --threads N  --repeats N  [--quick]  [--names-dir DIR]
  [--steps N]   (e: steps per process; default 50, quick 10)
--quick: repeats 3 (unless given), shorter repeats, grid batch {1, 32} x hidden {128, 512} x
sequence {15} x layers {1}, e with 10 steps. PyTorch only: --variant default|tuned, --coretype,
and --workload probe (one {"probe": ...} line: the OpenBLAS kernel in use and its speed on a
2048^3 and an LSTM-sized 32x256x512 product, for choosing the tuned kernel).

Threads and environment (PyTorch side)
--------------------------------------
--threads N sets torch.set_num_threads(N) and OPENBLAS_NUM_THREADS=N / OMP_NUM_THREADS=N: with
Debian's generic-BLAS build torch.set_num_threads does not reach OpenBLAS, which would otherwise
use every core even at "1 thread". --variant default keeps the inherited environment otherwise
(OPENBLAS_CORETYPE, OMP_WAIT_POLICY); --variant tuned sets OMP_WAIT_POLICY=PASSIVE and
OPENBLAS_CORETYPE=--coretype (compare_pytorch.py picks the fastest kernel by measuring). Both are
applied before torch is imported, as libgomp and OpenBLAS read them when they load.

JSON lines contract (both frameworks)
-------------------------------------
One object per line on stdout, one line per measurement:
  {"framework": "pytorch"|"tapegrad", "workload": "a"|"b"|"c"|"d"|"e"|"f"|"peak",
   "config": {...}, "metric": "...", "value": number, "repeats": n, "median_of": [n numbers]}
config holds exactly these keys (matching is on workload + config + metric):
  a: batch, window, threads          b: batch, names, threads
  c: batch, hidden, seq, layers, threads          d: chars, threads
  e: of ("a"|"b"), steps, threads    peak: n, threads
  f: batch, seq, d_model, layers, threads
metrics (unit; better):  a windows_per_s, chars_per_s (higher);  b names_per_s (higher), epoch_s
  (lower);  c step_ms (lower), gflops, peak_fraction (higher);  d us_per_char (lower);
  e peak_rss_mib, baseline_rss_mib (lower);  f step_ms (lower), tokens_per_s (higher);
  peak sgemm_gflops (higher).
value is the median of median_of (for peak and the max: "stat": "max"). Optional extra keys:
"variant" (the PyTorch environment: "default"|"tuned"), "unit", "steps_per_repeat", "stat",
"peak_gflops". Lines without "metric" carry {"info": {...}} or {"skipped": "reason"} and are
not measurements. Anything else goes to stderr.
"""

import argparse
import glob
import json
import math
import os
import resource
import statistics
import string
import subprocess
import sys
import time
import unicodedata

BABY_VOCAB = "\n abcdefghijklmnopqrstuvwxyz"
NAME_ALPHABET = string.ascii_letters + " .,;'"
BABY_BATCH, BABY_WINDOW = 32, 15
NAMES_BATCH = 64
GEN_PROMPT, GEN_CHARS = "me want ", 200
PEAK_N = 2048
TF_VOCAB, TF_BATCH, TF_SEQ, TF_DIM, TF_HEADS, TF_FF, TF_LAYERS = 64, 32, 64, 128, 4, 512, 2
GRID = {"batch": (1, 32, 256), "hidden": (128, 512), "seq": (15, 64), "layers": (1, 2)}
QUICK_GRID = {"batch": (1, 32), "hidden": (128, 512), "seq": (15,), "layers": (1,)}
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_NAMES_DIR = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "data", "names"))

torch = None  # imported by main() once the environment is final


def thread_env(threads, variant, coretype=None):
    """Environment overrides for a run; must be in place before torch is imported."""
    env = {"OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    if variant == "tuned":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
        if coretype:
            env["OPENBLAS_CORETYPE"] = coretype
    return env


def emit(record):
    print(json.dumps(record), flush=True)


def emit_metric(args, workload, config, metric, samples, unit, stat="median", **extra):
    value = max(samples) if stat == "max" else statistics.median(samples)
    record = {"framework": "pytorch", "workload": workload, "config": config, "metric": metric,
              "value": value, "repeats": len(samples), "median_of": samples,
              "variant": args.variant, "unit": unit}
    if stat != "median":
        record["stat"] = stat
    record.update(extra)
    emit(record)


def log(message):
    print(f"pytorch_workloads: {message}", file=sys.stderr, flush=True)


# ---- timing -------------------------------------------------------------------------------

def per_step_seconds(step, repeats, min_time, warmup_time):
    """Seconds per step() for each repeat, after a warm-up; and the steps in one repeat."""
    start, recent = time.perf_counter(), []
    while len(recent) < 2 or time.perf_counter() - start < warmup_time:
        t0 = time.perf_counter()
        step()
        recent = (recent + [time.perf_counter() - t0])[-3:]
    steps = max(1, math.ceil(min_time / max(min(recent), 1e-9)))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        samples.append((time.perf_counter() - t0) / steps)
    return samples, steps


def sgemm_peak_gflops(samples):
    a = torch.rand(PEAK_N, PEAK_N) - 0.5
    b = torch.rand(PEAK_N, PEAK_N) - 0.5
    out = torch.mm(a, b)
    flops = 2.0 * PEAK_N ** 3
    result = []
    for _ in range(samples):
        t0 = time.perf_counter()
        torch.mm(a, b, out=out)
        result.append(flops / (time.perf_counter() - t0) / 1e9)
    return result


# ---- models -------------------------------------------------------------------------------

def make_baby_lm(vocab=len(BABY_VOCAB), seed=0):
    nn = torch.nn

    class BabyLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(vocab, 32)
            self.lstm1 = nn.LSTM(32, 128, batch_first=True)
            self.drop1 = nn.Dropout(0.2)
            self.lstm2 = nn.LSTM(128, 128, batch_first=True)
            self.drop2 = nn.Dropout(0.2)
            self.fc = nn.Linear(128, vocab)

        def forward(self, tokens, state1=None, state2=None, all_steps=False):
            seq, state1 = self.lstm1(self.emb(tokens), state1)
            seq, state2 = self.lstm2(self.drop1(seq), state2)
            return self.fc(self.drop2(seq if all_steps else seq[:, -1])), state1, state2

    torch.manual_seed(seed)
    return BabyLM()


def baby_lm_trainer():
    """A function doing one training step of workload (a)."""
    model = make_baby_lm().train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(1)
    pool = [(torch.randint(0, len(BABY_VOCAB), (BABY_BATCH, BABY_WINDOW), generator=gen),
             torch.randint(0, len(BABY_VOCAB), (BABY_BATCH,), generator=gen)) for _ in range(16)]
    counter = [0]

    def step():
        x, y = pool[counter[0] % len(pool)]
        counter[0] += 1
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x)[0], y)
        loss.backward()
        opt.step()
    return step


def char_transformer_trainer():
    """A function doing one training step of workload (f)."""
    nn = torch.nn

    class CharTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(TF_VOCAB, TF_DIM)
            layer = nn.TransformerEncoderLayer(TF_DIM, TF_HEADS, TF_FF, dropout=0.1,
                                               batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, TF_LAYERS, norm=nn.LayerNorm(TF_DIM),
                                                 enable_nested_tensor=False)
            self.head = nn.Linear(TF_DIM, TF_VOCAB)
            self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(TF_SEQ))

        def forward(self, ids):
            return self.head(self.encoder(self.emb(ids), self.causal))

    torch.manual_seed(0)
    model = CharTransformer().train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(3)
    pool = [torch.randint(0, TF_VOCAB, (TF_BATCH, TF_SEQ + 1), generator=gen) for _ in range(8)]
    counter = [0]

    def step():
        ids = pool[counter[0] % len(pool)]
        counter[0] += 1
        opt.zero_grad(set_to_none=True)
        logits = model(ids[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, TF_VOCAB),
                                                 ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
    return step


class NameClassifier:
    """Workload (b)'s model, optimizer and step on a prepared batch."""

    def __init__(self, labels):
        nn = torch.nn
        torch.manual_seed(0)
        self.lstm = nn.LSTM(len(NAME_ALPHABET), 128)
        self.fc = nn.Linear(128, labels)
        params = list(self.lstm.parameters()) + list(self.fc.parameters())
        self.opt = torch.optim.Adam(params, lr=1e-3)
        self.loss_fn = nn.CrossEntropyLoss()

    def step(self, batch):
        x, lengths, y = batch
        self.opt.zero_grad(set_to_none=True)
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths)
        _, (h, _) = self.lstm(packed)
        loss = self.loss_fn(self.fc(h[-1]), y)
        loss.backward()
        self.opt.step()


# ---- name data ----------------------------------------------------------------------------

def ascii_fold(text):
    return "".join(c for c in unicodedata.normalize("NFD", text)
                   if unicodedata.category(c) != "Mn" and c in NAME_ALPHABET)


def splitmix64_shuffle(items, seed=0):
    mask, state = (1 << 64) - 1, seed
    for i in range(len(items) - 1, 0, -1):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        j = (z ^ (z >> 31)) % (i + 1)
        items[i], items[j] = items[j], items[i]


def load_names(folder):
    """(folded name, label) pairs in the fixed shuffled order, and the language names."""
    files = sorted(glob.glob(os.path.join(folder, "*.txt")))
    pairs, seen = [], set()
    for label, path in enumerate(files):
        with open(path, encoding="utf-8") as f:
            for line in f.read().split("\n"):
                name = line.strip()
                if name and (name, label) not in seen:
                    seen.add((name, label))
                    pairs.append((ascii_fold(name), label))
    pairs = [p for p in pairs if p[0]]
    splitmix64_shuffle(pairs)
    return pairs, [os.path.basename(p)[:-4] for p in files]


def names_batch(chunk):
    """Padded one-hot [T, B, 57], lengths and labels of a slice of pairs, longest first."""
    chunk = sorted(chunk, key=lambda p: -len(p[0]))
    x = torch.zeros(len(chunk[0][0]), len(chunk), len(NAME_ALPHABET))
    t_idx, b_idx, c_idx = [], [], []
    for b, (name, _) in enumerate(chunk):
        for t, ch in enumerate(name):
            t_idx.append(t)
            b_idx.append(b)
            c_idx.append(NAME_ALPHABET.index(ch))
    x[t_idx, b_idx, c_idx] = 1.0
    lengths = torch.tensor([len(n) for n, _ in chunk], dtype=torch.int64)
    return x, lengths, torch.tensor([label for _, label in chunk], dtype=torch.int64)


def names_or_skip(args, workload):
    if not os.path.isdir(args.names_dir) or not glob.glob(os.path.join(args.names_dir, "*.txt")):
        reason = f"names data folder {args.names_dir} absent or empty: workload {workload} skipped"
        log(reason)
        emit({"framework": "pytorch", "workload": workload, "skipped": reason})
        return None
    return load_names(args.names_dir)


# ---- workloads ----------------------------------------------------------------------------

def run_a(args):
    samples, steps = per_step_seconds(baby_lm_trainer(), args.repeats, args.min_time,
                                      args.warmup_time)
    windows = [BABY_BATCH / s for s in samples]
    config = {"batch": BABY_BATCH, "window": BABY_WINDOW, "threads": args.threads}
    emit_metric(args, "a", config, "windows_per_s", windows, "windows/s", steps_per_repeat=steps)
    emit_metric(args, "a", config, "chars_per_s", [w * BABY_WINDOW for w in windows], "chars/s",
                steps_per_repeat=steps)


def run_b(args):
    loaded = names_or_skip(args, "b")
    if loaded is None:
        return
    pairs, languages = loaded
    batches = [names_batch(pairs[i:i + NAMES_BATCH]) for i in range(0, len(pairs), NAMES_BATCH)]
    log(f"names: {len(pairs)} pairs, {len(languages)} languages, {len(batches)} batches")
    model = NameClassifier(len(languages))
    for batch in batches[:max(2, len(batches) // 10)]:
        model.step(batch)  # warm-up
    epochs = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for batch in batches:
            model.step(batch)
        epochs.append(time.perf_counter() - t0)
    config = {"batch": NAMES_BATCH, "names": len(pairs), "threads": args.threads}
    emit_metric(args, "b", config, "names_per_s", [len(pairs) / e for e in epochs], "names/s")
    emit_metric(args, "b", config, "epoch_s", epochs, "s")


def lstm_step_flops(batch, hidden, seq, layers):
    return 3 * 2 * batch * (hidden + hidden) * 4 * hidden * seq * layers


def grid_trainer(batch, hidden, seq, layers):
    """A function doing one training step of a grid point of workload (c)."""
    lstm = torch.nn.LSTM(hidden, hidden, num_layers=layers)
    opt = torch.optim.SGD(lstm.parameters(), lr=1e-3)
    x = torch.rand(seq, batch, hidden) * 2 - 1
    proj = torch.rand(seq, batch, hidden) * 2 - 1

    def step():
        opt.zero_grad(set_to_none=True)
        out, _ = lstm(x)
        (out * proj).sum().backward()
        opt.step()
    return step


def run_c(args):
    peak = max(sgemm_peak_gflops(max(5, args.repeats)))
    grid = QUICK_GRID if args.quick else GRID
    torch.manual_seed(0)
    for batch in grid["batch"]:
        for hidden in grid["hidden"]:
            for seq in grid["seq"]:
                for layers in grid["layers"]:
                    step = grid_trainer(batch, hidden, seq, layers)
                    samples, steps = per_step_seconds(step, args.repeats, args.min_time / 2,
                                                      args.warmup_time / 2)
                    flops = lstm_step_flops(batch, hidden, seq, layers)
                    gflops = [flops / s / 1e9 for s in samples]
                    config = {"batch": batch, "hidden": hidden, "seq": seq, "layers": layers,
                              "threads": args.threads}
                    emit_metric(args, "c", config, "step_ms", [s * 1e3 for s in samples], "ms",
                                steps_per_repeat=steps)
                    emit_metric(args, "c", config, "gflops", gflops, "GFLOP/s",
                                steps_per_repeat=steps)
                    emit_metric(args, "c", config, "peak_fraction", [g / peak for g in gflops],
                                "fraction of sgemm peak", steps_per_repeat=steps,
                                peak_gflops=peak)


def run_d(args):
    model = make_baby_lm().eval()
    gen = torch.Generator().manual_seed(2)
    prompt = torch.tensor([[BABY_VOCAB.index(c) for c in GEN_PROMPT]])

    def generate():
        with torch.no_grad():
            logits, state1, state2 = model(prompt)
            text = []
            t0 = time.perf_counter()
            for _ in range(GEN_CHARS):
                token = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=gen)
                text.append(int(token))
                logits, state1, state2 = model(token, state1, state2)
            return time.perf_counter() - t0

    generate()  # warm-up
    samples = []
    for _ in range(args.repeats):
        spent, chars, start = 0.0, 0, time.perf_counter()
        while chars == 0 or time.perf_counter() - start < args.min_time / 2:
            spent += generate()
            chars += GEN_CHARS
        samples.append(spent / chars * 1e6)
    emit_metric(args, "d", {"chars": GEN_CHARS, "threads": args.threads}, "us_per_char",
                samples, "us/char")


def run_f(args):
    samples, steps = per_step_seconds(char_transformer_trainer(), args.repeats, args.min_time,
                                      args.warmup_time)
    config = {"batch": TF_BATCH, "seq": TF_SEQ, "d_model": TF_DIM, "layers": TF_LAYERS,
              "threads": args.threads}
    emit_metric(args, "f", config, "step_ms", [s * 1e3 for s in samples], "ms",
                steps_per_repeat=steps)
    emit_metric(args, "f", config, "tokens_per_s", [TF_BATCH * TF_SEQ / s for s in samples],
                "tokens/s", steps_per_repeat=steps)


def max_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_e_child(args, baseline):
    """One fresh process's peak memory after --steps steps of workload --of."""
    if args.of == "a":
        step = baby_lm_trainer()
        for _ in range(args.steps):
            step()
    else:
        pairs, languages = load_names(args.names_dir)
        model = NameClassifier(len(languages))
        for i in range(args.steps):
            start = (i * NAMES_BATCH) % len(pairs)
            model.step(names_batch(pairs[start:start + NAMES_BATCH]))
    emit({"peak_rss_mib": max_rss_mib(), "baseline_rss_mib": baseline})


def run_e(args):
    for of in ("a", "b"):
        if of == "b" and names_or_skip(args, "e") is None:
            continue
        command = [sys.executable, os.path.abspath(__file__), "--workload", "e-child",
                   "--of", of, "--steps", str(args.steps), "--threads", str(args.threads),
                   "--variant", args.variant, "--names-dir", args.names_dir]
        if args.coretype:
            command += ["--coretype", args.coretype]
        runs = []
        for _ in range(args.repeats):
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
        config = {"of": of, "steps": args.steps, "threads": args.threads}
        for metric in ("peak_rss_mib", "baseline_rss_mib"):
            emit_metric(args, "e", config, metric, [r[metric] for r in runs], "MiB")


def run_probe(args):
    """PyTorch only: how fast this process's BLAS kernel is, big and LSTM-sized (not a figure)."""
    x, w, bias = torch.rand(32, 256), torch.rand(512, 256), torch.rand(512)
    torch.nn.functional.linear(x, w, bias)
    small = []
    for _ in range(max(15, args.repeats)):  # best of many short samples: robust to other load
        t0 = time.perf_counter()
        for _ in range(50):
            torch.nn.functional.linear(x, w, bias)
        small.append(50 * 2.0 * 32 * 256 * 512 / (time.perf_counter() - t0) / 1e9)
    emit({"framework": "pytorch", "probe": {
        "corename": blas_info().get("corename"), "threads": args.threads,
        "sgemm_gflops": max(sgemm_peak_gflops(max(9, args.repeats))),
        "lstm_gemm_gflops": max(small)}})


def run_peak(args):
    emit_metric(args, "peak", {"n": PEAK_N, "threads": args.threads}, "sgemm_gflops",
                sgemm_peak_gflops(max(5, args.repeats)), "GFLOP/s", stat="max")


# ---- process set-up -----------------------------------------------------------------------

def blas_info():
    """Which BLAS torch runs on: the libraries mapped in, and OpenBLAS's own report."""
    import ctypes
    with open("/proc/self/maps") as f:
        libs = sorted({line.split()[-1] for line in f
                       if any(k in line for k in ("blas", "mkl", "dnnl", "blis", "gomp"))})
    info = {"libraries": libs}
    for path in libs:
        if "openblas" in os.path.basename(path):
            lib = ctypes.CDLL(path)
            for name in ("openblas_get_corename", "openblas_get_config"):
                getattr(lib, name).restype = ctypes.c_char_p
                info[name[len("openblas_get_"):]] = getattr(lib, name)().decode()
            info["openblas_threads"] = lib.openblas_get_num_threads()
    return info


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workload", required=True,
                   choices=["a", "b", "c", "d", "e", "f", "peak", "probe", "e-child"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=None, help="default 5, --quick 3")
    p.add_argument("--quick", action="store_true", help="smoke run: fewer repeats and sizes")
    p.add_argument("--names-dir", default=DEFAULT_NAMES_DIR)
    p.add_argument("--steps", type=int, default=None, help="e: steps per process (50; quick 10)")
    p.add_argument("--variant", choices=["default", "tuned"], default="default")
    p.add_argument("--coretype", default=None, help="tuned: OPENBLAS_CORETYPE to use")
    p.add_argument("--of", choices=["a", "b"], default="a", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    if args.repeats < 5 and not args.quick:
        log(f"warning: {args.repeats} repeats; figures should be medians of at least 5")
    if args.steps is None:
        args.steps = 10 if args.quick else 50
    args.min_time = 0.2 if args.quick else 1.0
    args.warmup_time = 0.1 if args.quick else 0.5
    return args


def main(argv=None):
    global torch
    args = parse_args(argv)
    if "torch" in sys.modules:
        raise RuntimeError("torch imported before the thread environment was set")
    os.environ.update(thread_env(args.threads, args.variant, args.coretype))
    import torch as torch_module
    torch = torch_module
    baseline = max_rss_mib()
    default_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    if args.workload == "e-child":
        return run_e_child(args, baseline)
    keys = ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY")
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))  # let the BLAS start its threads
    emit({"framework": "pytorch", "info": {
        "workload": args.workload, "threads": args.threads, "variant": args.variant,
        "torch": torch.__version__, "torch_default_threads": default_threads,
        "env": {k: os.environ.get(k) for k in keys}, "blas": blas_info(),
        "loadavg": os.getloadavg()[0],
        "blas_build": torch.__config__.show().split("BLAS_INFO=")[-1].split(",")[0]}})
    {"a": run_a, "b": run_b, "c": run_c, "d": run_d, "e": run_e, "f": run_f, "peak": run_peak,
     "probe": run_probe}[
        args.workload](args)


if __name__ == "__main__":
    main()
