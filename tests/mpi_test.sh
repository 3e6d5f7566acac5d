#!/usr/bin/env bash
# Scale-out under MPI, on loopback: `mpirun -np 3 loadtest-http ...` against loadtest-target.
#
#   mpi_test.sh LOADTEST_HTTP LOADTEST_TARGET LOADTEST_MERGE
#
# Every case starts its own target (so the server's count is the run's), runs 3 ranks
# oversubscribed on this machine over loopback only, and checks the merged result at rank 0.
# Exits 77 (skip) with a message when mpirun is missing; prints "mpi: N passed, N failed".
set -u
http=$1 target=$2 merge=$3

if ! command -v mpirun >/dev/null 2>&1; then
  echo "SKIP: mpirun is not installed (Debian: openmpi-bin); scripts/setup installs it"
  exit 77
fi
py=/usr/bin/python3
[[ -x $py ]] || py=python3
# Open MPI's runtime keeps allocations until exit: under the sanitizer stage of scripts/test,
# LeakSanitizer would report them as loadtest's. Everything else ASan checks stays on.
if [[ -n ${LOADTEST_SANITIZER:-} ]]; then
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

passed=0 failed=0
ok() { echo "ok: $1"; passed=$((passed + 1)); }
bad() { echo "FAILED: $1"; failed=$((failed + 1)); }

# Loopback only: shared memory between ranks here, and TCP over lo for the runtime.
mpi=(mpirun --allow-run-as-root --oversubscribe -np 3 --mca btl self,vader,tcp --mca btl_tcp_if_include lo
     --mca oob_tcp_if_include lo)

# start_target NAME [target options...]: starts loadtest-target, sets $url and $target_pid.
start_target() {
  local name=$1
  shift
  "$target" --port 0 --duration 120s "$@" >"$work/$name.target" 2>&1 &
  target_pid=$!
  pids+=("$target_pid")
  for _ in $(seq 100); do
    url=$(sed -n 's/^listening on //p' "$work/$name.target")
    [[ -n $url ]] && return 0
    sleep 0.05
  done
  echo "target did not start"; cat "$work/$name.target"; return 1
}
# stop_target NAME: stops it and prints how many requests it served.
stop_target() {
  kill -TERM "$target_pid" 2>/dev/null
  wait "$target_pid" 2>/dev/null
  sed -n 's/^served \([0-9]*\) requests.*/\1/p' "$work/$1.target"
}
# field FILE EXPR: a figure of a result JSON (python expression over r).
field() { "$py" -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }
only_result() { ls "$1"/loadtest_*.json 2>/dev/null; }

# 1. Closed model, 30 users over 3 ranks: at most 30 active; the server saw what was counted.
start_target closed --delay 5ms || exit 1
"${mpi[@]}" "$http" -q -u 30 -r 0 -d 3s --name closed --results-dir "$work/closed" "$url" >"$work/closed.out" 2>&1
rc=$?
served=$(stop_target closed)
files=$(only_result "$work/closed" | wc -l)
if [[ $rc == 0 && $files == 1 ]]; then
  f=$(only_result "$work/closed")
  total=$(field "$f" "r['metrics']['total_requests'] + r['metrics'].get('retries', 0)")
  users=$(field "$f" "r['metrics']['max_active_users']")
  ranks=$(field "$f" "r['config']['ranks']")
  if [[ $total == "$served" && $users -le 30 && $users -ge 28 && $ranks == 3 ]]; then
    ok "closed model: $total requests merged == $served served, $users users at most, 3 ranks"
  else
    bad "closed model: merged $total vs served $served, max users $users, ranks $ranks"
  fi
  [[ $(field "$f" "'segment' in r['config']") == False ]] || bad "closed model: the merged result still names a segment"
else
  bad "closed model: exit $rc, $files result files (want 0 and 1)"; cat "$work/closed.out"
fi

# 2. Open model, 3000/s for 5 s over 3 ranks: 15000 requests +-1 %, lag figures merged. Every
#    rank also writes its own part (--rank-results) for case 4.
start_target open || exit 1
"${mpi[@]}" "$http" -q --rate 3000 -d 5s --max-users 300 --name open --results-dir "$work/open" \
  --rank-results "$work/open-ranks" --threshold 'requests>=12000' --threshold 'rps>2500' "$url" >"$work/open.out" 2>&1
