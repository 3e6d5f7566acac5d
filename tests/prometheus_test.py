#!/usr/bin/env python3
"""The Prometheus exporter against the real tools.

    prometheus_test.py promtool REPORT_FIXTURE
        `promtool check metrics` must accept, without a single lint warning, the exposition
        texts `REPORT_FIXTURE prometheus-text` prints (closed model, open model, empty).
        Exits 77 (skipped) when promtool is not installed.

    prometheus_test.py server REPORT_FIXTURE
        Runs `REPORT_FIXTURE prometheus-serve` (a real load test against the embedded target with
        a PrometheusSink on 127.0.0.1), starts a Prometheus server (temporary configuration and
        storage, scraping the sink every second, web API on a free loopback port), and checks
        through Prometheus's HTTP API that the target is up and that loadtest metrics arrived.
        Everything is bounded (30 s for Prometheus to report) and both processes are ended.
        Exits 77 (skipped) when prometheus is not installed.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

SKIP = 77
DEADLINE = 30.0  # seconds for Prometheus to start, scrape and answer


def check_promtool(fixture):
    promtool = shutil.which("promtool")
    if promtool is None:
        print("promtool is not installed: skipped (Debian package 'prometheus')")
        return SKIP
    # promtool must catch a broken text, or the checks below prove nothing
    broken = subprocess.run([promtool, "check", "metrics"], input=b"# HELP x_y y\n# TYPE x_y counter\nx_y 1\n",
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    if broken.returncode == 0:
        print("FAIL: promtool accepted a counter without the _total suffix; cannot trust it")
        return 1
    out = subprocess.run([fixture, "prometheus-text"], stdout=subprocess.PIPE, check=True, timeout=30).stdout
    sections, name = {}, None
    for line in out.decode("utf-8").splitlines(keepends=True):
        if line.startswith("--- "):
            name = line[4:].strip()
            sections[name] = ""
        elif name is not None:
            sections[name] += line
    if set(sections) != {"closed", "open", "empty"}:
        print(f"FAIL: unexpected sections from the fixture: {sorted(sections)}")
        return 1
    failed = False
    for name, text in sections.items():
        run = subprocess.run([promtool, "check", "metrics"], input=text.encode("utf-8"), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=30)
        report = run.stdout.decode(errors="replace").strip()
        if run.returncode != 0 or report:
            print(f"FAIL: promtool check metrics on the {name} text exited {run.returncode}: {report}")
            failed = True
        else:
            print(f"ok: promtool accepts the {name} text ({len(text.splitlines())} lines)")
    return 1 if failed else 0


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Never through a proxy: everything here is on loopback.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def api(web_port, path, **params):
    url = f"http://127.0.0.1:{web_port}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with OPENER.open(url, timeout=3) as r:
        return json.load(r)


def read_line(stream, timeout):
    """A line from a pipe within `timeout` seconds, or None."""
    box = []
    t = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    t.start()
    t.join(timeout)
    return box[0].decode(errors="replace") if box else None


def end(proc, grace=10):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def scalar(result):
    """The values of an instant-query answer."""
    return [float(item["value"][1]) for item in result["data"]["result"]]


def check_server(fixture):
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        print("prometheus is not installed: skipped (Debian package 'prometheus')")
        return SKIP
    start = time.monotonic()
    sink = server = log = None
    with tempfile.TemporaryDirectory(prefix="loadtest_prom_") as tmp:
        try:
            sink = subprocess.Popen([fixture, "prometheus-serve", "40"], stdout=subprocess.PIPE)
            line = read_line(sink.stdout, 15)
            if not line or not line.startswith("port "):
                print(f"FAIL: the fixture did not announce its port: {line!r}")
                return 1
            sink_port = int(line.split()[1])
            print(f"the sink serves on 127.0.0.1:{sink_port}")
            config = os.path.join(tmp, "prometheus.yml")
            with open(config, "w") as f:
                f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
                        "scrape_configs:\n  - job_name: loadtest\n    static_configs:\n"
                        f"      - targets: ['127.0.0.1:{sink_port}']\n")
            log = open(os.path.join(tmp, "prometheus.log"), "wb")
            for attempt in range(3):  # the free port may be taken between probing and binding
                web_port = free_port()
                server = subprocess.Popen(
                    [prometheus, f"--config.file={config}", f"--storage.tsdb.path={os.path.join(tmp, 'data')}",
                     f"--web.listen-address=127.0.0.1:{web_port}", "--log.level=warn"],
                    stdout=log, stderr=subprocess.STDOUT)
                try:
                    server.wait(2)
                    print(f"prometheus exited with {server.returncode} (attempt {attempt + 1}), retrying")
                    server = None
                except subprocess.TimeoutExpired:
                    break
            if server is None:
                print("FAIL: prometheus did not start")
                return 1
            up = requests = running = None
            last_error = ""
            while time.monotonic() - start < DEADLINE:
                if server.poll() is not None:
                    print(f"FAIL: prometheus exited with {server.returncode}")
                    break
                try:
                    up = scalar(api(web_port, "/api/v1/query", query='up{job="loadtest"}'))
                    requests = scalar(api(web_port, "/api/v1/query",
                                          query='sum(loadtest_requests_total{job="loadtest"})'))
                    running = scalar(api(web_port, "/api/v1/query", query='loadtest_running{job="loadtest"}'))
                    targets = api(web_port, "/api/v1/targets")["data"]["activeTargets"]
                    last_error = "; ".join(t.get("lastError", "") for t in targets if t.get("lastError"))
                    if up == [1.0] and requests and requests[0] > 0 and running == [1.0]:
                        break
                except (OSError, ValueError, KeyError):
                    pass  # not ready yet
                time.sleep(0.5)
            print(f"after {time.monotonic() - start:.1f} s: up={up} requests={requests} running={running}"
                  f"{' last error: ' + last_error if last_error else ''}")
            ok = up == [1.0] and bool(requests) and requests[0] > 0 and running == [1.0]
            if not ok:
                log.flush()
                with open(os.path.join(tmp, "prometheus.log"), "rb") as f:
                    print("prometheus log (end):", f.read()[-3000:].decode(errors="replace"))
                print("FAIL: Prometheus did not scrape the sink successfully within "
                      f"{DEADLINE:.0f} s")
                return 1
            # SIGTERM ends the load test early; the fixture then reports and exits 0.
            sink.send_signal(signal.SIGTERM)
            try:
                sink.wait(20)
            except subprocess.TimeoutExpired:
                print("FAIL: the fixture did not end within 20 s of SIGTERM")
                return 1
            rest = sink.stdout.read().decode(errors="replace").strip()
            if sink.returncode != 0:
                print(f"FAIL: the fixture exited with {sink.returncode}: {rest}")
                return 1
            print(f"ok: Prometheus scraped the sink ({rest})")
            return 0
        finally:
            end(sink)
            end(server)
            if log is not None:
                log.close()


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("promtool", "server"):
        print("usage: prometheus_test.py promtool|server REPORT_FIXTURE", file=sys.stderr)
        return 2
    return check_promtool(sys.argv[2]) if sys.argv[1] == "promtool" else check_server(sys.argv[2])


if __name__ == "__main__":
    sys.exit(main())
