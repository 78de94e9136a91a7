"""``sculptbench report --format html -o FILE``: one self-contained page, checked without a browser
(parsed with html.parser): nothing fetched from anywhere, the table's rows and verdicts, the
filters, the charts, the method cards and the network drawings (from the stage cache, or a note
saying that the network is not there)."""

from __future__ import annotations

import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from board_cells import cell, known_cells, write_db
from conftest import assert_user_error
from sculptbench.cli import main
from sculptbench.results import html_report

VOID = {"meta", "br", "input", "img", "link", "hr", "source", "col"}


class Node:
    def __init__(self, tag, attrs, parent=None):
        self.tag, self.attrs, self.parent, self.children, self.parts = tag, dict(attrs), parent, [], []

    @property
    def text(self):
        return "".join(part if isinstance(part, str) else part.text for part in self.parts)

    def iter(self, tag=None):
        for child in self.children:
            if tag is None or child.tag == tag:
                yield child
            yield from child.iter(tag)

    def find(self, tag, **attrs):
        return [n for n in self.iter(tag) if all(n.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())]


class Tree(HTMLParser):
    """A small DOM: every element with its attributes, children and text."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#document", {})
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.current)
        self.current.children.append(node)
        self.current.parts.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        node = Node(tag, attrs, self.current)
        self.current.children.append(node)
        self.current.parts.append(node)

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        assert node is not self.root, f"</{tag}> closes nothing"
        self.current = node.parent

    def handle_data(self, data):
        self.current.parts.append(data)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def page_of(tmp_path, cells=None, *extra):
    db = write_db(tmp_path / "board.db", cells if cells is not None else known_cells())
    result = invoke("report", "--results", db, "--format", "html", "-o", tmp_path / "board.html", *extra)
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and f"wrote {tmp_path / 'board.html'}" in result.stderr
    text = (tmp_path / "board.html").read_text(encoding="utf-8")
    return text, Tree(text).root


@pytest.fixture()
def page(tmp_path):
    return page_of(tmp_path, None, "--metric", "input_ari", "--cache", tmp_path / "no-cache")


def table_rows(root):
    (table,) = root.find("table", id="board")
    return [tr for tr in table.iter("tr") if tr.parent.tag == "tbody"]


def test_the_page_fetches_nothing(page):
    text, root = page
    assert text.startswith("<!DOCTYPE html>")
    (csp,) = [m for m in root.iter("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert csp.attrs["content"].startswith("default-src 'none'")
    for node in root.iter():
        assert node.tag not in ("link", "img", "iframe", "object", "embed", "base"), node.tag
        if node.tag == "script":
            assert "src" not in node.attrs and node.text.strip()
        for name, value in node.attrs.items():
            if name == "xmlns":  # the SVG namespace is a name, never fetched
                assert value == "http://www.w3.org/2000/svg"
            elif name in ("href", "src", "action", "srcset", "poster", "data") or name.startswith("xlink"):
                assert (value or "").startswith("#"), (node.tag, name, value)
    without_namespace = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "://" not in without_namespace and "@import" not in text and "url(" not in text
    assert "fetch(" not in text and "XMLHttpRequest" not in text


def test_the_table_has_one_row_per_family_metric_pruner_and_detector(page):
    _, root = page
    rows = table_rows(root)
    keys = [(tr.attrs["data-family"], tr.attrs["data-metric"], tr.attrs["data-pruner"], tr.attrs["data-detector"]) for tr in rows]
    assert len(keys) == len(set(keys))
    metrics = {k[1] for k in keys}
    # input_ari first (--metric), then the headline metrics the cells record.
    assert metrics == {"structure.input_ari", "structure.success", "structure.ged", "density", "accuracy", "time"}
    # Family fam: five pruners; family other: one.
    assert sum(1 for k in keys if k[:2] == ("fam", "structure.input_ari")) == 5
    assert sum(1 for k in keys if k[:2] == ("other", "structure.input_ari")) == 1
    (best,) = [tr for tr in rows if tr.attrs["data-metric"] == "structure.input_ari" and tr.attrs["data-pruner"] == "iterative"
               and tr.attrs["data-family"] == "fam"]
    cells = [td.text for td in best.iter("td")]
    assert cells[:9] == ["fam", "input_ari", "iterative", "louvain", "0.91", "[0.90, 0.93]", "10", "0", "0"]
    assert best.attrs["class"] == "best" and cells[9] == "best"
    (mean_cell,) = [td for td in best.iter("td") if "mean" in td.attrs.get("class", "")]
    assert float(mean_cell.attrs["data-value"]) == pytest.approx(0.91)
    header = [th.text for th in root.find("table", id="board")[0].iter("th")]
    assert header[:4] == ["family", "metric", "pruner", "detector"] and "95% interval" in header


def test_the_table_shows_the_paired_verdicts(page):
    _, root = page

    def verdict(pruner, metric="structure.input_ari"):
        (tr,) = [tr for tr in table_rows(root) if tr.attrs["data-metric"] == metric and tr.attrs["data-pruner"] == pruner
                 and tr.attrs["data-family"] == "fam"]
        return list(tr.iter("td"))[-1]

    beaten = verdict("magnitude")
    assert beaten.text == "below the best (p=0.00781)" and beaten.attrs["class"] == "verdict-beats"
    assert "W-L-T 8-0-0" in beaten.attrs["title"] and "difference 0.70 [0.70, 0.70]" in beaten.attrs["title"]
    assert verdict("random").text == "tie with the best"
    assert verdict("edge").text == "not separated from the best (p=1)"
    assert verdict("dense").text == "no cell shared with the best"
    assert verdict("magnitude", "structure.ged").attrs["class"] == "verdict-beats"  # lower is better, the same verdict


def test_filters_list_every_value_and_select_the_metric(page):
    _, root = page
    selects = {s.attrs["data-filter"]: s for s in root.iter("select")}
    assert list(selects) == ["family", "metric", "pruner", "detector"]
    options = {f: [o.attrs["value"] for o in s.iter("option")] for f, s in selects.items()}
    assert options["family"] == ["", "fam", "other"] and options["detector"] == ["", "louvain"]
    assert options["pruner"] == ["", "dense", "edge", "iterative", "magnitude", "random"]
    assert [o.attrs["value"] for o in selects["metric"].iter("option") if "selected" in o.attrs] == ["structure.input_ari"]
    for f in ("family", "metric", "pruner", "detector"):
        assert all(f"data-{f}" in tr.attrs for tr in table_rows(root))
    (script,) = root.iter("script")
    assert "select[data-filter]" in script.text and "aria-sort" in script.text


def test_a_bar_chart_per_family_and_metric(page):
    _, root = page
    charts = [f for f in root.iter("figure") if f.attrs.get("class") == "chart"]
    keys = {(f.attrs["data-family"], f.attrs["data-metric"]) for f in charts}
    assert ("fam", "structure.input_ari") in keys and ("other", "time") in keys and len(keys) == len(charts)
    (chart,) = [f for f in charts if (f.attrs["data-family"], f.attrs["data-metric"]) == ("fam", "structure.input_ari")]
    (svg,) = chart.iter("svg")
    labels = [t.text for t in svg.iter("text") if t.attrs.get("text-anchor") == "end" and " / " in t.text]
    assert labels[0] == "iterative / louvain" and labels[-1] == "magnitude / louvain" and len(labels) == 5
    assert len([r for r in svg.iter("rect")]) == 5 and any("beaten" in t.text for t in svg.iter("text"))


def test_a_card_per_method_from_its_declarations(page):
    _, root = page
    cards = {a.attrs["id"]: a for a in root.iter("article")}
    assert set(cards) == {"pruner-dense", "pruner-edge", "pruner-iterative", "pruner-magnitude", "pruner-random", "detector-louvain"}
    iterative = cards["pruner-iterative"]
    assert "The paper's method" in iterative.text and "cites:" in iterative.text
    options = [tr.iter("td").__next__().text for tr in iterative.iter("tr") if list(tr.iter("td"))]
    assert "unit_step" in options and "restarts" not in options  # protocol options are named once, below
    assert "Protocol options (every pruner): restarts, select" in iterative.text
    assert "resolution" in cards["detector-louvain"].text and "No options of its own" in cards["pruner-dense"].text


def test_a_method_that_is_not_installed_gets_a_note(tmp_path):
    _, root = page_of(tmp_path, [cell(pruner="somebody-elses", seed=s) for s in range(2)])
    (card,) = root.find("article", id="pruner-somebody-elses")
    assert "not installed here" in card.text


def test_without_a_stage_cache_each_group_says_so(page, tmp_path):
    _, root = page
    figures = [f for f in root.iter("figure") if f.attrs.get("class") == "network"]
    assert len(figures) == 6 and not any(list(f.iter("svg")) for f in figures)
    assert all("no stage cache at" in f.text and "nothing is recomputed" in f.text for f in figures)


def test_the_page_escapes_names_and_is_deterministic(tmp_path):
    hostile = 'x"><script>alert(1)</script>&amp;'
    cells = [cell(pruner=hostile, seed=s) for s in range(3)] + [cell(pruner="iterative", seed=s, ari=0.1) for s in range(3)]
    text, root = page_of(tmp_path, cells)
    assert len(list(root.iter("script"))) == 1 and "<script>alert" not in text
    assert any(tr.attrs["data-pruner"] == hostile for tr in table_rows(root))
    again = invoke("report", "--results", tmp_path / "board.db", "--format", "html", "-o", tmp_path / "again.html")
    assert again.exit_code == 0 and (tmp_path / "again.html").read_text(encoding="utf-8") == text


def test_user_errors(tmp_path):
    db = write_db(tmp_path / "r.db", [cell(seed=s) for s in range(2)])
    assert_user_error(invoke("report", "--results", db, "--format", "html"), "--format html writes a web page: pass -o FILE.html")
    assert_user_error(invoke("report", "--results", db, "--format", "html", "-o", tmp_path / "p.html", "--group-by", "pruner"),
                      "--group-by would change nothing with --format html")
    assert_user_error(invoke("report", "--results", db, "--format", "html", "-o", tmp_path / "p.html", "--no-secondary"),
                      "--secondary/--no-secondary would change nothing")
    assert_user_error(invoke("report", "--results", db, "--cache", tmp_path), "--cache applies only to --format html")
    assert_user_error(invoke("report", "--results", db, "--format", "pdf"), "invalid --format 'pdf'", "html")
    assert_user_error(invoke("report", "--results", db, "--format", "html", "-o", tmp_path / "no" / "p.html"), "directory", "does not exist")
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".html") == []


def test_o_writes_any_format_to_a_file(tmp_path):
    db = write_db(tmp_path / "r.db", [cell(seed=s) for s in range(2)])
    printed = invoke("report", "--results", db, "--format", "csv").stdout
    result = invoke("report", "--results", db, "--format", "csv", "-o", tmp_path / "board.csv")
    assert result.exit_code == 0 and result.stdout == ""
    assert (tmp_path / "board.csv").read_text() == printed.rstrip("\n") + "\n"


def test_networks_come_from_the_stage_cache_or_the_page_says_they_are_not_there(tmp_path):
    run = invoke("run", "--tasks", "bool/overlap-o0-u1", "--pruners", "dense", "--detectors", "louvain,sculpting", "--arch", "12",
                 "--epochs", "40", "--seeds", "1", "--quiet", "--results", tmp_path / "r.db")
    assert run.exit_code == 0, run.output
    out = tmp_path / "p.html"
    assert invoke("report", "--results", tmp_path / "r.db", "--format", "html", "-o", out).exit_code == 0
    figures = [f for f in Tree(out.read_text()).root.iter("figure") if f.attrs.get("class") == "network"]
    assert [(f.attrs["data-family"], f.attrs["data-pruner"], f.attrs["data-detector"]) for f in figures] == [
        ("overlap", "dense", "louvain"), ("overlap", "dense", "sculpting")]
    for figure in figures:
        (svg,) = figure.iter("svg")
        assert len(list(svg.iter("circle"))) == 8 + 12 + 2  # inputs, hidden units, outputs of the dense network
        assert re.search(r"bool/overlap-o0-u1 12 seed 0 \(cell \d+\); density 1\.000, \d+ modules", figure.find("figcaption")[0].text)
    shutil.rmtree(Path(os.environ["SCULPTBENCH_CACHE"]) / "prune")
    assert invoke("report", "--results", tmp_path / "r.db", "--format", "html", "-o", out).exit_code == 0
    figures = [f for f in Tree(out.read_text()).root.iter("figure") if f.attrs.get("class") == "network"]
    assert all(not list(f.iter("svg")) and "not in the stage cache at" in f.text and "--cell-id" in f.text for f in figures)


def test_headline_metrics_resolve_only_when_recorded():
    boards, selected = html_report.boards_for([cell(seed=s) for s in range(2)], "success", None, "count")
    assert selected == "structure.success"
    assert [b.metric for b in boards] == ["structure.success", "structure.input_ari", "structure.ged", "density", "accuracy", "time"]


def test_a_task_registered_otherwise_than_its_run_says_how_to_set_it_back(tmp_path, monkeypatch):
    """A cell computed on another definition of its task (an MNIST profile, say) misses the cache:
    the page says which environment variable sets a run's task options back."""
    from sculptbench.plugins.tasks.boolean.task import BooleanTask

    run = invoke("run", "--tasks", "bool/overlap-o0-u1", "--pruners", "dense", "--detectors", "louvain", "--arch", "12",
                 "--epochs", "40", "--seeds", "1", "--quiet", "--results", tmp_path / "r.db")
    assert run.exit_code == 0, run.output
    monkeypatch.setattr(BooleanTask, "definition_hash", lambda self: "0" * 16)
    out = tmp_path / "p.html"
    assert invoke("report", "--results", tmp_path / "r.db", "--format", "html", "-o", out).exit_code == 0
    (figure,) = [f for f in Tree(out.read_text()).root.iter("figure") if f.attrs.get("class") == "network"]
    assert not list(figure.iter("svg"))
    assert "has changed since the cell was computed" in figure.text and "SCULPTBENCH_MNIST_PROFILE=board" in figure.text
