"""The contract kit on lth, l1 and bimt: networks of the right shape, masks respected, determinism,
prune_many equal to prune, registration, declared options and bad options refused."""

from __future__ import annotations

from sculptbench.plugin.testing import PrunerContract
from sculptbench.plugins.pruners import sparse_training
from sculptbench.plugins.pruners.sparse_training.bimt import BimtPruner
from sculptbench.plugins.pruners.sparse_training.lth import LotteryTicketPruner
from sculptbench.plugins.pruners.sparse_training.regularised import L1Pruner


class TestLotteryTicketContract(PrunerContract):
    component = LotteryTicketPruner()
    plugin = sparse_training
    params = {"rewind": 2}
    bad_params = [{"scope": "neuron"}, {"rewind": -1}, {"fraction": 1.0}, {"target_density": 0}]


class TestL1Contract(PrunerContract):
    component = L1Pruner()
    plugin = sparse_training
    params = {"steps": 200, "optimizer": "task"}
    bad_params = [{"lambda": 0}, {"lambda_schedule": "cosine"}, {"optimizer": "sgd"}, {"steps": 0}, {"retrain": "rewind"}]


class TestBimtContract(PrunerContract):
    component = BimtPruner()
    plugin = sparse_training
    params = {"steps": 200, "optimizer": "task", "swap_every": 50}
    bad_params = [{"ablation": "local"}, {"swap_every": 0}, {"swap_top": 0}, {"ablation": "none", "swap_every": 10}]
