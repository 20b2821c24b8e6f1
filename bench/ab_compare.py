#!/usr/bin/env python3
"""Old and new tapegrad binaries side by side: runs them alternately (old, new, old, new, ...)
so that both see the same machine, and reports the median of each side and new/old.

    /usr/bin/python3 bench/ab_compare.py --old OLD_BUILD --new build --rounds 5 \
        --workloads overhead,a,b,d [--threads 1] [--grid-point 32,128,15,2 ...]

OLD_BUILD and build are CMake build folders (their bench/bench_core and bench/bench_recurrent
are run). Workloads: `overhead` (bench_core's per-op framework overhead, microseconds; lower is
better), `block` (bench_block's op-built Transformer block step, ms; lower is better),
`transpose` (bench_core's transpose timings, ms), `layernorm_cell` (bench_layernorm_cell's last
round in each precision, ms, on one thread; it sets the thread count itself), a, b, d
(bench_recurrent's, see pytorch_workloads.py; higher is better) and one `c:B,H,T,L` per
--grid-point. A change that touches a hot path reports this table.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys


def cpu_model():
    with open("/proc/cpuinfo") as f:
        text = f.read()
    name = re.search(r"model name\s*:\s*(.*)", text).group(1).strip()
    flags = re.search(r"flags\s*:\s*(.*)", text).group(1).split()
    isa = [f for f in ("avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{name} ({', '.join(isa) or 'no AVX-512'})"


def bench_core_line(build, repeats, pattern, what):
    out = subprocess.run([f"{build}/bench/bench_core", str(repeats)], capture_output=True,
                         text=True, check=True).stdout
    m = re.search(pattern, out)
    if not m:
        sys.exit(f"ab_compare: no {what} line in {build}/bench/bench_core's output")
    return m


def run_overhead(build, repeats):
    m = bench_core_line(build, repeats, r"tapegrad ([\d.]+) us, raw xtensor ([\d.]+) us, "
                        r"framework overhead (-?[\d.]+) us", "overhead")
    return {"overhead_us": float(m.group(3)), "per_op_us": float(m.group(1)),
            "raw_us": float(m.group(2))}


def run_transpose(build, repeats):
    m = bench_core_line(build, repeats, r"transpose, forward \+ backward: \[2048,512\] ([\d.]+) "
                        r"ms, \[32,64,4,32\] to heads ([\d.]+) ms", "transpose")
    return {"matrix_ms": float(m.group(1)), "heads_ms": float(m.group(2))}


def run_layernorm_cell(build):
    out = subprocess.run([f"{build}/bench/bench_layernorm_cell"], capture_output=True, text=True,
                         check=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"}).stdout
    values = {}
    for precision, fused, op_built, cell in re.findall(
            r"(float32|bf16): fused LSTM ([\d.]+) ms, op-built LSTM ([\d.]+) ms, LayerNorm LSTM "
            r"cell ([\d.]+) ms", out):  # the last round of each precision
        values.update({f"{precision}_fused_ms": float(fused),
                       f"{precision}_op_built_ms": float(op_built),
                       f"{precision}_cell_ms": float(cell)})
    if not values:
        sys.exit(f"ab_compare: no step line in {build}/bench/bench_layernorm_cell's output")
    return values


def run_block(build, repeats):
    out = subprocess.run([f"{build}/bench/bench_block", str(repeats)], capture_output=True,
                         text=True, check=True).stdout
    return {json.loads(line)["metric"]: json.loads(line)["value"] for line in out.splitlines()
            if line.startswith("{")}


def run_recurrent(build, workload, threads, repeats, grid_point=None):
    cmd = [f"{build}/bench/bench_recurrent", "--workload", workload, "--threads", str(threads),
           "--repeats", str(repeats)]
    if grid_point:
        cmd += ["--grid-point", grid_point]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    values = {}
    for line in out.splitlines():
        record = json.loads(line)
        if "metric" in record and "value" in record:
            values[record["metric"]] = record["value"]
    if not values:
        sys.exit(f"ab_compare: {' '.join(cmd)} printed no metric")
    return values


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--old", required=True, help="build folder of the old version")
    p.add_argument("--new", required=True, help="build folder of the new version")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=5, help="repeats inside each run")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workloads", default="overhead,a,b")
    p.add_argument("--grid-point", action="append", default=[],
                   help="a point of workload c: batch,hidden,sequence,layers")
    args = p.parse_args()

    jobs = []
    for w in args.workloads.split(","):
        if w == "overhead":
            jobs.append(("overhead", lambda b: run_overhead(b, args.repeats)))
        elif w == "transpose":
            jobs.append(("transpose", lambda b: run_transpose(b, args.repeats)))
        elif w == "layernorm_cell":
            jobs.append(("layernorm_cell", run_layernorm_cell))
        elif w == "block":
            jobs.append(("block", lambda b: run_block(b, args.repeats)))
        elif w in ("a", "b", "d"):
            jobs.append((w, lambda b, w=w: run_recurrent(b, w, args.threads, args.repeats)))
        elif w:
            sys.exit(f"ab_compare: unknown workload {w!r}")
    for g in args.grid_point:
        jobs.append((f"c:{g}", lambda b, g=g: run_recurrent(b, "c", args.threads, args.repeats, g)))

    print(f"CPU: {cpu_model()}; {args.rounds} rounds, old and new alternating, "
          f"{args.threads} thread(s)", flush=True)
    results = {}  # (workload, metric, side) -> [values]
    for r in range(args.rounds):
        for name, run in jobs:
            for side, build in (("old", args.old), ("new", args.new)) if r % 2 == 0 else \
                    (("new", args.new), ("old", args.old)):
                for metric, value in run(build).items():
                    results.setdefault((name, metric, side), []).append(value)
        print(f"  round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    print(f"\n| workload | metric | old (median) | new (median) | new/old |")
    print("|---|---|---|---|---|")
    for (name, metric, side), values in results.items():
        if side != "old":
            continue
        old = statistics.median(values)
        new = statistics.median(results[(name, metric, "new")])
        print(f"| {name} | {metric} | {old:.4g} | {new:.4g} | {new / old:.3f} |")


if __name__ == "__main__":
    main()
