"""The HTML leaderboard in a real browser: build a small results database (or take --results),
write `sculptbench report --format html`, open it in headless Chromium (Debian's `chromium`
package) and check that it logs no console error and that its filters and sorting work; save a
screenshot. Prints the machine, each command with its wall time (and the report's peak RSS), the
database's throughput (`report --throughput`), the page's size and every check; exits 1 when a
check fails.

    python bench/html_report.py                                  # builds the default grid in a temporary folder
    python bench/html_report.py --results my.db --screenshot docs/img/leaderboard.png
    python bench/html_report.py --results leaderboard-work/leaderboard.db --cache leaderboard-work/cache

The checks run in the page itself: a script injected into a copy of the page (the page is not
changed) records errors from the first line on, then sets the family filter, reads which rows,
charts and drawings are shown, clicks the `mean` and `pruner` headers and reads the order back,
and writes the results as JSON into the DOM, which `chromium --headless --dump-dom` prints once
the page's virtual time has run out. Console messages are also read from Chromium's own log
(`--enable-logging=stderr`).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The default grid: every exemplar task and three others, three pruners, two detectors, two seeds.
GRID = ["--tasks", "exemplars,bool/overlap-o0-u1,bool/overlap-o2-u2,bool/reuse-m2", "--pruners", "dense,magnitude,random",
        "--detectors", "louvain,sculpting", "--seeds", "2", "--arch", "24", "--jobs", "2", "--quiet"]

#: Injected first in <head>: keep every error and console.error from the page's own script on.
CATCH = """<script>
window.__benchErrors = [];
window.addEventListener("error", function (e) { window.__benchErrors.push(String(e.message)); });
(function () { var original = console.error; console.error = function () {
  window.__benchErrors.push(Array.prototype.join.call(arguments, " ")); original.apply(console, arguments); }; }());
</script>"""

#: Injected last in <body>: exercise the filters and the sorting, write what was seen as JSON.
CHECK = """<script>
(function () {
  function visible(selector) {
    return Array.prototype.filter.call(document.querySelectorAll(selector), function (e) { return !e.hidden; });
  }
  function attr(list, name) { return list.map(function (e) { return e.getAttribute(name); }); }
  function column(index) {
    return visible("#board tbody tr").map(function (r) {
      var c = r.cells[index]; var v = c.getAttribute("data-value"); return v === null ? c.textContent : v; });
  }
  function header(name) {
    return Array.prototype.filter.call(document.querySelectorAll("#board thead th"), function (th) {
      return th.textContent.trim() === name; })[0];
  }
  var out = {rows: document.querySelectorAll("#board tbody tr").length};
  var metric = document.getElementById("filter-metric"), family = document.getElementById("filter-family");
  out.metric = metric.value;
  out.initialMetrics = attr(visible("#board tbody tr"), "data-metric");
  out.initialShown = document.getElementById("shown").textContent;
  var families = Array.prototype.map.call(family.options, function (o) { return o.value; }).filter(Boolean);
  out.family = families[families.length - 1];
  family.value = out.family;
  family.dispatchEvent(new Event("change"));
  var rows = visible("#board tbody tr");
  out.filteredFamilies = attr(rows, "data-family");
  out.filteredMetrics = attr(rows, "data-metric");
  out.chartKeys = visible("figure.chart").map(function (f) { return f.dataset.family + "|" + f.dataset.metric; });
  out.networkFamilies = attr(visible("figure.network"), "data-family");
  out.allNetworks = document.querySelectorAll("figure.network").length;
  family.value = "";
  family.dispatchEvent(new Event("change"));
  out.resetShown = visible("#board tbody tr").length;
  var mean = header("mean");
  mean.querySelector("button").click();
  function numbers(values) { return values.map(function (v) { return v === "" ? null : Number(v); }); }
  out.meanAscending = numbers(column(mean.cellIndex));
  out.meanSortFirst = mean.getAttribute("aria-sort");
  mean.querySelector("button").click();
  out.meanDescending = numbers(column(mean.cellIndex));
  out.meanSortSecond = mean.getAttribute("aria-sort");
  var pruner = header("pruner");
  pruner.querySelector("button").click();
  out.pruners = column(pruner.cellIndex);
  out.errors = window.__benchErrors;
  var pre = document.createElement("pre");
  pre.id = "bench-result";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}());
</script>"""


def machine() -> str:
    """CPU model and cores (the figures below depend on them)."""
    model = platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        model = found.group(1).strip() if found else model
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def sculptbench(*args: str, cwd: Path) -> tuple[float, float]:
    """Run the `sculptbench` console script next to this Python; (wall seconds, peak RSS in MB of
    that command alone, read in a fresh parent process)."""
    exe = str(Path(sys.executable).with_name("sculptbench"))
    probe = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(rc)")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", probe, exe, *args], cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"sculptbench {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, int(proc.stderr.strip().splitlines()[-1]) / 1024


def chromium() -> str:
    """The Chromium binary, or a one-line exit naming the package to install."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("error: no chromium found; install Debian's package: apt-get update && apt-get install -y chromium")


def browse(binary: str, page: Path, profile: Path, *flags: str) -> subprocess.CompletedProcess:
    """Run headless Chromium on ``page`` with ``flags`` (no sandbox: benches run as root in containers)."""
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
               f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *flags, page.resolve().as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def console_errors(log: str) -> list[str]:
    """Every console message in Chromium's log (it logs them all as INFO, whatever their level;
    the page logs nothing, so any message, an uncaught exception included, is a failure)."""
    return [line.split("] ", 1)[-1] for line in log.splitlines() if ":CONSOLE" in line]


