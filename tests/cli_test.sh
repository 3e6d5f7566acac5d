#!/usr/bin/env bash
# Command-line tests: exit codes, one-line errors, result files, a real run against the target.
# Usage: cli_test.sh LOADTEST_HTTP QUICKSTART LOADTEST_TARGET
# Prints 'cli: N passed, N failed' last; exits non-zero when anything failed.
set -u
http_bin=$1 quickstart_bin=$2 target_bin=$3
work=$(mktemp -d)
target_pid=
cleanup() { [ -n "$target_pid" ] && kill "$target_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work" || exit 1
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $1"; }
not_ok() { failed=$((failed + 1)); echo "FAIL - $1"; shift; for l in "$@"; do echo "       $l"; done; }

# expect_exit CODE NEEDLE ARGS...: the tool exits CODE and prints exactly one stderr line containing NEEDLE.
expect_exit() {
  local code=$1 needle=$2; shift 2
  timeout 60 "$http_bin" "$@" >"$work/out" 2>"$work/err"
  local got=$? lines
  lines=$(wc -l <"$work/err")
  if [ "$got" = "$code" ] && [ "$lines" = 1 ] && grep -qF -- "$needle" "$work/err"; then
    ok "exit $code for: $*"
  else
    not_ok "exit $code for: $*" "got exit $got, $lines stderr line(s):" "$(head -3 "$work/err")"
  fi
}

# A target on loopback, stopped by the trap (and by its own --duration at the latest).
"$target_bin" --port 0 --delay 2ms --duration 5m >"$work/target.out" 2>&1 &
target_pid=$!
for _ in $(seq 100); do grep -q '^listening on ' "$work/target.out" && break; sleep 0.1; done
base=$(sed -n 's/^listening on //p' "$work/target.out")
[ -n "$base" ] || { not_ok "target starts" "$(cat "$work/target.out")"; echo "cli: $passed passed, $failed failed"; exit 1; }
url="${base%/}/items"

# Bad usage: exit 2, one line naming the bad value.
expect_exit 2 "missing URL"
expect_exit 2 "'-5'" --users=-5 "$url"
expect_exit 2 "'-5'" -u -5 "$url"
expect_exit 2 "'10x'" -u 10x "$url"
expect_exit 2 "'10x'" -d 10x "$url"
expect_exit 2 "'0'" -t 0 "$url"
expect_exit 2 "'1y'" --timeout 1y "$url"
expect_exit 2 "'not-a-url'" not-a-url
expect_exit 2 "'ftp://127.0.0.1/'" ftp://127.0.0.1/
expect_exit 2 "'FETCH'" -m FETCH "$url"
expect_exit 2 "'nocolon'" -H nocolon "$url"
expect_exit 2 "'--bogus'" --bogus "$url"
expect_exit 2 "'2m'" -r 2m -d 1m "$url"
expect_exit 2 "'42'" --expect 42 "$url"
# Load shapes and the open model: bad specs name the bad part.
expect_exit 2 "stage 2 '1x:5'" --stages 30s:5,1x:5 "$url"
expect_exit 2 "unknown shape 'wave'" --pattern wave:a=1 "$url"
expect_exit 2 "missing 'steps='" --pattern step:start=1,step=1,every=1s "$url"
expect_exit 2 "unknown key 'colour'" --pattern spike:base=1,peak=2,at=1s,rise=1s,hold=1s,fall=1s,colour=red "$url"
expect_exit 2 "after the duration" -d 10s --pattern spike:base=1,peak=5,at=8s,rise=1s,hold=1s,fall=1s "$url"
expect_exit 2 "'-3'" --rate=-3 "$url"
expect_exit 2 "'sometimes'" --rate 10 --arrivals sometimes "$url"
expect_exit 2 "needs --rate" --arrivals poisson "$url"
expect_exit 2 "cannot be combined" --stages 1s:5 --pattern step:start=1,step=1,every=1s,steps=1 "$url"
expect_exit 2 "cannot be combined" --rate 10 -u 5 "$url"
expect_exit 2 "'0'" --rate 10 --max-users 0 "$url"
# Cannot run: the results directory is not writable (a path under a regular file); nothing runs.
touch "$work/plainfile"
expect_exit 1 "plainfile/results" -d 1s --results-dir "$work/plainfile/results" "$url"

# --help works.
if "$http_bin" --help | grep -q -- '--users'; then ok "--help lists the options"; else not_ok "--help lists the options"; fi

# A real run: 5 users for 2 s; files named like the original framework's.
if timeout 60 "$http_bin" -u 5 -d 2s -r 500ms --quiet --json "$work/out.json" --results-dir "$work/res" "$url" >"$work/run.out" 2>&1; then
  ok "a 2 s run exits 0"
else
  not_ok "a 2 s run exits 0" "$(tail -5 "$work/run.out")"
fi
check_json() {
  python3 - "$@" <<'PY'
import json, sys, glob, os
out, res = sys.argv[1], sys.argv[2]
r = json.load(open(out))
assert r["name"] == "API_GET_/items", r["name"]
m = r["metrics"]
keys = list(m)[:8]
assert keys == ["total_requests", "successful_requests", "failed_requests", "duration", "avg_response_time",
                "p95_response_time", "p99_response_time", "requests_per_second"], keys
assert m["total_requests"] > 0 and m["successful_requests"] == m["total_requests"], m
assert "GET /items" in r["endpoints"], r["endpoints"].keys()
files = sorted(os.path.basename(f) for f in glob.glob(res + "/*.json"))
assert len(files) == 2 and files[0].startswith("loadtest_API_GET__items_") and files[1].startswith("metrics_API_GET__items_"), files
assert oct(os.stat(res).st_mode & 0o777) == "0o700"
for f in glob.glob(res + "/*.json"):
    assert oct(os.stat(f).st_mode & 0o777) == "0o600", f
PY
}
if err=$(check_json "$work/out.json" "$work/res" 2>&1); then ok "result JSON and file names"; else not_ok "result JSON and file names" "$err"; fi
if grep -q "Response time" "$work/run.out"; then ok "--quiet still prints the summary"; else not_ok "--quiet still prints the summary"; fi
if grep -q '^\[' "$work/run.out"; then not_ok "--quiet hides the live lines"; else ok "--quiet hides the live lines"; fi

# The open model: corrected response times plus service time and schedule blocks.
if timeout 60 "$http_bin" --rate 200 -d 2s --quiet --json "$work/open.json" --results-dir "$work/openres" "$url" >"$work/open.out" 2>&1 &&
   python3 - "$work/open.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["model"] == "open", r["model"]
s = r["schedule"]
assert s["intended"] == 400 and s["started"] + s["dropped"] == 400, s
assert set(r["service_time"]) >= {"avg", "p50", "p90", "p95", "p99", "p999", "max"}, r["service_time"]
assert set(s) >= {"intended", "started", "late", "dropped", "lag_p50", "lag_p99", "lag_max"}, s
assert r["metrics"]["p50_response_time"] >= r["service_time"]["p50"]
PY
then ok "--rate runs the open model with service_time and schedule"; else not_ok "--rate runs the open model" "$(tail -5 "$work/open.out")"; fi
if timeout 60 "$http_bin" --stages 500ms:4,1s:4,500ms:0 --quiet --json "$work/stages.json" --results-dir "$work/stres" "$url" >/dev/null 2>&1 &&
   python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['metrics']['max_active_users']==4, r['metrics']" "$work/stages.json"
then ok "--stages shapes the users"; else not_ok "--stages shapes the users"; fi

# SIGINT ends the test early and the result is still written.
timeout 60 "$http_bin" -u 2 -d 60s -r 0s --quiet --results-dir "$work/int" "$url" >"$work/int.out" 2>&1 &
pid=$!
sleep 1.5
kill -INT $pid
wait $pid
code=$?
if [ "$code" = 0 ] && ls "$work/int"/loadtest_*.json >/dev/null 2>&1; then ok "SIGINT keeps the result"; else not_ok "SIGINT keeps the result" "exit $code" "$(tail -3 "$work/int.out")"; fi

# The quickstart runs a real ramping test and writes its files.
if (cd "$work" && timeout 120 "$quickstart_bin" >"$work/qs.out" 2>&1) && ls "$work"/loadtest_results/loadtest_quickstart_*.json >/dev/null 2>&1; then
  ok "quickstart runs and writes its result"
else
  not_ok "quickstart runs and writes its result" "$(tail -5 "$work/qs.out")"
fi

echo "cli: $passed passed, $failed failed"
[ "$failed" = 0 ]
