"""Guards that refuse a grid before any work: too many cells, or more memory than the machine has."""

from __future__ import annotations

import os
from typing import Any, Sequence

from sculptbench.contracts.errors import SculptbenchError
# The limits run enforces unless --large-grid; read from this module, so a test may change them here.
from sculptbench.contracts.limits import MAX_CELLS, MAX_SEEDS, MEMORY_SHARE  # noqa: F401
from sculptbench.contracts.work import Group
from sculptbench.engine.torch_import import torch_loaded
from sculptbench.run.parsing import PAPER_ARCHS

#: Bytes of a float32.
FLOAT_BYTES = 4
#: Float32 copies of a network's parameters alive at once at the peak of its training, counted in
#: the engine: the pruning loop's parameters, masks and candidate masks, and the rows it hands to
#: training with their masks (5); in ``train_stacked`` the mask, parameter and gradient buffers,
#: Adam's two moments, the best epoch and its replacement, the step's denominator (8) and the int64
#: index of the unmasked entries (2).
TRAINING_COPIES = 15
#: Float32 values per row and unit (inputs included) while a network trains or is scored on rows:
#: every layer's activations, their gradients, and one temporary of the same shape.
ACTIVATION_COPIES = 3
#: Bytes per parameter of each trained network kept until its cells are written: float32 weights
#: and biases, bool masks.
KEPT_BYTES_PER_PARAM = 5
#: Bytes per weight of the graph a detector builds over one network (measured: 784 for
#: ``louvain``'s networkx graph of a dense 8x512x512x16 network, 119 for ``sculpting``'s), for
#: every weight (a dense network's worst case); detections run one network at a time.
GRAPH_BYTES_PER_WEIGHT = 800
#: Floats of input noise the engine draws per network at once, at most (``_NOISE_CHUNK_FLOATS``
#: in sculptbench.engine.training; a chunk is at least one epoch's).
NOISE_CHUNK_FLOATS = 1 << 20
#: The process's own memory where the system does not say (torch alone takes about 500 MiB).
DEFAULT_BASELINE_BYTES = 600 * 2**20
#: What importing torch adds to a process's resident memory, counted while the command line has
#: not imported it yet (measured: 472 MiB for torch 2.14.1, a CUDA build, on the machine of
#: docs/results/trust.md; CPU-only builds take less).
TORCH_IMPORT_BYTES = 480 * 2**20


