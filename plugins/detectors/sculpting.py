"""The Neural Sculpting module detector (Patil, Michael & Dovrolis, NeurIPS 2023).

Implements section 5 of ``neural-sculpting.md`` on the binary adjacency of surviving weights:
condense dead units, compute s-step reachability features, cluster each non-output layer
(cosine distance, average linkage, k chosen by the "modularity metric" and overridden by the
clusterability votes), start outputs as singletons and merge clusters of consecutive layers.

Differences from the reference code (its defects 7-11 and unspecified corner cases) are marked
``CORNER:`` / ``DEFECT:`` in comments and listed in ``Detection.info["notes"]``:

* inputs are never mutated (defects 7, 8): masks are copied to fresh numpy arrays;
* a layer with 0 surviving units is skipped; clusters of the layers around it are not adjacent,
  so nothing merges across the gap;
* a layer with 1 surviving unit gets k = 1 (defect 9);
* a layer with 2 surviving units has no k in 2..n-1: the clusterability vote decides
  ("single" -> 1 cluster, "separate" -> 2); with no vote each unit is its own cluster;
* an all-zero feature vector has distance 1 to every other unit (0 to itself);
* a distance matrix summing to 0 (all features equal) has Q = 0 for every partition;
* Q values within 1e-12 count as tied (ties go to the larger k);
* sigma = 0 gives z = 0 (never NaN); N = 0 gives x = 0;
* k_i, k_j, k_ij and N all count surviving units of the same next ``clusterability_step``
  layers, so x <= 1 (defect 10); the clusterability tests cluster those restricted features;
* the merge count matrix is sized by the actual clusters (labels 0..k-1), and a cluster with no
  incoming edges is never merged (no 0/0, defect 11);
* linkage ties are broken by scipy's deterministic order with units sorted by index; the cluster
  sending the most edges is, on ties, the one holding the smallest unit.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import numpy as np

from sculptbench.api import Detection, Detector, Option, Options, SculptbenchError, SculptedNetwork, Task, hookimpl

Unit = tuple[int, int]

#: Imported by worker processes before they take work (sculptbench.plugin.registry.WORKER_IMPORTS).
WORKER_IMPORTS = ("scipy.cluster.hierarchy", "scipy.spatial.distance")

LINKAGES = ("average", "complete", "single")
METRICS = ("cosine", "jaccard")
#: Absolute tolerance under which two modularity-metric values count as tied.
Q_TIE_TOL = 1e-12


# --------------------------------------------------------------------------- condensation
class Condensed(NamedTuple):
    """Result of :func:`condense`.

    ``alive[l]`` is a bool array over the units of layer ``l``; ``masks[l]`` the bool mask of
    weight layer ``l`` (shape ``(sizes[l+1], sizes[l])``) with every edge of a removed unit
    cleared; ``removed`` the condensed-away units, sorted.
    """

    alive: list[np.ndarray]
    masks: list[np.ndarray]
    removed: list[Unit]


def to_numpy_masks(masks: Sequence[Any]) -> list[np.ndarray]:
    """Copy masks (tensors, arrays or nested lists) into fresh bool numpy arrays."""
    out = []
    for m in masks:
        if hasattr(m, "detach"):
            m = m.detach().cpu().numpy()
        out.append(np.array(m, dtype=bool, copy=True))
    return out


def condense(masks: Sequence[Any]) -> Condensed:
    """Remove dead units until stable (section 5, step 1).

    Input units without outgoing edges and hidden units without incoming or without outgoing
    edges are removed, repeatedly; output units always stay. ``masks`` is not modified.
    """
    masks = to_numpy_masks(masks)
    if not masks:
        raise SculptbenchError("a network needs at least one weight layer")
    L = len(masks)
    sizes = [masks[0].shape[1]] + [m.shape[0] for m in masks]
    alive = [np.ones(n, dtype=bool) for n in sizes]
    while True:
        cm = [m & alive[l + 1][:, None] & alive[l][None, :] for l, m in enumerate(masks)]
        new = [a.copy() for a in alive]
        new[0] = alive[0] & cm[0].any(axis=0)
        for l in range(1, L):
            new[l] = alive[l] & cm[l - 1].any(axis=1) & cm[l].any(axis=0)
        # outputs always stay (new[L] unchanged)
        if all(np.array_equal(a, b) for a, b in zip(alive, new)):
            break
        alive = new
    removed = [(l, int(i)) for l in range(L + 1) for i in np.flatnonzero(~alive[l])]
    return Condensed(alive, cm, removed)


# --------------------------------------------------------------------------- features
def reachability_features(masks: Sequence[np.ndarray], alive: Sequence[np.ndarray], layer: int,
                          step: int) -> tuple[np.ndarray, list[Unit]]:
    """s-step outgoing reachability features of the surviving units of ``layer`` (step 2).

    Row ``r`` (the r-th surviving unit of ``layer`` by index) is 1[(A + ... + A^s)[u, v] > 0]
    over the surviving units ``v`` of layers ``layer+1 .. min(layer+step, L)``, which are
    returned as ``columns``. In a layered graph A^j only reaches layer ``layer+j``, so this is
    one boolean matrix product per layer pair. ``masks``/``alive`` come from :func:`condense`
    (condensed masks, so no path runs through a removed unit).
    """
    if step < 1:
        raise SculptbenchError(f"invalid step {step}; it must be >= 1")
    L = len(masks)
    rows = np.flatnonzero(alive[layer])
    blocks, columns = [], []
    reach = np.eye(len(alive[layer]), dtype=np.float64)[rows]  # A^0 restricted to the rows
    for j in range(layer, min(layer + step, L)):
        reach = (reach @ masks[j].T.astype(np.float64)) > 0  # reachable in layer j+1
        keep = np.flatnonzero(alive[j + 1])
        blocks.append(reach[:, keep])
        columns.extend((j + 1, int(i)) for i in keep)
        reach = reach.astype(np.float64)
    features = np.hstack(blocks) if blocks else np.zeros((len(rows), 0), dtype=bool)
    return features.astype(bool), columns


def distance_matrix(features: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """Pairwise distances between binary feature rows (``cosine`` or ``jaccard``).

    CORNER: an all-zero row has distance 1 to every other row (scipy would give NaN);
    the diagonal is 0. Identical non-zero rows have distance exactly 0.
    """
    f = np.asarray(features, dtype=np.float64)
    inter = f @ f.T
    norms = np.diag(inter).copy()
    if metric == "cosine":
        denom = np.sqrt(np.outer(norms, norms))  # exact for equal integer counts
    elif metric == "jaccard":
        denom = norms[:, None] + norms[None, :] - inter
    else:
        raise SculptbenchError(f"invalid metric {metric!r}; valid: {', '.join(METRICS)}")
    with np.errstate(divide="ignore", invalid="ignore"):
        sim = np.where(denom > 0, inter / np.where(denom > 0, denom, 1.0), 0.0)
    d = np.clip(1.0 - sim, 0.0, 1.0)
    np.fill_diagonal(d, 0.0)
    return d


def layer_linkage(D: np.ndarray, method: str = "average") -> np.ndarray:
    """The scipy linkage matrix of a square distance matrix (computed once per layer)."""
    if method not in LINKAGES:
        raise SculptbenchError(f"invalid linkage {method!r}; valid: {', '.join(LINKAGES)}")
    from scipy.cluster.hierarchy import (
        linkage as scipy_linkage,  # imported on use: loading the plugin stays cheap
    )
    from scipy.spatial.distance import squareform

    return scipy_linkage(squareform(D, checks=False), method=method)


def cut_linkage(Z: np.ndarray, n: int, k: int) -> np.ndarray:
    """Labels of ``n`` points cut into exactly ``k`` clusters by applying the first ``n-k`` merges.

    Labels are 0..k-1 numbered by each cluster's smallest point (deterministic).
    """
    if not 1 <= k <= n:
        raise SculptbenchError(f"invalid k {k}; it must be in 1..{n}")
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    for row in range(n - k):
        a, b = int(Z[row, 0]), int(Z[row, 1])
        members[n + row] = members.pop(a) + members.pop(b)
    labels = np.empty(n, dtype=int)
    for label, pts in enumerate(sorted(members.values(), key=min)):
        labels[pts] = label
    return labels


# --------------------------------------------------------------------------- choosing k
def modularity_metric(D: np.ndarray, labels: Sequence[int]) -> float:
    """Q = trace(P^T D P) - sum_c a_c^2 with D normalised to sum 1 and a = P^T D 1 (lower is better).

    CORNER: if D sums to 0 (all features equal), Q = 0.
    """
    D = np.asarray(D, dtype=np.float64)
    total = D.sum()
    if total <= 0:
        return 0.0
    Dn = D / total
    labels = np.asarray(labels)
    _, inv = np.unique(labels, return_inverse=True)
    P = np.zeros((len(labels), inv.max() + 1))
    P[np.arange(len(labels)), inv] = 1.0
    a = P.T @ Dn.sum(axis=1)
    return float(np.trace(P.T @ Dn @ P) - np.sum(a ** 2))


def choose_k(D: np.ndarray, Z: np.ndarray) -> tuple[int | None, float | None, dict[int, float]]:
    """Pick k in 2..n-1 with the lowest modularity metric (step 3); ties go to the larger k.

    Every cut of the single linkage ``Z`` is scored; Q is updated incrementally along the
    merges (O(n^2) overall), equal to :func:`modularity_metric` of each cut.
    Returns ``(k, best_Q, {k: Q})``; ``(None, None, {})`` when n < 3 (the range is empty).
    """
    D = np.asarray(D, dtype=np.float64)
    n = D.shape[0]
    if n < 3:
        return None, None, {}
    total = D.sum()
    Dn = D / total if total > 0 else np.zeros_like(D)  # CORNER: all-zero D -> Q = 0
    row = Dn.sum(axis=1)
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    a: dict[int, float] = {i: float(row[i]) for i in range(n)}
    within, sumsq = float(np.trace(Dn)), float(np.sum(row ** 2))
    qs: dict[int, float] = {}
    for r in range(n - 2):  # after merge r there are n-r-1 clusters
        x, y = int(Z[r, 0]), int(Z[r, 1])
        mx, my = members.pop(x), members.pop(y)
        within += 2.0 * float(Dn[np.ix_(mx, my)].sum())
        sumsq += 2.0 * a[x] * a[y]  # (a_x + a_y)^2 - a_x^2 - a_y^2
        members[n + r], a[n + r] = mx + my, a.pop(x) + a.pop(y)
        qs[n - r - 1] = within - sumsq
    qs = dict(sorted(qs.items()))
    best_k, best_q = None, None
    for k, q in qs.items():  # ascending k: near-equal Q (within Q_TIE_TOL) -> larger k
        if best_q is None or q <= best_q + Q_TIE_TOL:
            best_k, best_q = k, q
    return best_k, best_q, qs


def pair_statistics(a: np.ndarray, b: np.ndarray, N: int) -> dict[str, float]:
    """k_i, k_j, k_ij, x = k_i k_j / N^2, E = N x and sigma = sqrt(N x (1 - x)) of two binary rows.

    CORNER: N = 0 gives x = 0. x <= 1 holds because rows only cover the N counted units.
    """
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    k_i, k_j, k_ij = int(a.sum()), int(b.sum()), int((a & b).sum())
    if max(k_i, k_j) > N:
        raise SculptbenchError(f"feature rows reach {max(k_i, k_j)} units but N = {N}")
    x = k_i * k_j / N ** 2 if N > 0 else 0.0
    E = N * x
    sigma = math.sqrt(max(N * x * (1.0 - x), 0.0))
    return {"k_i": k_i, "k_j": k_j, "k_ij": k_ij, "N": int(N), "x": x, "E": E, "sigma": sigma}


def _z(num: float, sigma: float) -> float:
    """num / sigma, or 0 when sigma is 0 (CORNER: never NaN or inf)."""
    return float(num / sigma) if sigma > 0 else 0.0


def separate_test(a: np.ndarray, b: np.ndarray, N: int) -> dict[str, Any]:
    """The "separate" rule on the first merged pair: votes every unit its own cluster."""
    st = pair_statistics(a, b, N)
    k_ij, m, E = st["k_ij"], max(st["k_i"], st["k_j"]), st["E"]
    votes = (k_ij < m and k_ij <= E) or k_ij < 1
    return {**st, "votes": bool(votes), "z": _z(E - k_ij, st["sigma"])}


def single_test(a: np.ndarray, b: np.ndarray, N: int) -> dict[str, Any]:
    """The "single" rule on the ORed features of the 2-cluster cut: votes one cluster."""
    st = pair_statistics(a, b, N)
    k_ij, m, E = st["k_ij"], max(st["k_i"], st["k_j"]), st["E"]
    votes = (k_ij >= 1 and k_ij >= E) or k_ij >= m
    return {**st, "votes": bool(votes), "z": _z(k_ij - E, st["sigma"])}


def clusterability_votes(features: np.ndarray, N: int, linkage: str = "average",
                         metric: str = "cosine") -> dict[str, Any]:
    """Both clusterability tests on one layer (step 4).

    ``features`` are the layer's rows restricted to the next ``clusterability_step`` layers and
    ``N`` the number of surviving units there. Returns ``{"separate": {...}, "single": {...},
    "vote": "separate" | "single" | None}``; when both vote the larger z wins, ties to "single".
    Needs at least 2 rows.
    """
    F = np.asarray(features, dtype=bool)
    n = F.shape[0]
    if n < 2:
        raise SculptbenchError("clusterability tests need at least 2 units")
    Z = layer_linkage(distance_matrix(F, metric), linkage)
    i, j = sorted((int(Z[0, 0]), int(Z[0, 1])))  # the pair merged into n-1 clusters
    sep = {**separate_test(F[i], F[j], N), "pair": [i, j]}
    two = cut_linkage(Z, n, 2)
    sgl = single_test(F[two == 0].any(axis=0), F[two == 1].any(axis=0), N)
    return {"separate": sep, "single": sgl, "vote": combine_votes(sep, sgl)}


def combine_votes(separate: dict[str, Any], single: dict[str, Any]) -> str | None:
    """The layer's vote: the test that votes; if both do, the larger z (ties to "single")."""
    if separate["votes"] and single["votes"]:
        return "separate" if separate["z"] > single["z"] else "single"
    if separate["votes"]:
        return "separate"
    if single["votes"]:
        return "single"
    return None


