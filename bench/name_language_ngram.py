#!/usr/bin/python3
"""PyTorch baselines on name_language's split: a character n-gram model, or a plain GRU.

Reads the split.csv of a name_language run (name, language, part), folds names to ASCII as
`--charset ascii` does, and trains in PyTorch either (default) a fastText-style classifier: the
mean of learned vectors of the name's 1- to 5-grams (with ^ and $ at its ends) -> dropout ->
linear, Adam 3e-3; or (--model gru) what a PyTorch user would write for the task: characters ->
embedding 64 -> bidirectional GRU 128 -> dropout 0.5 on the final states -> linear, Adam 2e-3.
Batches of 64, the loss weighted by count^-P per language as name_language's --class-weights P.
Prints the test accuracy and macro accuracy (mean of per-language recalls) at the epoch of the
best validation accuracy.

With --ensemble NAME_LANGUAGE, also averages its probabilities with those of RUN's model.npz
(read through `name_language predict`) and divides by the training prior to the power A, a
shift toward the small languages, and prints validation and test scores for each weight and A.

  /usr/bin/python3 bench/name_language_ngram.py RUN/split.csv --class-weights 0.5
  /usr/bin/python3 bench/name_language_ngram.py RUN/split.csv --model gru --epochs 30
  /usr/bin/python3 bench/name_language_ngram.py RUN/split.csv --ensemble build/examples/name_language
"""

import argparse
import collections
import csv
import os
import random
import subprocess
import time
import unicodedata

import torch


def fold(name):
    return "".join(c for c in unicodedata.normalize("NFD", name) if not unicodedata.combining(c))


