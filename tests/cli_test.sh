#!/usr/bin/env bash
# Command-line tests: exit codes, one-line errors, result files, a real run against the target.
# Usage: cli_test.sh LOADTEST_HTTP QUICKSTART LOADTEST_TARGET WEIGHTED_TASKS
# Prints 'cli: N passed, N failed' last; exits non-zero when anything failed.
set -u
http_bin=$1 quickstart_bin=$2 target_bin=$3 weighted_bin=$4
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
# HTTP/2 options (issue 12).
expect_exit 2 "--http2 and --h2c cannot be combined" --http2 --h2c "$url"
expect_exit 2 "is https" --h2c https://127.0.0.1:1/items
expect_exit 2 "'0'" --h2c --max-streams 0 "$url"
expect_exit 2 "'-4'" --http2 --max-streams=-4 "$url"
# Behaviour, backoff and results options: bad specs name the bad part.
expect_exit 2 "'sometimes'" --think sometimes "$url"
expect_exit 2 "'exponential:1s'" --backoff exponential:1s "$url"
expect_exit 2 "'101'" --retry 101 "$url"
expect_exit 2 "'42'" --backoff-on 42 "$url"
expect_exit 2 "'p(99)<<200ms'" --threshold 'p(99)<<200ms' "$url"
expect_exit 2 "'latency<1s'" --threshold 'latency<1s' "$url"
expect_exit 2 "needs --baseline" --max-regression 10% "$url"
expect_exit 2 "'ten'" --baseline /dev/null --max-regression ten "$url"
expect_exit 2 "missing.json" --baseline "$work/missing.json" "$url"
expect_exit 2 "needs at least one --threshold" --abort-on-fail "$url"
expect_exit 2 "'soon'" --threshold 'p(99)<1s' --abort-on-fail --abort-grace soon "$url"
expect_exit 2 "10.0.0.1" --prometheus 10.0.0.1:9090 "$url"
# Cannot run: the results directory is not writable (a path under a regular file); nothing runs.
touch "$work/plainfile"
expect_exit 1 "plainfile/results" -d 1s --results-dir "$work/plainfile/results" "$url"

# Hardening (issue 9): runaway numbers, empty specs, headers, baselines are refused before anything runs.
expect_exit 2 "--stages" --stages '' "$url"
expect_exit 2 "--pattern" --pattern '' "$url"
expect_exit 2 "more than the limit of 1000000" --stages 1s:1e30 "$url"
expect_exit 2 "more than the limit of 1000000" --stages 1s:10000000 "$url"
expect_exit 2 "more than the limit of 1000000" -d 10s --pattern spike:base=1,peak=1e30,at=1s,rise=1s,hold=1s,fall=1s "$url"
expect_exit 2 "0.001..1e7" --rate 1e-30 -d 1s "$url"
expect_exit 2 "0.001..1e7" --rate 1e-30 --arrivals poisson -d 1s "$url"
expect_exit 2 "0.001..1e7" --rate 1e30 "$url"
expect_exit 2 "0.001..1e7" --rate 10 --stages 1s:1e30 "$url"
expect_exit 2 "too long" -d 1e30s "$url"
expect_exit 2 "0.001..1e7" --think throughput:1e-30 "$url"
expect_exit 2 'a\r\nInjected: b' -H $'X: a\r\nInjected: b' "$url"
expect_exit 2 "not an RFC 9110 token" -H 'X Y: v' "$url"
expect_exit 2 "not an RFC 9110 token" -H $'X\tY: v' "$url"
expect_exit 2 "Content-Length is set by the client" -H 'Content-Length: 5' "$url"
expect_exit 2 "Transfer-Encoding is not supported" -H 'Transfer-Encoding: chunked' "$url"
expect_exit 2 "'Host' given twice" -H 'Host: a' -H 'Host: b' "$url"
expect_exit 2 "--name" -n $'two\nlines' "$url"
mkdir -p "$work/adir"
expect_exit 2 "is a directory" --baseline "$work/adir" "$url"
expect_exit 2 "is a directory" --json "$work/adir" "$url"
truncate -s 65M "$work/big.json"
expect_exit 2 "more than the limit" --baseline "$work/big.json" "$url"
expect_exit 2 "--max-body" --max-body 2GiB "$url"
if timeout 60 "$http_bin" --check -H 'Host: example.test' "$url" >"$work/out" 2>&1 && [ "$(wc -l <"$work/out")" = 1 ]; then
  ok "--check accepts -H 'Host: ...' (it replaces the default) and sends nothing"
else
  not_ok "--check accepts -H 'Host: ...'" "$(cat "$work/out")"
