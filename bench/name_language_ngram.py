#!/usr/bin/python3
"""A character n-gram baseline for name_language's split: is the accuracy/macro frontier the model's or the data's?

Reads the split.csv of a name_language run (name, language, part), folds names to ASCII as
`--charset ascii` does, and trains a fastText-style classifier in PyTorch: the mean of learned
vectors of the name's 1- to 5-grams (with ^ and $ at its ends) -> dropout -> linear, Adam 3e-3,
batches of 64, the loss weighted by count^-P per language as name_language's --class-weights P.
Prints the test accuracy and macro accuracy (mean of per-language recalls) at the epoch of the
best validation accuracy.

With --ensemble NAME_LANGUAGE, also averages its probabilities with those of RUN's model.npz
(read through `name_language predict`) and divides by the training prior to the power A, a
shift toward the small languages, and prints validation and test scores for each weight and A.

  /usr/bin/python3 bench/name_language_ngram.py RUN/split.csv --class-weights 0.5
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
    vocab = {}
    for name, _ in parts["train"]:
        for g in grams(name, args.longest):
            vocab.setdefault(g, len(vocab))

    def encode(pairs):
        ids, offsets, labels = [], [], []
        for name, y in pairs:
            offsets.append(len(ids))
            ids += [vocab[g] for g in grams(name, args.longest) if g in vocab]
            labels.append(y)
        return torch.tensor(ids), torch.tensor(offsets), torch.tensor(labels)

    classes = len(languages)
    bag = torch.nn.EmbeddingBag(len(vocab), args.dim, mode="mean", sparse=True)
    head = torch.nn.Sequential(torch.nn.Dropout(0.3), torch.nn.Linear(args.dim, classes))
    sparse_opt = torch.optim.SparseAdam(list(bag.parameters()), 3e-3)
    dense_opt = torch.optim.Adam(head.parameters(), 3e-3)
    counts = collections.Counter(y for _, y in parts["train"])
    weight = torch.tensor([counts[c] ** -args.class_weights for c in range(classes)])
    weight = weight * len(parts["train"]) / sum(weight[c] * counts[c] for c in range(classes))

    def probabilities(pairs):
        head.eval()
        ids, offsets, _ = encode(pairs)
        with torch.no_grad():
            p = torch.softmax(head(bag(ids, offsets)), 1)
        head.train()
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
    train = [encode([pair]) for pair in parts["train"]]
    best = (-1.0, None, 0)
    for epoch in range(args.epochs):
        random.shuffle(train)
        for first in range(0, len(train), 64):
            batch = train[first:first + 64]
            ids = torch.cat([b[0] for b in batch])
            lengths = torch.tensor([len(b[0]) for b in batch])
            offsets = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)[:-1]])
            y = torch.cat([b[2] for b in batch])
            loss = torch.nn.functional.cross_entropy(head(bag(ids, offsets)), y, weight=weight)
            sparse_opt.zero_grad()
            dense_opt.zero_grad()
            loss.backward()
            sparse_opt.step()
            dense_opt.step()
        val_accuracy, _ = evaluate(parts["validation"])
        if val_accuracy > best[0]:
            best = (val_accuracy, evaluate(parts["test"]), epoch + 1)
            kept = {part: probabilities(parts[part]) for part in ("validation", "test")}
    test_accuracy, test_macro = best[1]
    print(f"n-grams 1-{args.longest}, dim {args.dim}, class weights {args.class_weights}: "
          f"test accuracy {100 * test_accuracy:.1f}%, macro accuracy {100 * test_macro:.1f}% "
          f"(best validation {100 * best[0]:.1f}% at epoch {best[2]}; {time.time() - started:.0f} s)")
    if not args.ensemble:
        return
    model = os.path.join(os.path.dirname(os.path.abspath(args.split)), "model.npz")
    recurrent = {part: predicted_probabilities(args.ensemble, model, parts[part], languages)
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


def predicted_probabilities(program, model, pairs, languages):
    """Every language's probability for each name, from `name_language predict --top all`."""
    out = subprocess.run([program, "predict", "--checkpoint", model, "--top", str(len(languages)),
                          *[name for name, _ in pairs]], capture_output=True, text=True,
                         check=True).stdout
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
