#!/usr/bin/env python3
"""Where one training step of workload c spends its time in bf16: oneDNN's matrix products, its
conversions (reorders) and everything else, from oneDNN's own timings, beside float32 steps.

    /usr/bin/python3 bench/onednn_breakdown.py --build build --grid-point 256,512,64,1 \
        [--rounds 3] [--repeats 5]

Each round runs bench_recurrent twice: in bf16 with ONEDNN_VERBOSE=1 (which prints every
primitive's execution time), then in float32 (tapegrad's default). The peak products measured
first are left out; of the steps' primitives (warm-up and timed, "steps_run" of the JSON line)
only the timed steps' are kept and set against those steps' mean time. Per round: the speed-up
bf16 / float32, and the bound the products alone set on it (float32 step / bf16 product time:
the speed-up if everything else took no time). Figures are medians over rounds; the table lists
the last round's primitives.
"""
import argparse
import collections
import json
import os
import statistics
import subprocess
import sys

PEAK_SHAPES = ("2048x2048:2048x2048:2048x2048", "2048x2048")


def run(a, precision, verbose):
    cmd = [os.path.join(a.build, "bench", "bench_recurrent"), "--workload", "c", "--grid-point",
           a.grid_point, "--precision", precision, "--repeats", str(a.repeats)]
    env = dict(os.environ, ONEDNN_VERBOSE="1" if verbose else "0")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    step, calls = None, []
    for line in out.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("metric") == "step_ms":
                step = record
        elif line.startswith("onednn_verbose,exec"):
            f = line.split(",")
            calls.append((f[3], f[6].replace("::blocked", ""), f[-2], float(f[-1])))
    if step is None:
        sys.exit("onednn_breakdown: bench_recurrent printed no step_ms line")
    return step, calls


def breakdown(step, calls):
    while calls and calls[0][2] in PEAK_SHAPES:  # the peak runs before the first step
        calls.pop(0)
    if len(calls) % step["steps_run"]:
        sys.exit(f"onednn_breakdown: {len(calls)} primitive runs are not {step['steps_run']} equal steps")
    timed = len(step["median_of"]) * step["steps_per_repeat"]  # the last steps run
    calls = calls[len(calls) - len(calls) // step["steps_run"] * timed:]
    per_primitive = collections.defaultdict(lambda: [0, 0.0])
    for kind, layouts, shape, ms in calls:
        per_primitive[(kind, layouts, shape)][0] += 1 / timed
        per_primitive[(kind, layouts, shape)][1] += ms / timed
    total = lambda kind: sum(v[1] for k, v in per_primitive.items() if k[0] == kind)
    return statistics.mean(step["median_of"]), total("matmul"), total("reorder"), per_primitive


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--grid-point", default="256,512,64,1", help="batch,hidden,seq,layers")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--top", type=int, default=12, help="primitives listed")
    a = ap.parse_args()

    rows = collections.defaultdict(list)
    for _ in range(a.rounds):
        step_ms, products, reorders, per_primitive = breakdown(*run(a, "bf16", verbose=True))
        float32_ms = statistics.mean(run(a, "float32", verbose=False)[0]["median_of"])
        for key, value in (("bf16 step", step_ms), ("oneDNN products", products),
                           ("oneDNN reorders", reorders), ("everything else", step_ms - products - reorders),
                           ("float32 step", float32_ms), ("speed-up", float32_ms / step_ms),
                           ("bound from the products", float32_ms / products)):
            rows[key].append(value)
        print(f"round: bf16 {step_ms:.0f} ms (products {products:.0f}, reorders {reorders:.0f}), "
              f"float32 {float32_ms:.0f} ms", file=sys.stderr)

    print(f"workload c, grid point {a.grid_point} (batch, hidden, seq, layers); medians of "
          f"{a.rounds} rounds, each the mean of {a.repeats} timed steps\n")
    print("| | median | rounds |\n|---|---|---|")
    for key, values in rows.items():
        fmt = "{:.2f}x" if key in ("speed-up", "bound from the products") else "{:.1f} ms"
        print(f"| {key} | {fmt.format(statistics.median(values))} | "
              f"{', '.join(fmt.format(v) for v in values)} |")
    print("\n| ms/step | calls/step | primitive | layouts | shape |\n|---|---|---|---|---|")
    for (kind, layouts, shape), (n, ms) in sorted(per_primitive.items(), key=lambda kv: -kv[1][1])[:a.top]:
        print(f"| {ms:.1f} | {n:g} | {kind} | {layouts} | {shape} |")


if __name__ == "__main__":
    main()
