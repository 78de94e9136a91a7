"""The batched engine: batched == alone, hand-written gradients == autograd, determinism."""

from __future__ import annotations

import pytest
import torch

from sculptbench.engine import kernels
from sculptbench.engine import training as engine
from sculptbench.contracts.types import PruneJob, TrainingConfig
from sculptbench.plugins.pruners.iterative import IterativePruner

SEEDS = range(4)


def assert_same_network(a, b):
    assert a.sizes == b.sizes
    for name in ("weights", "biases", "weight_masks", "bias_masks"):
        for x, y in zip(getattr(a, name), getattr(b, name)):
            assert torch.equal(x, y), name
    assert a.status == b.status
    for name in ("accuracy", "test_accuracy", "dense_accuracy"):
        assert getattr(a, name) == getattr(b, name), name
    assert a.history == b.history
    assert a.info["trainings"] == b.info["trainings"]


def jobs_for(task, seeds, hidden=(24,), epochs=30, **params):
    pruner = IterativePruner()
    resolved = pruner.resolve(params)
    training = TrainingConfig(**{**task.training.__dict__, "epochs": epochs})
    return pruner, [PruneJob(task, hidden, seed, resolved, training) for seed in seeds]


@pytest.fixture(scope="module")
def batched(small_task):
    pruner, jobs = jobs_for(small_task, SEEDS)
    return jobs, pruner.prune_many(jobs)


def test_batched_equals_alone(batched):
    jobs, nets = batched
    assert len(nets) == len(jobs)
    assert any(n.status == "ok" and n.density() < 1 for n in nets), "nothing was pruned: the test proves little"
    for job, net in zip(jobs, nets):
        alone = IterativePruner().prune(job)
        assert_same_network(net, alone)


def test_a_members_result_does_not_depend_on_its_batch(batched, small_task):
    _, nets = batched
    pruner, jobs = jobs_for(small_task, [2, 0])
    pair = pruner.prune_many(jobs)
    assert_same_network(pair[0], nets[2])
    assert_same_network(pair[1], nets[0])


def test_same_seed_twice_is_identical(small_task):
    pruner, jobs = jobs_for(small_task, [1], hidden=(8, 8))
    first = pruner.prune(jobs[0])
    second = IterativePruner().prune(jobs[0])
    assert_same_network(first, second)


def test_different_seeds_differ(batched):
    _, nets = batched
    assert not torch.equal(nets[0].weights[0], nets[1].weights[0])


def test_restarts_are_new_initialisations_and_restart_0_is_the_seed(small_task):
    """The protocol's restarts (the framework's, for every pruner): restart 0 of cell seed s is seed s
    itself, a later restart a new initialisation; the sparsest candidate is kept and says which start."""
    from sculptbench.api import restart_seed
    from sculptbench.contracts.work import Group
    from sculptbench.plugins.pruners.iterative.loop import sculpt
    from sculptbench.plugins.pruners.iterative.pruner import _loop_points
    from sculptbench.run.selection import prune_cells, start_jobs

    pruner, (plain_job,) = jobs_for(small_task, [3], hparams="auto", auto_unit_steps=[50], restarts=2, select="sparsest")
    options = plain_job.params
    group = Group(small_task, plain_job.hidden, pruner.name, options, plain_job.training, [3], [], [], "cpu", {})
    jobs = start_jobs(group, [3])
    assert [(j.seed, j.restart, j.cell_seed) for j in jobs] == [(3, 0, 3), (restart_seed(3, 1), 1, 3)]
    assert restart_seed(3, 1) != 3
    ((restart0,), (restart1,)) = pruner.candidates(jobs)
    variant = {"unit_step": 50.0, "edge_step": 1.5}
    plain, _ = sculpt([plain_job], [(variant, pruner.phases(options, variant))], loop=_loop_points(options))
    assert_same_network(restart0, plain[0][0])
    assert not torch.equal(restart0.weights[0], restart1.weights[0])
    [chosen] = prune_cells(pruner, group, [3], registry=None)
    ok = [n for n in (restart0, restart1) if n.status == "ok"]
    assert ok, "neither restart trained: the test proves little"
    assert chosen.density() == min(n.density() for n in ok)
    assert chosen.info["hparam_rule"] == "auto-grid" and chosen.info["variants_tried"] == 2
    assert chosen.info["variant"]["restart"] in (0, 1)


