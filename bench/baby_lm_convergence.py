#!/usr/bin/python3
"""Time to a training loss: baby_lm against the same model and training in PyTorch.

Both sides train the seed's model (Embedding(V, 32) -> LSTM 128 -> Dropout 0.2 -> LSTM 128 ->
Dropout 0.2 -> Linear(V); PyTorch's initialisation) on the same corpus (default: the seed's 130
phrases, ../shared/data/baby/phrases.txt, lines joined with "\\n", vocabulary = sorted distinct
characters) with Adam(lr 1e-3), batch 32, every window of 15 characters once per epoch in a new
random order. An epoch's loss is the mean over its windows; a run stops at the first epoch whose
loss is below --target (tapegrad runs to --max-epochs and its metrics.csv is read). Two target
modes, both run:
  last   the seed: only the prediction after the whole window is scored (baby_lm --last-step-only)
  every  baby_lm's default: the prediction after every prefix of the window is scored too
Figures per (mode, framework): epochs and seconds of training (epoch loops only: no start-up,
checkpoints or samples) to the target, medians over --seeds seeds, run alternately on the two
frameworks. PyTorch runs in a fresh process per run with --threads OpenBLAS/OpenMP threads,
OMP_WAIT_POLICY=PASSIVE and OPENBLAS_CORETYPE=--coretype (its best settings here; tapegrad picks
its kernel itself). Different seeds draw different initial weights and orders on each side: the
medians, not single runs, are what compare.

  /usr/bin/python3 bench/baby_lm_convergence.py [--seeds 3] [--threads 1] [--markdown FILE]
"""

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import pytorch_workloads as pw
from compare_pytorch import busy_cores

DEFAULT_CORPUS = os.path.normpath(os.path.join(pw.REPO_ROOT, "..", "shared", "data", "baby",
                                               "phrases.txt"))
DEFAULT_BABY_LM = os.path.join(pw.REPO_ROOT, "build", "examples", "baby_lm")
MODES = ("last", "every")
WINDOW, BATCH = 15, 32


def log(message):
    print(f"baby_lm_convergence: {message}", file=sys.stderr, flush=True)


def read_corpus(path):
    with open(path, encoding="utf-8-sig") as f:
        return "\n".join(line.rstrip("\r\n") for line in f)


