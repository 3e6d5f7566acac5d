#!/usr/bin/env bash
# loadtest-merge end to end: two shard files of one test, made by loadtest-http against
# loadtest-target (their config.segment set to 0/2 and 1/2), merged; every refusal exits 2.
# Usage: merge_cli_test.sh LOADTEST_HTTP LOADTEST_TARGET LOADTEST_MERGE HDR_V2_PY
# Prints 'merge_cli: N passed, N failed' last; exits non-zero when anything failed, 77 without
# /usr/bin/python3 (the independent histogram decoder).
set -u
http_bin=$1 target_bin=$2 merge_bin=$3 hdr_py=$4
py=/usr/bin/python3
[ -x "$py" ] || { echo "merge_cli: skipped: no $py for the independent histogram decoder"; exit 77; }
work=$(mktemp -d)
target_pid=
cleanup() { [ -n "$target_pid" ] && kill "$target_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work" || exit 1
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $1"; }
not_ok() { failed=$((failed + 1)); echo "FAIL - $1"; shift; for l in "$@"; do echo "       $l"; done; }

# expect_exit CODE NEEDLE ARGS...: loadtest-merge exits CODE; for 2, exactly one stderr line containing NEEDLE.
expect_exit() {
  local code=$1 needle=$2; shift 2
  timeout 60 "$merge_bin" "$@" >"$work/out" 2>"$work/err"
  local got=$? lines
  lines=$(wc -l <"$work/err")
  if [ "$got" = "$code" ] && { [ "$code" != 2 ] || [ "$lines" = 1 ]; } && grep -qF -- "$needle" "$work/err" "$work/out"; then
    ok "exit $code ($needle): $*"
  else
    not_ok "exit $code ($needle): $*" "got exit $got, $lines stderr line(s):" "$(head -3 "$work/err")"
  fi
}

"$target_bin" --port 0 --delay 1ms --duration 5m >"$work/target.out" 2>&1 &
target_pid=$!
for _ in $(seq 100); do grep -q '^listening on ' "$work/target.out" && break; sleep 0.1; done
base=$(sed -n 's/^listening on //p' "$work/target.out")
[ -n "$base" ] || { not_ok "target starts" "$(cat "$work/target.out")"; echo "merge_cli: $passed passed, $failed failed"; exit 1; }
url="${base%/}/items"

# Two shards of one test. Without a --seed flag the seeds are random: the python edit sets them.
seed_flag=()
"$http_bin" --help | grep -q -- '--seed' && seed_flag=(--seed 7)
for shard in a b; do
  if ! timeout 60 "$http_bin" -u 3 -d 1500ms -r 0s --quiet "${seed_flag[@]}" --results-dir "$work/res" \
       --json "$work/$shard.json" "$url" >"$work/$shard.out" 2>&1; then
    not_ok "shard $shard runs" "$(tail -3 "$work/$shard.out")"
  fi
done
if "$py" - "$work" <<'PY'
import json, sys
work = sys.argv[1]
for i, shard in enumerate("ab"):
    r = json.load(open(f"{work}/{shard}.json"))
    assert r["histograms"]["response_time"].startswith("HISTFAAA"), r.get("histograms")
    r["config"]["segment"] = f"{i}/2"
    r["config"]["seed"] = "7"
    json.dump(r, open(f"{work}/{shard}.json", "w"), indent=2)
PY
then ok "shard files carry histograms; segments set to 0/2 and 1/2"; else not_ok "shard files carry histograms"; fi

# The merge: counts add, and p99 is the merged histogram's, computed here independently.
expect_exit 0 "merged 2 result files" "$work/a.json" "$work/b.json" --json "$work/m.json" --html "$work/m.html" --csv "$work/m"
if err=$("$py" - "$work" "$hdr_py" 2>&1 <<'PY'
import json, sys, os
work, hdr_py = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.dirname(hdr_py))
import hdr_v2
a, b, m = (json.load(open(f"{work}/{n}.json")) for n in "abm")
for k in ("total_requests", "successful_requests", "failed_requests"):
    assert m["metrics"][k] == a["metrics"][k] + b["metrics"][k], (k, m["metrics"][k])
assert m["metrics"]["total_requests"] > 0
assert m["metrics"]["duration"] == max(a["metrics"]["duration"], b["metrics"]["duration"])
ep = "GET /items"
assert m["endpoints"][ep]["total_requests"] == a["endpoints"][ep]["total_requests"] + b["endpoints"][ep]["total_requests"]
assert "segment" not in m["config"] and m["config"]["segments"] == "2", m["config"]
ha, hb, hm = (hdr_v2.decode(x["histograms"]["response_time"]) for x in (a, b, m))
counts = dict(ha.counts)
for s, c in hb.counts.items():
    counts[s] = counts.get(s, 0) + c
assert counts == hm.counts, "merged histogram is not the bucket-by-bucket sum"
assert hm.total() == m["metrics"]["total_requests"]
lo = min(a["metrics"]["min_response_time"], b["metrics"]["min_response_time"])
hi = max(a["metrics"]["max_response_time"], b["metrics"]["max_response_time"])
merged = hdr_v2.Hist(ha.lowest, ha.highest, ha.digits, counts)
for key, p in (("p50_response_time", 50), ("p95_response_time", 95), ("p99_response_time", 99), ("p999_response_time", 99.9)):
    top, index = merged.value_at_percentile(p)
    want = hi if index == max(counts) else min(max(top * 1000 / 1e9, lo), hi)  # the last bucket reports the max
    assert m["metrics"][key] == want, (key, m["metrics"][key], want)
assert m["metrics"]["min_response_time"] == lo and m["metrics"]["max_response_time"] == hi
print("p99", m["metrics"]["p99_response_time"])
PY
); then ok "merged counts are the sums and p99 is the merged histogram's ($err)"; else not_ok "merged counts and p99" "$err"; fi
if grep -q "<svg" "$work/m.html" && head -1 "$work/m_stats.csv" | grep -q 'Request Count'; then ok "--html and --csv write the merged report"
else not_ok "--html and --csv write the merged report"; fi

