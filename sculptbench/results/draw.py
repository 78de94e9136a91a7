"""Draw a sculpted network the way the paper does: units by layer, grouped by module, modules
shaded, and only the surviving edges."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from sculptbench.contracts.errors import SculptbenchError
from sculptbench.contracts.types import Detection, SculptedNetwork, Unit

FORMATS = (".png", ".pdf", ".svg")


def layout_units(network: SculptedNetwork, detection: Detection) -> dict[Unit, tuple[float, float]]:
    """Position of every drawn unit: x is the layer, units of one module sit next to each other.

    Units are ordered within a layer by module (modules in order of their smallest unit), then
    by index. Units that no module contains (pruned or condensed away) are not drawn.
    """
    module_of = detection.module_of()
    positions: dict[Unit, tuple[float, float]] = {}
    for layer in range(len(network.sizes)):
        units = sorted((u for u in module_of if u[0] == layer), key=lambda u: (module_of[u], u[1]))
        n = len(units)
        for rank, unit in enumerate(units):
            positions[unit] = (float(layer), (n - 1) / 2 - rank if n else 0.0)
    return positions


def draw_network(
    network: SculptedNetwork,
    detection: Detection,
    path: str | Path,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Write the drawing to ``path`` (.png, .pdf or .svg) and return the path."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise SculptbenchError(f"cannot draw to {path}: use a .png, .pdf or .svg file name")
    if not path.parent.exists():
        raise SculptbenchError(f"cannot draw to {path}: directory {path.parent} does not exist")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.patches import FancyBboxPatch

    positions = layout_units(network, detection)
    module_of = detection.module_of()
    cmap = plt.get_cmap("tab10")
    n_layers = len(network.sizes)
    tallest = max((sum(1 for u in positions if u[0] == layer) for layer in range(n_layers)), default=1)
    # Height grows with the tallest layer, up to a cap for pixel inputs (MNIST: 1568 units).
    fig, ax = plt.subplots(figsize=(2.2 * n_layers + 1, min(16.0, max(3.0, 0.32 * tallest + 1.5))))
    graph = network.unit_graph(input_names, output_names)
    segments, colors = [], []
    for a, b, data in graph.edges(data=True):
        if a in positions and b in positions:
            segments.append([positions[a], positions[b]])
            colors.append("#2b6cb0" if data["weight"] >= 0 else "#c53030")
    # One collection for all edges: fast even for thousands of surviving weights.
    ax.add_collection(LineCollection(segments, colors=colors, linewidths=0.6, alpha=0.55, zorder=1))
    # Shade each module's units in each layer with a rounded box.
    for m, module in enumerate(detection.modules):
        color = cmap(m % 10)
        for layer in range(n_layers):
            ys = [positions[u][1] for u in module if u[0] == layer and u in positions]
            if ys:
                ax.add_patch(FancyBboxPatch((layer - 0.18, min(ys) - 0.35), 0.36, max(ys) - min(ys) + 0.7,
                                            boxstyle="round,pad=0.02", fc=color, ec="none", alpha=0.35, zorder=0))
    units = list(positions)
    ax.scatter([positions[u][0] for u in units], [positions[u][1] for u in units], s=36 if len(units) < 400 else 4,
               c=[cmap(module_of[u] % 10) for u in units], edgecolors="black", linewidths=0.5 if len(units) < 400 else 0, zorder=2)
    for unit, (x, y) in positions.items():
        name = graph.nodes[unit].get("name") if len(units) < 400 else None
        if name:
            ax.annotate(name, (x, y), xytext=(-10 if unit[0] == 0 else 10, 0), textcoords="offset points",
                        ha="right" if unit[0] == 0 else "left", va="center", fontsize=7)
    ax.set_xticks(range(n_layers))
    ax.set_xticklabels(["inputs", *(f"hidden {i}" for i in range(1, n_layers - 1)), "outputs"])
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_xlim(-0.8, n_layers - 0.2)
    ax.set_title(title or f"{len(detection.modules)} modules, density {network.density():.3f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=150 if tallest < 400 else 100)
    plt.close(fig)
    return path
