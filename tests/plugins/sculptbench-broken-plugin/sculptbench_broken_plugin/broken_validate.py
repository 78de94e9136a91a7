"""A plugin that registers something that is not a Detector."""

from sculptbench.api import hookimpl


class NotADetector:
    """Looks like a detector, but does not subclass sculptbench.api.Detector."""

    name = "not-a-detector"

    def detect(self, network, task, options, seed):
        raise AssertionError("never called")


@hookimpl
def register_detectors(register):
    register(NotADetector())
