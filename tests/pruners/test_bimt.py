"""BIMT (``bimt``): unit positions, the connection cost, its gradient and the swaps pinned on a
hand-built network; the swaps against a line-by-line transcription of the reference notebook; the
paper's behaviour (a lower connection cost than L1 alone at the same accuracy); bad input."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from sculptbench.api import Layout, PruneJob, init_params, mlp_logits, network_row, to_network
from sculptbench.cli import main
from sculptbench.engine.kernels import _split
from sculptbench.plugins.pruners.sparse_training import bimt as bimt_module
from sculptbench.plugins.pruners.sparse_training.bimt import BimtPruner, cc_penalty, connection_cost, distances, positions, relocate
from conftest import assert_user_error

HAND = Layout((2, 3, 1))


def hand_row() -> torch.Tensor:
    """Inputs at 0.25, 0.75; hidden units at 1/6, 1/2, 5/6; the output at 1/2.
    x0 -> h2 with weight 1.0, x1 -> h0 with 2.0 (each crosses 7/12 of the line); h0, h1, h2 -> y with
    0.5, 0.25, 0.5; hidden biases 0.1, -0.2, 0.3; output bias 0.05."""
    flat = torch.zeros(1, HAND.n_params)
    HAND.weights(flat, 0)[0] = torch.tensor([[0.0, 0.0, 1.0], [2.0, 0.0, 0.0]])  # (in, out)
    HAND.biases(flat, 0)[0] = torch.tensor([[0.1, -0.2, 0.3]])
    HAND.weights(flat, 1)[0] = torch.tensor([[0.5], [0.25], [0.5]])
    HAND.biases(flat, 1)[0] = torch.tensor([[0.05]])
    return flat[0]


def test_units_sit_evenly_on_the_line():
    assert positions(1).tolist() == [0.5]
    assert positions(2).tolist() == [0.25, 0.75]
    torch.testing.assert_close(positions(3), torch.tensor([1 / 6, 1 / 2, 5 / 6]))
    torch.testing.assert_close(distances(HAND, 0), torch.tensor([[1 / 12, 1 / 4, 7 / 12], [7 / 12, 1 / 4, 1 / 12]]))


def test_the_connection_cost_by_hand():
    # Layer 0: 1.0 x (7/12 + 0.1) + 2.0 x (7/12 + 0.1) = 3 x 0.683333 = 2.05.
    # Layer 1: 0.5 x (1/3 + 0.1) + 0.25 x (0 + 0.1) + 0.5 x (1/3 + 0.1) = 0.216667 + 0.025 + 0.216667 = 0.458333.
    # Biases: 0.1 x (0.1 + 0.2 + 0.3 + 0.05) = 0.065. Total 2.573333; without biases 2.508333.
    # Without distances (w_f = 0, BIMT's L1): 0.1 x (1 + 2 + 0.5 + 0.25 + 0.5) + 0.065 = 0.49.
    row = hand_row()
    assert connection_cost(HAND, row) == pytest.approx(2.573333, abs=1e-6)
    assert connection_cost(HAND, row, biases=False) == pytest.approx(2.508333, abs=1e-6)
    assert connection_cost(HAND, row, weight_factor=0.0) == pytest.approx(0.49, abs=1e-6)


def test_the_connection_cost_gradient_by_hand():
    # d(lambda cc)/dW_ij = lambda sign(W_ij) (w_f |x_i - x_j| + 0.1); 8 steps, lambda 1e-3 x10 at step 2.
    # At step 3: x1 -> h0 (2.0): 0.01 x (7/12 + 0.1) = 0.00683333; x0 -> h1 (0.0): 0; h1 -> y: 0.01 x 0.1.
    # Biases only from int(3 x 8/4) = 6: then 1e-3 x 0.1 x sign(b), e.g. h1's -0.2: -1e-4.
    parts = _split(HAND, hand_row().unsqueeze(0))
    penalty = cc_penalty(HAND, 1e-3, "bimt", 1.0, torch.device("cpu"))
    grads = penalty(3, 8, parts)
    assert float(grads[0][0, 1, 0]) == pytest.approx(0.01 * (7 / 12 + 0.1), rel=1e-6)
    assert float(grads[0][0, 0, 1]) == 0.0
    assert float(grads[1][0, 1, 0]) == pytest.approx(0.01 * 0.1, rel=1e-6)
    assert grads[2] is None and grads[3] is None
    assert penalty(5, 8, parts)[2] is None, "step 5 < int(3 x 8/4) = 6: biases not yet penalised"
    late = penalty(6, 8, parts)
    assert float(late[2][0, 0, 1]) == pytest.approx(-1e-3 * 0.1, rel=1e-6) and float(late[3][0, 0, 0]) == pytest.approx(1e-4, rel=1e-6)
    # Without the local term (the L1 ablation) every weight's factor is 0.1.
    flat = cc_penalty(HAND, 1e-3, "bimt", 0.0, torch.device("cpu"))(3, 8, parts)
    assert float(flat[0][0, 1, 0]) == pytest.approx(0.01 * 0.1, rel=1e-6)


def test_the_swaps_by_hand():
    """Ranked by in+out |w|: h0 (2.5), h2 (1.5), h1 (0.25). h0 (at 1/6, fed from x1 at 3/4): a swap
    with h1 changes cc by (2.0 x 0.35 + 0.5 x 0.1 + 0.25 x 0.4333) - (2.0 x 0.6833 + 0.5 x 0.4333 +
    0.25 x 0.1) = 0.858333 - 1.608333 = -0.75; with h2 by (2.0 x 0.1833 + 0.5 x 0.4333 + 1.0 x 0.1833 +
    0.5 x 0.4333) - (1.583333 + 0.9) = 0.983333 - 2.483333 = -1.5: h0 and h2 swap. Position 2 (now
    the old h0): back to 0 costs +1.5, to 1 +0.25: it stays. Position 1 (h1): to 0 +0.083333, to 2
    +0.25: it stays. cc: 2.573333 - 1.5 = 1.073333."""
    row = hand_row().unsqueeze(0)
    parts = _split(HAND, row)
    relocate(HAND, parts, top=5)
    moved = torch.cat([parts[0].flatten(1), parts[2].flatten(1), parts[1].flatten(1), parts[3].flatten(1)], dim=1)[0]
    assert HAND.weights(moved.unsqueeze(0), 0)[0].tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]]
    assert HAND.biases(moved.unsqueeze(0), 0)[0, 0].tolist() == pytest.approx([0.3, -0.2, 0.1])
    assert HAND.weights(moved.unsqueeze(0), 1)[0, :, 0].tolist() == [0.5, 0.25, 0.5]
    assert connection_cost(HAND, moved) == pytest.approx(1.073333, abs=1e-6)
    # Only the first-ranked unit may move: the same swap.
    once = _split(HAND, hand_row().unsqueeze(0))
    relocate(HAND, once, top=1)
    assert torch.equal(once[0], parts[0])


def notebook_relocate(weights: list[torch.Tensor], biases: list[torch.Tensor], top: int) -> None:
    """BioMLP.relocate of KindXiaoming/BIMT (symbolic_formulas_3.1.ipynb), transcribed on torch
    Linear layouts (``weights[i]`` is ``(out, in)``), for the hidden layers only: for each of the
    top units, try every swap, compute the whole cc (get_cc: w_f = 1, biases), undo, keep the argmin."""
    sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]

    def get_cc():
        cc = 0
        for i, w in enumerate(weights):
            coordinates_in, coordinates_out = positions(sizes[i]), positions(sizes[i + 1])
            dist = torch.abs(coordinates_out.unsqueeze(dim=1) - coordinates_in.unsqueeze(dim=0))
            cc += torch.sum(torch.abs(w) * (1.0 * dist + 0.1))
            cc += torch.sum(torch.abs(biases[i]) * 0.1)
        return cc

    def swap(i, j, k):
        for tensor in (weights[i - 1], biases[i - 1]):  # incoming weights (rows) and biases
            tensor[[j, k]] = tensor[[k, j]]
        weights[i][:, [j, k]] = weights[i][:, [k, j]]  # outgoing weights (columns)

    for i in range(1, len(weights)):
        score = torch.sum(torch.abs(weights[i]), dim=0) + torch.sum(torch.abs(weights[i - 1]), dim=1)
        for j in torch.flip(torch.argsort(score, stable=True), [0])[:top].tolist():
            ccs = []
            for k in range(sizes[i]):
                swap(i, j, k)
                ccs.append(get_cc())
                swap(i, j, k)
            swap(i, j, int(torch.argmin(torch.stack(ccs))))


@pytest.mark.parametrize("seed", range(4))
def test_the_swaps_match_the_notebook(seed):
    """Trained-like networks (L1-shrunk: many small weights) of shape 5-10-8-3: our vectorised swaps,
    all members at once, give each member the notebook's result."""
    layout = Layout((5, 10, 8, 3))
    params = init_params(layout, [torch.Generator().manual_seed(seed * 10 + r) for r in range(3)])
    params = params * (torch.rand(params.shape, generator=torch.Generator().manual_seed(seed)) < 0.4)
    parts = _split(layout, params.clone())
    relocate(layout, parts, top=5)
    for r in range(3):
        net = to_network(layout, params[r], torch.ones_like(params[r]))
        weights, biases = [w.clone() for w in net.weights], [b.clone() for b in net.biases]
        notebook_relocate(weights, biases, top=5)
        for layer in range(layout.n_layers):
            assert torch.equal(parts[layer][r].t(), weights[layer]), (r, layer)
            assert torch.equal(parts[layout.n_layers + layer][r, 0], biases[layer]), (r, layer)


