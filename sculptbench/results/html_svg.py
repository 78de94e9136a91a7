"""Inline SVG for the HTML leaderboard: a family's bar chart (means with their intervals) and the
drawing of a sculpted network (units by layer, grouped and shaded by module, surviving edges as
``sculptbench draw`` draws them). Plain text, no library: hundreds of them fit in one page."""

from __future__ import annotations

from html import escape
from typing import Any, Sequence

from sculptbench.contracts.types import Detection, SculptedNetwork
from sculptbench.results.draw import layout_units

#: matplotlib's tab10, the palette of ``sculptbench draw``.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
#: Metrics (short names) whose values lie in [0, 1]: their axis always shows 0 to 1.
UNIT_RANGE = frozenset({"success", "input_ari", "output_ari", "separability", "grouping", "density", "accuracy", "test_accuracy"})


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def bar_chart(title: str, metric: str, bars: Sequence[dict[str, Any]], higher_is_better: bool) -> str:
    """A horizontal bar chart: one bar per ``bars`` item (``label``, ``mean``, ``ci``, ``n``,
    ``best``, ``note``), in the given order, with the interval as a whisker."""
    label_w, plot_w, row_h, top = 250, 300, 20, 28
    lows = [b["ci"][0] if b["ci"] else b["mean"] for b in bars]
    highs = [b["ci"][1] if b["ci"] else b["mean"] for b in bars]
    lo, hi = min([0.0, *lows]), max([0.0, *highs])
    if metric.split(".", 1)[-1] in UNIT_RANGE:
        hi = max(hi, 1.0)
    if hi - lo < 1e-12:
        hi = lo + 1.0

    def x(value: float) -> float:
        return label_w + (value - lo) / (hi - lo) * plot_w

    height = top + row_h * len(bars) + 26
    width = label_w + plot_w + 130
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="{escape(title)}">',
             f'<text x="0" y="16" font-size="13" font-weight="600">{escape(title)}</text>',
             f'<text x="{width}" y="16" font-size="11" fill="#5a6474" text-anchor="end">{"higher" if higher_is_better else "lower"} is better</text>']
    axis_y = top + row_h * len(bars)
    for tick in (lo, (lo + hi) / 2, hi):
        parts.append(f'<line x1="{_f(x(tick))}" y1="{top - 4}" x2="{_f(x(tick))}" y2="{axis_y}" stroke="#e2e6ec"/>')
        parts.append(f'<text x="{_f(x(tick))}" y="{axis_y + 14}" font-size="10" text-anchor="middle" fill="#5a6474">{tick:.2g}</text>')
    zero = x(0.0)
    for i, bar in enumerate(bars):
        y = top + i * row_h
        mean = bar["mean"]
        color = "#0b6e4f" if bar["best"] else "#7aa6d6"
        left, right = sorted((zero, x(mean)))
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" font-size="11" text-anchor="end">{escape(bar["label"])}</text>')
        parts.append(f'<rect x="{_f(left)}" y="{y + 3}" width="{_f(max(right - left, 0.5))}" height="{row_h - 6}" fill="{color}"/>')
        if bar["ci"]:
            a, b = x(bar["ci"][0]), x(bar["ci"][1])
            mid = y + row_h / 2
            parts.append(f'<path d="M{_f(a)} {_f(mid)}H{_f(b)}M{_f(a)} {_f(mid - 4)}V{_f(mid + 4)}M{_f(b)} {_f(mid - 4)}V{_f(mid + 4)}" '
                         'stroke="#1a202c" stroke-width="1.2" fill="none"/>')
        text = f'{mean:.2f} n={bar["n"]}' + (f' {bar["note"]}' if bar.get("note") else "")
        parts.append(f'<text x="{label_w + plot_w + 6}" y="{y + 13}" font-size="10" fill="#1a202c">{escape(text)}</text>')
    parts.append(f'<line x1="{_f(zero)}" y1="{top - 4}" x2="{_f(zero)}" y2="{axis_y}" stroke="#5a6474"/>')
    parts.append("</svg>")
    return "".join(parts)


def network_svg(network: SculptedNetwork, detection: Detection, input_names: Sequence[str] | None = None,
                output_names: Sequence[str] | None = None) -> str:
    """The network as ``sculptbench draw`` lays it out: x the layer, units of a module together,
    modules shaded, positive edges blue and negative red. Units no module holds are not drawn."""
    positions = layout_units(network, detection)
    module_of = detection.module_of()
    layers = len(network.sizes)
    tallest = max((sum(1 for u in positions if u[0] == layer) for layer in range(layers)), default=1)
    gap = min(16.0, 640.0 / max(tallest, 1))
    col, margin_x, margin_y = 130.0, 90.0, 14.0
    width, height = int(margin_x * 2 + col * (layers - 1)), int(margin_y * 2 + gap * max(tallest - 1, 0) + 10)
    mid = height / 2

    def xy(unit: tuple[int, int]) -> tuple[float, float]:
        layer_x, rank_y = positions[unit]
        return margin_x + col * layer_x, mid - rank_y * gap

    graph = network.unit_graph(input_names, output_names)
    paths = {True: [], False: []}
    for a, b, data in graph.edges(data=True):
        if a in positions and b in positions:
            (x1, y1), (x2, y2) = xy(a), xy(b)
            paths[data["weight"] >= 0].append(f"M{_f(x1)} {_f(y1)}L{_f(x2)} {_f(y2)}")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{len(detection.modules)} modules, density {network.density():.3f}">']
    for m, module in enumerate(detection.modules):
        for layer in range(layers):
            ys = [xy(u)[1] for u in module if u[0] == layer and u in positions]
            if ys:
                parts.append(f'<rect x="{_f(margin_x + col * layer - 9)}" y="{_f(min(ys) - gap * 0.45 - 2)}" width="18" '
                             f'height="{_f(max(ys) - min(ys) + gap * 0.9 + 4)}" rx="6" fill="{PALETTE[m % 10]}" fill-opacity="0.3"/>')
    for positive, color in ((True, "#2b6cb0"), (False, "#c53030")):
        if paths[positive]:
            parts.append(f'<path d="{"".join(paths[positive])}" stroke="{color}" stroke-width="0.7" stroke-opacity="0.55" fill="none"/>')
    radius = max(1.2, min(4.0, gap * 0.3))
    labelled = len(positions) < 400
    for unit in sorted(positions):
        x, y = xy(unit)
        parts.append(f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{_f(radius)}" fill="{PALETTE[module_of[unit] % 10]}" stroke="#1a202c" stroke-width="0.5"/>')
        name = graph.nodes[unit].get("name") if labelled else None
        if name:
            first = unit[0] == 0
            parts.append(f'<text x="{_f(x - 7 if first else x + 7)}" y="{_f(y + 3)}" font-size="9" '
                         f'text-anchor="{"end" if first else "start"}">{escape(str(name))}</text>')
    parts.append("</svg>")
    return "".join(parts)
