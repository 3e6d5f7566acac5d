#!/usr/bin/env python3
"""The HTML report in headless Chromium: the screenshot must not be blank.

    html_screenshot_test.py REPORT_FIXTURE [KEEP.png]

Writes a sample report with `REPORT_FIXTURE html FILE`, takes a 1200x2000 screenshot of it with
headless Chromium (no network, a throw-away profile), decodes the PNG with zlib and checks that
the page drew something: many distinct colours, a good share of non-background pixels, and ink
in the top, middle and bottom thirds. Exits 77 (skipped) when Chromium is not installed. With
KEEP.png, the screenshot is also copied there (to look at).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import zlib

SKIP = 77
WIDTH, HEIGHT = 1200, 2000


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def decode_png(data):
    """(width, height, channels, rows) of an 8-bit greyscale/RGB/RGBA PNG; rows are bytearrays."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, header = 8, [], None
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("PNG without IHDR")
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour, interlace = header[8], header[9], header[12]
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace != 0:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}")
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise ValueError("PNG data has the wrong size")
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:  # Sub
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif kind == 2:  # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b = prev[i]
                c = prev[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        elif kind != 0:
            raise ValueError(f"bad PNG filter type {kind}")
        rows.append(line)
        prev = line
    return width, height, channels, rows


def pixels(row, channels):
    """The row's pixels as RGB tuples (alpha ignored)."""
    if channels >= 3:
        return [tuple(row[i:i + 3]) for i in range(0, len(row), channels)]
    return [(row[i],) * 3 for i in range(0, len(row), channels)]


def check(png):
    width, height, channels, rows = decode_png(png)
    problems = []
    if (width, height) != (WIDTH, HEIGHT):
        problems.append(f"screenshot is {width}x{height}, expected {WIDTH}x{HEIGHT}")
    counts = {}
    ink_by_third = [0, 0, 0]
    sampled = 0
    for y in range(0, height, 2):  # every second row and pixel: plenty, and quick
        for x, px in enumerate(pixels(rows[y], channels)[::2]):
            counts[px] = counts.get(px, 0) + 1
        sampled += (width + 1) // 2
    background, bg_count = max(counts.items(), key=lambda kv: kv[1])
    for y in range(0, height, 2):
        for px in pixels(rows[y], channels)[::2]:
            if px != background:
                ink_by_third[min(2, y * 3 // height)] += 1
    ink = sampled - bg_count
    print(f"screenshot {width}x{height}: {len(counts)} distinct colours, background {background}, "
          f"{100.0 * ink / sampled:.1f}% ink, by third {ink_by_third}")
    if len(counts) < 16:
        problems.append(f"only {len(counts)} distinct colours: the page looks blank")
    if ink < sampled * 0.02:
        problems.append(f"only {100.0 * ink / sampled:.2f}% of the pixels differ from the background")
    for i, n in enumerate(ink_by_third):
        if n < sampled / 3 * 0.005:
            problems.append(f"third {i + 1} of the page is (nearly) empty")
    return problems


def main():
    if len(sys.argv) not in (2, 3):
        print("usage: html_screenshot_test.py REPORT_FIXTURE [KEEP.png]", file=sys.stderr)
        return 2
    fixture = sys.argv[1]
    chromium = find_chromium()
    if chromium is None:
        print("chromium is not installed: skipped (Debian package 'chromium')")
        return SKIP
    with tempfile.TemporaryDirectory(prefix="loadtest_html_") as tmp:
        report = os.path.join(tmp, "report.html")
        shot = os.path.join(tmp, "shot.png")
        profile = os.path.join(tmp, "profile")
        subprocess.run([fixture, "html", report], check=True, timeout=60)
        with open(report, encoding="utf-8") as f:
            html = f.read()
        for bad in ("<script", "src=\"http", "href=\"http", "src='http", "href='http", "src=\"//", "href=\"//"):
            if bad in html:
                print(f"FAIL: the report contains {bad!r}")
                return 1
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}",
               f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", "file://" + report]
        try:
            run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        except subprocess.TimeoutExpired:
            print("FAIL: chromium did not finish within 120 s")
            return 1
        if run.returncode != 0 or not os.path.exists(shot):
            print(f"FAIL: chromium exited with {run.returncode} and wrote no screenshot:")
            print(run.stdout.decode(errors="replace")[-3000:])
            return 1
        with open(shot, "rb") as f:
            png = f.read()
        if len(sys.argv) > 2:
            shutil.copy(shot, sys.argv[2])
    try:
        problems = check(png)
    except ValueError as e:
        print(f"FAIL: cannot read the screenshot: {e}")
        return 1
    for p in problems:
        print("FAIL:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
