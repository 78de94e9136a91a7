"""The authors' rule: how their notebook ranks a cell's variants by sparsity and picks one.

Pure functions of the networks, testable on hand-built inputs. The protocol's other rules are the
framework's (``select``, docs/protocol.md); this pruner ranks sparsity by :func:`sparsity_key`.
"""

from __future__ import annotations

from typing import Sequence

from sculptbench.api import SculptedNetwork


def sparsity_key(net: SculptedNetwork, rule: str) -> float:
    """How a rule ranks sparsity, lower is sparser: under the authors' rule (``rule == "authors"``)
    minus the reference's pruned percentage rounded to three decimals, else the exact density.
    ``min`` over it keeps the first of equals, as the authors' ``np.argmax`` does."""
    if rule == "authors":
        return -round(100.0 * (1.0 - net.density()), 3)
    return net.density()


def authors_choice(nets: Sequence[SculptedNetwork]) -> SculptedNetwork:
    """The authors' pick: the network with the highest pruned percentage rounded to three decimals
    (the reference's ``round(100 (1 - density), 3)``), the first on ties (``np.argmax``).

    Networks that did not meet the threshold are passed over, unless none did.
    """
    ok = [n for n in nets if n.status == "ok"] or list(nets)
    return min(ok, key=lambda n: sparsity_key(n, "authors"))