# Thresholds judge the union.
total=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["metrics"]["total_requests"])' "$work/m.json")
each=$("$py" -c 'import json,sys; print(max(json.load(open(f))["metrics"]["total_requests"] for f in sys.argv[1:]))' "$work/a.json" "$work/b.json")
expect_exit 0 "merged" "$work/a.json" "$work/b.json" --threshold "requests>=$total" --threshold "requests>$each" --threshold 'p(99)<10s'
expect_exit 99 "thresholds failed" "$work/a.json" "$work/b.json" --threshold "requests<$total" --json "$work/fail.json"
if "$py" -c 'import json,sys; t=json.load(open(sys.argv[1]))["thresholds"]; assert [x["passed"] for x in t]==[False], t' "$work/fail.json"
then ok "the failed threshold is in the merged JSON"; else not_ok "the failed threshold is in the merged JSON"; fi

# Refusals: one line, exit 2, naming the file.
cp "$work/a.json" "$work/a_again.json"
"$py" - "$work" <<'PY'
import json, sys
work = sys.argv[1]
b = json.load(open(f"{work}/b.json"))
other = dict(b, config=dict(b["config"], seed="8"))
json.dump(other, open(f"{work}/other_seed.json", "w"))
json.dump(dict(b, name="another test"), open(f"{work}/other_name.json", "w"))
nohist = dict(b)
del nohist["histograms"]
json.dump(nohist, open(f"{work}/nohist.json", "w"))
bad = json.loads(json.dumps(b))
h = bad["histograms"]["response_time"]
bad["histograms"]["response_time"] = h[:12] + "!!!!" + h[16:]
json.dump(bad, open(f"{work}/corrupt.json", "w"))
trunc = json.loads(json.dumps(b))
trunc["histograms"]["response_time"] = h[: len(h) // 2]
json.dump(trunc, open(f"{work}/truncated.json", "w"))
json.dump({"hello": "world"}, open(f"{work}/notresult.json", "w"))
open(f"{work}/notjson.json", "w").write("this is not JSON\n")
PY
expect_exit 2 "'$work/a_again.json': segment 0/2 overlaps '$work/a.json'" "$work/a.json" "$work/a_again.json" "$work/b.json"
expect_exit 2 "segment 1 of 2 is missing" "$work/a.json"
expect_exit 2 "'$work/other_seed.json': not the same test" "$work/a.json" "$work/other_seed.json"
expect_exit 2 "'$work/other_name.json': not the same test" "$work/a.json" "$work/other_name.json"
expect_exit 2 "'$work/nohist.json': has no histograms" "$work/a.json" "$work/nohist.json"
expect_exit 2 "'$work/corrupt.json': corrupt histogram" "$work/a.json" "$work/corrupt.json"
expect_exit 2 "'$work/truncated.json': corrupt histogram" "$work/a.json" "$work/truncated.json"
expect_exit 2 "'$work/notresult.json': not a loadtest result" "$work/a.json" "$work/notresult.json"
expect_exit 2 "'$work/notjson.json': not a loadtest result" "$work/a.json" "$work/notjson.json"
expect_exit 2 "'$work/missing.json': cannot read" "$work/a.json" "$work/missing.json"
expect_exit 2 "'$work': cannot read" "$work/a.json" "$work"
expect_exit 2 "--threshold" "$work/a.json" "$work/b.json" --threshold 'p(99)<<1s'
expect_exit 2 "no result files"
expect_exit 2 "'--bogus'" --bogus "$work/a.json"
# --allow-partial accepts the gap and says so.
expect_exit 0 "partial: segments 0 of 2" "$work/a.json" --allow-partial --json "$work/partial.json"
if "$py" -c 'import json,sys; c=json.load(open(sys.argv[1]))["config"]; assert c["partial"]=="segments 0 of 2", c' "$work/partial.json"
then ok "a partial merge records config.partial"; else not_ok "a partial merge records config.partial"; fi
if "$merge_bin" --help | grep -q -- '--allow-partial'; then ok "--help lists the options"; else not_ok "--help lists the options"; fi

echo "merge_cli: $passed passed, $failed failed"
[ "$failed" = 0 ]