@pytest.mark.parametrize("loop", ["ours", "reference"])
def test_untrainable(registry, loop):
    """A dense network below the threshold is untrainable: not pruned (ours), or pruned on with no
    step accepted (the reference loop, which then ends with the dense network as trained)."""
    task = registry.tasks["bool/reused"]
    pruner, jobs = jobs_for(task, [0, 1], epochs=1, loop=loop)
    for net in pruner.prune_many(jobs):
        assert net.status == "untrainable"
        assert net.dense_accuracy < task.accuracy_threshold
        assert net.accuracy == net.dense_accuracy
        assert net.density() == 1.0
        assert net.history[0]["phase"] == "dense" and net.history[0]["accepted"] is False
        assert len(net.history) == 1 if loop == "ours" else len(net.history) > 1


# --------------------------------------------------------------------------- batch independence
#: Three XOR pairs, each output with its negation (issue 13): at 24x24 and 15 epochs, seed 5's
#: dense network is untrainable, and the others stop pruning at different steps.
XOR3 = """
name: user/xor3
family: user
inputs: [x1, x2, x3, x4, x5, x6]
gates:
  a: {op: xor, in: [x1, x2]}
  not_a: {op: not, in: [a]}
  b: {op: xor, in: [x3, x4]}
  not_b: {op: not, in: [b]}
  c: {op: xor, in: [x5, x6]}
  not_c: {op: not, in: [c]}
outputs: {y1: a, y2: not_a, y3: b, y4: not_b, y5: c, y6: not_c}
modules:
  A: {reads: [x1, x2], drives: [y1, y2]}
  B: {reads: [x3, x4], drives: [y3, y4]}
  C: {reads: [x5, x6], drives: [y5, y6]}
"""


@pytest.fixture(scope="module")
def xor3(tmp_path_factory):
    from sculptbench.plugins.tasks.boolean import load_circuit

    path = tmp_path_factory.mktemp("xor3") / "xor3.yaml"
    path.write_text(XOR3)
    return load_circuit(str(path))


