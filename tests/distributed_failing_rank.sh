#!/usr/bin/env bash
# One rank of three throws: every rank must end within seconds, non-zero, with the failing rank's
# message on stderr; a hang (the timeout) or a zero exit fails this test.
# usage: distributed_failing_rank.sh MPIEXEC PROGRAM
set -u
mpiexec=$1 program=$2
err=$(mktemp)
trap 'rm -f "$err"' EXIT
start=$(date +%s)
timeout 60 "$mpiexec" -np 3 --oversubscribe --mca btl self,vader --mca oob_tcp_if_include lo \
  --mca btl_tcp_if_include lo "$program" 2>"$err" >/dev/null
status=$?
elapsed=$(( $(date +%s) - start ))
echo "exit status $status after ${elapsed} s; stderr:"
sed 's/^/  /' "$err"
if [ "$status" -eq 124 ]; then echo "FAILED: the job hung (killed by the 60 s timeout)"; exit 1; fi
if [ "$status" -eq 0 ]; then echo "FAILED: the job exited 0"; exit 1; fi
if ! grep -q '^rank 1: names shard 1: line 3 is empty$' "$err"; then
  echo "FAILED: no line 'rank 1: <message>' on stderr"; exit 1
fi
if [ "$elapsed" -gt 20 ]; then echo "FAILED: ending took ${elapsed} s"; exit 1; fi
echo "ok: every rank ended, exit status $status, in ${elapsed} s"
