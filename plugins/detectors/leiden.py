"""The built-in ``leiden`` detector: Leiden communities (Traag, Waltman & van Eck 2019) of the
|w| unit graph, through scikit-network (BSD).

scikit-network's ``Leiden`` maximises Newman's modularity at the given resolution (``modularity=
"newman"``); its local moves visit nodes in a fixed order unless ``shuffle_nodes`` is set, so the
node order is shuffled with a seed drawn from the cell's seed: two runs on the same network with
the same seed give the same partition, and another seed may give another (Leiden's results depend
on node order; leidenalg issues #106 and #107). Disconnected components are never merged by
modularity maximisation, so every module lies in one component.

**Seeding the refinement.** scikit-network's refinement step picks among the clusters a node may
join with the C library's global ``rand()``, which ``random_state`` does not seed: its draws
depend on every earlier call in the process, so the same network and seed gave different
partitions from one call to the next (seen on the paper's networks). The detector therefore seeds
``rand()`` (``srand``, through ctypes) with a seed drawn from the cell's seed right before each
call. This works where scikit-network's extension shares the process's C library (Linux, macOS);
elsewhere the refinement is not reproducible.

**One rule added to Leiden's:** a partition whose Newman modularity (recomputed in float64) is
not above that of one module (0) by more than 1e-9 is replaced by one module. On a block where
every split ties with the whole (a fully connected layered network: proportional splits have
modularity exactly 0), scikit-network's float32 arithmetic would otherwise pick a split by
rounding.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sculptbench.api import Option, hookimpl
from sculptbench.plugins.detectors.unit_graph import CONDENSE, GraphDetector, modularity, relabel, seed32

#: Imported by worker processes before they take work (sculptbench.plugin.registry.WORKER_IMPORTS).
WORKER_IMPORTS = ("sknetwork.clustering",)

#: A partition must beat one module's modularity (0) by more than this.
MODULARITY_TOL = 1e-9

RESOLUTION = Option("resolution", float, 1.0, low=0, low_open=True, help="Modularity resolution: above 1 favours smaller communities.")


def seed_c_rand(seed: int) -> None:
    """Seed the C library's global ``rand()`` (which scikit-network's Leiden refinement draws from)."""
    import ctypes
    import os

    libc = ctypes.CDLL("ucrtbase" if os.name == "nt" else None)
    libc.srand(ctypes.c_uint(seed))


def leiden_labels(adjacency: Any, resolution: float, seed: int) -> np.ndarray:
    """Leiden labels (scikit-network, Newman modularity) of a symmetric weighted adjacency, the
    node order shuffled from ``seed``, relabelled by first appearance; one cluster when the
    partition's modularity does not beat one module's."""
    from sknetwork.clustering import Leiden

    leiden = Leiden(resolution=resolution, modularity="newman", shuffle_nodes=True, random_state=seed32(seed),
                    sort_clusters=False, return_probs=False, return_aggregate=False)
    seed_c_rand(seed32(seed, salt=1))
    labels = relabel(leiden.fit_predict(adjacency))
    if modularity(adjacency, labels) <= MODULARITY_TOL:
        return np.zeros(len(labels), dtype=int)
    return labels


class LeidenDetector(GraphDetector):
    """Leiden communities of the |w| unit graph (scikit-network), seeded."""

    name = "leiden"
    version = "1.0"
    description = "Leiden communities (Newman modularity) of the |w| unit graph, through scikit-network; node order seeded by the cell's seed."
    citation = "Traag, Waltman & van Eck, Scientific Reports 2019 (scikit-network Leiden)"
    options = (RESOLUTION, CONDENSE)

    def levels(self, graph, network, task, options, seed) -> tuple[list[np.ndarray], dict[str, Any]]:
        """One level: the Leiden communities."""
        return [leiden_labels(graph.adjacency, options["resolution"], seed)], {}


@hookimpl
def register_detectors(register):
    """Register the Leiden detector."""
    register(LeidenDetector())
