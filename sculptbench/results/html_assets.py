"""The style sheet and the script inlined in the HTML leaderboard (``report --format html``): the
page fetches nothing, so it opens offline and from a mail attachment alike.

The script sorts the table by a column (a click on its header; again for the other direction)
and filters the table, the charts and the network drawings by family, metric, pruner and
detector (the ``select[data-filter]`` elements): an element is shown when, for every filter that
is set, its ``data-<field>`` attribute is absent or equal to the filter's value.
"""

STYLE = """
:root { --ink: #1a202c; --muted: #5a6474; --line: #d9dee5; --best: #0b6e4f; --accent: #2b6cb0; --bad: #c53030; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0 auto;
       max-width: 1280px; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 0 0 4px; }
p.meta, p.note, figcaption, .small { color: var(--muted); font-size: 12px; }
nav a { margin-right: 14px; color: var(--accent); }
.filters { display: flex; flex-wrap: wrap; gap: 12px; align-items: end; margin: 8px 0; }
.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
.filters select { font: inherit; padding: 3px 6px; min-width: 140px; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
#board thead th { position: sticky; top: 0; background: #f4f6f9; }
#board th button { all: unset; cursor: pointer; font-weight: 600; }
#board th button:focus-visible { outline: 2px solid var(--accent); }
#board th[aria-sort="ascending"] button::after { content: " \\25B2"; }
#board th[aria-sort="descending"] button::after { content: " \\25BC"; }
tr.best td.mean { color: var(--best); font-weight: 700; }
td.verdict-beats { color: var(--bad); }
td.verdict-best { color: var(--best); font-weight: 600; }
.charts, .networks, .cards { display: grid; gap: 16px; align-items: start; }
.charts { grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); }
.networks { grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); }
.cards { grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px; overflow-x: auto; }
figure svg { display: block; max-width: 100%; height: auto; }
article.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
article.card table { font-size: 12px; margin-top: 6px; }
article.card td, article.card th { padding: 2px 6px; }
code { font-size: 12px; }
[hidden] { display: none !important; }
"""

SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("board");
  var body = table.tBodies[0];
  var filters = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  var counter = document.getElementById("shown");

  function matches(element) {
    return filters.every(function (select) {
      var have = element.getAttribute("data-" + select.getAttribute("data-filter"));
      return !select.value || have === null || have === select.value;
    });
  }

  function applyFilters() {
    var shown = 0;
    Array.prototype.forEach.call(body.rows, function (row) {
      row.hidden = !matches(row);
      if (!row.hidden) { shown += 1; }
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-filtered]"), function (element) {
      element.hidden = !matches(element);
    });
    counter.textContent = shown + " of " + body.rows.length + " rows";
  }

  function sortKey(cell, numeric) {
    var text = cell.getAttribute("data-value");
    if (text === null) { text = cell.textContent; }
    if (!numeric) { return text.toLowerCase(); }
    return text === "" ? null : Number(text);
  }

  function sortBy(header) {
    var index = header.cellIndex;
    var numeric = header.getAttribute("data-type") === "number";
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(header.parentNode.cells, function (other) { other.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = sortKey(a.cells[index], numeric);
      var y = sortKey(b.cells[index], numeric);
      if (x === y) { return 0; }
      if (x === null) { return 1; }
      if (y === null) { return -1; }
      return (x < y ? -1 : 1) * (ascending ? 1 : -1);
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header) {
    var button = header.querySelector("button");
    if (button) { button.addEventListener("click", function () { sortBy(header); }); }
  });
  filters.forEach(function (select) { select.addEventListener("change", applyFilters); });
  applyFilters();
}());
"""