def pytorch_child(args):
    """One PyTorch run (in its own process, environment already set); prints one JSON line."""
    import torch
    pw.torch = torch
    torch.set_num_threads(args.threads)
    text = read_corpus(args.corpus)
    vocab = sorted(set(text))
    ids = torch.tensor([vocab.index(c) for c in text])
    n = len(ids) - WINDOW
    inputs = ids.unfold(0, WINDOW, 1)[:n]
    targets = ids[1:].unfold(0, WINDOW, 1)[:n] if args.mode == "every" else ids[WINDOW:]
    model = pw.make_baby_lm(len(vocab), args.seed).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(args.seed)
    seconds, epoch_loss = 0.0, float("inf")
    for epoch in range(1, args.max_epochs + 1):
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for first in range(0, n, BATCH):
            rows = order[first:first + BATCH]
            logits = model(inputs[rows], all_steps=args.mode == "every")[0]
            loss = loss_fn(logits.reshape(-1, len(vocab)), targets[rows].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(rows)
        seconds += time.perf_counter() - t0
        epoch_loss = total / n
        if epoch_loss < args.target:
            break
    reached = epoch_loss < args.target
    print(json.dumps({"epoch": epoch if reached else None, "seconds": seconds if reached else None,
                      "epoch_s": seconds / epoch}), flush=True)


def run_pytorch(args, mode, seed):
    env = dict(os.environ)
    env.update(pw.thread_env(args.threads, "tuned", args.coretype))
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--mode", mode, "--seed",
           str(seed), "--corpus", args.corpus, "--threads", str(args.threads), "--target",
           str(args.target), "--max-epochs", str(args.max_epochs)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_tapegrad(args, mode, seed):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [args.baby_lm, "train", "--corpus", args.corpus, "--seed", str(seed), "--threads",
               str(args.threads), "--epochs", str(args.max_epochs), "--patience", "0",
               "--out", os.path.join(tmp, "run")]
        if mode == "last":
            cmd.append("--last-step-only")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(tmp, "run", "metrics.csv")) as f:
            rows = list(csv.DictReader(f))
    for row in rows:
        if float(row["loss"]) < args.target:
            epoch = int(row["epoch"])
            return {"epoch": epoch, "seconds": float(row["train_seconds"]),
                    "epoch_s": float(row["train_seconds"]) / epoch}
    last = float(rows[-1]["train_seconds"])
    return {"epoch": None, "seconds": None, "epoch_s": last / len(rows)}


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def render(args, results, modes):
    lines = [f"corpus {os.path.relpath(args.corpus, pw.REPO_ROOT)}, target loss < {args.target} "
             f"nats, {args.threads} thread(s), seeds 0..{args.seeds - 1}, medians; "
             f"PyTorch: OMP_WAIT_POLICY=PASSIVE, OPENBLAS_CORETYPE={args.coretype}", "",
             "| mode | framework | epochs to target (per seed) | seconds to target (per seed) "
             "| s/epoch | PyTorch / tapegrad time |", "|---|---|---|---|---|---|"]
    for mode in modes:
        med = {}
        for fw in ("pytorch", "tapegrad"):
            runs = results[mode][fw]
            med[fw] = median_or_none([r["seconds"] for r in runs])
            epochs = ", ".join(str(r["epoch"]) for r in runs)
            secs = ", ".join("-" if r["seconds"] is None else f"{r['seconds']:.1f}" for r in runs)
            e = median_or_none([r["epoch"] for r in runs])
            ratio = ""
            if fw == "tapegrad" and med["pytorch"] and med["tapegrad"]:
                ratio = f"{med['pytorch'] / med['tapegrad']:.2f}x"
            lines.append(f"| {mode} | {fw} | {e if e is not None else 'not reached'} ({epochs}) | "
                         f"{'-' if med[fw] is None else f'{med[fw]:.1f}'} ({secs}) | "
                         f"{median_or_none([r['epoch_s'] for r in runs]):.3f} | {ratio} |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", default=DEFAULT_CORPUS)
    p.add_argument("--baby-lm", default=DEFAULT_BABY_LM, help="tapegrad's baby_lm binary")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per mode and framework")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--coretype", default="SkylakeX",
                   help="PyTorch's OpenBLAS kernel (compare_pytorch.py's probe measured SkylakeX "
                        "and Cooperlake fastest here)")
    p.add_argument("--target", type=float, default=0.5)
    p.add_argument("--max-epochs", type=int, default=60)
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--markdown", help="also write the table to this file")
    p.add_argument("--json", help="append every run as a JSON line to this file")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return pytorch_child(args)
    if not os.path.isfile(args.corpus):
        log(f"skipped: no corpus at {args.corpus}")
        return 0
    if not os.path.isfile(args.baby_lm):
        sys.exit(f"baby_lm_convergence: no tapegrad binary at {args.baby_lm} (build it first)")
    modes = [m for m in args.modes.split(",") if m]
    results = {m: {"pytorch": [], "tapegrad": []} for m in modes}
    for mode in modes:
        for seed in range(args.seeds):
            for fw, run in (("tapegrad", run_tapegrad), ("pytorch", run_pytorch)):
                busy = busy_cores(0.5)
                r = run(args, mode, seed)
                r.update({"framework": fw, "mode": mode, "seed": seed, "busy_before": busy})
                results[mode][fw].append(r)
                log(f"{mode} {fw} seed {seed}: epoch {r['epoch']}, "
                    f"{'-' if r['seconds'] is None else format(r['seconds'], '.1f')} s "
                    f"(other work: {busy:.1f} cores)")
                if args.json:
                    with open(args.json, "a") as f:
                        f.write(json.dumps(r) + "\n")
    table = render(args, results, modes)
    print(table, end="")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
