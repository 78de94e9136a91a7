"""A plugin that registers a pruner under a name a built-in already uses, and one of its own.

The built-in keeps its name (``shadow`` is refused, and reported as a clash); the plugin's
independent pruner ``shadow-dense`` is still loaded.
"""

from sculptbench.api import Option, Pruner, hookimpl, train_masked


class ShadowDense(Pruner):
    """The dense baseline under a name of its own: the trained, unpruned network."""

    name = "shadow-dense"
    version = "0.0.7"
    options = ()

    def prune(self, job):
        (net,) = train_masked(job.task, job.sizes, [None], job.seed, job.training, job.device)
        net.dense_accuracy = net.accuracy
        net.history = [{"phase": "dense", "density": 1.0, "accuracy": net.accuracy, "accepted": True}]
        if net.accuracy < job.task.acceptance_threshold(net.dense_accuracy):
            net.status = "untrainable"
        return net


class ShadowMagnitude(ShadowDense):
    """A pruner under the built-in magnitude pruner's name (with one of its options)."""

    name = "magnitude"
    options = (Option("edge_step", float, 20.0, low=0, high=100, low_open=True, high_open=True,
                      help="Percent of the remaining weights pruned per round."),)


@hookimpl
def register_pruners(register):
    register(ShadowMagnitude())
    register(ShadowDense())
