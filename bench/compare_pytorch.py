#!/usr/bin/python3
"""Runs the recurrent (and Transformer) workloads on PyTorch, libtorch and tapegrad and prints one comparison table.

The workloads, the command line shared by both sides and the JSON lines contract are defined in
pytorch_workloads.py's docstring. This driver:
  1. probes PyTorch's OpenBLAS kernels (the inherited OPENBLAS_CORETYPE, none, and those the CPU
     supports) at 1 thread and picks the fastest as the "tuned" kernel (--coretype skips this);
  2. runs each PyTorch workload in its own process per thread count, in two environments:
     default (as inherited) and tuned (OMP_WAIT_POLICY=PASSIVE + the fastest kernel);
  3. runs build/bench/bench_recurrent with the same flags, if it exists (otherwise it says so and
     shows the PyTorch side alone), and build/bench/libtorch_workloads (the libtorch C++ API,
     workloads a-d and f, built when CMake finds Torch) in the tuned environment, if it exists;
  4. matches measurements on workload + config + metric and prints a markdown table on stdout
     (and into --markdown FILE). Ratios are tapegrad over PyTorch for speeds and PyTorch over
     tapegrad for times and memory, so that above 1 always means tapegrad is better.
Progress goes to stderr. --json FILE keeps every JSON line; --load FILE re-renders a saved run.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import pytorch_workloads as pw

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TAPEGRAD = os.path.join(pw.REPO_ROOT, "build", "bench", "bench_recurrent")
DEFAULT_LIBTORCH = os.path.join(pw.REPO_ROOT, "build", "bench", "libtorch_workloads")
LIBTORCH_WORKLOADS = {"peak", "a", "b", "c", "d", "f"}
ORDER = ["peak", "a", "b", "c", "d", "e", "f"]
TITLES = {"peak": "sgemm peak", "a": "a baby_lm step", "b": "b name_language epoch",
          "c": "c LSTM grid step", "d": "d generation", "e": "e peak RSS",
          "f": "f char Transformer step"}
# metric: (higher is better, format of a value)
METRICS = {
    "sgemm_gflops": (True, "{:.0f} GFLOP/s"), "windows_per_s": (True, "{:.0f} win/s"),
    "chars_per_s": (True, "{:.0f} char/s"), "names_per_s": (True, "{:.0f} names/s"),
    "epoch_s": (False, "{:.2f} s"), "step_ms": (False, "{:.3g} ms"),
    "gflops": (True, "{:.3g} GFLOP/s"), "peak_fraction": (True, "{:.0%} of peak"),
    "us_per_char": (False, "{:.0f} us/char"), "peak_rss_mib": (False, "{:.0f} MiB"),
    "baseline_rss_mib": (False, "{:.0f} MiB at start"),
    "tokens_per_s": (True, "{:.0f} tok/s"),
}
# workload: (metric the ratio is taken on, metrics shown beside it)
SHOWN = {"peak": ("sgemm_gflops", []), "a": ("windows_per_s", ["chars_per_s"]),
         "b": ("names_per_s", ["epoch_s"]), "c": ("step_ms", ["gflops", "peak_fraction"]),
         "d": ("us_per_char", []), "e": ("peak_rss_mib", ["baseline_rss_mib"]),
         "f": ("step_ms", ["tokens_per_s"])}
SOURCES = [("pytorch", "default"), ("pytorch", "tuned"), ("libtorch", None), ("tapegrad", None)]


def log(message):
    print(f"compare_pytorch: {message}", file=sys.stderr, flush=True)


def busy_cores(seconds=1.0):
    """Cores kept busy by anything over the next `seconds` (from /proc/stat)."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait
    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return (1 - (idle1 - idle0) / max(1, total1 - total0)) * os.cpu_count()


def wait_until_quiet(args):
    """On a shared machine: wait (up to --max-wait s) until others use under --max-busy cores."""
    deadline = time.time() + args.max_wait
    while True:
        busy = busy_cores()
        if busy <= args.max_busy or time.time() >= deadline:
            if busy > args.max_busy:
                log(f"machine still busy ({busy:.1f} cores in use): measuring anyway")
            return busy
        time.sleep(5)


