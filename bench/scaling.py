#!/usr/bin/env python3
"""Data-parallel scaling of the examples under mpirun: 1, 2, 3 processes with 1 BLAS thread each.

name_language trains on the full surname set (../shared/data/names), baby_lm in stateful mode on
an English text (--text; by default the first --text-bytes of Vim's user manual, a plain-English
text every Debian machine with vim has). Each configuration runs --repeats times, the process
counts interleaved in every round so that load drifts hit them alike; the table gives medians of
names/s or characters/s as the programs report them, the speed-up over 1 process, and the share
of training time rank 0 spent waiting for the gradient allreduce.

MPI stays on this machine: shared memory and loopback only (the flags of tests/CMakeLists.txt).
"""
import argparse
import glob
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile

LOCAL_ONLY = ["--oversubscribe", "--mca", "btl", "self,vader", "--mca", "oob_tcp_if_include", "lo",
              "--mca", "btl_tcp_if_include", "lo"]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_btl="self,vader", OMPI_MCA_oob_tcp_if_include="lo",
           OMPI_MCA_btl_tcp_if_include="lo")
RATE = re.compile(r"training: .*\(([0-9.]+)(k?) names/s\)")
CHARS = re.compile(r"s of training, ([0-9.]+) chars/s on average")
WAIT = re.compile(r"gradient averaging waited ([0-9.]+) s of ([0-9.]+) s")


def cpu_name():
    with open("/proc/cpuinfo") as f:
        info = f.read()
    model = re.search(r"model name\s*:\s*(.*)", info).group(1)
    family = re.search(r"cpu family\s*:\s*(\d+)", info).group(1)
    number = re.search(r"\nmodel\s*:\s*(\d+)", info).group(1)
    flags = re.search(r"flags\s*:\s*(.*)", info).group(1).split()
    isa = [f for f in ("avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model} (family {family} model {number}; {', '.join(isa)}), {os.cpu_count()} cores"


def run(processes, command, out_dir, env=None):
    line = ["mpirun", "-np", str(processes)] + LOCAL_ONLY + command + ["--out", out_dir]
    result = subprocess.run(line, env=env or ENV, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"scaling.py: {' '.join(line)} failed ({result.returncode}): {result.stderr[-500:]}")
    return result.stdout


def measure(example, processes, args, work, bucket=None):
    out_dir = tempfile.mkdtemp(dir=work)
    env = None
    if bucket:  # (bucket bytes, overlap) through the examples' TAPEGRAD_DP_* knobs
        env = dict(ENV, TAPEGRAD_DP_BUCKET_BYTES=str(bucket[0]), TAPEGRAD_DP_OVERLAP=str(bucket[1]),
                   OMPI_MCA_mca_base_env_list="TAPEGRAD_DP_BUCKET_BYTES;TAPEGRAD_DP_OVERLAP")
    if example == "name_language":
        out = run(processes, [args.build + "/examples/name_language", "train", "--data", args.names,
                              "--epochs", str(args.epochs), "--threads", "1",
                              *args.name_flags.split()], out_dir, env)
        value, kilo = RATE.search(out).groups()
        rate = float(value) * (1000 if kilo else 1)
    else:
        out = run(processes, [args.build + "/examples/baby_lm", "train", "--stateful", "--corpus",
                              args.text_file, "--epochs", "1", "--threads", "1",
                              "--sample-length", "5"], out_dir)
        rate = float(CHARS.search(out).group(1))
    wait = WAIT.search(out)
    share = float(wait.group(1)) / float(wait.group(2)) if wait else 0.0
    return rate, share


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--build", default="build")
    p.add_argument("--names", default="../shared/data/names")
    p.add_argument("--text", help="English text for baby_lm (default: Vim's user manual)")
    p.add_argument("--text-bytes", type=int, default=200_000)
    p.add_argument("--epochs", type=int, default=3, help="name_language epochs per run")
    p.add_argument("--name-flags", default="", help="more flags for name_language train "
                                                   "(e.g. \"--ngrams 0\")")
    p.add_argument("--processes", default="1,2,3")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--examples", default="name_language,baby_lm")
    p.add_argument("--json", help="append one JSON line per configuration")
    p.add_argument("--buckets", help="instead: name_language at 2 processes for each BYTES:OVERLAP "
                                     "(e.g. 26214400:1,65536:1,65536:0), interleaved")
    args = p.parse_args()
    if args.buckets:
        configs = [tuple(int(v) for v in c.split(":")) for c in args.buckets.split(",")]
        runs = {c: [] for c in configs}
        with tempfile.TemporaryDirectory() as work:
            for r in range(args.repeats):
                for c in configs:
                    runs[c].append(measure("name_language", 2, args, work, c))
        print(f"CPU: {cpu_name()}; load average at the end {os.getloadavg()[0]:.2f}")
        print(f"name_language, 2 processes, medians of {args.repeats} interleaved repeats\n")
        print("| bucket bytes | overlap | names/s | allreduce wait (rank 0) |")
        print("|---|---|---|---|")
        for c in configs:
            print(f"| {c[0]:,} | {'on' if c[1] else 'off'} | {statistics.median(v for v, _ in runs[c]):,.0f} "
                  f"| {100 * statistics.median(s for _, s in runs[c]):.1f}% |")
        return
    processes = [int(n) for n in args.processes.split(",")]
    examples = args.examples.split(",")
    with tempfile.TemporaryDirectory() as work:
        if "baby_lm" in examples:
            sources = [args.text] if args.text else sorted(glob.glob("/usr/share/vim/vim*/doc/usr_*.txt"))
            if not sources:
                sys.exit("scaling.py: no --text given and no Vim manual found")
            text = "".join(open(s, encoding="utf-8", errors="replace").read() for s in sources)
            args.text_file = os.path.join(work, "text.txt")
            with open(args.text_file, "w", encoding="utf-8") as f:
                f.write(text[: args.text_bytes])
        results = {(e, n): [] for e in examples for n in processes}
        for r in range(args.repeats):
            for e in examples:
                for n in processes:
                    results[(e, n)].append(measure(e, n, args, work))
                    print(f"round {r + 1}: {e} x{n}: {results[(e, n)][-1][0]:.0f}/s", file=sys.stderr)
    print(f"CPU: {cpu_name()}; load average at the end {os.getloadavg()[0]:.2f}")
    print(f"medians of {args.repeats} interleaved repeats, 1 BLAS thread per process\n")
    print("| example | processes | rate | speed-up | allreduce wait (rank 0) |")
    print("|---|---|---|---|---|")
    for e in examples:
        unit = "names/s" if e == "name_language" else "chars/s"
        base = statistics.median(v for v, _ in results[(e, processes[0])])
        for n in processes:
            rate = statistics.median(v for v, _ in results[(e, n)])
            share = statistics.median(s for _, s in results[(e, n)])
            print(f"| {e} | {n} | {rate:,.0f} {unit} | {rate / base:.2f}x | {100 * share:.1f}% |")
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps({"example": e, "processes": n, "rates": [v for v, _ in results[(e, n)]],
                                        "wait_shares": [s for _, s in results[(e, n)]],
                                        "unit": unit, "cpu": cpu_name(),
                                        "host": platform.node()}) + "\n")


if __name__ == "__main__":
    main()
