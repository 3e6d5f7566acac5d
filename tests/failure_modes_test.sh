#!/usr/bin/env bash
# What signals, kill -9 and storage faults do to a run of loadtest-http (README "Failure modes").
#
#   failure_modes_test.sh LOADTEST_HTTP LOADTEST_TARGET
#
# Every run targets a loadtest-target on loopback started here, and is bounded (-d, timeouts).
# The storage cases mount a small tmpfs (root only); where that is not possible they say so and
# are not counted. Prints "failure_modes: N passed, N failed".
set -u
http=$1 target=$2
py=/usr/bin/python3
[[ -x $py ]] || py=python3
work=$(mktemp -d)
mounts=()
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
passed=0 failed=0
ok() { echo "ok: $1"; passed=$((passed + 1)); }
bad() { echo "FAILED: $1"; failed=$((failed + 1)); }
field() { "$py" -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }

"$target" --port 0 --duration 120s --delay 2ms >"$work/target.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  url=$(sed -n 's/^listening on //p' "$work/target.out"); [[ -n $url ]] && break; sleep 0.05
done
[[ -n $url ]] || { echo "target did not start"; exit 1; }

# run_until_signal NAME SIGNAL [extra options]: a 60 s test, the signal after 1.5 s; sets rc, took.
run_until_signal() {
  local name=$1 sig=$2
  shift 2
  local t0=$(date +%s%N)
  "$http" -q -u 5 -r 0 -d 60s --name "$name" --results-dir "$work/$name" "$@" "$url" >"$work/$name.out" 2>&1 &
  local pid=$!
  pids+=($pid)
  sleep 1.5
  kill "-$sig" "$pid"
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  wait "$pid"
  rc=$?
  took=$(( ($(date +%s%N) - t0) / 1000000 ))
}

for case in "INT 130" "TERM 143" "HUP 129"; do
  set -- $case
  run_until_signal "sig$1" "$1"
  f=$(ls "$work/sig$1"/loadtest_*.json 2>/dev/null)
  h=$(ls "$work/sig$1"/metrics_*.json 2>/dev/null)
  mark=$([[ -n $f ]] && field "$f" "r.get('interrupted')")
  if [[ $rc == "$2" && -n $f && -n $h && $mark == "SIG$1" ]]; then
    ok "SIG$1: exit $rc, result and history written, \"interrupted\": \"$mark\""
  else
    bad "SIG$1: exit $rc (want $2), result '$f', history '$h', interrupted '$mark'"; cat "$work/sig$1.out"
  fi
  ls "$work/sig$1"/checkpoint_*.json >/dev/null 2>&1 && bad "SIG$1: the checkpoint was left behind"
done

# A second SIGINT ends the grace period at once: requests that hang 30 s, a 5 s grace period.
t0=$(date +%s%N)
"$http" -q -u 3 -r 0 -d 60s --timeout 40s --name grace --results-dir "$work/grace" "${url}?delay=30s" >"$work/grace.out" 2>&1 &
pid=$!
pids+=($pid)
sleep 1.5
kill -INT "$pid"; sleep 0.3; kill -INT "$pid"
for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
wait "$pid"; rc=$?
took=$(( ($(date +%s%N) - t0) / 1000000 ))
if [[ $rc == 130 && $took -lt 4000 ]] && ls "$work"/grace/loadtest_*.json >/dev/null 2>&1; then
  ok "a second SIGINT cut the 5 s grace period: ended after ${took} ms, exit 130, result kept"
else
  bad "second SIGINT: exit $rc after ${took} ms"; cat "$work/grace.out"
fi

# kill -9 loses at most one checkpoint interval: the checkpoint file is there and reads back.
"$http" -q -u 5 -r 0 -d 60s --checkpoint-interval 1s --name nine --results-dir "$work/nine" "$url" >"$work/nine.out" 2>&1 &
pid=$!
pids+=($pid)
sleep 2.6
kill -KILL "$pid"; wait "$pid" 2>/dev/null
c=$(ls "$work"/nine/checkpoint_*.json 2>/dev/null)
if [[ -n $c ]] && [[ $(field "$c" "r['checkpoint'] and r['metrics']['total_requests'] > 100") == True ]]; then
  ok "kill -9: $(basename "$c") holds $(field "$c" "r['metrics']['total_requests']") requests"
else
  bad "kill -9: no readable checkpoint ('$c')"
fi

# Storage: a full disk is refused at the start; one that fills mid-run sends the result to the
# fallback directory, says where, and exits 1.
if mkdir -p "$work/full" && mount -t tmpfs -o size=512k tmpfs "$work/full" 2>/dev/null; then
  mounts+=("$work/full")
  dd if=/dev/zero of="$work/full/filler" bs=4k count=1000 >/dev/null 2>&1
  "$http" -q -u 2 -d 2s --results-dir "$work/full/results" "$url" >"$work/full.out" 2>&1
  rc=$?
  if [[ $rc == 1 ]] && grep -q "full" "$work/full.out" && [[ $(grep -c . "$work/full.out") == 1 ]]; then
    ok "a full disk at the start: exit 1, $(cat "$work/full.out")"
  else
    bad "a full disk at the start: exit $rc"; cat "$work/full.out"
  fi
  mkdir -p "$work/fills" && mount -t tmpfs -o size=2m tmpfs "$work/fills" && mounts+=("$work/fills")
  export TMPDIR="$work/tmp"; mkdir -p "$TMPDIR"
  "$http" -q -u 2 -r 0 -d 3s --checkpoint-interval 0 --name fills --results-dir "$work/fills/results" "$url" >"$work/fills.out" 2>&1 &
  pid=$!
  pids+=($pid)
  sleep 1
  dd if=/dev/zero of="$work/fills/filler" bs=64k count=1000 >/dev/null 2>&1
  wait "$pid"; rc=$?
  unset TMPDIR
  fb=$(ls "$work"/tmp/loadtest_fallback/loadtest_fills_*.json 2>/dev/null)
  if [[ $rc == 1 && -n $fb ]] && grep -q "loadtest_fallback" "$work/fills.out"; then
    ok "the disk filled mid-run: result in $(basename "$(dirname "$fb")")/, exit 1"
  else
    bad "the disk filled mid-run: exit $rc, fallback '$fb'"; cat "$work/fills.out"
  fi
else
  echo "skip: cannot mount a tmpfs here (not root?): the storage cases are not run"
fi

echo "failure_modes: $passed passed, $failed failed"
(( failed == 0 ))
