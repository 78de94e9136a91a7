"""The pruners at initialisation (snip, grasp, synflow): each score pinned on a hand-built network
whose values are computed by hand below, the layer collapse that SynFlow avoids (Tanaka et al.
2020), the density search they run under, batch independence, and their bad inputs."""

from __future__ import annotations

import math

import pytest
import torch
from click.testing import CliRunner

from conftest import assert_user_error
from sculptbench.api import (
    DENSITY_LADDER,
    PruneJob,
    PrunerContract,
    SculptbenchError,
    TrainingConfig,
    initial_network,
    load_registry,
    mlp_logits,
)
from sculptbench.cli import main
from sculptbench.plugins.pruners import at_init
from sculptbench.plugins.pruners.at_init import scores
from sculptbench.plugins.pruners.at_init.pruner import reachable_ladder
from sculptbench.plugins.pruners.at_init.scores import (
    grasp_scores,
    keep_highest,
    kept_count,
    snip_scores,
    synflow_masks,
    synflow_scores,
    xavier_weights,
)

TASK = "bool/input-separable"
PRUNERS = ("snip", "grasp", "synflow")


def tensors(*rows):
    return [torch.tensor(r, dtype=torch.float32) for r in rows]


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


@pytest.fixture(scope="module")
def registry():
    return load_registry(entry_points=False)


# --------------------------------------------------------------------------- SNIP
def test_snip_scores_are_the_mask_gradient_by_hand():
    # Network 2-2-1, biases 0: W1 = [[1, -0.5], [2, 0.5]] (out, in), W2 = [[1.5, -2]].
    # Row A: x = (1, 0), y = 1: hidden pre-activations (1, 2), both active; logit z_A = 1.5 - 4 = -2.5.
    # Row B: x = (1, 1), y = 0: hidden (0.5, 2.5), both active; z_B = 0.75 - 5 = -4.25.
    # L = mean over 2 rows x 1 output of BCE, so dL/dz_r = (sigmoid(z_r) - y_r) / 2:
    #   dz_A = (0.0758582 - 1) / 2 = -0.4620709, dz_B = 0.0140636 / 2 = 0.0070318.
    # g(W2[0, j]) = sum_r dz_r h_r[j]: j=0: -0.4620709 + 0.0070318 x 0.5 = -0.4585550;
    #                                   j=1: -0.9241418 + 0.0070318 x 2.5 = -0.9065623.
    # dL/dh_r = dz_r W2: dh_A = (-0.6931064, 0.9241418), dh_B = (0.0105477, -0.0140636).
    # g(W1[j, i]) = sum_r dh_r[j] x_r[i]: [[-0.6825587, 0.0105477], [0.9100782, -0.0140636]].
    # SNIP's |dL/dm| at m = 1 is |g * w|:
    #   W1: [[0.6825587 x 1, 0.0105477 x 0.5], [0.9100782 x 2, 0.0140636 x 0.5]] = [[0.6825587, 0.0052739], [1.8201564, 0.0070318]]
    #   W2: [[0.4585550 x 1.5, 0.9065623 x 2]] = [[0.6878325, 1.8131246]]
    weights, biases = tensors([[1, -0.5], [2, 0.5]], [[1.5, -2]]), tensors([0, 0], [0])
    x, y = torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([[1.0], [0.0]])
    s1, s2 = snip_scores(weights, biases, x, y)
    assert s1.flatten().tolist() == pytest.approx([0.6825587, 0.0052739, 1.8201564, 0.0070318], abs=1e-7)
    assert s2.flatten().tolist() == pytest.approx([0.6878325, 1.8131246], abs=1e-7)
    # Keeping 3 of the 6 weights keeps W1[1, 0], W2[0, 1] and W2[0, 0] (0.6878 > 0.6826); |g| alone would keep W1[0, 0].
    m1, m2 = keep_highest([s1, s2], 3)
    assert m1.tolist() == [[False, False], [True, False]] and m2.tolist() == [[True, True]]