def shown_path(path):
    inside = path.startswith(pw.REPO_ROOT + os.sep)
    return os.path.relpath(path, pw.REPO_ROOT) if inside else os.path.basename(path)


def run_json_lines(command, env=None, args=None, timeout=3600):
    """The JSON objects a benchmark process prints; its stderr is passed through."""
    busy = wait_until_quiet(args) if args else None
    log(" ".join(shown_path(c) if c.startswith("/") else c for c in command)
        + (f"   [busy before: {busy:.1f} cores]" if busy is not None else ""))
    try:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f"timed out after {timeout} s")
        return []
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        log(f"exit status {proc.returncode}")
    records = []
    for line in proc.stdout.splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            log(f"not a JSON line: {line[:120]}")
    if busy is not None:
        records.append({"busy_before": busy})
    return records


def common_flags(args, workload, threads):
    flags = ["--workload", workload, "--threads", str(threads), "--repeats", str(args.repeats),
             "--names-dir", args.names_dir]
    return flags + (["--quick"] if args.quick else [])


def python_command(args, workload, threads, variant, coretype=None):
    command = [sys.executable, os.path.join(BENCH_DIR, "pytorch_workloads.py"),
               *common_flags(args, workload, threads), "--variant", variant]
    return command + (["--coretype", coretype] if coretype else [])


def kernel_candidates():
    with open("/proc/cpuinfo") as f:
        flags = next((line.split(":")[1].split() for line in f if line.startswith("flags")), [])
    wanted = [("avx2", "Haswell"), ("avx512f", "SkylakeX"), ("avx512_bf16", "Cooperlake")]
    return [core for flag, core in wanted if flag in flags]


def probe_kernels(args):
    """(probe records, the fastest OPENBLAS_CORETYPE by the geometric mean of both products)."""
    inherited = os.environ.get("OPENBLAS_CORETYPE")
    unset_env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    runs = [(f"inherited ({inherited or 'unset'})", None, None)]
    if inherited:
        runs.append(("unset", unset_env, None))
    runs += [(core, None, core) for core in kernel_candidates()]
    probes = []
    for label, env, core in runs:
        command = python_command(args, "probe", 1, "tuned" if core else "default", core)
        for record in run_json_lines(command, env, args):
            if "probe" in record:
                probes.append(dict(record["probe"], setting=label))
    # Several settings may land on one kernel: each kernel keeps its best figures.
    kernels = {}
    for p in probes:
        best = kernels.setdefault(p["corename"], {"sgemm_gflops": 0, "lstm_gemm_gflops": 0})
        for key in best:
            best[key] = max(best[key], p[key])
    if not kernels:
        return probes, None
    return probes, max(kernels, key=lambda k: kernels[k]["sgemm_gflops"]
                       * kernels[k]["lstm_gemm_gflops"])


def run_all(args):
    records = []
    probes, coretype = [], args.coretype
    if coretype is None and "tuned" in args.variants:
        probes, coretype = probe_kernels(args)
    records += [{"probe": p} for p in probes]
    records.append({"tuned_coretype": coretype})
    tapegrad = args.tapegrad if os.access(args.tapegrad, os.X_OK) else None
    if tapegrad is None:
        log(f"tapegrad bench not found at {args.tapegrad}: showing the PyTorch side alone")
    libtorch = args.libtorch if os.access(args.libtorch, os.X_OK) else None
    if libtorch is None:
        log(f"libtorch peer not found at {args.libtorch} (built when CMake finds Torch): "
            "no libtorch column")
    for threads in args.threads:
        for workload in ["peak"] + args.workloads:
            for variant in args.variants:
                records += run_json_lines(python_command(
                    args, workload, threads, variant, coretype if variant == "tuned" else None),
                    args=args)
            if libtorch and workload in LIBTORCH_WORKLOADS:
                # PyTorch tuned's environment: the thread count and kernel reach OpenBLAS and
                # OpenMP only through it (both read it when they load).
                env = dict(os.environ, **pw.thread_env(threads, "tuned", coretype))
                records += run_json_lines([libtorch, *common_flags(args, workload, threads)],
                                          env=env, args=args)
            if tapegrad:
                records += run_json_lines([tapegrad, *common_flags(args, workload, threads)],
                                          args=args)
    return records