rc=$?
stop_target open >/dev/null
f=$(only_result "$work/open")
if [[ $rc == 0 && -n $f ]]; then
  total=$(field "$f" "r['metrics']['total_requests']")
  intended=$(field "$f" "r['schedule']['intended']")
  lag=$(field "$f" "r['schedule']['lag_p99'] is not None and r['schedule']['lag_p99'] >= 0")
  if (( total >= 14850 && total <= 15150 && intended == 15000 )) && [[ $lag == True ]]; then
    ok "open model: $total requests of $intended intended over 3 ranks, lag merged"
  else
    bad "open model: $total requests, $intended intended, lag $lag"
  fi
  # 3 ranks of 5000 requests each: thresholds judge the union, not one rank.
  ok "thresholds on the union: requests>=12000 and rps>2500 pass (each rank has 5000, 1000/s)"
else
  bad "open model: exit $rc (thresholds requests>=12000, rps>2500 should pass on the union)"; cat "$work/open.out"
fi

# 3. The union is judged: requests<12000 fails on the merged whole, so every rank exits 99.
start_target judged || exit 1
"${mpi[@]}" "$http" -q --rate 3000 -d 5s --max-users 300 --name judged --results-dir "$work/judged" \
  --threshold 'requests<12000' "$url" >"$work/judged.out" 2>&1
rc=$?
stop_target judged >/dev/null
[[ $rc == 99 ]] && ok "requests<12000 fails on the union: exit 99" || { bad "requests<12000: exit $rc, want 99"; cat "$work/judged.out"; }

