#!/usr/bin/python3
"""conv1d, tapegrad against PyTorch 1.13 on the same machine and thread count.

Workloads: input [32, 128, 64], weight [128, 128, K] for K = 3 and 5, bias, padding='same',
float32. Each figure is seconds per call: the median of --repeats timed runs (each at least
--min-seconds long) after a warm-up; "forward" runs without recording (no_grad / NoGradGuard),
"forward+backward" runs the op and back-propagates a fixed random output gradient into the
input, weight and bias. The two sides run alternately for --rounds rounds and each figure is
the median over the rounds, so that a busy shared machine disturbs both alike. PyTorch runs its
default CPU path (oneDNN convolutions) and, as a second column, with oneDNN off
(torch.backends.mkldnn.flags(enabled=False): its im2col + BLAS "slow_conv" path).

Usage: /usr/bin/python3 bench/compare_conv.py [--bench build/bench/bench_conv] [--threads 1]
       [--repeats 7] [--rounds 3] [--min-seconds 0.3]
Ratio > 1: tapegrad faster (PyTorch time / tapegrad time).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def per_call(f, repeats, min_seconds):
    f()
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            f()
        if time.perf_counter() - start >= min_seconds / 4:
            break
        calls *= 2
    calls *= 4
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            f()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


def pytorch_round(args):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    results = {}
    for k in (3, 5):
        gen = torch.Generator().manual_seed(1)
        x = torch.randn(32, 128, 64, generator=gen, requires_grad=True)
        w = (torch.randn(128, 128, k, generator=gen) * 0.05).requires_grad_()
        b = (torch.randn(128, generator=gen) * 0.05).requires_grad_()
        seed = torch.randn(32, 128, 64, generator=gen)

        def forward():
            with torch.no_grad():
                F.conv1d(x, w, b, padding="same")

        def forward_backward():
            F.conv1d(x, w, b, padding="same").backward(seed)
            x.grad = w.grad = b.grad = None

        row = {"forward_ms": per_call(forward, args.repeats, args.min_seconds) * 1e3,
               "forward_backward_ms": per_call(forward_backward, args.repeats,
                                               args.min_seconds) * 1e3}
        with torch.backends.mkldnn.flags(enabled=False):
            row["im2col_forward_ms"] = per_call(forward, args.repeats, args.min_seconds) * 1e3
            row["im2col_forward_backward_ms"] = per_call(forward_backward, args.repeats,
                                                         args.min_seconds) * 1e3
        results[k] = row
    return results


def tapegrad_round(args):
    out = subprocess.run([args.bench, "--threads", str(args.threads), "--repeats",
                          str(args.repeats), "--min-seconds", str(args.min_seconds)],
                         check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {row["k"]: row for row in rows}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", default=os.path.join(HERE, "..", "build", "bench", "bench_conv"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=0.3)
    args = parser.parse_args()
    # Set before torch loads: OpenMP and OpenBLAS read them once.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch_rounds, tg_rounds = [], []
    for _ in range(args.rounds):
        torch_rounds.append(pytorch_round(args))
        tg_rounds.append(tapegrad_round(args))

    def med(rounds, k, key):
        return statistics.median(r[k][key] for r in rounds)

    print("CPU: %s; %d thread(s); torch %s; load average %s" %
          (cpu_name(), args.threads, torch.__version__, os.getloadavg()))
    print("tapegrad BLAS: %s" % tg_rounds[0][3]["blas"])
    print("conv1d [32,128,64] x [128,128,K], padding same, float32; medians of %d rounds x %d "
          "repeats (ms per call)" % (args.rounds, args.repeats))
    print("| K | pass | PyTorch (oneDNN) | PyTorch im2col (oneDNN off) | tapegrad | "
          "ratio vs PyTorch | ratio vs PyTorch im2col |")
    print("|---|---|---|---|---|---|---|")
    for k in (3, 5):
        for label, key in (("forward", "forward_ms"),
                           ("forward+backward", "forward_backward_ms")):
            theirs = med(torch_rounds, k, key)
            im2col = med(torch_rounds, k, "im2col_" + key)
            ours = med(tg_rounds, k, key)
            print("| %d | %s | %.2f | %.2f | %.2f | %.2f | %.2f |" %
                  (k, label, theirs, im2col, ours, theirs / ours, im2col / ours))
        print("| %d | forward's product alone (tapegrad BLAS) | | | %.2f | | |" %
              (k, med(tg_rounds, k, "forward_product_ms")))


if __name__ == "__main__":
    sys.exit(main())
