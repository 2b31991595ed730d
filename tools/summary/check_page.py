#!/usr/bin/env python3
"""Checks the page `make summary` wrote (make test-summary, part of make test).

    check_page.py RUNS_DIR [PAPER ...]

1. index.html parses; every link resolves to a file under RUNS_DIR; every image is an embedded
   PNG (data: URI that decodes to a PNG) or a file that exists.
2. index.md's runs table: each row's verdict counts equal the counts on the **Verdicts:** line
   of the report it links to; every PAPER named is listed.
3. When Chromium is installed (`chromium`, Debian's package): a headless screenshot of the page,
   which must be a PNG of the window's size that is not blank. Said and skipped otherwise.
Exit status 1 on any failure.
"""
import base64
import html.parser
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

VERDICTS = ["not reproduced", "direction only", "reproduced", "not comparable at this scale", "not measured"]


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.images = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if tag == "img":
            self.images.append(a.get("src", ""))


def png_pixels(data):
    """(width, height, decompressed scanlines) of a PNG, stdlib only."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width, height = 8, b"", None, None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def main(runs, papers):
    failures = []
    page = os.path.join(runs, "index.html")
    parser = Links()
    parser.feed(open(page, encoding="utf-8").read())
    for href in parser.hrefs:
        if re.match(r"^[a-z]+:", href):
            continue
        if not os.path.isfile(os.path.join(runs, href)):
            failures.append(f"link {href}: no such file")
    for src in parser.images:
        if src.startswith("data:image/png;base64,"):
            try:
                png_pixels(base64.b64decode(src.split(",", 1)[1]))
            except Exception as e:
                failures.append(f"embedded image does not decode: {e}")
        elif not os.path.isfile(os.path.join(runs, src)):
            failures.append(f"image {src[:60]}: no such file")
    print(f"index.html: {len(parser.hrefs)} links, {len(parser.images)} images checked")

    # index.md's first table: paper | preset | commit | date | seeds | wall time | 5 counts | ci drift | report
    rows = [l for l in open(os.path.join(runs, "index.md"), encoding="utf-8").read().split("## ")[0].splitlines()
            if l.startswith("| ") and "[report](" in l]
    listed = []
    for row in rows:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        report = re.search(r"\[report\]\(([^)]*)\)", cells[-1]).group(1)
        listed.append(report.split("/")[0])
        counts = dict(zip(VERDICTS, map(int, cells[6:11])))
        line = next(l for l in open(os.path.join(runs, report), encoding="utf-8") if l.startswith("**Verdicts:**"))
        theirs = {v: 0 for v in VERDICTS}
        for n, word in re.findall(r"(\d+) (not reproduced|direction only|reproduced|not comparable at this scale|not measured)", line):
            theirs[word] = int(n)
        if counts != theirs:
            failures.append(f"{report}: the page counts {counts}, the report {theirs}")
    print(f"index.md: {len(rows)} runs, verdict counts equal their reports'" if not failures else "index.md: checked")
    for p in papers:
        if p not in listed:
            failures.append(f"paper {p} is not on the page")

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("screenshot: SKIPPED, no chromium on the PATH (Debian's `chromium` package)")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            shot, (w, h) = os.path.join(tmp, "page.png"), (1280, 1600)
            cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={tmp}/profile",
                   f"--window-size={w},{h}", f"--screenshot={shot}", "file://" + os.path.abspath(page)]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            if not os.path.exists(shot):
                failures.append(f"chromium wrote no screenshot: {r.stderr[-500:]}")
            else:
                width, height, raw = png_pixels(open(shot, "rb").read())
                # A blank page is one colour: count distinct byte values over a sample of the pixels.
                distinct = len(set(raw[:: max(1, len(raw) // 20000)]))
                if (width, height) != (w, h) or distinct < 8:
                    failures.append(f"screenshot {width}×{height} with {distinct} distinct sampled values: blank or wrong size")
                else:
                    print(f"screenshot: {width}×{height}, rendered ({distinct} distinct sampled values)")
                    keep = os.environ.get("SUMMARY_SCREENSHOT")
                    if keep:
                        shutil.copy(shot, keep)
    for f in failures:
        print("FAIL: " + f)
    print("== make test-summary: " + ("PASS" if not failures else "FAIL"))
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