# --------------------------------------------------------------------------- GraSP
def test_grasp_scores_are_minus_w_times_hessian_gradient_by_hand():
    # Network 1-1-1, biases 0: a = W1 = 2, c = W2 = 1.5; one row x = 1, y = 1; temperature T = 2.
    # z = a c x / T = 1.5 (the ReLU is active); L = BCE(z, 1), L' = sigmoid(z) - 1 = -0.1824255,
    # L'' = sigmoid(z)(1 - sigmoid(z)) = 0.1491465.
    # g = (dL/da, dL/dc) = (L' c / T, L' a / T) = (-0.1368191, -0.1824255).
    # H: d2L/da2 = L'' c^2 / T^2 = 0.0838949; d2L/dc2 = L'' a^2 / T^2 = 0.1491465;
    #    d2L/dadc = L'' a c / T^2 + L' / T = 0.1118599 - 0.0912128 = 0.0206471.
    # H g = (0.0838949 x -0.1368191 + 0.0206471 x -0.1824255, 0.0206471 x -0.1368191 + 0.1491465 x -0.1824255)
    #     = (-0.0152450, -0.0300330).
    # S = -w * (H g) = (-2 x -0.0152450, -1.5 x -0.0300330) = (0.0304900, 0.0450496).
    weights, biases = tensors([[2]], [[1.5]]), tensors([0], [0])
    s1, s2 = grasp_scores(weights, biases, torch.tensor([[1.0]]), torch.tensor([[1.0]]), temperature=2.0)
    assert float(s1) == pytest.approx(0.0304900, abs=1e-7) and float(s2) == pytest.approx(0.0450496, abs=1e-7)
    # The largest S goes first: keeping one weight keeps a.
    assert [m.tolist() for m in keep_highest([-s1, -s2], 1)] == [[[True]], [[False]]]
    # Same hand values with the closed forms above, at another temperature (T = 200, the default).
    T, a, c = 200.0, 2.0, 1.5
    d1, d2 = sigmoid(a * c / T) - 1, sigmoid(a * c / T) * (1 - sigmoid(a * c / T))
    ga, gc = d1 * c / T, d1 * a / T
    hac = d2 * a * c / T**2 + d1 / T
    hg = (d2 * c**2 / T**2 * ga + hac * gc, hac * ga + d2 * a**2 / T**2 * gc)
    s1, s2 = grasp_scores(weights, biases, torch.tensor([[1.0]]), torch.tensor([[1.0]]), temperature=T)
    assert float(s1) == pytest.approx(-a * hg[0], rel=1e-9) and float(s2) == pytest.approx(-c * hg[1], rel=1e-9)


def test_grasp_reinit_scores_xavier_weights_and_keeps_the_initialisation(registry):
    task, pruner = registry.tasks[TASK], registry.pruners["grasp"]
    job = PruneJob(task, (16,), 3, pruner.resolve({"reinit": True}), task.training)
    init = initial_network(job.sizes, job.seed)
    xavier = xavier_weights(job.sizes, job.seed)
    # Xavier-normal: std sqrt(2 / (in + out)) per layer, drawn apart from the seed's initialisation.
    assert [tuple(w.shape) for w in xavier] == [(16, 4), (4, 16)]
    assert float(xavier[0].std()) == pytest.approx(math.sqrt(2 / 20), rel=0.25)
    assert not torch.allclose(xavier[0].float() / xavier[0].std(), init.weights[0] / init.weights[0].std())
    data = task.data("cpu")
    expected = [-s for s in grasp_scores(xavier, init.biases, data.train_x, data.train_y, 200.0)]
    got = pruner.keep_scores(job, init)
    assert all(torch.equal(a, b) for a, b in zip(got, expected))
    plain = pruner.keep_scores(PruneJob(task, (16,), 3, pruner.resolve({}), task.training), init)
    assert not all(torch.equal(a, b) for a, b in zip(got, plain))


