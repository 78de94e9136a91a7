"""Rank every built-in detector on the paper's own published networks, and ask whether the
label-free ``clusterability`` scores predict ground-truth success.

The Neural Sculpting reference repository publishes 1,499 pruned Boolean networks, one per
module-detection command of its ``shell/`` scripts (``bench/paper_networks.py`` reads them). The
networks are fixed, so every detector meets exactly the same networks: the fairest ground there is
to compare detectors. For every network and every built-in detector (``sculpting`` with the
command's own settings, every other detector with its defaults, each seeded with the network's
reference seed) the bench runs the detector, the ``structure`` scorer and the ``clusterability``
scorer, then writes:

* per figure of the paper (exemplars and reuse: ``success``; input overlap: the three aspects the
  paper plots; levels: ``success_at_depth``), over the networks of the widths that figure uses,
  the mean per detector with a 95% percentile bootstrap interval (2,000 resamples, seed 0), and
  ``success`` over all networks;
* per detector, how well a label-free score ranks its successes above its failures: Spearman's
  rank correlation between ``structure.success`` and ``clusterability.modularity`` and between
  success and ``-clusterability.ncut_z``, and the AUC (the chance that a success has the higher
  score than a failure, ties counting half), over all networks.

    python bench/detector_ranking.py --reference-root DIR [--jobs N] [--out docs/results/detector-ranking.md] [--json PATH]

Exit status 2 with one error line for a missing or wrong DIR. A detector that cannot run here (the
optional ``infomap`` without its package) is left out with a line saying so.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paper_networks  # noqa: E402  (a sibling bench script: the published networks' figures and tasks)

from sculptbench.contracts.errors import SculptbenchError  # noqa: E402
from sculptbench.engine.torch_import import cpu_model  # noqa: E402
from sculptbench.plugins.pruners.published import ReferenceCommand, read_commands  # noqa: E402
from sculptbench.results.cells import BOOTSTRAP_RESAMPLES, bootstrap_ci  # noqa: E402

#: The structure metrics kept per detection (each figure reads one) and the label-free ones.
STRUCTURE = ("success", "success_at_depth", "input_group_sizes", "hidden_separability", "output_grouping")
LABEL_FREE = ("modularity", "ncut", "ncut_z", "ncut_percentile", "modules")
#: Label-free scores whose rank correlation with success is reported: (metric, sign so that higher is better).
PREDICTORS = (("modularity", 1.0), ("ncut_z", -1.0))
#: Controls: rows in the tables, but their label-free scores are constant by construction.
CONTROLS = ("single", "layers")
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "results" / "detector-ranking.md"


# --------------------------------------------------------------------------- per network
def usable_detectors(registry) -> tuple[list[str], list[str]]:
    """(detectors that resolve here, one line per detector that cannot run and why)."""
    usable, skipped = [], []
    for name, detector in sorted(registry.detectors.items()):
        try:
            detector.resolve({})
        except SculptbenchError as exc:
            skipped.append(f"{name}: {exc}")
            continue
        usable.append(name)
    return usable, skipped


def rank_network(cmd: ReferenceCommand, root: str, detectors: Sequence[str]) -> dict[str, Any]:
    """Every detector on one published network: its structure and clusterability metrics (in a worker)."""
    registry, task, record, net = paper_networks.open_network(cmd, root)
    record.update(family=cmd.family, hidden=list(cmd.hidden))
    if net is None:
        return record
    structure, clusterability = registry.scorers["structure"], registry.scorers["clusterability"]
    label_free = clusterability.resolve({})
    record["detectors"] = {}
    for name in detectors:
        detector = registry.detectors[name]
        params = cmd.detector_params() if name == "sculpting" else {}
        t0 = time.perf_counter()
        detection = detector.detect(net, task, detector.resolve(params, task.detector_defaults), cmd.seed)
        seconds = time.perf_counter() - t0
        truth = structure.score(detection, net, task).metrics
        free = clusterability.score(detection, net, task, label_free, cmd.seed).metrics
        record["detectors"][name] = {**{m: truth.get(m) for m in STRUCTURE}, **{m: free.get(m) for m in LABEL_FREE},
                                     "seconds": seconds}
    return record


def rank_all(commands: Sequence[ReferenceCommand], root: str, detectors: Sequence[str], jobs: int) -> list[dict[str, Any]]:
    """Every network's record, in command order."""
    if jobs <= 1:
        return [rank_network(cmd, root, detectors) for cmd in commands]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(rank_network, commands, [root] * len(commands), [detectors] * len(commands), chunksize=8))


