"""bench/html_report.py without a browser: its checks pass on what a working page gives and fail on
what a broken one gives, and Chromium's console lines are found in its log."""

from __future__ import annotations

from pathlib import Path

from conftest import load_source

bench = load_source("html_report_bench", Path(__file__).resolve().parents[2] / "bench" / "html_report.py")

WORKING = {
    "rows": 6, "metric": "structure.success", "initialMetrics": ["structure.success"] * 3, "initialShown": "3 of 6 rows",
    "family": "reuse", "filteredFamilies": ["reuse"], "filteredMetrics": ["structure.success"],
    "chartKeys": ["reuse|structure.success"], "networkFamilies": ["reuse", "reuse"], "allNetworks": 4, "resetShown": 3,
    "meanAscending": [0.0, 0.5, None], "meanSortFirst": "ascending", "meanDescending": [0.5, 0.0, None],
    "meanSortSecond": "descending", "pruners": ["dense", "Magnitude", "random"], "errors": [],
}


def failed(seen, console=()):
    return [what for what, passed in bench.checks(seen, list(console)) if not passed]


def test_a_working_page_passes_every_check():
    assert failed(WORKING) == []


def test_each_broken_behaviour_fails_its_check():
    assert failed({**WORKING, "errors": ["Uncaught TypeError: x"]}) == ["no error in the page (window.onerror, console.error)"]
    assert failed(WORKING, ['"boom", source: file:///p.html (1)']) == ["no console message in Chromium's log"]
    assert "filtering by family shows only that family's rows" in failed({**WORKING, "filteredFamilies": ["reuse", "overlap"]})
    assert "... one chart: that family and metric" in failed({**WORKING, "chartKeys": ["reuse|structure.success", "overlap|x"]})
    assert "... and only that family's networks" in failed({**WORKING, "networkFamilies": ["reuse"] * 4})
    assert "a click on mean sorts ascending (entries without a value last)" in failed({**WORKING, "meanAscending": [0.5, 0.0, None]})
    assert "a click on mean sorts ascending (entries without a value last)" in failed({**WORKING, "meanAscending": [None, 0.0, 0.5]})
    assert "a second click sorts descending" in failed({**WORKING, "meanSortSecond": "ascending"})
    assert "a click on pruner sorts by name" in failed({**WORKING, "pruners": ["random", "dense"]})


def test_console_lines_are_read_from_chromiums_log():
    log = ("[1:1:1206/084108.034060:INFO:CONSOLE:1] \"boom one\", source: file:///tmp/e.html (1)\n"
           "[1:2:1206/084108.035:ERROR:dbus/bus.cc:405] Failed to connect to the bus\n")
    assert bench.console_errors(log) == ['"boom one", source: file:///tmp/e.html (1)']


def test_the_injected_scripts_wrap_the_page_without_fetching():
    for script in (bench.CATCH, bench.CHECK):
        assert script.startswith("<script>") and script.endswith("</script>") and "src=" not in script and "://" not in script
