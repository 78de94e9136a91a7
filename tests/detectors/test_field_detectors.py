"""The field's detectors (spectral, leiden, paris, infomap, activation) and the controls (single,
layers) on hand-built networks: planted partitions, one module, a two-level hierarchy, reruns,
and each method's own rule pinned by hand-computed values."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from field_networks import hierarchy, layered, one_module, planted_blocks, planted_modules

from sculptbench.api import DetectorContract, SculptbenchError
from sculptbench.cli import main
from sculptbench.contracts.types import SculptedNetwork
from sculptbench.plugins.detectors import activation, controls, infomap, leiden, paris, spectral
from sculptbench.plugins.detectors.sculpting import cut_linkage
from sculptbench.plugins.detectors.unit_graph import surviving_graph

TASK = "bool/input-separable"
FIELD = ("spectral", "leiden", "paris", "infomap", "activation")


def detect(registry, name, network, seed=0, task=TASK, **params):
    detector = registry.detectors[name]
    return detector.detect(network, registry.tasks[task] if task else None, detector.resolve(params), seed)


def units_of(network):
    g = surviving_graph(network)
    return frozenset(g.units)


# --------------------------------------------------------------------------- planted partitions
@pytest.mark.parametrize("name", [*FIELD, "sculpting"])
def test_each_detector_recovers_planted_blocks_exactly(registry, name):
    assert detect(registry, name, planted_blocks()).modules == planted_modules()


@pytest.mark.parametrize("name", [*FIELD, "sculpting", "single"])
def test_one_module_network_gives_one_module(registry, name):
    # Every layer fully connected with equal weights: every split ties with the whole at best
    # (modularity 0, no persistent Paris cut, no compression for Infomap, k = 1 by the eigengap,
    # all hidden units perfectly correlated for activation).
    net = one_module()
    assert detect(registry, name, net).modules == [units_of(net)]


def test_the_controls_document_what_a_trivial_detector_returns(registry):
    net = planted_blocks()
    everything = units_of(net)
    assert detect(registry, "single", net).modules == [everything]
    layers = detect(registry, "layers", net).modules
    assert layers == [frozenset(u for u in everything if u[0] == layer) for layer in range(4)]
    assert detect(registry, "layers", one_module()).modules == [frozenset(u for u in units_of(one_module()) if u[0] == layer)
                                                               for layer in range(3)]


def test_dead_units_are_left_out_unless_condense_is_false(registry):
    masks = [m.clone() for m in planted_blocks().weight_masks]
    masks[1][2, :] = False  # hidden (2, 2) loses its inputs: it only feeds outputs, a dead unit
    net = SculptedNetwork.from_masks(masks)
    assert (2, 2) not in detect(registry, "single", net).modules[0]
    assert (2, 2) in detect(registry, "single", net, condense=False).modules[0]


# --------------------------------------------------------------------------- hierarchies
@pytest.mark.parametrize("name", ["paris", "infomap"])
def test_paris_and_infomap_return_the_planted_two_level_hierarchy(registry, name):
    net, levels = hierarchy()
    found = detect(registry, name, net, task=None)
    assert [[frozenset(map(tuple, m)) for m in level] for level in found.info["hierarchy"]] == levels


def test_which_level_is_the_modules(registry):
    net, (coarse, fine) = hierarchy()
    # Paris: the most persistent level (here the split into connected components), or the finest.
    assert detect(registry, "paris", net, task=None).modules == coarse
    assert detect(registry, "paris", net, task=None, modules="finest").modules == fine
    # Infomap: the leaf modules of its tree.
    assert detect(registry, "infomap", net, task=None).modules == fine
    two_level = detect(registry, "infomap", net, task=None, two_level=True)
    assert len(two_level.info["hierarchy"]) == 1 and two_level.modules == fine


def test_paris_persistent_cuts_by_hand():
    # n = 6 nodes, heights h1..h5 = 1, 1, 4, inf, inf. After t merges k = 6 - t clusters:
    # t=1 (k=5): h2/h1 = 1; t=2 (k=4): h3/h2 = 4; t=3 (k=3): inf/4 = inf (the components);
    # t=4 (k=2): inf after inf, components joined arbitrarily: never a level.
    heights = np.array([1.0, 1.0, 4.0, np.inf, np.inf])
    cuts = paris.persistent_cuts(heights, 2.0)
    assert cuts == [(4, 4.0), (3, np.inf)]
    assert paris.persistent_cuts(heights, 5.0) == [(3, np.inf)]
    assert paris.chosen_levels(cuts, 1) == [(3, np.inf)]
    assert paris.chosen_levels([(5, 3.0), (2, 3.0), (3, 9.0)], 2) == [(2, 3.0), (3, 9.0)]  # ties go to the coarser


# --------------------------------------------------------------------------- spectral
def test_eigengap_rule_by_hand():
    # gaps lambda_(k+1) - lambda_k for k = 2, 3, 4: 0.1, 0.8, 0.1 -> k = 3
    assert spectral.eigengap_k(np.array([0, 0, 0.1, 0.9, 1.0]), components=2, max_clusters=10) == 3
    # k never below the number of components, never above n - 1; ties go to the smaller k
    assert spectral.eigengap_k(np.array([0, 0, 0, 0.5, 1.0]), components=3, max_clusters=1) == 3
    assert spectral.eigengap_k(np.array([0, 0.5, 1.0, 1.5]), components=1, max_clusters=10) == 1


def test_spectral_on_a_disconnected_graph_never_joins_components(registry):
    # Three blocks, no edges between them; max_clusters=1 still gives at least one module per component.
    blocks = [[[2 * b, 2 * b + 1], [3 * b, 3 * b + 1, 3 * b + 2], [b]] for b in range(3)]
    net = layered([6, 9, 3], blocks)
    found = detect(registry, "spectral", net, task=None, max_clusters=1)
    assert len(found.modules) == 3 and found.info["k"] == 3 and found.info["components"] == 3


def test_laplacian_spectrum_by_hand():
    # A path a - b - c with unit weights: D = diag(1, 2, 1); L = I - D^-1/2 A D^-1/2 has
    # eigenvalues 0, 1, 2 (the path P3's normalised Laplacian).
    a = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float)
    values, _, inv_sqrt = spectral.laplacian_spectrum(a)
    assert np.allclose(values, [0, 1, 2]) and np.allclose(inv_sqrt, [1, 2 ** -0.5, 1])


# --------------------------------------------------------------------------- infomap and its codelength
def test_map_equation_by_hand():
    # Path 0 - 1 - 2 - 3, unit weights: strengths 1, 2, 2, 1 (total 6), visit rates p = 1/6, 1/3, 1/3, 1/6.
    a = np.diag([1.0, 1.0, 1.0], 1)
    a = a + a.T
    # One module: H(p) = 2 (1/6 log2 6) + 2 (1/3 log2 3) = 0.861654 + 1.056642 = 1.918296 bits.
    assert infomap.map_equation(a, [()] * 4) == pytest.approx(1.918296, abs=1e-6)
    # Modules {0, 1}, {2, 3}: each exited at rate 1/6 (the middle edge, weight 1 of 6).
    # Root: rates (1/6, 1/6), usage 1/3, entropy 1 bit -> 1/3. Each module: rates (exit 1/6,
    # p 1/6, p 1/3), usage 2/3, entropy of (1/4, 1/4, 1/2) = 1.5 bits -> 1. Total 2 1/3 bits.
    assert infomap.map_equation(a, [(1,), (1,), (2,), (2,)]) == pytest.approx(7 / 3, abs=1e-12)
    # Two disconnected edges: no exits, root costs 0; each module codes two nodes of rate 1/4:
    # usage 1/2 x 1 bit, twice: 1 bit; one module: H(1/4 x 4) = 2 bits.
    b = np.kron(np.eye(2), np.array([[0, 1.0], [1.0, 0]]))
    assert infomap.map_equation(b, [(1,), (1,), (2,), (2,)]) == pytest.approx(1.0)
    assert infomap.map_equation(b, [()] * 4) == pytest.approx(2.0)


def test_infomap_codelength_is_checked_and_a_tree_that_does_not_compress_is_one_module(registry):
    net, _ = hierarchy()
    found = detect(registry, "infomap", net, task=None)
    assert found.info["codelength"] == pytest.approx(found.info["codelength_recomputed"], abs=1e-9)
    assert found.info["codelength"] < found.info["one_level_codelength"]
    # A chain of 4 units is the path above: two modules would cost 2.33 bits against 1.92 for one.
    chain = SculptedNetwork.from_masks([[[1]], [[1]], [[1]]])
    assert detect(registry, "infomap", chain, task=None).modules == [units_of(chain)]


def test_without_the_infomap_package_asking_for_it_is_one_line_and_exit_2(registry, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "infomap", None)  # `import infomap` now raises ImportError
    with pytest.raises(SculptbenchError) as err:
        registry.detectors["infomap"].resolve({})
    assert 'pip install "sculptbench[infomap]"' in str(err.value) and "\n" not in str(err.value)
    db = tmp_path / "results.db"
    result = CliRunner().invoke(main, ["run", "--tasks", "bool/none", "--pruners", "dense", "--detectors", "single,infomap",
                                       "--seeds", "1", "--arch", "24", "--results", str(db)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: {infomap.MISSING}"]
    assert not db.exists()
    for name in sorted(set(registry.detectors) - {"infomap"}):
        registry.detectors[name].resolve({})  # every other detector still resolves


# --------------------------------------------------------------------------- activation
def tiny_activation_network():
    # 2-1-1: h = relu(x0 + x1), y = 2 h
    net = SculptedNetwork.from_masks([[[1, 1]], [[1]]])
    net.weights = [torch.tensor([[1.0, 1.0]]), torch.tensor([[2.0]])]
    return net


X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


# covariance: x0 = (0,0,1,1), x1 = (0,1,0,1), h = (0,1,1,2), y = (0,2,2,4): Var x = 1/4,
# Cov(x0, x1) = 0, Cov(x, h) = 3/4 - 1/2 = 1/4, Var h = 6/4 - 1 = 1/2, Cov(x, y) = 1/2,
# Cov(h, y) = 1, Var y = 2; correlation: Cov(x, h) / sqrt(1/4 * 1/2) = 0.70711, Cov(h, y) / sqrt(1/2 * 2) = 1.
# jacobian: J(x0) = (1, 0), J(x1) = (0, 1); h fires on 3 of the 4 rows: J(h) = (1, 1) there, (0, 0)
# at 00; J(y) = 2 J(h). Mean inner products: S(x0, x0) = 1, S(x0, x1) = 0, S(x0, h) = 3/4,
# S(h, h) = 3/2, S(h, y) = 3, S(y, y) = 6, S(x0, y) = 3/2; normalised S(x0, h) = 0.75 / sqrt(1.5), S(h, y) = 1.
BY_HAND = {
    "covariance": ([[0.25, 0, 0.25, 0.5], [0, 0.25, 0.25, 0.5], [0.25, 0.25, 0.5, 1.0], [0.5, 0.5, 1.0, 2.0]], 0.5 ** 0.5),
    "jacobian": ([[1, 0, 0.75, 1.5], [0, 1, 0.75, 1.5], [0.75, 0.75, 1.5, 3], [1.5, 1.5, 3, 6]], 0.75 / 1.5 ** 0.5),
}


@pytest.mark.parametrize("measure", sorted(BY_HAND))
def test_activation_associations_by_hand(measure):
    raw_expected, input_to_hidden = BY_HAND[measure]
    net = tiny_activation_network()  # units in order x0, x1, h, y
    graph = surviving_graph(net)
    assert np.allclose(activation.association(net, graph, X, measure, normalise=False), raw_expected)
    norm = activation.association(net, graph, X, measure, normalise=True)
    assert norm[0, 2] == pytest.approx(input_to_hidden) and norm[2, 3] == pytest.approx(1.0) and norm[0, 1] == 0


def test_activation_jacobian_summed_in_blocks_is_the_same(monkeypatch):
    net = tiny_activation_network()
    graph = surviving_graph(net)
    whole = activation.association(net, graph, X, "jacobian", normalise=False)
    monkeypatch.setattr(activation, "JACOBIAN_BLOCK", 1)  # one input row per block
    assert np.allclose(activation.association(net, graph, X, "jacobian", normalise=False), whole)


def test_activation_jacobian_matches_autograd(registry):
    net = planted_blocks()
    x = registry.tasks[TASK].data("cpu").train_x.double().requires_grad_(True)
    values = activation.unit_values(net, x)
    jac = activation.unit_jacobians(net, x.detach())
    for layer in (1, 2, 3):
        for unit in range(values[layer].shape[1]):
            (grad,) = torch.autograd.grad(values[layer][:, unit].sum(), x, retain_graph=True)
            assert torch.allclose(grad, jac[layer][:, unit, :])


@pytest.mark.parametrize("measure", activation.MEASURES)
def test_activation_measures_recover_the_blocks_and_leave_silent_units_out(registry, measure):
    assert detect(registry, "activation", planted_blocks(), measure=measure).modules == planted_modules()
    net = planted_blocks()
    net.biases = [b.clone() for b in net.biases]
    net.weights = [w.clone() for w in net.weights]
    net.weights[0][2] = -net.weights[0][2]  # hidden (1, 2) never fires: silent, and so is what only it feeds
    found = detect(registry, "activation", net, measure=measure)
    assert [1, 2] in found.info["silent"] and all((1, 2) not in m for m in found.modules)


def test_activation_needs_a_task(registry):
    with pytest.raises(SculptbenchError, match="needs the task's inputs"):
        detect(registry, "activation", planted_blocks(), task=None)


def test_activation_samples_a_subset_from_the_seed(registry):
    found = detect(registry, "activation", planted_blocks(), samples=8)
    assert found.info["samples"] == 8
    assert detect(registry, "activation", planted_blocks(), samples=8).modules == found.modules


# --------------------------------------------------------------------------- determinism
def noisy_network(seed: int = 3, sizes=(4, 12, 12, 4), density: float = 0.5) -> SculptedNetwork:
    """A network of ``sizes`` keeping about ``density`` of its weights, random magnitudes and signs."""
    gen = torch.Generator().manual_seed(seed)
    masks = [torch.rand(b, a, generator=gen) < density for a, b in zip(sizes[:-1], sizes[1:])]
    for m in masks:
        m[torch.arange(m.shape[0]), torch.arange(m.shape[0]) % m.shape[1]] = True
    net = SculptedNetwork.from_masks(masks)
    net.weights = [torch.randn(m.shape, generator=gen) * m for m in masks]
    net.biases = [torch.randn(m.shape[0], generator=gen) * 0.1 for m in masks]
    return net


@pytest.mark.parametrize("name", [*FIELD, "single", "layers"])
def test_two_runs_give_identical_detections_whatever_the_global_random_state(registry, name):
    net = noisy_network()
    np.random.seed(1)
    torch.manual_seed(1)
    first = detect(registry, name, net, seed=5)
    np.random.seed(2)
    torch.manual_seed(2)
    second = detect(registry, name, net, seed=5)
    assert first.modules == second.modules
    assert json.dumps(first.info, sort_keys=True, default=str) == json.dumps(second.info, sort_keys=True, default=str)


def test_leiden_is_reproducible_whatever_the_c_library_rand_state(registry):
    # scikit-network's Leiden refinement draws from libc's global rand(), which its random_state
    # does not seed; without the detector's srand, this network's partition changes with the
    # number of rand() calls made before. (activation partitions through the same leiden_labels.)
    import ctypes

    libc = ctypes.CDLL(None)
    gen = torch.Generator().manual_seed(0)
    masks = [torch.rand(b, a, generator=gen) < 0.3 for a, b in [(6, 16), (16, 16), (16, 3)]]
    net = SculptedNetwork.from_masks(masks)
    net.weights = [torch.randn(m.shape, generator=gen) * m for m in masks]
    first = detect(registry, "leiden", net, task=None)
    for calls in (1, 7, 30):
        for _ in range(calls):
            libc.rand()
        assert detect(registry, "leiden", net, task=None).modules == first.modules


# --------------------------------------------------------------------------- the contract kit
CONTRACTS = {
    "Spectral": (spectral, spectral.SpectralDetector(), [{"max_clusters": 0}, {"n_init": 0}]),
    "Leiden": (leiden, leiden.LeidenDetector(), [{"resolution": 0}]),
    "Paris": (paris, paris.ParisDetector(), [{"min_ratio": 1}, {"levels": 0}, {"modules": "coarsest"}]),
    "Infomap": (infomap, infomap.InfomapDetector(), [{"trials": 0}]),
    "Activation": (activation, activation.ActivationDetector(), [{"measure": "hessian"}, {"samples": 1}]),
    "Single": (controls, controls.single_module(), [{"condense": "sometimes"}]),
    "Layers": (controls, controls.layer_modules(), [{"condense": "sometimes"}]),
}
for _label, (_module, _component, _bad) in CONTRACTS.items():
    globals()[f"Test{_label}Contract"] = type(f"Test{_label}Contract", (DetectorContract,),
                                              {"component": _component, "plugin": _module, "bad_params": _bad})


def test_paris_merges_are_put_after_the_merges_that_made_their_clusters():
    from sculptbench.plugins.detectors.paris import merges_in_order
    from sculptbench.plugins.detectors.sculpting import cut_linkage

    # 4 points; row 0 merges node 5 (made by row 1) with point 2 at the same height as row 1:
    # the order scikit-network's reorder can give between equal heights. Applied in order, row 0
    # would need a cluster that does not exist yet.
    tied = np.array([[5, 2, 1.0, 3], [0, 1, 1.0, 2], [4, 3, 2.0, 4]], dtype=float)
    fixed = merges_in_order(tied, 4)
    # row 1 first (it becomes node 4), then row 0 (node 5, joining node 4 and point 2), then the root
    assert fixed.tolist() == [[0, 1, 1.0, 2], [4, 2, 1.0, 3], [5, 3, 2.0, 4]]
    assert cut_linkage(fixed, 4, 2).tolist() == [0, 0, 0, 1]
    valid = np.array([[0, 1, 1.0, 2], [4, 2, 1.0, 3], [5, 3, 2.0, 4]], dtype=float)
    assert merges_in_order(valid, 4) is valid  # a valid dendrogram is returned as it is


def test_exact_paris_by_hand_where_single_precision_underflows():
    """x0-x1 (weight 1) and the chain x2-x3-x4 (weights 1e-30): scikit-network's single-precision
    similarities of the chain underflow (its Paris fails with KeyError on this graph at 0.33); in
    double precision: total weight 2 + 4e-30, p(x0) = p(x1) = 1/2, so d(x0, x1) = p p / p(x0, x1)
    = (1/4) / (1/2) = 0.5; p(x2) = p(x4) = 0.5e-30, p(x3) = 1e-30, p(x2, x3) = 0.5e-30, so
    d(x2, x3) = 0.5e-30 x 1e-30 / 0.5e-30 = 1e-30; then {x2, x3} with x4: 1.5e-30 x 0.5e-30 / 0.5e-30
    = 1.5e-30; the two components are joined at infinity, the one found last first."""
    from scipy import sparse

    adjacency = sparse.coo_matrix(([1.0, 1e-30, 1e-30] * 2, ([0, 2, 3, 1, 3, 4], [1, 3, 4, 0, 2, 3])), shape=(5, 5)).tocsr()
    dendrogram = paris.exact_paris(adjacency)
    assert dendrogram[:, [0, 1, 3]].tolist() == [[1, 0, 2], [3, 2, 2], [6, 4, 3], [7, 5, 5]]
    np.testing.assert_allclose(dendrogram[:3, 2], [0.5, 1e-30, 1.5e-30], rtol=1e-12)
    assert np.isinf(dendrogram[3, 2])
    used, notes = paris.paris_dendrogram(adjacency)
    ordered = paris.merges_in_order(used, 5)
    assert cut_linkage(ordered, 5, 2).tolist() in ([0, 0, 1, 1, 1], [1, 1, 0, 0, 0])
    assert all("double precision" in note for note in notes)


def test_exact_paris_makes_scikit_networks_merges_where_it_works():
    """On random weighted graphs (no ties) the double-precision Paris merges at the same heights
    (to single precision) and so gives the same persistent cuts and modules."""
    from scipy import sparse
    from sknetwork.hierarchy import Paris

    rng = np.random.default_rng(7)
    for _ in range(12):
        n = int(rng.integers(6, 40))
        upper = sparse.triu(sparse.random(n, n, density=0.2, random_state=int(rng.integers(2**31)), data_rvs=rng.random), k=1)
        adjacency = (upper + upper.T).tocsr()
        theirs = paris.merges_in_order(Paris(weights="degree", reorder=True).fit_predict(adjacency), n)
        ours = paris.merges_in_order(paris.exact_paris(adjacency), n)
        np.testing.assert_allclose(ours[:, 2], theirs[:, 2], rtol=1e-4)
        cuts = paris.persistent_cuts(theirs[:, 2], 2.0)
        assert [k for k, _ in paris.persistent_cuts(ours[:, 2], 2.0)] == [k for k, _ in cuts]
        for k, _ in cuts:
            assert (cut_linkage(ours, n, k) == cut_linkage(theirs, n, k)).all()
