"""The one key builder: what identifies a cell, a pruned network, a detection and a score.

Every key hashes a network's identity (:func:`network_identity`: task, its definition hash, data
source and parameters, architecture, pruner with version and resolved options, training recipe,
seed and device), plus what the key adds: the results database's cell key the detector and the
scorers; the stage cache's prune key the kernels that computed the network, its detect key the
detector and the network's digest, its score key the scorer and the detection's digest. Keys are
canonical JSON hashed with sha256 (:func:`sculptbench.contracts.hashing.digest`), so the same
inputs give the same key on any machine and in any process.
"""

from __future__ import annotations

from typing import Any

from sculptbench.contracts.hashing import digest
from sculptbench.contracts.work import Group

#: Schema of the keys below; part of every key, so a change of what a key covers changes every key.
KEY_SCHEMA = 3


def network_identity(group: Group, seed: int) -> dict[str, Any]:
    """What determines one seed's pruned network in ``group``."""
    task = group.task
    return {
        "schema": KEY_SCHEMA, "task": task.name, "task_hash": task.definition_hash(), "data_source": task.data_source,
        "task_parameters": dict(task.task_parameters), "hidden": list(group.hidden), "pruner": group.pruner,
        "pruner_version": group.versions["pruner"], "pruner_options": group.params_for(seed),
        "protocol": [[kind, name, options] for kind, name, options in group.protocol],
        "training": group.training.__dict__, "seed": seed, "device": group.device,
    }


def cell_key(group: Group, seed: int, detector: str) -> str:
    """The results database's key of the cell (``seed``, ``detector``) of ``group``."""
    options = dict(group.detectors)[detector]
    return digest({
        **network_identity(group, seed), "detector": detector, "detector_version": group.versions["detectors"][detector],
        "detector_options": options,
        "scorers": {name: [group.versions["scorers"][name], scorer_options] for name, scorer_options in group.scorers},
    }, 20)


def prune_key(group: Group, seed: int, kernels: dict[str, Any]) -> str:
    """The stage cache's key of one seed's pruned network, computed by ``kernels``
    (:func:`sculptbench.engine.torch_import.kernel_fingerprint`)."""
    return digest({"stage": "prune", **network_identity(group, seed), "kernels": kernels}, 32)


def detect_key(prune: str, detector: str, version: Any, options: Any, network: str = "") -> str:
    """The stage cache's key of one detection of a pruned network (``network``: its digest)."""
    return digest({"stage": "detect", "prune": prune, "network": network, "detector": detector, "version": version, "params": options}, 32)


def score_key(detect: str, scorer: str, version: Any, options: Any = None, detection: str = "") -> str:
    """The stage cache's key of one scorer's metrics for a detection (``detection``: its digest)."""
    return digest({"stage": "score", "detect": detect, "detection": detection, "scorer": scorer, "version": version, "options": options}, 32)