def test_swaps_keep_inputs_and_outputs_labelled_and_the_function():
    layout = Layout((4, 12, 12, 3))
    params = init_params(layout, [torch.Generator().manual_seed(5)])
    x = torch.rand(20, 4, generator=torch.Generator().manual_seed(6))
    before = to_network(layout, params[0], torch.ones_like(params[0]))
    parts = _split(layout, params.clone())  # one row: the parts are views of it
    relocate(layout, parts, top=5)
    moved = torch.cat([torch.cat([parts[i].flatten(1), parts[layout.n_layers + i].flatten(1)], dim=1) for i in range(layout.n_layers)], dim=1)
    after = to_network(layout, moved[0], torch.ones_like(moved[0]))
    assert not torch.equal(before.weights[0], after.weights[0]), "nothing moved: the test proves little"
    assert connection_cost(layout, moved[0]) < connection_cost(layout, params[0])
    torch.testing.assert_close(mlp_logits(after.weights, after.biases, x), mlp_logits(before.weights, before.biases, x))
    # Each input still feeds the same multiset of weights; each output reads the same ones.
    assert torch.equal(before.weights[0].sort(dim=0).values, after.weights[0].sort(dim=0).values)
    assert torch.equal(before.weights[-1].sort(dim=1).values, after.weights[-1].sort(dim=1).values)
    assert torch.equal(before.biases[-1], after.biases[-1])