def config_text(config):
    parts = [f"{k} {v}" for k, v in config.items() if k != "threads"]
    threads = config.get("threads")
    parts.append(f"{threads} thread{'s' if threads != 1 else ''}")
    return ", ".join(parts)


def cell(metrics, workload):
    primary, extras = SHOWN.get(workload, (None, []))
    if primary not in metrics:
        return "—"
    shown = [METRICS[m][1].format(metrics[m]["value"]) for m in [primary] + extras if m in metrics]
    return shown[0] + (f" ({', '.join(shown[1:])})" if len(shown) > 1 else "")


def ratio(tapegrad, pytorch, workload):
    metric = SHOWN.get(workload, (None,))[0]
    if metric not in tapegrad or metric not in pytorch:
        return "—"
    t, p = tapegrad[metric]["value"], pytorch[metric]["value"]
    if not t or not p:
        return "—"
    return f"{(t / p if METRICS[metric][0] else p / t):.2f}"


def group(records):
    """{(workload, config): {source: {metric: record}}} in a stable order."""
    groups = {}
    for r in records:
        if "metric" not in r or r.get("workload") not in SHOWN or r["metric"] not in METRICS:
            continue
        key = (r["workload"], json.dumps(r["config"], sort_keys=True))
        source = (r["framework"], r.get("variant") if r["framework"] == "pytorch" else None)
        groups.setdefault(key, {}).setdefault(source, {})[r["metric"]] = r
    order = {w: i for i, w in enumerate(ORDER)}
    return sorted(groups.items(), key=lambda kv: (json.loads(kv[0][1]).get("threads", 0),
                                                  order.get(kv[0][0], 99)))


def best_pytorch(sources, workload):
    candidates = [sources[s] for s in SOURCES[:2] if s in sources]
    metric = SHOWN[workload][0]
    candidates = [c for c in candidates if metric in c]
    if not candidates:
        return {}
    sign = 1 if METRICS[metric][0] else -1
    return max(candidates, key=lambda c: sign * c[metric]["value"])


def notes_for(records, args):
    infos = [r["info"] for r in records if "info" in r and r.get("framework") == "pytorch"]
    probes = [r["probe"] for r in records if "probe" in r]
    coretype = next((r["tuned_coretype"] for r in records if "tuned_coretype" in r), None)
    notes = []
    if infos:
        i = infos[0]
        blas = i["blas"]
        libs = ", ".join(os.path.basename(lib) for lib in blas.get("libraries", []))
        notes.append(f"PyTorch {i['torch']} (BLAS_INFO={i['blas_build']}: sgemm through "
                     f"libblas.so.3 -> {blas.get('config', 'unknown BLAS')}); libraries "
                     f"mapped: {libs}. torch's own default thread count here: "
                     f"{i['torch_default_threads']}.")
        defaults = sorted({str(x["blas"].get("corename")) for x in infos
                           if x["variant"] == "default"})
        inherited = sorted({str(x["env"]["OPENBLAS_CORETYPE"]) for x in infos
                            if x["variant"] == "default"})
        notes.append(f"default = inherited environment (OPENBLAS_CORETYPE={'/'.join(inherited)}"
                     f" -> kernel {'/'.join(defaults)}, OMP_WAIT_POLICY unset); tuned = "
                     f"OMP_WAIT_POLICY=PASSIVE + OPENBLAS_CORETYPE={coretype}. Both set "
                     "OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = threads (torch.set_num_threads "
                     "alone leaves OpenBLAS on every core).")
    busy = [r["busy_before"] for r in records if "busy_before" in r]
    if busy:
        notes.append(f"cores kept busy by other work just before each process: {min(busy):.1f} to "
                     f"{max(busy):.1f} of {os.cpu_count()} (shared machine; busier = slower).")
    if probes:
        notes.append("kernel probe, 1 thread (2048^3 / 32x256x512 sgemm): " + "; ".join(
            f"{p['setting']} -> {p['corename']}: {p['sgemm_gflops']:.0f} / "
            f"{p['lstm_gemm_gflops']:.0f} GFLOP/s" for p in probes))
    for r in records:
        if "skipped" in r:
            notes.append(f"{r['framework']}: {r['skipped']}")
    torch_infos = [r["info"] for r in records if "info" in r and r.get("framework") == "libtorch"]
    if torch_infos:
        notes.append(f"libtorch = the C++ API of the same Torch {torch_infos[0]['torch']} "
                     "(bench/libtorch_workloads.cpp), run in PyTorch tuned's environment.")
    if not any(r.get("framework") == "tapegrad" for r in records):
        notes.append(f"tapegrad: no measurements ({os.path.relpath(args.tapegrad, pw.REPO_ROOT)}"
                     " missing or silent): PyTorch side only.")
    repeats = sorted({r["repeats"] for r in records if "metric" in r})
    notes.append(f"each figure: warm-up, then the median of {'/'.join(map(str, repeats))} "
                 "repeats (sgemm peak: the best). Ratio > 1: tapegrad better (speed tapegrad/"
                 "PyTorch; time and memory PyTorch/tapegrad); 'vs best' takes the better PyTorch "
                 "environment.")
    return notes