fi
# Descriptors: the tool raises the soft limit to the hard one, and refuses what cannot fit (exit 1).
(ulimit -n 64; expect_exit 1 "file descriptors" -u 500 -d 1s "$url"; echo "$passed $failed" >"$work/sub")
read -r passed failed <"$work/sub"
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 400 ]; then
  if (ulimit -Sn 64; timeout 60 "$http_bin" -u 200 -d 1s -r 0s --quiet --results-dir "$work/fd" "$url" >"$work/fd.out" 2>&1); then
    ok "200 users under a soft limit of 64 descriptors run (raised to the hard limit)"
  else
    not_ok "200 users under a soft limit of 64 run" "$(tail -3 "$work/fd.out")"
  fi
fi
# --prometheus prints the address it really listens on (port 0: the one chosen).
timeout 60 "$http_bin" -u 1 -d 1s -r 0s --prometheus 127.0.0.1:0 --results-dir "$work/prom" "$url" >"$work/prom.out" 2>&1
if grep -qE '^prometheus: http://127\.0\.0\.1:[1-9][0-9]*/metrics' "$work/prom.out"; then
  ok "--prometheus 127.0.0.1:0 prints the real address"
else
  not_ok "--prometheus prints the real address" "$(grep prometheus "$work/prom.out")"
fi
# Bodies: an endless chunked body is read and counted, not stored; 16 users stay within 800 MB of
# address space (each kept up to 64 MiB before), and every request ends as a timeout.
cat >"$work/endless.py" <<'PY'
import socket, sys, threading, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(64)
print(s.getsockname()[1], flush=True)
chunk = b"%x\r\n" % 65536 + b"z" * 65536 + b"\r\n"
end = time.monotonic() + 30
def serve(c):
    try:
        c.settimeout(5); c.recv(65536)
        c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while time.monotonic() < end: c.sendall(chunk)
    except OSError: pass
    finally: c.close()
s.settimeout(1)
while time.monotonic() < end:
    try: c, _ = s.accept()
    except socket.timeout: continue
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
/usr/bin/python3 "$work/endless.py" >"$work/endless.port" 2>&1 &
endless_pid=$!
for _ in $(seq 50); do [ -s "$work/endless.port" ] && break; sleep 0.1; done
eport=$(head -1 "$work/endless.port")
(if [ -z "${LOADTEST_SANITIZER:-}" ]; then ulimit -v 800000; fi; timeout 60 "$http_bin" -u 16 -d 2s -r 0s --timeout 1s --quiet --json "$work/endless.json" \
   --results-dir "$work/endless" "http://127.0.0.1:$eport/" >"$work/endless.out" 2>&1)
code=$?
kill "$endless_pid" 2>/dev/null
if [ "$code" = 0 ] && /usr/bin/python3 -c "
import json,sys; r=json.load(open(sys.argv[1])); c=r['metrics']
assert r['errors_by_category'].get('timeout',0)>0 and c['successful_requests']==0, (r['errors_by_category'], c)" "$work/endless.json" 2>"$work/endless.err"
then ok "an endless chunked body stays bounded (16 users under ulimit -v 800 MB) and times out"
else not_ok "an endless chunked body stays bounded" "exit $code" "$(tail -3 "$work/endless.out")" "$(cat "$work/endless.err")"; fi

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

# HTTP/2 with prior knowledge against the target (h2c); --http2 on http:// says it uses HTTP/1.1.
# (A build with -Dhttp2=disabled refuses both with exit 2.)
if "$http_bin" --h2c --max-users 0 "$url" 2>&1 >/dev/null | grep -q "built without HTTP/2"; then
  ok "HTTP/2 runs skipped: built without HTTP/2"
elif timeout 60 "$http_bin" --h2c -u 3 -d 1s -r 0 --quiet --json "$work/h2c.json" --results-dir "$work/h2cres" "$url" >"$work/h2c.out" 2>&1 &&
   python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); m=r["metrics"]; assert m["total_requests"] > 0 and m["errors"] == 0, m; assert r["config"].get("protocol") == "h2c", r["config"]' "$work/h2c.json"; then
  ok "an h2c run exits 0 without errors"
else
  not_ok "an h2c run exits 0 without errors" "$(tail -5 "$work/h2c.out")"
fi
if "$http_bin" --h2c --max-users 0 "$url" 2>&1 >/dev/null | grep -q "built without HTTP/2"; then
  :
elif timeout 60 "$http_bin" --http2 -u 1 -d 500ms -r 0 --quiet --results-dir "$work/h2res" "$url" >"$work/h2.out" 2>"$work/h2.err" &&
   [ "$(grep -c 'using HTTP/1.1' "$work/h2.err")" = 1 ]; then
  ok "--http2 on http:// falls back to HTTP/1.1 and says so once"
else
  not_ok "--http2 on http:// falls back to HTTP/1.1 and says so once" "$(cat "$work/h2.err" | head -3)"
fi

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