def jobs_for(task, seeds, hidden=(12, 12), **user):
    options = BimtPruner().resolve(user, {})
    return [PruneJob(task, hidden, seed, options, task.training_for(hidden)) for seed in seeds]


def test_bimt_networks_cost_less_than_l1_networks_of_the_same_accuracy(small_task):
    """The paper's ablation (Liu et al. 2023, Fig. 3): with the same training, L1 alone leaves networks
    with a higher connection cost than BIMT's cost with distances and swaps. Every network here meets
    the task's threshold (accuracy 1.0), so they have the same accuracy."""
    layout = Layout((4, 12, 12, 4))
    costs = {}
    for ablation in ("all", "l1"):
        nets = BimtPruner().prune_many(jobs_for(small_task, [0, 1, 2], steps=2000, ablation=ablation))
        assert all(n.status == "ok" and n.accuracy == 1.0 for n in nets)
        costs[ablation] = [connection_cost(layout, network_row(layout, n), biases=False) for n in nets]
    assert all(b < 0.7 * l for b, l in zip(costs["all"], costs["l1"])), costs


def test_a_member_that_swaps_gets_the_same_bits_alone_and_batched(small_task, monkeypatch):
    moved = []
    real = bimt_module.swap_units
    monkeypatch.setattr(bimt_module, "swap_units", lambda tensors, units, others: (moved.append(int((units != others).sum())), real(tensors, units, others)))
    jobs = jobs_for(small_task, [0, 1, 2], hidden=(8, 8), steps=400, swap_every=50)
    batch = BimtPruner().prune_many(jobs)
    assert sum(moved) > 0, "no unit moved: the test proves little"
    alone = BimtPruner().prune(jobs[1])
    for name in ("weights", "biases", "weight_masks"):
        for x, y in zip(getattr(batch[1], name), getattr(alone, name)):
            assert torch.equal(x, y), name
    assert (batch[1].accuracy, batch[1].history) == (alone.accuracy, alone.history)


def test_swaps_that_would_never_happen_are_refused(tmp_path):
    db = tmp_path / "r.db"
    args = ["run", "--tasks", "bool/input-separable", "--arch", "24", "--pruners", "bimt", "--results", str(db), "--quiet",
            "--param", "bimt.steps=100", "--param", "bimt.swap_every=200"]
    assert_user_error(CliRunner().invoke(main, args), "bimt.swap_every=200 would swap nothing", "has 100 steps")
    assert not db.exists()
    args[-3:] = ["bimt.ablation=none", "--param", "bimt.lambda=0.01"]
    assert_user_error(CliRunner().invoke(main, args), "bimt.lambda=0.01 would have no effect")
