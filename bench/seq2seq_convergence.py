#!/usr/bin/python3
"""Time to a validation exact match: the seq2seq example against the same model and training in
PyTorch.

For each seed, tapegrad's `seq2seq train --seed S` runs first (default settings: generated dates,
20,000 / 1,000 / 2,000 pairs); its run folder's train.tsv and validation.tsv are then the PyTorch
run's data, so both sides train on exactly the same pairs. The PyTorch model is the example's:
Embedding(Vs, 32, padding 0) -> bidirectional GRU 64 over the source (pack_padded_sequence) ->
keys = Linear(128, 128, no bias)(outputs); first decoder state tanh(Linear(128, 128)(both final
states)); decoder GRUCell(32 + 128 -> 128) fed [Embedding(Vt, 32)(previous character);
previous attentional vector]; Luong "general" attention: softmax over unpadded source steps of
keys . h; attentional vector tanh(Linear(128 + 128, 128)([context; h])); output Linear(128, Vt).
Cross-entropy over target characters and the end mark, padding ignored; Adam(lr 3e-3), learning
rate x 0.9 per epoch, gradient norm clipped to 5, batches of 64 in a new random order every
epoch. After every epoch: greedy decoding of the validation part (batches of 256), exact match.
Alphabets as the example's: source = sorted characters of the training sources (ids from 1; 0 is
padding), target = sorted characters of every target (ids from 3; 0 padding, 1 start, 2 end).

A run's figure is the training time (epoch loops only: no start-up, validation or checkpoints) and
the epochs until the first epoch whose validation exact match reaches --target; medians over the
seeds. PyTorch runs in a fresh process with --threads OpenBLAS/OpenMP threads,
OMP_WAIT_POLICY=PASSIVE and OPENBLAS_CORETYPE=--coretype; tapegrad gets --threads.

  /usr/bin/python3 bench/seq2seq_convergence.py [--seeds 3] [--threads 2] [--markdown FILE]
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

import pytorch_workloads as pw
from baby_lm_convergence import median_or_none
from compare_pytorch import busy_cores

DEFAULT_SEQ2SEQ = os.path.join(pw.REPO_ROOT, "build", "examples", "seq2seq")
PAD, START, END = 0, 1, 2
EMBEDDING, HIDDEN, DECODER, BATCH, LR, DECAY, CLIP = 32, 64, 128, 64, 3e-3, 0.9, 5.0


def log(message):
    print(f"seq2seq_convergence: {message}", file=sys.stderr, flush=True)


def read_pairs(path):
    with open(path, encoding="utf-8") as f:
        return [tuple(line.rstrip("\n").split("\t")[:2]) for line in f if line.strip()]


def pytorch_child(args):
    """One PyTorch run (own process, environment already set); prints one JSON line."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train = read_pairs(os.path.join(args.run, "train.tsv"))
    val = read_pairs(os.path.join(args.run, "validation.tsv"))
    test = read_pairs(os.path.join(args.run, "test.tsv"))
    src_chars = sorted({c for s, _ in train for c in s})
    tgt_chars = sorted({c for part in (train, val, test) for _, t in part for c in t})
    src_id = {c: i + 1 for i, c in enumerate(src_chars)}
    tgt_id = {c: i + 3 for i, c in enumerate(tgt_chars)}
    max_output = 2 * max(len(t) for part in (train, val, test) for _, t in part) + 10
    vs, vt = len(src_chars) + 1, len(tgt_chars) + 3

    def pad(seqs):
        out = torch.zeros(len(seqs), max(len(s) for s in seqs), dtype=torch.long)
        for i, s in enumerate(seqs):
            out[i, :len(s)] = torch.tensor(s)
        return out, torch.tensor([len(s) for s in seqs])

    def encode(pairs):
        return ([[src_id.get(c, PAD) for c in s] for s, _ in pairs],
                [[tgt_id[c] for c in t] + [END] for _, t in pairs])

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.source_embedding = nn.Embedding(vs, EMBEDDING, padding_idx=PAD)
            self.encoder = nn.GRU(EMBEDDING, HIDDEN, batch_first=True, bidirectional=True)
            self.bridge = nn.Linear(2 * HIDDEN, DECODER)
            self.target_embedding = nn.Embedding(vt, EMBEDDING, padding_idx=PAD)
            self.decoder = nn.GRUCell(EMBEDDING + DECODER, DECODER)
            self.attention = nn.Linear(2 * HIDDEN, DECODER, bias=False)
            self.combine = nn.Linear(2 * HIDDEN + DECODER, DECODER)
            self.output = nn.Linear(DECODER, vt)

        def encode(self, src, lengths):
            packed = pack_padded_sequence(self.source_embedding(src), lengths, batch_first=True,
                                          enforce_sorted=False)
            out, h_n = self.encoder(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
            mask = torch.arange(src.shape[1])[None, :] >= lengths[:, None]
            h = torch.tanh(self.bridge(torch.cat([h_n[0], h_n[1]], 1)))
            return out, self.attention(out), mask, h, torch.zeros(src.shape[0], DECODER)

        def step(self, memory, previous, h, feed):
            out, keys, mask = memory
            h = self.decoder(torch.cat([self.target_embedding(previous), feed], 1), h)
            scores = torch.bmm(keys, h[:, :, None])[:, :, 0].masked_fill(mask, float("-inf"))
            weights = torch.softmax(scores, 1)
            context = torch.bmm(weights[:, None, :], out)[:, 0]
            feed = torch.tanh(self.combine(torch.cat([context, h], 1)))
            return h, feed

        def loss(self, src, lengths, tgt):
            out, keys, mask, h, feed = self.encode(src, lengths)
            previous = torch.full((src.shape[0],), START, dtype=torch.long)
            feeds = []
            for t in range(tgt.shape[1]):
                h, feed = self.step((out, keys, mask), previous, h, feed)
                feeds.append(feed)
                previous = tgt[:, t]
            logits = self.output(torch.stack(feeds, 1))
            return F.cross_entropy(logits.reshape(-1, vt), tgt.reshape(-1), ignore_index=PAD)

        @torch.no_grad()
        def greedy(self, src, lengths):
            out, keys, mask, h, feed = self.encode(src, lengths)
            previous = torch.full((src.shape[0],), START, dtype=torch.long)
            done = torch.zeros(src.shape[0], dtype=torch.bool)
            ids = []
            for _ in range(max_output):
                h, feed = self.step((out, keys, mask), previous, h, feed)
                logits = self.output(feed)
                logits[:, PAD] = logits[:, START] = float("-inf")
                previous = logits.argmax(1)
                ids.append(torch.where(done, torch.full_like(previous, END), previous))
                done |= previous == END
                if bool(done.all()):
                    break
            return torch.stack(ids, 1)

    def exact_match(model, pairs, sources):
        right = 0
        for first in range(0, len(pairs), 256):
            src, lengths = pad(sources[first:first + 256])
            for row, (_, target) in zip(model.greedy(src, lengths).tolist(), pairs[first:first + 256]):
                text = "".join(tgt_chars[i - 3] for i in (row[:row.index(END)] if END in row else row))
                right += text == target
        return right / len(pairs)

    train_src, train_tgt = encode(train)
    val_src, _ = encode(val)
    model = Seq2Seq()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    schedule = torch.optim.lr_scheduler.ExponentialLR(opt, DECAY)
    gen = torch.Generator().manual_seed(args.seed)
    seconds, exact, history = 0.0, 0.0, []
    for epoch in range(1, args.max_epochs + 1):
        model.train()
        t0 = time.perf_counter()
        for rows in torch.randperm(len(train), generator=gen).split(BATCH):
            src, lengths = pad([train_src[i] for i in rows])
            tgt, _ = pad([train_tgt[i] for i in rows])
            loss = model.loss(src, lengths, tgt)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            opt.step()
        seconds += time.perf_counter() - t0
        schedule.step()
        model.eval()
        exact = exact_match(model, val, val_src)
        history.append(exact)
        if exact >= args.target:
            break
    reached = exact >= args.target
    print(json.dumps({"epoch": epoch if reached else None, "seconds": seconds if reached else None,
                      "epoch_s": seconds / epoch, "val_exact": history}), flush=True)


def run_pytorch(args, seed, run):
    env = dict(os.environ)
    env.update(pw.thread_env(args.threads, "tuned", args.coretype))
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--seed", str(seed), "--run", run,
           "--threads", str(args.threads), "--target", str(args.target), "--max-epochs",
           str(args.max_epochs)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_tapegrad(args, seed, run):
    cmd = [args.seq2seq, "train", "--seed", str(seed), "--threads", str(args.threads), "--epochs",
           str(args.max_epochs), "--beam", "1", "--out", run]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(run, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    history = [float(r["val_exact_match"]) for r in rows]
    for row in rows:
        if float(row["val_exact_match"]) >= args.target:
            epoch = int(row["epoch"])
            return {"epoch": epoch, "seconds": float(row["elapsed_seconds"]),
                    "epoch_s": float(row["elapsed_seconds"]) / epoch, "val_exact": history}
    last = float(rows[-1]["elapsed_seconds"])
    return {"epoch": None, "seconds": None, "epoch_s": last / len(rows), "val_exact": history}


def render(args, results):
    lines = [f"generated dates (20,000 / 1,000 / 2,000 pairs), target validation exact match >= "
             f"{args.target:.0%}, {args.threads} thread(s), seeds 1..{args.seeds}, medians; PyTorch: "
             f"OMP_WAIT_POLICY=PASSIVE, OPENBLAS_CORETYPE={args.coretype}", "",
             "| framework | epochs to target (per seed) | seconds to target (per seed) | s/epoch "
             "| PyTorch / tapegrad time |", "|---|---|---|---|---|"]
    med = {}
    for fw in ("pytorch", "tapegrad"):
        runs = results[fw]
        med[fw] = median_or_none([r["seconds"] for r in runs])
        epochs = ", ".join(str(r["epoch"]) for r in runs)
        secs = ", ".join("-" if r["seconds"] is None else f"{r['seconds']:.1f}" for r in runs)
        e = median_or_none([r["epoch"] for r in runs])
        ratio = ""
        if fw == "tapegrad" and med["pytorch"] and med["tapegrad"]:
            ratio = f"{med['pytorch'] / med['tapegrad']:.2f}x"
        lines.append(f"| {fw} | {e if e is not None else 'not reached'} ({epochs}) | "
                     f"{'-' if med[fw] is None else f'{med[fw]:.1f}'} ({secs}) | "
                     f"{median_or_none([r['epoch_s'] for r in runs]):.2f} | {ratio} |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seq2seq", default=DEFAULT_SEQ2SEQ, help="tapegrad's seq2seq binary")
    p.add_argument("--seeds", type=int, default=3, help="seeds 1..N")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--coretype", default="SkylakeX",
                   help="PyTorch's OpenBLAS kernel (compare_pytorch.py's probe measured SkylakeX "
                        "and Cooperlake fastest here)")
    p.add_argument("--target", type=float, default=0.99)
    p.add_argument("--max-epochs", type=int, default=10)
    p.add_argument("--markdown", help="also write the table to this file")
    p.add_argument("--json", help="append every run as a JSON line to this file")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--run", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return pytorch_child(args)
    if not os.path.isfile(args.seq2seq):
        sys.exit(f"seq2seq_convergence: no tapegrad binary at {args.seq2seq} (build it first)")
    results = {"pytorch": [], "tapegrad": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, args.seeds + 1):
            run = os.path.join(tmp, f"run{seed}")
            for fw, fn in (("tapegrad", run_tapegrad), ("pytorch", run_pytorch)):
                busy = busy_cores(0.5)
                r = fn(args, seed, run)
                r.update({"framework": fw, "seed": seed, "busy_before": busy})
                results[fw].append(r)
                log(f"{fw} seed {seed}: epoch {r['epoch']}, "
                    f"{'-' if r['seconds'] is None else format(r['seconds'], '.1f')} s, validation "
                    f"exact match per epoch {[round(v, 4) for v in r['val_exact']]} "
                    f"(other work before: {busy:.1f} cores)")
                if args.json:
                    with open(args.json, "a") as f:
                        f.write(json.dumps(r) + "\n")
    table = render(args, results)
    print(table, end="")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