@pytest.fixture
def two_threads():
    """torch on two threads (``sculptbench --threads 2``), restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_a_batch_with_an_untrainable_member_equals_each_member_alone(xor3, two_threads):
    """Masks, weights, accuracies and histories bit for bit, also under ``--threads 2``."""
    pruner, jobs = jobs_for(xor3, [0, 5, 2], hidden=(24, 24), epochs=15)
    nets = pruner.prune_many(jobs)
    assert [n.status for n in nets] == ["ok", "untrainable", "ok"], "seed 5 no longer untrainable: the test proves little"
    assert len({len(n.history) for n in nets}) == 3, "members stopped together: the test proves little"
    for job, net in zip(jobs, nets):
        assert_same_network(net, IterativePruner().prune(job))
    assert torch.get_num_threads() == 2


def test_mixed_variants_equal_each_variant_alone(xor3, two_threads):
    """An auto grid (two unit steps) of two seeds, one untrainable, vs every member alone."""
    from sculptbench.plugins.pruners.iterative.loop import sculpt

    pruner, jobs = jobs_for(xor3, [5, 0], hidden=(24, 24), epochs=15, hparams="auto", auto_unit_steps=[30, 70], restarts=1)
    variants = [(v, pruner.phases(jobs[0].params, v)) for v in pruner.variants(jobs[0].params, jobs[0])]
    batch, _ = sculpt(jobs, variants)
    statuses = {n.status for nets in batch for n in nets}
    assert statuses == {"ok", "untrainable"}, "no untrainable or no trained member: the test proves little"
    for job, nets in zip(jobs, batch):
        for variant, net in zip(variants, nets):
            (alone,), _ = sculpt([job], [variant])
            assert_same_network(net, alone[0])


def test_members_sharing_a_unit_phase_run_it_once_and_equal_each_alone(xor3):
    """Two edge steps after one unit step: dense training, the unit phase and the retraining
    between the phases run once per seed."""
    from sculptbench.plugins.pruners.iterative.loop import sculpt

    pruner, jobs = jobs_for(xor3, [0, 2], hidden=(24, 24), epochs=15, hparams="auto", auto_unit_steps=[30],
                            auto_edge_steps=[1.5, 5.0], restarts=1)
    variants = [(v, pruner.phases(jobs[0].params, v)) for v in pruner.variants(jobs[0].params, jobs[0])]
    assert len(variants) == 2
    batch, stats = sculpt(jobs, variants)
    assert len({n.density() for nets in batch for n in nets}) > 2, "variants ended alike: the test proves little"
    alone_trainings = 0
    for job, nets in zip(jobs, batch):
        for variant, net in zip(variants, nets):
            (alone,), alone_stats = sculpt([job], [variant])
            assert_same_network(net, alone[0])
            assert net.info["trainings"] == alone[0].info["trainings"]
            alone_trainings += alone_stats.trainings
    # Per seed, the two variants share the dense training, every unit-phase training (one
    # history entry each) and the retraining before the edge phase: each ran once, not twice.
    shared = sum(2 + sum(step["phase"] == "unit" for step in nets[0].history) for nets in batch)
    assert stats.trainings == alone_trainings - shared


def test_single_threaded_restores_the_thread_count(two_threads):
    with kernels.single_threaded():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


# --------------------------------------------------------------------------- gradients
def _problem(k=2):
    layout = kernels.Layout((3, 4, 5, 2))
    gen = torch.Generator().manual_seed(7)
    flat = torch.randn(k, layout.n_params, generator=gen, dtype=torch.float64)
    x = torch.rand(6, 3, generator=gen, dtype=torch.float64)
    y = (torch.rand(6, 2, generator=gen) > 0.5).double()
    return layout, flat, x, y


def test_manual_gradient_equals_autograd():
    layout, flat, x, y = _problem()
    acts = kernels.forward(layout, flat, x)
    dlogits = (torch.sigmoid(acts[-1]) - y) / (x.shape[0] * y.shape[1])
    grad, hidden_grads = kernels.backward(layout, flat, acts, dlogits)

    leaf = flat.clone().requires_grad_()
    auto_acts = kernels.forward(layout, leaf, x)
    for a in auto_acts[1:-1]:
        a.retain_grad()
    kernels.bce_with_logits(auto_acts[-1], y).sum().backward()
    torch.testing.assert_close(grad, leaf.grad)
    assert len(hidden_grads) == layout.n_layers - 1
    for mine, a in zip(hidden_grads, auto_acts[1:-1]):
        torch.testing.assert_close(mine, a.grad)


def test_forward_matches_torch_linear_layers():
    layout, flat, x, _ = _problem(k=1)
    logits = kernels.forward(layout, flat, x)[-1][0]
    net = engine.to_network(layout, flat[0], torch.ones_like(flat[0]))
    h = x
    for i, (w, b) in enumerate(zip(net.weights, net.biases)):
        h = torch.nn.functional.linear(h, w, b)
        if i < len(net.weights) - 1:
            h = torch.relu(h)
    torch.testing.assert_close(logits, h)


def test_sigmoid_gives_the_same_bits_wherever_an_entry_sits():
    """``torch.sigmoid`` differs in the last bit between a tensor's vectorised body and its tail on
    AVX2 and AVX-512 CPUs; the engine's must not (a member's bits would depend on its batch)."""
    z = torch.randn(100_003, generator=torch.Generator().manual_seed(0)) * 6
    whole = kernels.sigmoid(z)
    torch.testing.assert_close(whole, torch.sigmoid(z))
    for start, length in [(0, 1), (3, 17), (16, 48), (5, 144), (1, 333), (7, 40_000)]:
        assert torch.equal(kernels.sigmoid(z[start:start + length]), whole[start:start + length])
    assert torch.equal(kernels.sigmoid(z[::2]), whole[::2])


def forward_backward(sizes, members, rows, seed):
    """Random parameters of ``members`` networks of ``sizes``, random inputs and output gradients of
    ``rows`` rows, and the engine's forward and backward passes: (layout, flat, x, acts, dlogits,
    grads, hidden_grads)."""
    layout = kernels.Layout(sizes)
    gen = torch.Generator().manual_seed(seed)
    flat = torch.randn(members, layout.n_params, generator=gen)
    x = torch.rand(rows, sizes[0], generator=gen)
    acts = kernels.forward(layout, flat, x)
    dlogits = torch.randn(members, rows, sizes[-1], generator=gen)
    grads, hidden = kernels.backward(layout, flat, acts, dlogits)
    return layout, flat, x, acts, dlogits, grads, hidden


def test_a_lone_member_gets_the_bits_it_gets_in_a_batch():
    """A batched product of one matrix can take another kernel than a batch of several (seen with
    one output column); forward and backward of a lone member equal its row of a batch."""
    layout, flat, x, acts, dlogits, grads, hidden = forward_backward((6, 24, 24, 1), 3, 64, seed=3)
    for k in range(3):
        alone = kernels.forward(layout, flat[k:k + 1], x)
        assert all(torch.equal(a[0], b[k]) for a, b in zip(alone, acts))
        alone_grads, alone_hidden = kernels.backward(layout, flat[k:k + 1], alone, dlogits[k:k + 1])
        assert torch.equal(alone_grads[0], grads[k])
        assert all(torch.equal(a[0], b[k]) for a, b in zip(alone_hidden, hidden))


def test_training_keeps_masked_parameters_at_zero(small_task):
    layout = kernels.Layout((4, 8, 4))
    gens = [torch.Generator().manual_seed(s) for s in (0, 1)]
    params = kernels.init_params(layout, gens)
    masks = (torch.rand(2, layout.n_params, generator=torch.Generator().manual_seed(5)) > 0.3).float()
    result = engine.train(layout, params, masks, small_task.data(), TrainingConfig(epochs=3), gens)
    assert torch.all(result.params[masks == 0] == 0)
    assert result.accuracy.shape == (2,) and torch.all((result.accuracy >= 0) & (result.accuracy <= 1))


@pytest.mark.parametrize("per_member_lr", [False, True])
def test_adam_on_the_unmasked_entries_only_gives_the_same_numbers(small_task, monkeypatch, per_member_lr):
    """Below :data:`engine.SPARSE_ADAM_BELOW` unmasked entries, Adam updates a gathered copy of them:
    the same values as the update of the whole buffers, masked entries still at zero."""
    layout = kernels.Layout((small_task.n_inputs, 12, 10, small_task.n_outputs))
    gens = lambda: [torch.Generator().manual_seed(s) for s in (0, 1, 2)]  # noqa: E731
    params = kernels.init_params(layout, gens())
    masks = (torch.rand(3, layout.n_params, generator=torch.Generator().manual_seed(7)) > 0.75).float()
    lrs = torch.tensor([0.01, 0.05, 0.02]) if per_member_lr else None
    config = TrainingConfig(lr=0.02, batch_size=8, epochs=4, weight_decay=1e-3, noise_std=0.1)
    runs = {}
    for share in (0.0, 1.0):  # never sparse, always sparse
        monkeypatch.setattr(engine, "SPARSE_ADAM_BELOW", share)
        runs[share] = engine.train(layout, params, masks, small_task.data(), config, gens(), lrs)
    dense, sparse = runs[0.0], runs[1.0]
    assert torch.equal(dense.params, sparse.params) and torch.equal(dense.accuracy, sparse.accuracy)
    assert torch.all(sparse.params[masks == 0] == 0)
    assert not torch.equal(sparse.params, params * masks), "nothing was trained: the test proves little"


def test_adams_element_wise_operations_give_the_same_bits_wherever_an_entry_sits():
    """Adam runs over one buffer per state, or over a gathered copy of the unmasked entries, so an
    entry's position changes with the batch and the mask; each operation it uses must not depend
    on it (a vectorised body and a scalar tail may differ, as ``torch.sigmoid``'s do)."""
    gen = torch.Generator().manual_seed(2)

    def data(n):  # moderate values, some of every magnitude, and zeros
        x = torch.randn(n, generator=gen) * 6
        x[::3] *= torch.exp(torch.randn(len(x[::3]), generator=gen) * 5)
        x[torch.rand(n, generator=gen) < 0.2] = 0
        return x

    operations = {
        "add alpha": lambda a, b, c: a.clone().add_(b, alpha=1e-4),
        "mul tensor": lambda a, b, c: a.clone().mul_(b),
        "mul scalar": lambda a, b, c: a.clone().mul_(0.9),
        "addcmul": lambda a, b, c: a.abs().addcmul_(b, b, value=0.001),
        "sqrt, div, add": lambda a, b, c: a.abs().sqrt().div_(0.0316).add_(1e-8),
        "addcdiv": lambda a, b, c: a.clone().addcdiv_(b, c.abs() + 1e-3, value=-0.01),
        "div, mul, sub": lambda a, b, c: a.clone().sub_(b.div(c.abs() + 1e-3).mul_(c), alpha=1.1),
    }
    for name, operation in operations.items():
        a, b, c = data(4096), data(4096), data(4096)
        whole = operation(a, b, c)
        # many short slices (a vectorised loop's tail) and a few long ones
        for start, length in [*((s, 1 + s % 47) for s in range(0, 4000, 37)), (5, 144), (1, 333), (7, 4000)]:
            part = operation(*(t[start:start + length] for t in (a, b, c)))
            expected = whole[start:start + length]
            assert torch.equal(part, expected) and torch.equal(part.signbit(), expected.signbit()), (name, start, length)


def test_relu_backward_keeps_the_gradient_where_the_unit_is_active():
    """The backward pass through a ReLU (one fused kernel) equals ``dh * (h > 0)``, member by member."""
    layout, flat, _, acts, dlogits, _, hidden = forward_backward((5, 7, 6, 2), 3, 16, seed=4)
    w2 = layout.weights(flat, 2)
    dz2 = dlogits @ w2.transpose(1, 2)
    assert torch.equal(hidden[1], dz2)
    dz1 = (dz2 * (acts[2] > 0)) @ layout.weights(flat, 1).transpose(1, 2)
    torch.testing.assert_close(hidden[0], dz1)


@pytest.mark.parametrize("noise", [0.0, 0.1])
def test_wide_layouts_train_each_member_compacted(noise):
    """Layouts with many inputs (MNIST) train each member on its surviving inputs and units only:
    the same numbers as the stacked model up to the order of sums, masked parameters stay zero,
    and a member's result does not depend on its batch."""
    from sculptbench.contracts.types import TaskData

    gen = torch.Generator().manual_seed(0)
    n_in = engine.COMPACT_MIN_INPUTS + 88
    x = torch.rand(300, n_in, generator=gen)
    y = (torch.rand(300, 4, generator=gen) > 0.5).float()
    data = TaskData(x, y, x[:100], y[:100], x[:100], y[:100])
    layout = kernels.Layout((n_in, 16, 12, 4))
    params = kernels.init_params(layout, [torch.Generator().manual_seed(s) for s in (1, 2)])
    masks = (torch.rand(params.shape, generator=gen) > 0.7).float()
    for r in range(2):
        layout.weights(masks[r:r + 1], 0)[0][: 400 + 50 * r] = 0  # inputs with no weight left
    keep, _ = engine.compact_index(layout, masks[0])
    assert len(keep[0]) < n_in
    config = TrainingConfig(lr=1e-2, batch_size=32, epochs=2, weight_decay=1e-3, noise_std=noise)

    def gens(*seeds):
        return [torch.Generator().manual_seed(s) for s in seeds]

    stacked = engine.train_stacked(layout, params, masks, data, config, gens(5, 6))
    both = engine.train(layout, params, masks, data, config, gens(5, 6))
    alone = engine.train(layout, params[1:], masks[1:], data, config, gens(6))
    assert torch.allclose(both.params, stacked.params, atol=1e-5)
    assert torch.equal(both.accuracy, stacked.accuracy)
    assert torch.equal(both.params[1], alone.params[0])
    assert not ((both.params != 0) & (masks == 0)).any()