def render(records, args):
    lines = ["# tapegrad vs PyTorch, recurrent workloads (CPU)", ""]
    lines += [f"- {n}" for n in notes_for(records, args)] + [""]
    lines.append("| workload | config | PyTorch default | PyTorch tuned | libtorch | tapegrad | "
                 "ratio vs best PyTorch | ratio vs PyTorch default | ratio vs libtorch |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for (workload, config), sources in group(records):
        tg = sources.get(("tapegrad", None), {})
        row = [TITLES[workload], config_text(json.loads(config))]
        row += [cell(sources.get(s, {}), workload) for s in SOURCES]
        row += [ratio(tg, best_pytorch(sources, workload), workload),
                ratio(tg, sources.get(("pytorch", "default"), {}), workload),
                ratio(tg, sources.get(("libtorch", None), {}), workload)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: fewer repeats and sizes")
    p.add_argument("--workloads", default="a,b,c,d,e,f", help="comma list of a,b,c,d,e,f")
    p.add_argument("--threads", default="1,2", help="comma list of thread counts")
    p.add_argument("--variants", default="default,tuned", help="PyTorch environments to run")
    p.add_argument("--repeats", type=int, default=None, help="default 5, --quick 3")
    p.add_argument("--coretype", default=None, help="tuned OPENBLAS_CORETYPE (skips the probe)")
    p.add_argument("--tapegrad", default=DEFAULT_TAPEGRAD, help="bench_recurrent executable")
    p.add_argument("--libtorch", default=DEFAULT_LIBTORCH, help="libtorch_workloads executable")
    p.add_argument("--names-dir", default=pw.DEFAULT_NAMES_DIR)
    p.add_argument("--max-busy", type=float, default=0.5,
                   help="wait before each process until other work uses fewer cores (0.5)")
    p.add_argument("--max-wait", type=float, default=30,
                   help="seconds to wait for that at most, then measure anyway (30)")
    p.add_argument("--markdown", metavar="FILE", help="also write the table here")
    p.add_argument("--json", metavar="FILE", help="keep every JSON line of the run here")
    p.add_argument("--load", metavar="FILE", help="render a run saved with --json, run nothing")
    args = p.parse_args(argv)
    args.workloads = [w for w in args.workloads.split(",") if w]
    unknown = set(args.workloads) - set("abcdef")
    if unknown:
        p.error(f"unknown workloads: {','.join(sorted(unknown))}")
    args.threads = [int(t) for t in args.threads.split(",") if t]
    args.variants = [v for v in args.variants.split(",") if v]
    if set(args.variants) - {"default", "tuned"}:
        p.error("--variants takes default and/or tuned")
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.load:
        with open(args.load) as f:
            records = [json.loads(line) for line in f if line.strip()]
    else:
        start = time.time()
        records = run_all(args)
        log(f"done in {time.time() - start:.0f} s")
        if args.json:
            with open(args.json, "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in records)
    table = render(records, args)
    sys.stdout.write(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)


if __name__ == "__main__":
    main()