# --------------------------------------------------------------------------- SynFlow
def test_synflow_scores_are_the_synaptic_flow_by_hand():
    # Network 2-2-1: W1 = [[1, -2], [0.5, 3]], b1 = (0, -1), W2 = [[-1, 2]], b2 = 0.5; every parameter
    # becomes its absolute value and the input is all ones:
    #   h1 = |W1| (1, 1) + |b1| = (3, 3.5) + (0, 1) = (3, 4.5); R = |W2| h1 + |b2| = 3 + 9 + 0.5.
    # dR/d|W2|[0, j] = h1[j], so W2 scores |w| h1 = (1 x 3, 2 x 4.5) = (3, 9);
    # dR/d|W1|[j, i] = |W2|[j] x 1, so W1 scores |W1[j, i]| |W2[j]| = [[1, 2], [0.5 x 2, 3 x 2]] = [[1, 2], [1, 6]].
    s1, s2 = synflow_scores(tensors([[1, -2], [0.5, 3]], [[-1, 2]]), tensors([0, -1], [0.5]))
    assert s1.tolist() == [[1.0, 2.0], [1.0, 6.0]] and s2.tolist() == [[3.0, 9.0]]


def test_synflow_rounds_rescore_the_survivors_by_hand():
    # Network 2-2-1, biases 0: W1 = [[1, 4], [0.5, 2]], W2 = [[0.5, 3]]; keep 3 of 6 weights (density 0.5).
    # Scores: h1 = (5, 2.5); W2: (0.5 x 5, 3 x 2.5) = (2.5, 7.5); W1: [[1 x 0.5, 4 x 0.5], [0.5 x 3, 2 x 3]] = [[0.5, 2], [1.5, 6]].
    # One round keeps 7.5, 6 and 2.5: W2[0, 0] survives though no weight feeds hidden unit 0 (its flow is cut).
    # Two rounds: round 1 keeps round(6 x 0.5^(1/2)) = round(4.24) = 4: 7.5, 6, 2.5 and 2 (W1[0, 1]).
    # Round 2 re-scores the survivors: h1 = (4, 2); W2: (0.5 x 4, 3 x 2) = (2, 6); W1[0, 1] = 4 x 0.5 = 2, W1[1, 1] = 2 x 3 = 6.
    # Keeping 3 keeps both 6s and, of the two 2s (flow is conserved through unit 0), the one that comes first:
    # W1[0, 1]. Both paths through the network survive.
    weights, biases = tensors([[1, 4], [0.5, 2]], [[0.5, 3]]), tensors([0, 0], [0])
    one = synflow_masks(weights, biases, 0.5, rounds=1)
    two = synflow_masks(weights, biases, 0.5, rounds=2)
    assert [m.tolist() for m in one] == [[[False, False], [False, True]], [[True, True]]]
    assert [m.tolist() for m in two] == [[[False, True], [False, True]], [[False, True]]]


def test_synflow_prunes_on_the_exponential_schedule(monkeypatch):
    counts = []
    real = scores.kept_count
    monkeypatch.setattr(scores, "kept_count", lambda density, n: (counts.append(real(density, n)), counts[-1])[1])
    init = initial_network([5, 10, 5], 0)  # 100 weights
    masks = synflow_masks(init.weights, init.biases, 0.01, rounds=4)
    # Round e keeps 100 x 0.01^((e + 1) / 4): 31.6, 10, 3.16, 1 weights (a linear schedule would keep 75, 50, 26, 1).
    assert counts == [32, 10, 3, 1] and sum(int(m.sum()) for m in masks) == 1


def _autograd_synflow_masks(weights, biases, density, rounds):
    """SynFlow by autograd through the engine's forward pass, round by round (the definition)."""
    alive = [torch.ones(w.shape, dtype=torch.bool) for w in weights]
    for e in range(rounds):
        leaves = [(w * a).double().abs().requires_grad_(True) for w, a in zip(weights, alive)]
        flow = mlp_logits(leaves, [b.double().abs() for b in biases], torch.ones(1, weights[0].shape[1], dtype=torch.float64)).sum()
        grads = torch.autograd.grad(flow, leaves)
        count = kept_count(density ** ((e + 1) / rounds), sum(w.numel() for w in weights))
        alive = keep_highest([(w * g).abs() for w, g in zip(leaves, grads)], count, alive)
    return alive