# --------------------------------------------------------------------------- aggregation
def figure_values(records: Sequence[dict[str, Any]], tasks: dict[str, Any], detector: str) -> dict[str, list[float]]:
    """Figure -> the detector's values of that figure's metric over the networks it counts
    (``paper_networks.figure_cells``), plus ``"all"``: success over every network."""
    values: dict[str, list[float]] = {fig: [] for fig in paper_networks.FIGURES}
    values["all"] = []
    for rec in records:
        metrics = rec.get("detectors", {}).get(detector)
        if metrics is None:
            continue
        values["all"].append(float(bool(metrics["success"])))
        for fig, _, _ in paper_networks.figure_cells(rec["family"], tuple(rec["hidden"]), tasks[rec["task"]]):
            values[fig].append(float(bool(metrics[paper_networks.FIGURES[fig][3]])))
    return values


def mean_with_interval(values: Sequence[float]) -> str:
    """``mean [low, high] n=N`` with the percentile bootstrap interval of the mean."""
    if not values:
        return "-"
    low, high = bootstrap_ci(values)
    return f"{np.mean(values):.2f} [{low:.2f}, {high:.2f}] n={len(values)}"


def ranking_table(records: Sequence[dict[str, Any]], tasks: dict[str, Any], detectors: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """(headers, rows): per detector, each figure's mean with its interval, then success on all
    networks; rows sorted by that last mean, best first."""
    figures = list(paper_networks.FIGURES)
    rows = []
    for name in detectors:
        values = figure_values(records, tasks, name)
        rows.append((-np.mean(values["all"]) if values["all"] else 0.0, name,
                     [mean_with_interval(values[fig]) for fig in [*figures, "all"]]))
    headers = ["detector", *(f"{fig} ({paper_networks.FIGURES[fig][3]})" for fig in figures), "all networks (success)"]
    return headers, [[name, *cells] for _, name, cells in sorted(rows)]


def auc(scores: Sequence[float], outcomes: Sequence[bool]) -> float | None:
    """The chance that a success scores higher than a failure (ties count half); None without both."""
    scores, outcomes = np.asarray(scores, dtype=float), np.asarray(outcomes, dtype=bool)
    pos, neg = scores[outcomes], scores[~outcomes]
    if not len(pos) or not len(neg):
        return None
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def spearman(scores: Sequence[float], outcomes: Sequence[bool]) -> float | None:
    """Spearman's rank correlation of scores with outcomes; None when either is constant."""
    from scipy.stats import spearmanr

    scores, outcomes = np.asarray(scores, dtype=float), np.asarray(outcomes, dtype=float)
    if len(scores) < 3 or np.all(scores == scores[0]) or np.all(outcomes == outcomes[0]):
        return None
    return float(spearmanr(scores, outcomes).statistic)


def prediction_table(records: Sequence[dict[str, Any]], detectors: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """(headers, rows): per detector (and pooled over the non-controls), Spearman's rho and the
    AUC of each label-free predictor against ``structure.success``."""
    def row(label: str, pairs: list[dict[str, Any]]) -> list[str]:
        cells = [label, str(len(pairs)), f"{np.mean([bool(p['success']) for p in pairs]):.2f}" if pairs else "-"]
        for metric, sign in PREDICTORS:
            kept = [p for p in pairs if p.get(metric) is not None]
            scores, outcomes = [sign * p[metric] for p in kept], [bool(p["success"]) for p in kept]
            rho, area = spearman(scores, outcomes), auc(scores, outcomes)
            cells += ["-" if rho is None else f"{rho:+.2f}", "-" if area is None else f"{area:.2f}"]
        return cells

    per = {name: [rec["detectors"][name] for rec in records if name in rec.get("detectors", {})] for name in detectors}
    rows = [row(name, per[name]) for name in detectors]
    rows.append(row("pooled (all but the controls)", [p for name in detectors if name not in CONTROLS for p in per[name]]))
    headers = ["detector", "networks", "success", "rho(success, modularity)", "AUC modularity", "rho(success, -ncut_z)", "AUC -ncut_z"]
    return headers, rows


def timing_table(records: Sequence[dict[str, Any]], detectors: Sequence[str]) -> list[list[str]]:
    """Per detector, the mean detection time in milliseconds (detect only, one process)."""
    rows = []
    for name in detectors:
        seconds = [rec["detectors"][name]["seconds"] for rec in records if name in rec.get("detectors", {})]
        rows.append([name, f"{1000 * np.mean(seconds):.1f}" if seconds else "-"])
    return rows


# --------------------------------------------------------------------------- the page
def page(records, tasks, detectors, skipped, argv, seconds, peak_mib, jobs) -> str:
    """The results page in Markdown."""
    scored = [rec for rec in records if "detectors" in rec]
    headers, rows = ranking_table(scored, tasks, detectors)
    pheaders, prows = prediction_table(scored, detectors)
    lines = [
        "# Detectors ranked on the paper's own networks",
        "",
        "Regenerated by `bench/detector_ranking.py` (its docstring says what it computes); do not edit by hand.",
        "",
        f"Command: `{' '.join(['python', 'bench/detector_ranking.py', *argv])}`",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, `--jobs {jobs}`; "
        f"wall time {seconds:.0f} s; peak memory {peak_mib:.0f} MiB (largest process).",
        "",
        f"Networks: {len(scored)} of the {len(records)} published networks read scored (each a pruned network of the reference "
        "checkout, every detection command's own file); each detector seeded with the network's reference seed; "
        "`sculpting` with the command's own detection settings, every other detector with its defaults. "
        "`single` and `layers` are controls: what a detector that reads nothing but which units survive scores "
        "(docs/detectors-guide.md).",
    ]
    if skipped:
        lines += ["", "Left out here: " + "; ".join(skipped)]
    lines += [
        "",
        "## Ground-truth scores per figure",
        "",
        f"Mean over the networks each figure counts (its widths), [95% percentile bootstrap interval, {BOOTSTRAP_RESAMPLES} "
        "resamples], n networks; the last column is `structure.success` over every network. Rows by that column.",
        "",
        tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True),
        "",
        "## Does a label-free score predict success?",
        "",
        "Over every network, per detector: Spearman's rank correlation between `structure.success` (0/1) and the "
        "detection's `clusterability.modularity`, and between success and `-clusterability.ncut_z` (so that positive "
        "means the more clusterable detections succeed more); AUC: the chance that a success scores higher than a "
        "failure (0.5: no information). `-`: undefined (a constant score, e.g. the controls' modularity, or no success).",
        "",
        tabulate(prows, headers=pheaders, tablefmt="github", disable_numparse=True),
        "",
        "## Detection time",
        "",
        tabulate(timing_table(scored, detectors), headers=["detector", "ms per network (detect only)"], tablefmt="github",
                 disable_numparse=True),
        "",
    ]
    return "\n".join(lines)


def peak_memory_mib() -> float:
    """The largest resident set of this process and of its finished workers, in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reference-root", required=True, help="a checkout of GitHub ShreyasMalakarjunPatil/Neural-Sculpting")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="where to write the results page (default docs/results/detector-ranking.md)")
    ap.add_argument("--json", help="also write every network's records to this file")
    ap.add_argument("--every", type=int, default=1, help="score every N-th published network only (a quick look; default 1: all)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        if args.jobs < 1:
            raise SculptbenchError(f"invalid --jobs {args.jobs}; it must be >= 1")
        if args.every < 1:
            raise SculptbenchError(f"invalid --every {args.every}; it must be >= 1")
        commands = read_commands(args.reference_root)[:: args.every]
        registry = paper_networks._registry()
        detectors, skipped = usable_detectors(registry)
        records = rank_all(commands, args.reference_root, detectors, args.jobs)
    except SculptbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = page(records, registry.tasks, detectors, skipped, argv, time.perf_counter() - t0, peak_memory_mib(), args.jobs)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    if args.json:
        import json

        Path(args.json).write_text(json.dumps(records, indent=1, default=str), encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