def decide_k(n: int, k: int | None, best_q: float | None, vote: str | None,
             mm_threshold: float = 0.2) -> tuple[int, str]:
    """Apply the override rule: the vote replaces k when k is 2 or n-1 or best Q > -mm_threshold.

    ``vote`` "single" means k = 1 and "separate" k = n. Returns ``(k, source)`` with source in
    {"modularity", "vote", "fallback"}. CORNER: n = 2 (no k from step 3) follows the vote; with no
    vote at all it falls back to every unit its own cluster. With no vote and a k from step 3,
    that k is kept.
    """
    if k is None:
        if vote == "single":
            return 1, "vote"
        if vote == "separate":
            return n, "vote"
        return n, "fallback"
    if vote is not None and (k == 2 or k == n - 1 or best_q > -mm_threshold):
        return (1 if vote == "single" else n), "vote"
    return k, "modularity"


# --------------------------------------------------------------------------- merging
def merge_layers(masks: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                 threshold: float = 0.9) -> tuple[list[frozenset[Unit]], list[dict[str, Any]]]:
    """Merge clusters across consecutive layers from the inputs upward (step 6).

    ``labels[l]`` gives each unit of layer ``l`` its cluster 0..k_l-1, or -1 for removed units;
    the last layer holds the outputs. Cluster b of layer l joins the cluster a of layer l-1 that
    sends it the most edges when C[a,b]/out(a) > threshold and C[a,b]/in(b) > threshold (outputs:
    only the incoming fraction). Returns the modules (sorted by smallest unit) and a merge log.
    CORNER: an empty layer has no clusters, so nothing merges across it; DEFECT 11: the count
    matrix is k_{l-1} x k_l and a cluster with no incoming edges is skipped (no 0/0).
    """
    L = len(masks)
    parent: dict[tuple[int, int], tuple[int, int]] = {}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    ks = [int(lab.max()) + 1 if (lab >= 0).any() else 0 for lab in map(np.asarray, labels)]
    for l, k in enumerate(ks):
        for c in range(k):
            parent[(l, c)] = (l, c)

    def one_hot(lab, k):
        lab = np.asarray(lab)
        P = np.zeros((len(lab), k))
        idx = np.flatnonzero(lab >= 0)
        P[idx, lab[idx]] = 1.0
        return P

    log = []
    for l in range(1, L + 1):
        if ks[l - 1] == 0 or ks[l] == 0:
            continue
        C = one_hot(labels[l - 1], ks[l - 1]).T @ np.asarray(masks[l - 1], dtype=np.float64).T @ one_hot(labels[l], ks[l])
        out_deg, in_deg = C.sum(axis=1), C.sum(axis=0)
        for b in range(ks[l]):
            if in_deg[b] == 0:
                continue
            a = int(np.argmax(C[:, b]))  # first max = cluster with the smallest unit
            f_out = float(C[a, b] / out_deg[a])
            f_in = float(C[a, b] / in_deg[b])
            merged = f_in > threshold and (l == L or f_out > threshold)
            log.append({"layer": l, "lower": a, "upper": b, "out_fraction": f_out,
                        "in_fraction": f_in, "merged": merged})
            if merged:
                parent[find((l, b))] = find((l - 1, a))

    groups: dict[tuple[int, int], set[Unit]] = {}
    for l, lab in enumerate(labels):
        for i, c in enumerate(np.asarray(lab).tolist()):
            if c >= 0:
                groups.setdefault(find((l, c)), set()).add((l, i))
    modules = sorted((frozenset(g) for g in groups.values()), key=min)
    return modules, log


