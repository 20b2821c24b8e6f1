#!/usr/bin/python3
"""Held-out bits/char for a time budget: baby_lm --stateful and its PyTorch twin, same recipe.

A recipe is the model and its training: units, layers, embed, dropout, batch (streams), bptt, lr,
weight_decay (AdamW when > 0), schedule (constant, cosine, linear: warm-up then a decay to floor x
lr ending when the budget is spent, its length estimated from the speed of steps 11-50), warmup,
floor, clip, precision, processes (tapegrad under mpirun, one BLAS thread each), threads and
epochs (the run ends, and its schedule reaches the floor, at that many epochs if the budget is not
spent first; 0 = the budget alone). Both
sides read the corpus as baby_lm does (its lines joined with "\\n", vocabulary = sorted distinct
characters), hold out the last --val-fraction of it, cut the rest into `batch` contiguous streams
read `bptt` characters at a time with the LSTM state carried (truncated BPTT), validate at every
epoch's end and when the budget is spent (validation time is not counted), and report the best
held-out bits/char (and every validation's, as val_bpc). PyTorch builds the same layers (Embedding
-> LSTM + Dropout per layer -> Linear) with its own initialisation and runs in float32 (no
autocast: a recipe's precision is tapegrad's only), in a fresh process with OMP_WAIT_POLICY=PASSIVE and the
thread count given.

  /usr/bin/python3 bench/baby_lm_budget.py --corpus vim.txt --budget 300 \\
      --recipe old --recipe new --sides tapegrad,pytorch --repeats 1 --json study.jsonl
  /usr/bin/python3 bench/baby_lm_budget.py --corpus vim.txt --budget 60 \\
      --recipe "new units=384" --sides tapegrad

--recipe takes a named recipe (old, new, short, long) followed by key=value changes. Runs of the recipes and
sides alternate; each prints one JSON line (appended to --json).
"""

import argparse
import csv
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BABY_LM = os.path.join(REPO_ROOT, "build", "examples", "baby_lm")

# baby_lm train --stateful's defaults before this study, and the recipe the study chose.
RECIPES = {
    "old": dict(units=128, layers=2, embed=32, dropout=0.2, batch=32, bptt=64, lr=1e-3,
                weight_decay=0.0, schedule="constant", warmup=0, floor=0.1, clip=5.0,
                precision="float32", processes=1, threads=2, epochs=0),
}
RECIPES["new"] = dict(RECIPES["old"], units=512, embed=64, bptt=32, lr=2e-3, schedule="cosine",
                      warmup=100, precision="auto")
# The stateful defaults for a --time-limit under 150 s, and of 450 s or more.
RECIPES["short"] = dict(RECIPES["new"], units=256)
RECIPES["long"] = dict(RECIPES["new"], units=768, dropout=0.4)
KEYS = list(RECIPES["old"])
LOCAL_ONLY = ["--oversubscribe", "--mca", "btl", "self,vader", "--mca", "oob_tcp_if_include", "lo",
              "--mca", "btl_tcp_if_include", "lo", "--bind-to", "none"]
SKIP_STEPS, MEASURE_STEPS = 10, 40  # as tg::train::BudgetSchedule


def log(message):
    print(f"baby_lm_budget: {message}", file=sys.stderr, flush=True)


def parse_recipe(text):
    words = text.split()
    if not words or words[0] not in RECIPES:
        raise SystemExit(f"--recipe {text!r}: must start with one of {', '.join(RECIPES)}")
    recipe = dict(RECIPES[words[0]])
    for word in words[1:]:
        key, _, value = word.partition("=")
        if key not in recipe or not value:
            raise SystemExit(f"--recipe {text!r}: {word!r} is not key=value with a key of "
                             f"{', '.join(KEYS)}")
        recipe[key] = type(recipe[key])(value)
    return recipe