def grams(name, longest):
    s = "^" + fold(name).lower() + "$"
    return [s[i:i + k] for k in range(1, longest + 1) for i in range(len(s) - k + 1)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("split", help="split.csv of a name_language run")
    parser.add_argument("--model", choices=("ngram", "gru"), default="ngram")
    parser.add_argument("--class-weights", type=float, default=0.25, help="the power P")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--longest", type=int, default=5, help="longest n-gram")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ensemble", metavar="NAME_LANGUAGE",
                        help="the name_language program: also score the average with RUN's model")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(1)

    with open(args.split, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    languages = sorted({r["language"] for r in rows})
    label = {lang: i for i, lang in enumerate(languages)}
    parts = collections.defaultdict(list)
    for r in rows:
        parts[r["part"]].append((r["name"], label[r["language"]]))
    classes = len(languages)
    model = (NgramModel if args.model == "ngram" else GruModel)(parts["train"], classes, args)
    counts = collections.Counter(y for _, y in parts["train"])
    weight = torch.tensor([counts[c] ** -args.class_weights for c in range(classes)])
    weight = weight * len(parts["train"]) / sum(weight[c] * counts[c] for c in range(classes))

    def probabilities(pairs):
        model.eval()
        with torch.no_grad():
            p = torch.softmax(model(pairs), 1)
        model.train()
        return p

    def scores(pairs, p):
        y = torch.tensor([label for _, label in pairs])
        predicted = p.argmax(1)
        recalls = [((predicted == y) & (y == c)).sum().item() / max(1, (y == c).sum().item())
                   for c in range(classes)]
        return (predicted == y).float().mean().item(), sum(recalls) / classes

    def evaluate(pairs):
        return scores(pairs, probabilities(pairs))

    started = time.time()
    train = list(parts["train"])
    best = (-1.0, None, 0)
    for epoch in range(args.epochs):
        random.shuffle(train)
        for first in range(0, len(train), 64):
            batch = train[first:first + 64]
            y = torch.tensor([label for _, label in batch])
            loss = torch.nn.functional.cross_entropy(model(batch), y, weight=weight)
            model.step(loss)
        val_accuracy, _ = evaluate(parts["validation"])
        if val_accuracy > best[0]:
            best = (val_accuracy, evaluate(parts["test"]), epoch + 1)
            kept = {part: probabilities(parts[part]) for part in ("validation", "test")}
    test_accuracy, test_macro = best[1]
    kind = "GRU" if args.model == "gru" else f"n-grams 1-{args.longest}, dim {args.dim}"
    print(f"{kind}, class weights {args.class_weights}: "
          f"test accuracy {100 * test_accuracy:.1f}%, macro accuracy {100 * test_macro:.1f}% "
          f"(best validation {100 * best[0]:.1f}% at epoch {best[2]}; {time.time() - started:.0f} s)")
    if not args.ensemble:
        return
    checkpoint = os.path.join(os.path.dirname(os.path.abspath(args.split)), "model.npz")
    recurrent = {part: predicted_probabilities(args.ensemble, checkpoint, parts[part], languages)
                 for part in ("validation", "test")}
    prior = torch.tensor([counts[c] for c in range(classes)], dtype=torch.float64)
    prior = prior / prior.sum()
    print("weight of the recurrent model, prior power A: validation / test accuracy and macro")
    for weight_recurrent in (1.0, 0.0, 0.5):
        for power in (0.0, 0.2, 0.4, 0.6):
            line = []
            for part in ("validation", "test"):
                mixed = weight_recurrent * recurrent[part] + (1 - weight_recurrent) * kept[part]
                accuracy, macro = scores(parts[part], mixed / prior ** power)
                line.append(f"{part} {100 * accuracy:.1f}% / {100 * macro:.1f}%")
            print(f"  {weight_recurrent:.1f}, {power:.1f}: " + ", ".join(line))


class NgramModel(torch.nn.Module):
    """Mean of the vectors of the name's known n-grams -> dropout -> linear (sparse Adam for the bag)."""

    def __init__(self, train, classes, args):
        super().__init__()
        self.longest = args.longest
        self.vocab = {}
        for name, _ in train:
            for g in grams(name, self.longest):
                self.vocab.setdefault(g, len(self.vocab))
        self.bag = torch.nn.EmbeddingBag(len(self.vocab), args.dim, mode="mean", sparse=True)
        self.head = torch.nn.Sequential(torch.nn.Dropout(0.3), torch.nn.Linear(args.dim, classes))
        self.sparse_opt = torch.optim.SparseAdam(list(self.bag.parameters()), 3e-3)
        self.dense_opt = torch.optim.Adam(self.head.parameters(), 3e-3)

    def forward(self, pairs):
        ids, offsets = [], []
        for name, _ in pairs:
            offsets.append(len(ids))
            ids += [self.vocab[g] for g in grams(name, self.longest) if g in self.vocab]
        return self.head(self.bag(torch.tensor(ids, dtype=torch.long), torch.tensor(offsets)))

    def step(self, loss):
        self.sparse_opt.zero_grad()
        self.dense_opt.zero_grad()
        loss.backward()
        self.sparse_opt.step()
        self.dense_opt.step()


class GruModel(torch.nn.Module):
    """Characters -> embedding 64 -> bidirectional GRU 128 -> both final states -> dropout -> linear."""

    def __init__(self, train, classes, args):
        super().__init__()
        self.chars = {c: i + 1 for i, c in enumerate(sorted({c for name, _ in train for c in name}))}
        self.embedding = torch.nn.Embedding(len(self.chars) + 1, 64, padding_idx=0)
        self.gru = torch.nn.GRU(64, 128, bidirectional=True)
        self.head = torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Linear(256, classes))
        self.opt = torch.optim.Adam(self.parameters(), 2e-3)

    def forward(self, pairs):
        ids = [torch.tensor([self.chars.get(c, 0) for c in name]) for name, _ in pairs]
        lengths = torch.tensor([len(i) for i in ids])
        padded = torch.nn.utils.rnn.pad_sequence(ids)
        packed = torch.nn.utils.rnn.pack_padded_sequence(self.embedding(padded), lengths,
                                                         enforce_sorted=False)
        _, final = self.gru(packed)  # [2, B, 128]: forward and backward final states
        return self.head(torch.cat([final[0], final[1]], 1))

    def step(self, loss):
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()


def predicted_probabilities(program, model, pairs, languages):
    """Every language's probability for each name, from `name_language predict --top all`,
    unshifted (--prior-shift 0), so that A is the only shift."""
    out = subprocess.run([program, "predict", "--checkpoint", model, "--top", str(len(languages)),
                          "--prior-shift", "0", "--", *[name for name, _ in pairs]],
                         capture_output=True, text=True, check=True).stdout
    column = {language: i for i, language in enumerate(languages)}
    rows = []
    for line in out.splitlines():
        if not line.startswith(" "):  # a name; its languages follow, indented
            rows.append([0.0] * len(languages))
            continue
        percent, language = line.split()
        rows[-1][column[language]] = float(percent.rstrip("%")) / 100
    if len(rows) != len(pairs):
        raise SystemExit(f"name_language predict printed {len(rows)} names for {len(pairs)}")
    return torch.tensor(rows, dtype=torch.float64)


if __name__ == "__main__":
    main()
