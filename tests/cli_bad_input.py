#!/usr/bin/python3
"""Every option of loadtest-http against every hostile class of value, in one table.

Usage: cli_bad_input.py LOADTEST_HTTP

Each case runs `loadtest-http --OPTION=VALUE URL` against a loopback listener that this script
opens and that must never see a connection. A case expects exit 2 (bad usage) unless the table
says otherwise; either way the tool prints exactly one line (stdout and stderr together), and no
connection reaches the listener. Values an option rightly accepts (a unicode test name, a zero
retry count) run with --check, which validates everything and sends nothing; the README's
"Failure modes" section documents these outcomes. Prints 'cli_bad_input: N passed, N failed'.
"""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

if len(sys.argv) != 2 or not os.access(sys.argv[1], os.X_OK):
    print("usage: cli_bad_input.py LOADTEST_HTTP (an executable)")
    sys.exit(77)
tool = sys.argv[1]

work = tempfile.mkdtemp(prefix="cli_bad_input_")
existing_dir = os.path.join(work, "a_dir")
os.mkdir(existing_dir)

# The hostile classes.
CLASSES = {
    "empty": "",
    "negative": "-1",
    "zero": "0",
    "huge": "1e30",
    "2^64": "18446744073709551616",
    "nan": "nan",
    "inf": "inf",
    "unicode": "\u00fcn\u00efc\u00f8d\u00e9\u2713\U0001f600",
    "100KB": "1" * 100_000,
    "crlf": "1\r\nInjected: x",
    "tab": "1\t2",
    "traversal": "../../../../../../../../proc/loadtest-traversal/x",
    "directory": existing_dir,
}

# Every option that takes a value (flags without one cannot be given a hostile value). The URL is
# the positional argument, tested as "url".
OPTIONS = [
    "users", "duration", "ramp-up", "threads", "timeout", "method", "header", "body", "expect", "name",
    "results-dir", "json", "rate", "max-users", "stages", "pattern", "arrivals", "think", "backoff",
    "retry", "backoff-on", "threshold", "abort-grace", "html", "csv", "prometheus", "hgrm", "baseline",
    "max-regression", "max-body", "segment", "seed", "checkpoint-interval", "rank-results", "max-streams",
    "url",
]

OK = "ok"  # accepted: run with --check, expect exit 0
# (option, class) -> the documented outcome when it is not exit 2.
ACCEPTED_NAME = ["negative", "zero", "huge", "2^64", "nan", "inf", "unicode", "traversal", "directory"]
ACCEPTED_PATH = ["negative", "zero", "huge", "2^64", "nan", "inf", "unicode"]
EXPECT = {}
for c in CLASSES:
    if c != "empty":
        EXPECT[("body", c)] = OK  # any body may be sent
EXPECT[("body", "empty")] = OK    # an empty body is the one empty value allowed
for c in ACCEPTED_NAME:
    EXPECT[("name", c)] = OK      # the name is a label; file names are sanitised
for opt in ("json", "html", "hgrm", "csv"):
    for c in ACCEPTED_PATH:
        EXPECT[(opt, c)] = OK     # a file of that name in the current directory
for c in ACCEPTED_PATH + ["directory"]:
    EXPECT[("results-dir", c)] = OK
EXPECT[("results-dir", "traversal")] = 1  # cannot create it: exit 1 before the test starts
EXPECT[("ramp-up", "zero")] = OK          # all users at once
EXPECT[("retry", "zero")] = OK
EXPECT[("abort-grace", "zero")] = OK
EXPECT[("max-body", "zero")] = OK         # keep no body bytes, count them all
EXPECT[("prometheus", "zero")] = OK       # port 0: any free port, printed when it listens
EXPECT[("seed", "zero")] = OK             # 0: a random seed
EXPECT[("checkpoint-interval", "zero")] = OK  # 0: no checkpoints

# The listener that must stay silent.
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(128)
listener.settimeout(0.01)
port = listener.getsockname()[1]
url = f"http://127.0.0.1:{port}/items"
accepted = 0
stop = False


def accept_loop():
    global accepted
    while not stop:
        try:
            conn, _ = listener.accept()
            accepted += 1
            conn.close()
        except (socket.timeout, BlockingIOError):
            continue
        except OSError:
            return


thread = threading.Thread(target=accept_loop, daemon=True)
thread.start()

passed = failed = 0


def run_case(option, cls, value):
    global passed, failed
    want = EXPECT.get((option, cls), 2)
    args = [tool]
    if want == OK:
        args.append("--check")
    if option == "url":
        args.append(value)
    elif value == "":
        args += [f"--{option}", value, url]  # program_options refuses '--option=' before we see it
    else:
        args += [f"--{option}={value}", url]
    before = accepted
    try:
        p = subprocess.run(args, cwd=work, capture_output=True, timeout=60)
        code = p.returncode
        out = p.stdout + p.stderr
    except subprocess.TimeoutExpired:
        code, out = "timeout", b""
    time.sleep(0.005)
    lines = out.count(b"\n")
    want_code = 0 if want == OK else want
    problems = []
    if code != want_code:
        problems.append(f"exit {code}, expected {want_code}")
    if lines != 1 or not out.endswith(b"\n"):
        problems.append(f"{lines} line(s) of output, expected 1")
    if accepted != before:
        problems.append(f"{accepted - before} connection(s) reached the listener")
    if want != OK and p.stdout:
        problems.append("a refused option printed to stdout")
    label = f"--{option} {cls}" if option != "url" else f"URL {cls}"
    if problems:
        failed += 1
        print(f"FAIL - {label}: " + "; ".join(problems))
        print("       " + out[:300].decode("utf-8", "replace").replace("\n", "\\n"))
    else:
        passed += 1
        print(f"ok   - {label} -> {'accepted (--check)' if want == OK else 'exit ' + str(want_code)}")


for option in OPTIONS:
    for cls, value in CLASSES.items():
        run_case(option, cls, value)

time.sleep(0.2)
stop = True
thread.join()
if accepted:
    failed += 1
    print(f"FAIL - the listener accepted {accepted} connection(s) in all")
else:
    passed += 1
    print("ok   - no connection reached the listener")
listener.close()
subprocess.run(["rm", "-rf", work])
print(f"cli_bad_input: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