def machine_memory() -> int | None:
    """This machine's physical memory in bytes, or ``None`` where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def process_bytes() -> int:
    """This process's resident memory now (Python and the plugins loaded when the guard runs),
    plus :data:`TORCH_IMPORT_BYTES` while torch is not imported yet: every process that runs a
    unit starts from it. :data:`DEFAULT_BASELINE_BYTES` where the system does not say."""
    try:
        with open("/proc/self/statm") as statm:
            resident = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return DEFAULT_BASELINE_BYTES
    return resident + (0 if torch_loaded() else TORCH_IMPORT_BYTES)


def estimate_group_bytes(group: Group, batch: bool = True) -> int:
    """The memory one group needs while it runs, beyond the process's own (:func:`process_bytes`).

    Networks trained side by side: :attr:`Group.networks_per_seed` per seed (the protocol's
    restarts times the pruner's networks per start), every seed's when batched, one seed's
    unbatched. Each holds :data:`TRAINING_COPIES` float32 copies of its parameters, the
    activations of its rows (:data:`ACTIVATION_COPIES` per unit; the whole truth table, which
    validation and unit scores run on, else one minibatch), its shuffled inputs and targets
    and its input noise (drawn, stacked and scaled: three copies of a chunk). Then the trained
    networks are kept (:data:`KEPT_BYTES_PER_PARAM`) while a detector builds its graph of one
    network (:data:`GRAPH_BYTES_PER_WEIGHT`), and a truth table is held once (inputs and
    targets of train, validation and test). The phases add up rather than take turns: memory
    freed after training is not always given back to the system (glibc keeps freed blocks under
    32 MiB in its heap).
    """
    task, training = group.task, group.training
    widths = [task.n_inputs, *group.hidden, task.n_outputs]
    weights = sum(a * b for a, b in zip(widths, widths[1:]))
    params = weights + sum(widths[1:])
    truth_table = getattr(task, "data_source", "") == "truth table"
    rows = 2 ** task.n_inputs if truth_table else training.batch_size
    row_inputs = rows * task.n_inputs
    noise = min(training.epochs, max(1, NOISE_CHUNK_FLOATS // max(row_inputs, 1))) * row_inputs if training.noise_std > 0 else 0
    per_network = FLOAT_BYTES * (TRAINING_COPIES * params + ACTIVATION_COPIES * rows * sum(widths)
                                 + 3 * noise + 2 * row_inputs + rows * task.n_outputs)
    networks = (len(group.seeds) if batch else 1) * group.networks_per_seed
    table = FLOAT_BYTES * 3 * rows * (task.n_inputs + task.n_outputs) if truth_table else 0
    return networks * (per_network + KEPT_BYTES_PER_PARAM * params) + GRAPH_BYTES_PER_WEIGHT * weights + table


def _largest(groups: Sequence[Group], spec: Any) -> list[Group]:
    """The groups that may run at once at the peak: the ``--jobs`` largest."""
    return sorted(groups, key=lambda g: -estimate_group_bytes(g, spec.batch))[: max(1, spec.jobs)]


def estimate_run_bytes(groups: Sequence[Group], spec: Any, baseline: int | None = None) -> int:
    """The memory a run of ``groups`` needs at its peak: the process's own (``baseline``, by
    default :func:`process_bytes`), and the ``--jobs`` largest groups at once."""
    baseline = process_bytes() if baseline is None else baseline
    return baseline + sum(estimate_group_bytes(g, spec.batch) for g in _largest(groups, spec))


def count_cells(spec: Any) -> int:
    """The cells of a run, counted from its selection before anything is planned: per task, its
    architectures x pruners x detectors x seeds."""
    per_arch = len(spec.pruners) * len(spec.detectors) * len(spec.seeds)
    cells = 0
    for task in spec.tasks:
        if spec.archs == PAPER_ARCHS:
            from sculptbench.paper import paper_archs

            archs = len(paper_archs(task))
        else:
            archs = len(spec.archs or task.default_archs)
        cells += archs * per_arch
    return cells


def check_cells(spec: Any) -> None:
    """Refuse a grid beyond :data:`MAX_CELLS` cells before it is planned (planning a million cells
    takes minutes), saying what to narrow, or ``--large-grid``."""
    cells = count_cells(spec)
    if cells > MAX_CELLS:
        raise SculptbenchError(f"the grid has {cells:,} cells, more than {MAX_CELLS:,}; narrow --tasks/--arch/--seeds, or pass --large-grid to run it")


def check_grid(groups: Sequence[Group], spec: Any) -> None:
    """Refuse a grid whose memory estimate (:func:`estimate_run_bytes`) exceeds :data:`MEMORY_SHARE`
    of this machine's memory, saying what to narrow, or ``--large-grid``. (Its cells are counted
    before planning: :func:`check_cells`.)"""
    memory_share = MEMORY_SHARE
    need = estimate_run_bytes(groups, spec)
    running = _largest(groups, spec)
    total = machine_memory()
    if total is None or need <= memory_share * total:
        return
    widest = max(running, key=lambda g: len(g.seeds) * g.networks_per_seed)
    raise SculptbenchError(
        f"the grid needs about {need / 2**30:,.1f} GiB at once (estimated: {len(running)} groups, the largest "
        f"{len(widest.seeds):,} seeds x {widest.networks_per_seed:,} networks side by side), more than "
        f"{int(memory_share * 100)}% of this machine's {total / 2**30:,.1f} GiB; use fewer --seeds, smaller --arch, --no-batch "
        "or fewer --jobs, or pass --large-grid to start anyway"
    )