def read_corpus(path):
    """The characters baby_lm reads: lines (without their \\r\\n) joined by "\\n"."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return "\n".join(line[:-1] if line.endswith("\r") else line for line in lines)


def run_tapegrad(recipe, args, out_dir):
    cmd = [args.baby_lm, "train", "--stateful", "--corpus", args.corpus, "--out", out_dir,
           "--overwrite", "--time-limit", str(args.budget), "--val-fraction",
           str(args.val_fraction), "--seed", str(args.seed),
           "--epochs", str(recipe["epochs"] or 100000),
           "--patience", "0", "--threads", str(recipe["threads"]), "--sample-length", "0"]
    for key in ("units", "layers", "embed", "dropout", "batch", "bptt", "lr", "weight_decay",
                "schedule", "warmup", "clip", "precision"):
        cmd += ["--" + key.replace("_", "-"), str(recipe[key])]
    if recipe["schedule"] in ("cosine", "linear"):  # baby_lm refuses a floor it would not use
        cmd += ["--lr-floor", str(recipe["floor"])]
    env = dict(os.environ)
    if recipe["processes"] > 1:
        cmd = ["mpirun", "-np", str(recipe["processes"])] + LOCAL_ONLY + cmd
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"baby_lm failed ({done.returncode}): {' '.join(cmd)}\n"
                         f"{done.stderr[-2000:]}")
    best = re.search(r"best held-out ([0-9.]+) bits/char .*; ([0-9.]+) s of training, "
                     r"([0-9.]+) chars/s", done.stdout)
    if not best:
        raise SystemExit(f"baby_lm printed no result line: {' '.join(cmd)}")
    # Every validation's held-out bits/char, to see where a run peaked.
    with open(os.path.join(out_dir, "metrics.csv"), newline="") as f:
        history = [round(float(row["val_bpc"]), 4) for row in csv.DictReader(f) if row["val_bpc"]]
    return dict(bpc=float(best.group(1)), train_seconds=float(best.group(2)),
                chars_per_s=float(best.group(3)), val_bpc=history, command=" ".join(cmd))


def pytorch_child(recipe, args):
    """One PyTorch run in this process; returns the result dict."""
    import torch
    torch.set_num_threads(recipe["threads"])
    torch.manual_seed(args.seed)
    text = read_corpus(args.corpus)
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    held = round(args.val_fraction * len(ids))
    train_ids, val_ids = ids[:-held], ids[-held:]
    streams, bptt = recipe["batch"], recipe["bptt"]

    def cut(part, n):
        length = (len(part) - 1) // n
        inputs = part[:n * length].view(n, length)
        targets = part[1:n * length + 1].view(n, length)
        return inputs, targets, length

    nn = torch.nn

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(len(vocab), recipe["embed"])
            sizes = [recipe["embed"]] + [recipe["units"]] * recipe["layers"]
            self.lstms = nn.ModuleList(nn.LSTM(sizes[i], sizes[i + 1], batch_first=True)
                                       for i in range(recipe["layers"]))
            self.drop = nn.Dropout(recipe["dropout"])
            self.fc = nn.Linear(recipe["units"], len(vocab))

        def forward(self, x, state):
            h = self.emb(x)
            new_state = []
            for i, lstm in enumerate(self.lstms):
                h, s = lstm(h, state[i] if state else None)
                h = self.drop(h)
                new_state.append(s)
            return self.fc(h), new_state

    model = LM()
    params = list(model.parameters())
    if recipe["weight_decay"] > 0:
        opt = torch.optim.AdamW(params, lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    else:
        opt = torch.optim.Adam(params, lr=recipe["lr"])
    loss_fn = nn.CrossEntropyLoss()
    tr_in, tr_out, tr_len = cut(train_ids, streams)
    val_streams = min(streams, len(val_ids) - 1)
    va_in, va_out, va_len = cut(val_ids, val_streams)

    def evaluate():
        model.eval()
        total, count, state = 0.0, 0, None
        with torch.no_grad():
            for first in range(0, va_len, bptt):
                x, y = va_in[:, first:first + bptt], va_out[:, first:first + bptt]
                logits, state = model(x, state)
                total += nn.functional.cross_entropy(
                    logits.reshape(-1, len(vocab)), y.reshape(-1), reduction="sum").item()
                count += y.numel()
        model.train()
        return total / count / math.log(2)

    def factor(step, total):
        warmup = recipe["warmup"] if total == 0 else min(recipe["warmup"], total // 4)
        if step < warmup:
            return (step + 1) / warmup
        if recipe["schedule"] == "constant" or total == 0:
            return 1.0
        span = max(0, total - warmup - 1)
        t = 1.0 if span == 0 else min(1.0, (step - warmup) / span)
        shape = 0.5 * (1 + math.cos(math.pi * t)) if recipe["schedule"] == "cosine" else 1 - t
        return recipe["floor"] + (1 - recipe["floor"]) * shape

    epoch_steps = math.ceil(tr_len / bptt)
    epoch_cap = recipe["epochs"] * epoch_steps if recipe["epochs"] else 0
    best, seconds, step, total_steps, measure_start, chars = math.inf, 0.0, 0, epoch_cap, 0.0, 0
    time_up, history = False, []
    while not time_up and not (epoch_cap and step >= epoch_cap):
        state = None
        t0 = time.perf_counter()
        for first in range(0, tr_len, bptt):
            for group in opt.param_groups:
                group["lr"] = recipe["lr"] * factor(step, total_steps)
            x, y = tr_in[:, first:first + bptt], tr_out[:, first:first + bptt]
            logits, state = model(x, state)
            state = [(h.detach(), c.detach()) for h, c in state]
            loss = loss_fn(logits.reshape(-1, len(vocab)), y.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if recipe["clip"] > 0:
                nn.utils.clip_grad_norm_(params, recipe["clip"])
            opt.step()
            step += 1
            chars += y.numel()
            elapsed = seconds + time.perf_counter() - t0
            if step == SKIP_STEPS:
                measure_start = elapsed
            elif step == SKIP_STEPS + MEASURE_STEPS:
                per_step = (elapsed - measure_start) / MEASURE_STEPS
                by_time = step + int((args.budget - elapsed) / per_step)
                total_steps = min(total_steps, by_time) if total_steps else by_time
            if elapsed >= args.budget:
                time_up = True
                break
        seconds += time.perf_counter() - t0
        history.append(round(evaluate(), 4))
        best = min(best, history[-1])
    return dict(bpc=best, train_seconds=seconds, chars_per_s=chars / seconds, val_bpc=history,
                command=f"PyTorch {torch.__version__} twin, {recipe['threads']} threads")


def run_pytorch(recipe, args):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS=str(recipe["threads"]))
    child = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(recipe),
             "--corpus", args.corpus, "--budget", str(args.budget), "--val-fraction",
             str(args.val_fraction), "--seed", str(args.seed)]
    done = subprocess.run(child, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"PyTorch twin failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--budget", type=float, default=300.0, help="seconds of training")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--recipe", action="append", help="named recipe and key=value changes")
    parser.add_argument("--sides", default="tapegrad", help="tapegrad, pytorch or both (comma)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--baby-lm", default=BABY_LM)
    parser.add_argument("--json", help="append each run's JSON line to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(pytorch_child(json.loads(args.child), args)))
        return
    if not os.path.isfile(args.corpus):
        raise SystemExit(f"--corpus {args.corpus}: no such file")
    recipes = [(text, parse_recipe(text)) for text in (args.recipe or ["old", "new"])]
    for repeat in range(args.repeats):
        for text, recipe in recipes:
            for side in args.sides.split(","):
                with tempfile.TemporaryDirectory() as out_dir:
                    started = time.time()
                    result = (run_tapegrad(recipe, args, os.path.join(out_dir, "run"))
                              if side == "tapegrad" else run_pytorch(recipe, args))
                line = dict(side=side, recipe=text, budget=args.budget, seed=args.seed,
                            repeat=repeat, wall_seconds=round(time.time() - started, 1),
                            **recipe, **result)
                if not math.isfinite(line["bpc"]):
                    raise SystemExit(f"{side} {text}: held-out bits/char is {line['bpc']}")
                print(json.dumps(line), flush=True)
                if args.json:
                    with open(args.json, "a") as f:
                        f.write(json.dumps(line) + "\n")
                log(f"{side:8s} {text:40s} {line['bpc']:.4f} bits/char "
                    f"({line['chars_per_s']:.0f} chars/s)")


if __name__ == "__main__":
    main()
