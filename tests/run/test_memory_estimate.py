"""The memory guard's estimate (sculptbench.run.guard.estimate_group_bytes), computed by hand on
small groups. How close it comes to measured peaks is bench/memory_guard.py's question
(docs/results/trust.md), not a unit test's."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sculptbench.contracts.types import TrainingConfig
from sculptbench.contracts.work import Group
from sculptbench.run import guard

TASK = "bool/input-separable"  # 4 inputs, 4 outputs, a truth table of 16 rows


def group(registry, seeds=(0, 1), networks_per_seed=3, noise_std=0.1, hidden=(24,)):
    training = TrainingConfig(lr=0.05, batch_size=8, epochs=2, weight_decay=0.0, noise_std=noise_std)
    return Group(registry.tasks[TASK], hidden, "dense", None, training, list(seeds), [], [], "cpu", {}, networks_per_seed=networks_per_seed)


def test_the_estimate_of_a_small_batched_group(registry):
    # widths 4-24-4: weights 4*24 + 24*4 = 192, parameters 192 + 24 + 4 = 220; rows 2**4 = 16.
    # Noise: min(2 epochs, 2**20 // (16*4)) * 16*4 = 128 floats per network.
    # Per network trained: 4 * (15*220 + 3*16*(4+24+4) + 3*128 + 2*16*4 + 16*4)
    #                    = 4 * (3300 + 1536 + 384 + 128 + 64) = 21,648 bytes; kept: 5*220 = 1,100.
    # 2 seeds x 3 networks: 6 * 22,748 = 136,488; one detection graph 800*192 = 153,600;
    # the table: 4 * 3 splits * 16 rows * (4+4) = 1,536.  Total 291,624.
    assert guard.estimate_group_bytes(group(registry)) == 291_624


def test_unbatched_only_one_seeds_networks_train_at_once(registry):
    # 3 * 22,748 + 153,600 + 1,536 = 223,380.
    assert guard.estimate_group_bytes(group(registry), batch=False) == 223_380


def test_without_noise_nothing_is_drawn(registry):
    # Per network trained: 4 * (3300 + 1536 + 128 + 64) = 20,112; 6 * (20,112 + 1,100) + 153,600 + 1,536 = 282,408.
    assert guard.estimate_group_bytes(group(registry, noise_std=0.0)) == 282_408


def test_networks_side_by_side_scale_the_training_not_the_detection(registry):
    one, many = group(registry, networks_per_seed=1), group(registry, networks_per_seed=101)
    # 100 more networks per seed, 2 seeds: 200 * 22,748 more.
    assert guard.estimate_group_bytes(many) - guard.estimate_group_bytes(one) == 200 * 22_748


def test_the_run_adds_the_process_to_the_jobs_largest_groups(registry):
    small, large = group(registry, seeds=(0,)), group(registry, seeds=(0, 1, 2))
    spec = SimpleNamespace(batch=True, jobs=1)
    largest = guard.estimate_group_bytes(large)
    assert guard.estimate_run_bytes([small, large], spec, baseline=1000) == 1000 + largest
    spec.jobs = 2
    assert guard.estimate_run_bytes([small, large], spec, baseline=1000) == 1000 + largest + guard.estimate_group_bytes(small)


def test_the_process_baseline_is_this_process_resident_memory():
    import resource

    now = guard.process_bytes()
    assert 0 < now <= resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 * 1.01 + 2**20


def test_the_baseline_counts_torch_before_it_is_imported(monkeypatch):
    # The command line defers torch's import, and planning a grid does not run it: the process
    # that runs the units will hold torch all the same.
    monkeypatch.setattr(guard, "torch_loaded", lambda: True)
    loaded = guard.process_bytes()
    monkeypatch.setattr(guard, "torch_loaded", lambda: False)
    assert guard.process_bytes() - loaded == pytest.approx(guard.TORCH_IMPORT_BYTES, abs=16 * 2**20)


def test_a_guard_refusal_counts_the_process(registry, monkeypatch):
    monkeypatch.setattr(guard, "machine_memory", lambda: 10 * 2**20)
    monkeypatch.setattr(guard, "process_bytes", lambda: 9 * 2**20)
    spec = SimpleNamespace(batch=True, jobs=1)
    with pytest.raises(guard.SculptbenchError, match="GiB at once"):
        guard.check_grid([group(registry)], spec)