def checks(seen: dict, console: list[str]) -> list[tuple[str, bool]]:
    """(what, passed) for every check on what the injected script saw."""
    ascending, descending = seen["meanAscending"], seen["meanDescending"]
    defined = [v for v in ascending if v is not None]
    missing_last = all(v is None for v in ascending[len(defined):]) and all(v is None for v in descending[len(defined):])
    return [
        ("no error in the page (window.onerror, console.error)", not seen["errors"]),
        ("no console message in Chromium's log", not console),
        ("at first only the selected metric is shown", set(seen["initialMetrics"]) == {seen["metric"]}),
        ("the row counter says so", seen["initialShown"] == f"{len(seen['initialMetrics'])} of {seen['rows']} rows"),
        ("filtering by family shows only that family's rows", bool(seen["filteredFamilies"]) and set(seen["filteredFamilies"]) == {seen["family"]}),
        ("... of the selected metric", set(seen["filteredMetrics"]) == {seen["metric"]}),
        ("... one chart: that family and metric", seen["chartKeys"] == [f"{seen['family']}|{seen['metric']}"]),
        ("... and only that family's networks", bool(seen["networkFamilies"]) and set(seen["networkFamilies"]) == {seen["family"]}
         and len(seen["networkFamilies"]) < seen["allNetworks"]),
        ("clearing the filter shows every row of the metric again", seen["resetShown"] == len(seen["initialMetrics"])),
        ("a click on mean sorts ascending (entries without a value last)", seen["meanSortFirst"] == "ascending"
         and ascending[:len(defined)] == sorted(defined) and missing_last),
        ("a second click sorts descending", seen["meanSortSecond"] == "descending"
         and descending[:len(defined)] == sorted(defined, reverse=True)),
        ("a click on pruner sorts by name", seen["pruners"] == sorted(seen["pruners"], key=str.lower)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, help="a results database (default: build the default grid in a temporary folder)")
    parser.add_argument("--cache", type=Path, help="the stage cache the page's network drawings come from (default: the runs' default)")
    parser.add_argument("--html", type=Path, help="where to keep the page (default: nowhere, it is written to the temporary folder)")
    parser.add_argument("--screenshot", type=Path, default=ROOT / "docs" / "img" / "leaderboard.png")
    parser.add_argument("--window", default="1400,1800", help="the screenshot's width,height in pixels")
    args = parser.parse_args()
    binary = chromium()
    work = Path(tempfile.mkdtemp(prefix="sculptbench-html-bench-"))
    print(f"machine: {machine()}; browser: {subprocess.run([binary, '--version'], capture_output=True, text=True).stdout.strip()}")
    if args.results is None:
        db = work / "board.db"
        wall, rss = sculptbench("run", *GRID, "--results", str(db), cwd=work)
        print(f"built {db.name}: sculptbench run {' '.join(GRID)}  ({wall:.1f} s wall, peak RSS {rss:.0f} MB)")
    else:
        db = args.results.resolve()
    exe = str(Path(sys.executable).with_name("sculptbench"))
    throughput = subprocess.run([exe, "report", "--results", str(db), "--throughput"], capture_output=True, text=True, check=True).stdout
    print(f"sculptbench report --results {db.name} --throughput\n{throughput.rstrip()}")
    page = (args.html or work / "leaderboard.html").resolve()
    cache = ["--cache", str(args.cache.resolve())] if args.cache else []
    wall, rss = sculptbench("report", "--results", str(db), "--format", "html", "-o", str(page), *cache, cwd=db.parent)
    text = page.read_text(encoding="utf-8")
    charts, networks = text.count('<figure class="chart"'), text.count('<figure class="network"')
    print(f"sculptbench report --results {db.name} --format html -o {page.name}: {wall:.2f} s wall, peak RSS {rss:.0f} MB; "
          f"page {len(text.encode()) / 1024:.0f} KiB, {text.count('<tr data-family')} table rows, {charts} charts, "
          f"{networks} network figures ({networks - text.count('note missing')} drawn)")
    probe = work / "probe.html"
    probe.write_text(text.replace("<head>", "<head>\n" + CATCH, 1).replace("</body>", CHECK + "\n</body>", 1), encoding="utf-8")
    t0 = time.perf_counter()
    dumped = browse(binary, probe, work / "profile", "--virtual-time-budget=5000", "--dump-dom")
    found = re.search(r'<pre id="bench-result">(.*?)</pre>', dumped.stdout, re.S)
    if dumped.returncode != 0 or not found:
        raise SystemExit(f"chromium did not run the checks (exit {dumped.returncode}):\n{dumped.stderr[-3000:]}")
    seen = json.loads(html.unescape(found.group(1)))
    results = checks(seen, console_errors(dumped.stderr))
    print(f"chromium --headless --dump-dom: {time.perf_counter() - t0:.1f} s; family filter {seen['family']!r}, metric {seen['metric']!r}")
    for what, passed in results:
        print(f"  {'ok  ' if passed else 'FAIL'} {what}")
    for message in seen["errors"] + console_errors(dumped.stderr):
        print(f"  error: {message}")
    args.screenshot.parent.mkdir(parents=True, exist_ok=True)
    shot = browse(binary, page, work / "profile", f"--window-size={args.window}", f"--screenshot={args.screenshot.resolve()}")
    if shot.returncode != 0 or not args.screenshot.exists():
        raise SystemExit(f"chromium could not take the screenshot (exit {shot.returncode}):\n{shot.stderr[-3000:]}")
    print(f"screenshot: {args.screenshot} ({args.window} px)")
    shutil.rmtree(work, ignore_errors=True)  # the built database, the probe and the browser profile
    sys.exit(0 if all(passed for _, passed in results) else 1)


if __name__ == "__main__":
    main()
