"""Built-in tasks: ``mnist/two-digits`` and ``mnist/xor`` (see ``docs/mnist.md``).

The data root and profile come from ``$SCULPTBENCH_MNIST_ROOT`` and ``$SCULPTBENCH_MNIST_PROFILE``
(the CLI's ``--mnist-root`` / ``--profile`` set them before the registry loads). Registering
reads no data: the digits are loaded on the first ``data()`` call.
"""

from __future__ import annotations

from sculptbench import hookimpl
from sculptbench.mnist import default_tasks


@hookimpl
def register_tasks(register):
    """Register the two MNIST tasks with the configured root and profile."""
    for task in default_tasks():
        register(task)