def test_synflow_closed_form_equals_autograd_through_the_engines_forward_pass():
    for seed in range(3):
        init = initial_network([8, 24, 16, 8], seed)
        biases = [torch.randn(b.shape, generator=torch.Generator().manual_seed(seed)) for b in init.biases]
        weights = [w.clone() for w in init.weights]
        weights[0][3] = 0  # hidden unit 3 gets no input: its pre-activation is exactly 0 where biases are 0
        for bias in (init.biases, biases):
            leaves = [w.double().abs().requires_grad_(True) for w in weights]
            flow = mlp_logits(leaves, [b.double().abs() for b in bias], torch.ones(1, 8, dtype=torch.float64)).sum()
            expected = [(w * g).abs() for w, g in zip(leaves, torch.autograd.grad(flow, leaves))]
            assert all(torch.allclose(a, b, rtol=1e-12, atol=0) for a, b in zip(synflow_scores(weights, bias), expected))
            for density in (0.3, 0.02):
                got = synflow_masks(weights, bias, density, rounds=20)
                assert all(torch.equal(a, b) for a, b in zip(got, _autograd_synflow_masks(weights, bias, density, 20)))


# --------------------------------------------------------------------------- masks
def test_keep_highest_is_global_counts_ties_to_the_first_and_never_revives():
    s = [torch.tensor([[3.0, 1.0]]), torch.tensor([[1.0], [5.0]])]
    assert [m.tolist() for m in keep_highest(s, 2)] == [[[True, False]], [[False], [True]]]
    # A tie at the cut keeps the weight that comes first (layer 0 before layer 1).
    assert [m.tolist() for m in keep_highest(s, 3)] == [[[True, True]], [[False], [True]]]
    # Pruned weights never come back, whatever their score.
    alive = [torch.tensor([[False, True]]), torch.tensor([[True], [True]])]
    assert [m.tolist() for m in keep_highest(s, 2, alive)] == [[[False, True]], [[False], [True]]]
    assert [kept_count(d, 192) for d in (0.5, 0.0104, 0.0078)] == [96, 2, 1]


# --------------------------------------------------------------------------- the paper's behaviour
def _connected(masks):
    """Whether any input reaches any output through kept weights."""
    flow = torch.ones(1, masks[0].shape[1], dtype=torch.float64)
    for m in masks:
        flow = flow @ m.double().t()
    return bool(flow.sum() > 0)


def test_synflow_avoids_the_layer_collapse_of_snip_and_magnitude(registry):
    """Tanaka et al. 2020: at extreme density, scoring in one shot prunes whole layers (magnitude at
    initialisation cuts the wide layers, whose Kaiming weights are small; SNIP cuts one too), so no
    input reaches an output; SynFlow's iterative flow-conserving rounds keep every layer and a path."""
    data = registry.tasks[TASK].data("cpu")
    sizes = [4, 48, 48, 48, 4]
    n = sum(a * b for a, b in zip(sizes, sizes[1:]))  # 5376 weights; keep 6: 0.11%
    for seed in range(4):
        init = initial_network(sizes, seed)
        magnitude = keep_highest([w.abs() for w in init.weights], 6)
        snip = keep_highest(snip_scores(init.weights, init.biases, data.train_x, data.train_y), 6)
        synflow = synflow_masks(init.weights, init.biases, 6 / n, rounds=100)
        for name, masks in (("magnitude", magnitude), ("snip", snip)):
            assert not all(m.any() for m in masks) and not _connected(masks), f"{name} seed {seed}: {[int(m.sum()) for m in masks]}"
        assert all(m.any() for m in synflow) and _connected(synflow), f"synflow seed {seed}: {[int(m.sum()) for m in synflow]}"
        assert sum(int(m.sum()) for m in synflow) == 6


# --------------------------------------------------------------------------- the pruners
def _jobs(registry, name, seeds, **params):
    task, pruner = registry.tasks[TASK], registry.pruners[name]
    training = TrainingConfig(**{**task.training.__dict__, "epochs": 60})
    return pruner, [PruneJob(task, (16,), seed, pruner.resolve(params), training) for seed in seeds]