# --------------------------------------------------------------------------- detector
class SculptingDetector(Detector):
    """The paper's module detector (section 5 of the reference description)."""

    name = "sculpting"
    version = "1.0"
    citation = "Patil, Michael & Dovrolis, Neural Sculpting, NeurIPS 2023, section 5"
    options = (
        Option("feature_step", int, None, low=1, nullable=True, task=True,
               help="Layers of reachability a unit's feature vector spans (null: every later layer)."),
        Option("clusterability_step", int, None, low=1, nullable=True, task=True,
               help="Layers the clusterability tests read (null: feature_step)."),
        Option("mm_threshold", float, 0.2, low=0.0, high=1.0, task=True,
               help="The modularity metric a layer's best cut must reach to be split."),
        Option("merge_threshold", float, 0.9, low=0.0, high=1.0, low_open=True, task=True,
               help="Share of a cluster's edges into the next layer's cluster above which the two merge."),
        Option("linkage", str, "average", choices=LINKAGES, help="Hierarchical clustering linkage of each layer."),
        Option("metric", str, "cosine", choices=METRICS, help="Distance between units' feature vectors."),
    )

    def detect(self, network: SculptedNetwork, task: Task, options: Options, seed: int) -> Detection:
        """Partition the surviving units of ``network`` into modules (deterministic; seed unused)."""
        p = options
        cond = condense(network.weight_masks)  # copies: inputs never mutated (defects 7, 8)
        L = len(cond.masks)
        s = p["feature_step"] or L
        c = p["clusterability_step"] or s
        labels: list[np.ndarray] = []
        layers_info, notes = [], []
        for l in range(L):
            idx = np.flatnonzero(cond.alive[l])
            n = len(idx)
            lab = np.full(len(cond.alive[l]), -1, dtype=int)
            entry: dict[str, Any] = {"layer": l, "n": int(n)}
            if n == 0:
                # CORNER: empty layer skipped; no merges across it.
                entry.update(k=0, source="empty")
                notes.append(f"layer {l}: no surviving units; skipped, nothing merges across it")
            elif n == 1:
                # CORNER (defect 9): a single unit is a single cluster.
                lab[idx] = 0
                entry.update(k=1, source="single-unit")
                notes.append(f"layer {l}: one surviving unit; k = 1")
            else:
                feats, cols = reachability_features(cond.masks, cond.alive, l, max(s, c))
                layer_of = np.array([u[0] for u in cols], dtype=int)
                F = feats[:, layer_of <= l + s]
                Fc = feats[:, layer_of <= l + c]  # DEFECT 10: N counts the same columns
                N = int((layer_of <= l + c).sum())
                D = distance_matrix(F, p["metric"])
                Z = layer_linkage(D, p["linkage"])
                k_mm, best_q, qs = choose_k(D, Z)
                votes = clusterability_votes(Fc, N, p["linkage"], p["metric"])
                k, source = decide_k(n, k_mm, best_q, votes["vote"], p["mm_threshold"])
                if n == 2:
                    notes.append(f"layer {l}: two units; decided by the clusterability vote"
                                 + ("" if votes["vote"] else " (no vote: separate clusters)"))
                if any(votes[t]["sigma"] == 0 for t in ("separate", "single")):
                    notes.append(f"layer {l}: sigma = 0 in a clusterability test; z = 0")
                if not F.any(axis=1).all():
                    notes.append(f"layer {l}: zero feature vectors; cosine distance 1 to all")
                lab[idx] = cut_linkage(Z, n, k)
                entry.update(k=int(k), source=source, k_modularity=k_mm, best_q=best_q,
                             q={str(kk): v for kk, v in qs.items()}, votes=votes)
            entry["units"] = [int(i) for i in idx]
            labels.append(lab)
            layers_info.append(entry)
        # Step 5: every output unit starts as its own cluster (outputs are never condensed).
        out = np.arange(len(cond.alive[L]), dtype=int)
        labels.append(out)
        layers_info.append({"layer": L, "n": int(len(out)), "k": int(len(out)), "source": "outputs",
                            "units": out.tolist()})
        modules, merges = merge_layers(cond.masks, labels, p["merge_threshold"])
        info = {
            "params": {**p.as_dict(), "feature_step": s, "clusterability_step": c},
            "layers": layers_info,
            "merges": merges,
            "condensed": [list(u) for u in cond.removed],
            "notes": notes,
        }
        return Detection(modules=modules, info=info)


@hookimpl
def register_detectors(register):
    """Register the Neural Sculpting detector."""
    register(SculptingDetector())
