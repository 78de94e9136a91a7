"""A tiny third-party sculptbench plugin: a naive layer detector and a module-count scorer."""

from __future__ import annotations

from sculptbench.api import Detection, Detector, ScoreRecord, Scorer, hookimpl


class LayerDetector(Detector):
    """Every layer's surviving units form one module."""

    name = "demo-layers"
    version = "0.3.1"
    options = ()

    def detect(self, network, task, options, seed):
        graph = network.unit_graph()
        layers: dict[int, set] = {}
        for unit in graph.nodes:
            if graph.degree(unit):
                layers.setdefault(unit[0], set()).add(unit)
        return Detection(modules=[frozenset(units) for _, units in sorted(layers.items())])


class ModuleCountScorer(Scorer):
    """The number of modules a detector found."""

    name = "demo-count"
    version = "0.3.1"
    metrics = {"modules": "number of modules in the detection"}
    options = ()

    def score(self, detection, network, task, options, seed):
        return ScoreRecord(scorer=self.name, metrics={"modules": len(detection.modules)})


@hookimpl
def register_detectors(register):
    register(LayerDetector())


@hookimpl
def register_scorers(register):
    register(ModuleCountScorer())