@pytest.mark.parametrize("name", PRUNERS)
def test_a_network_trained_in_a_batch_equals_it_trained_alone(registry, name):
    params = {"rounds": 10} if name == "synflow" else {}
    pruner, jobs = _jobs(registry, name, [0, 1, 2**40 + 7], **params)
    together = pruner.prune_many(jobs)
    for job, net in zip(jobs[1:], together[1:]):
        [alone] = pruner.prune_many([job])
        for a, b in zip([*net.weights, *net.weight_masks, *net.biases], [*alone.weights, *alone.weight_masks, *alone.biases]):
            assert torch.equal(a, b)
        assert net.history == alone.history and net.info == alone.info
    # The search ran: a dense network, then rungs down the ladder (and bisection), each an operating point.
    for net in together:
        assert net.status == "ok" and net.history[0]["phase"] == "dense" and len(net.history) >= 4
        assert {h["phase"] for h in net.history[1:]} == {name}
        assert net.density() == min(h["density"] for h in net.history if h["accepted"]) < 1


def test_the_search_keeps_the_sparsest_network_that_meets_the_threshold(registry):
    pruner, [job] = _jobs(registry, "snip", [0], ladder=[0.5, 0.3, 0.2, 0.1, 0.05], bisect_steps=0)
    net = pruner.prune(job)
    asked = [round(100 - h["target"], 6) for h in net.history]
    passed = [h for h in net.history if h["accepted"]]
    assert asked[: len(passed)] == [100.0, 50.0, 30.0, 20.0, 10.0, 5.0][: len(passed)]
    assert net.accuracy >= 1.0 and net.density() == pytest.approx(kept_count(1 - passed[-1]["target"] / 100, 128) / 128)


def test_the_default_ladder_stops_at_one_weight_per_layer():
    # 4-24-4 has 192 weights and 2 layers: 0.0078125 x 192 = 1.5 rounds to 2 weights, 0.00390625 x 192 to 1.
    assert reachable_ladder(DENSITY_LADDER, [4, 24, 4], "snip") == DENSITY_LADDER[:7]
    assert reachable_ladder([0.5, 0.01], [4, 24, 4], "snip") == (0.5, 0.01)
    with pytest.raises(SculptbenchError, match=r"snip.ladder asks for density 0.001, which keeps 0 of the 192 weights"):
        reachable_ladder([0.5, 0.001], [4, 24, 4], "snip")


@pytest.mark.parametrize("args, fragments", [
    (["--pruners", "snip", "--param", "snip.ladder=[0.5, 0.1, 0.001]"],
     ["snip.ladder asks for density 0.001", "of the 64 weights of a 4x8x4 network", "fewer than one per layer (2)", "give densities >= 0.0234"]),
    (["--pruners", "synflow", "--param", "synflow.ladder=[0.1, 0.5]"], ["invalid synflow.ladder [0.1, 0.5]", "strictly decreasing"]),
    (["--pruners", "grasp", "--param", "grasp.ladder=[0.5, 1.5]"], ["invalid grasp.ladder [0.5, 1.5]"]),
    (["--pruners", "grasp", "--param", "grasp.temperature=0"], ["invalid grasp.temperature 0"]),
    (["--pruners", "synflow", "--param", "synflow.rounds=0"], ["invalid synflow.rounds 0"]),
    (["--pruners", "snip", "--param", "snip.bisect_steps=-1"], ["invalid snip.bisect_steps -1"]),
    (["--pruners", "snip", "--param", "snip.rounds=3"], ["unknown option snip.rounds"]),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, fragments):
    db = tmp_path / "r.db"
    result = CliRunner().invoke(main, ["run", "--tasks", TASK, "--arch", "8", "--seeds", "1", *args, "--results", str(db), "--quiet"])
    assert_user_error(result, *fragments)
    assert not db.exists(), "nothing is written for bad input"


# --------------------------------------------------------------------------- the contract kit
class _AtInit(PrunerContract):
    plugin = at_init
    epochs = 60
    bad_params = [{"ladder": [0.2, 0.4]}, {"ladder": [0]}, {"bisect_steps": -1}]


class TestSnip(_AtInit):
    component = at_init.SnipPruner()
    params = {"restarts": 1}


class TestGrasp(_AtInit):
    component = at_init.GraspPruner()
    params = {"restarts": 1, "reinit": True}
    bad_params = [*_AtInit.bad_params, {"temperature": -1}, {"reinit": "yes"}]


class TestSynflow(_AtInit):
    component = at_init.SynflowPruner()
    params = {"restarts": 1, "rounds": 10}
    bad_params = [*_AtInit.bad_params, {"rounds": 0}, {"rounds": 2.5}]