# 4. The merged p99 equals loadtest-merge of the ranks' own parts, and the p99 of all samples
#    (the parts' histograms decoded and added here, independently of the C++ code).
if [[ -n $f ]] && ls "$work"/open-ranks/*.json >/dev/null 2>&1; then
  "$merge" --json "$work/merged.json" "$work"/open-ranks/*.json >"$work/merge.out" 2>&1
  mrc=$?
  verdict=$(PYTHONPATH="$(dirname "$0")" "$py" - "$f" "$work/merged.json" "$work"/open-ranks/*.json <<'PY'
import json, sys
import hdr_v2  # the independent V2 decoder of the codec test

mpi, merged, parts = sys.argv[1], sys.argv[2], sys.argv[3:]
m = json.load(open(mpi)); g = json.load(open(merged))
union = {}
for p in parts:
    h = hdr_v2.decode(json.load(open(p))['histograms']['response_time'])
    for k, v in h.counts.items(): union[k] = union.get(k, 0) + v
whole = hdr_v2.decode(m['histograms']['response_time'])
all_samples = hdr_v2.Hist(whole.lowest, whole.highest, whole.digits, union)
p99_us, _ = all_samples.value_at_percentile(99)
a = m['metrics']['p99_response_time']; b = g['metrics']['p99_response_time']
same = whole.counts == union and abs(a - p99_us / 1e6) < 1e-9
print('ok' if a == b and same and m['metrics']['total_requests'] == g['metrics']['total_requests']
      else f'mpi p99 {a}, merge p99 {b}, all-samples p99 {p99_us / 1e6}, same buckets {whole.counts == union}')
PY
)
  if [[ $mrc == 0 && $verdict == ok ]]; then
    ok "merged p99 == loadtest-merge of the ranks' parts == the p99 of all their samples"
  else
    bad "p99 comparison: merge exit $mrc, $verdict"; cat "$work/merge.out"
  fi
else
  bad "no rank results to compare (--rank-results)"
fi

# 5. A 1 s server stall shows in the merged corrected p99, not in the service time.
start_target stall --stall-after 2s --stall-for 1s || exit 1
"${mpi[@]}" "$http" -q --rate 300 -d 5s --max-users 3 --name stall --results-dir "$work/stall" "$url" \
  >"$work/stall.out" 2>&1
rc=$?
stop_target stall >/dev/null
f=$(only_result "$work/stall")
if [[ $rc == 0 && -n $f ]]; then
  p99=$(field "$f" "r['metrics']['p99_response_time']")
  svc=$(field "$f" "r['service_time']['p99']")
  if "$py" -c "import sys; sys.exit(0 if $p99 >= 0.5 and $svc < 0.5 else 1)"; then
    ok "stall: corrected p99 ${p99}s, service-time p99 ${svc}s"
  else
    bad "stall: corrected p99 ${p99}s, service-time p99 ${svc}s (want >= 0.5 and < 0.5)"
  fi
else
  bad "stall: exit $rc"; cat "$work/stall.out"
fi

# 6. Bad input on one rank only is every rank's: exit 2, the message printed once.
"${mpi[@]}" bash -c 'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then exec "$0" -u 0 -d 1s "$1"; else exec "$0" -d 1s "$1"; fi' \
  "$http" "http://127.0.0.1:9/" >"$work/badrank.out" 2>&1
rc=$?
lines=$(grep -c "loadtest-http:" "$work/badrank.out")
if [[ $rc == 2 && $lines == 1 ]]; then
  ok "a bad option on rank 1: exit 2, one line: $(grep "loadtest-http:" "$work/badrank.out")"
else
  bad "a bad option on rank 1: exit $rc, $lines message lines"; cat "$work/badrank.out"
fi
# Ranks that disagree on the configuration: exit 2, naming the first difference.
"${mpi[@]}" bash -c 'if [ "$OMPI_COMM_WORLD_RANK" = 2 ]; then exec "$0" -q -u 5 -d 1s "$1"; else exec "$0" -q -u 6 -d 1s "$1"; fi' \
  "$http" "http://127.0.0.1:9/" >"$work/differ.out" 2>&1
rc=$?
if [[ $rc == 2 ]] && grep -q "rank 2" "$work/differ.out" && [[ $(grep -c "loadtest-http:" "$work/differ.out") == 1 ]]; then
  ok "ranks with different options: exit 2, $(grep "loadtest-http:" "$work/differ.out")"
else
  bad "ranks with different options: exit $rc"; cat "$work/differ.out"
fi

# 7. Killing one rank ends the run within 10 s, with an incomplete result and a non-zero exit.
start_target kill || exit 1
start=$(date +%s)
"${mpi[@]}" "$http" -q -u 6 -r 0 -d 60s --name killed --results-dir "$work/killed" "$url" >"$work/killed.out" 2>&1 &
mpi_pid=$!
pids+=("$mpi_pid")
victim=""
for _ in $(seq 100); do
  for p in $(pgrep -f "loadtest-http -q -u 6" 2>/dev/null); do
    [[ $p == "$mpi_pid" ]] && continue
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && victim=$p
  done
  [[ -n $victim ]] && break
  sleep 0.1
done
sleep 3
if [[ -n $victim ]]; then
  kill -KILL "$victim"
  killed_at=$(date +%s)
  for _ in $(seq 300); do kill -0 "$mpi_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$mpi_pid" 2>/dev/null; then
    bad "killing rank 1: the run still runs 30 s later"
    kill -KILL "$mpi_pid"
  else
    wait "$mpi_pid"
    rc=$?
    took=$(( $(date +%s) - killed_at ))
    f=$(ls "$work"/killed/loadtest_*.json "$work"/killed/checkpoint_*.json 2>/dev/null | head -1)
    incomplete=$([[ -n $f ]] && field "$f" "r.get('incomplete', False) or r.get('checkpoint', False)")
    if [[ $rc != 0 && $took -le 10 && $incomplete == True ]]; then
      ok "killing rank 1: ended ${took}s later, exit $rc, result marked incomplete ($(basename "$f"))"
    else
      bad "killing rank 1: ended ${took}s later, exit $rc, result '${f:-none}' incomplete=$incomplete"; cat "$work/killed.out"
    fi
  fi
else
  bad "killing rank 1: could not find rank 1's process"
fi
stop_target kill >/dev/null

echo "mpi: $passed passed, $failed failed"
(( failed == 0 ))
