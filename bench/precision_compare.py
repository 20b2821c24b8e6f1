#!/usr/bin/env python3
"""tapegrad's workloads a, b and c in float32 (OpenBLAS), float32 (oneDNN) and bf16, side by side.

    /usr/bin/python3 bench/precision_compare.py --build build --rounds 3 \
        [--workloads a,b,c] [--grid-point 32,128,64,1 ...] [--threads 1] \
        [--precisions float32-openblas,float32-onednn,bf16,float32] [--json run.jsonl]

Runs build/bench/bench_recurrent --precision P for every precision, alternately (round 1: each
workload in each precision, then round 2, ...), so that every precision sees the same machine.
Each process measures its own matrix-product peak (a 2048^3 product through tg::blas::gemm in
that precision, B prepared once) and reports GFLOP/s of the workload's matrix products and
their fraction of that peak. A figure in the table is the median over rounds of each run's
median. The last column is the speed-up of bf16 over float32 on OpenBLAS (tapegrad's float32
before oneDNN). Prints a markdown table; the header names the CPU, its ISA and the BLAS line.
"""
import argparse
import datetime
import json
import re
import statistics
import subprocess
import sys

DEFAULT_GRID = ["1,128,64,1", "32,128,64,1", "32,512,64,1", "256,128,64,1", "256,512,64,1"]
PRECISIONS = ["float32-openblas", "float32-onednn", "bf16"]
LABELS = {"float32-openblas": "float32 OpenBLAS", "float32-onednn": "float32 oneDNN",
          "bf16": "bf16 (autocast)", "float32": "float32 (tapegrad default)"}
# workload: (metric of speed, higher is better?, its unit format)
SPEED = {"a": ("windows_per_s", True, "{:.0f} win/s"), "b": ("names_per_s", True, "{:.0f} names/s"),
         "c": ("step_ms", False, "{:.3g} ms")}


def cpu_line():
    with open("/proc/cpuinfo") as f:
        text = f.read()
    name = re.search(r"model name\s*:\s*(.*)", text).group(1).strip()
    family = re.search(r"cpu family\s*:\s*(\d+)", text).group(1)
    model = re.search(r"model\s*:\s*(\d+)", text).group(1)
    flags = re.search(r"flags\s*:\s*(.*)", text).group(1).split()
    isa = [f for f in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
    cores = text.count("processor\t:")
    return f"{name} (family {family}, model {model}; {', '.join(isa) or 'no AVX-512'}), {cores} cores"


def run(build, workload, precision, threads, repeats, grid_point):
    cmd = [f"{build}/bench/bench_recurrent", "--workload", workload, "--threads", str(threads),
           "--repeats", str(repeats), "--precision", precision]
    if grid_point:
        cmd += ["--grid-point", grid_point]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    info = next((r["info"] for r in records if "info" in r), {})
    metrics = {r["metric"]: r for r in records if "metric" in r}
    if not metrics:
        sys.exit(f"precision_compare: {' '.join(cmd)} printed no metric")
    return info, metrics, records


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default="build", help="CMake build folder")
    p.add_argument("--workloads", default="a,b,c")
    p.add_argument("--grid-point", action="append", help="B,H,T,L of workload c (repeatable)")
    p.add_argument("--precisions", default=",".join(PRECISIONS))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="append every JSON line to this file")
    a = p.parse_args()
    precisions = a.precisions.split(",")
    jobs = []
    for w in a.workloads.split(","):
        if w == "c":
            jobs += [("c", g) for g in (a.grid_point or DEFAULT_GRID)]
        else:
            jobs.append((w, None))
    results = {}  # (workload, point, precision): [metrics of each round]
    blas_line = ""
    for r in range(a.rounds):
        for workload, point in jobs:
            for prec in precisions:
                print(f"round {r + 1}/{a.rounds}: {workload} {point or ''} {prec}", file=sys.stderr)
                info, metrics, records = run(a.build, workload, prec, a.threads, a.repeats, point)
                if prec == "bf16":
                    blas_line = info.get("blas", blas_line)
                results.setdefault((workload, point, prec), []).append(metrics)
                if a.json:
                    with open(a.json, "a") as f:
                        for rec in records:
                            rec["round"] = r + 1
                            f.write(json.dumps(rec) + "\n")

    def median(workload, point, prec, metric):
        runs = results.get((workload, point, prec), [])
        values = [m[metric]["value"] for m in runs if metric in m]
        return statistics.median(values) if values else None

    print(f"CPU: {cpu_line()}  \nBLAS: {blas_line}  \n"
          f"{datetime.date.today()}, {a.threads} thread(s), {a.rounds} rounds x {a.repeats} "
          f"repeats, medians. Cells: speed; GFLOP/s of the matrix products; fraction of that "
          f"precision's own 2048^3 peak measured in the same process.\n")
    print("| workload | config | " + " | ".join(LABELS[pr] for pr in precisions) +
          " | bf16 / float32 OpenBLAS |")
    print("|---|---|" + "---|" * len(precisions) + "---|")
    for workload, point in jobs:
        metric, higher, fmt = SPEED[workload]
        cells = []
        for prec in precisions:
            v = median(workload, point, prec, metric)
            g = median(workload, point, prec, "gflops")
            f = median(workload, point, prec, "peak_fraction")
            peaks = [m["peak_fraction"]["peak_gflops"]
                     for m in results.get((workload, point, prec), []) if "peak_fraction" in m]
            peak = statistics.median(peaks) if peaks else None
            cells.append("-" if v is None or peak is None else
                         f"{fmt.format(v)}; {g:.0f} GFLOP/s; {f:.0%} of {peak:.0f}")
        base = median(workload, point, "float32-openblas", metric)
        bf = median(workload, point, "bf16", metric)
        ratio = "-" if base is None or bf is None else f"{(bf / base if higher else base / bf):.2f}x"
        config = {"a": "baby_lm step, batch 32, window 15",
                  "b": "name_language epoch, batch 64"}.get(workload)
        if workload == "c":
            b, h, t, l = point.split(",")
            config = f"LSTM step, batch {b}, hidden {h}, seq {t}, layers {l}"
        print(f"| {workload} | {config} | " + " | ".join(cells) + f" | {ratio} |")


if __name__ == "__main__":
    main()