# Thresholds and baselines decide the exit status: 0 when they hold, 99 when not.
run_quiet() { timeout 60 "$http_bin" -u 4 -d 1s -r 0s --quiet --results-dir "$work/thr" "$@" "$url" >"$work/thr.out" 2>"$work/thr.err"; }
run_quiet --threshold 'p(99)<10s' --threshold 'error_rate<0.01' --json "$work/base.json"
if [ $? = 0 ]; then ok "thresholds that hold exit 0"; else not_ok "thresholds that hold exit 0" "$(cat "$work/thr.err")"; fi
run_quiet --threshold 'p(50)<1us' --threshold 'rps>0' --json "$work/thr.json"
code=$?
if [ "$code" = 99 ] && python3 -c "
import json,sys; t=json.load(open(sys.argv[1]))['thresholds']
assert [x['passed'] for x in t]==[False,True], t" "$work/thr.json"; then ok "a failed threshold exits 99 and is in the JSON"; else not_ok "a failed threshold exits 99" "exit $code" "$(cat "$work/thr.err")"; fi
timeout 60 "$http_bin" -u 4 -d 30s -r 0s --quiet --results-dir "$work/thr" --threshold 'p(50)<1us' --abort-on-fail --abort-grace 1s \
  --json "$work/abort.json" "$url" >"$work/thr.out" 2>"$work/thr.err"
code=$?
if [ "$code" = 99 ] && python3 -c "
import json,sys; r=json.load(open(sys.argv[1])); assert 'p(50)<1us' in r['aborted_by'] and r['metrics']['duration'] < 25, r['metrics']" "$work/abort.json"
then ok "--abort-on-fail stops at the breach"; else not_ok "--abort-on-fail stops at the breach" "exit $code"; fi
# The baseline: the same target with a slower route is a regression.
python3 - "$work/base.json" "$work/fast.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for k in ("avg_response_time", "p50_response_time", "p95_response_time", "p99_response_time"):
    r["metrics"][k] /= 4  # a baseline four times faster than what this run will see
json.dump(r, open(sys.argv[2], "w"))
PY
run_quiet --baseline "$work/base.json" --max-regression 50%
if [ $? = 0 ]; then ok "a run like its baseline exits 0"; else not_ok "a run like its baseline exits 0" "$(cat "$work/thr.err")"; fi
run_quiet --baseline "$work/fast.json" --max-regression 10%
code=$?
if [ "$code" = 99 ] && grep -q "regression" "$work/thr.err" && grep -q "p50" "$work/thr.out"; then ok "a regression against the baseline exits 99"; else not_ok "a regression exits 99" "exit $code" "$(cat "$work/thr.err")"; fi
# Report files.
run_quiet --html "$work/r.html" --csv "$work/out" --hgrm "$work/r.hgrm" --think constant:1ms --backoff exponential:10ms:1s:full --retry 1
if [ $? = 0 ] && grep -q "<svg" "$work/r.html" && ! grep -qE '(src|href)="https?://' "$work/r.html" &&
   head -1 "$work/out_stats.csv" | grep -q 'Request Count' && grep -q "Percentile" "$work/r.hgrm"
then ok "--html, --csv and --hgrm write their files"; else not_ok "--html, --csv and --hgrm write their files" "$(cat "$work/thr.err")"; fi

# SIGINT ends the test early, the result is still written, and the exit code says so (130).
timeout 60 "$http_bin" -u 2 -d 60s -r 0s --quiet --results-dir "$work/int" "$url" >"$work/int.out" 2>&1 &
pid=$!
sleep 1.5
kill -INT $pid
wait $pid
code=$?
if [ "$code" = 130 ] && ls "$work/int"/loadtest_*.json >/dev/null 2>&1; then ok "SIGINT keeps the result"; else not_ok "SIGINT keeps the result" "exit $code" "$(tail -3 "$work/int.out")"; fi

# The quickstart runs a real ramping test and writes its files.
if (cd "$work" && timeout 120 "$quickstart_bin" >"$work/qs.out" 2>&1) && ls "$work"/loadtest_results/loadtest_quickstart_*.json >/dev/null 2>&1; then
  ok "quickstart runs and writes its result"
else
  not_ok "quickstart runs and writes its result" "$(tail -5 "$work/qs.out")"
fi

# The weighted-tasks example: every task shows in the endpoints, in the order of its weight.
if timeout 120 "$weighted_bin" --quiet --json "$work/weighted.json" >"$work/weighted.out" 2>&1 &&
   python3 - "$work/weighted.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))["endpoints"]
need = {"browse", "view item", "search", "login", "add to cart", "checkout"}
assert need <= set(e), sorted(e)
n = {k: e[k]["total_requests"] for k in need}
assert n["browse"] > n["view item"] > n["search"] > n["checkout"] > 0, n
PY
then ok "weighted_tasks runs and counts each task"; else not_ok "weighted_tasks runs and counts each task" "$(tail -5 "$work/weighted.out")"; fi
if "$weighted_bin" --bogus >/dev/null 2>&1; then not_ok "weighted_tasks rejects bad usage"; else
  [ $? = 2 ] && ok "weighted_tasks rejects bad usage (exit 2)" || not_ok "weighted_tasks rejects bad usage (exit 2)"; fi

echo "cli: $passed passed, $failed failed"
[ "$failed" = 0 ]
