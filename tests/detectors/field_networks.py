"""Hand-built networks for the field detectors' tests: planted blocks, one module, a two-level hierarchy."""

from __future__ import annotations

from typing import Sequence

import torch

from sculptbench.contracts.types import SculptedNetwork


def layered(sizes: Sequence[int], blocks: Sequence[Sequence[Sequence[int]]], weak: Sequence[tuple[int, int, int, float]] = (),
            varied: bool = True) -> SculptedNetwork:
    """A network of layer ``sizes`` whose block b connects every unit of ``blocks[b][l]`` to every
    unit of ``blocks[b][l+1]``; ``weak`` adds single edges ``(layer, out, in, weight)``. Weights are
    positive (so no ReLU is dead on every input) and, when ``varied``, of varied magnitude."""
    masks = [torch.zeros(b, a, dtype=torch.bool) for a, b in zip(sizes[:-1], sizes[1:])]
    weights = [torch.zeros(b, a) for a, b in zip(sizes[:-1], sizes[1:])]
    for block in blocks:
        for layer in range(len(sizes) - 1):
            for o in block[layer + 1]:
                for i in block[layer]:
                    masks[layer][o, i] = True
                    weights[layer][o, i] = 0.5 + 0.25 * ((i + 2 * o + layer) % 3) if varied else 1.0
    for layer, o, i, w in weak:
        masks[layer][o, i] = True
        weights[layer][o, i] = w
    net = SculptedNetwork.from_masks(masks)
    net.weights = weights
    net.accuracy = net.test_accuracy = net.dense_accuracy = 1.0
    return net


def planted_blocks() -> SculptedNetwork:
    """4-6-6-4, two blocks with no edge between them: inputs 0-1 -> hidden 0-2 -> 0-2 -> outputs 0-1,
    and inputs 2-3 -> hidden 3-5 -> 3-5 -> outputs 2-3 (shaped for bool/input-separable)."""
    a = [[0, 1], [0, 1, 2], [0, 1, 2], [0, 1]]
    b = [[2, 3], [3, 4, 5], [3, 4, 5], [2, 3]]
    return layered([4, 6, 6, 4], [a, b])


def planted_modules() -> list[frozenset]:
    """The two blocks of :func:`planted_blocks`, as unit sets sorted by smallest unit."""
    a = [[0, 1], [0, 1, 2], [0, 1, 2], [0, 1]]
    b = [[2, 3], [3, 4, 5], [3, 4, 5], [2, 3]]
    return [frozenset((layer, i) for layer, units in enumerate(block) for i in units) for block in (a, b)]


def one_module() -> SculptedNetwork:
    """4-6-4, every layer fully connected, every weight 1: one module, all hidden units alike."""
    every = [list(range(4)), list(range(6)), list(range(4))]
    return layered([4, 6, 4], [every], varied=False)


def hierarchy() -> tuple[SculptedNetwork, list[list[frozenset]]]:
    """12-16-8: four blocks (3 inputs -> 4 hidden -> 2 outputs each, weights 1); blocks 0 and 1 are
    joined by one weak edge (0.05), blocks 2 and 3 too; no edge joins {0, 1} to {2, 3}. Returns
    the network and its planted two levels, coarse to fine."""
    blocks = [[list(range(3 * b, 3 * b + 3)), list(range(4 * b, 4 * b + 4)), [2 * b, 2 * b + 1]] for b in range(4)]
    net = layered([12, 16, 8], blocks, weak=[(0, 4, 0, 0.05), (0, 12, 6, 0.05)], varied=False)
    fine = [frozenset((layer, i) for layer, units in enumerate(block) for i in units) for block in blocks]
    coarse = [fine[0] | fine[1], fine[2] | fine[3]]
    return net, [coarse, fine]
