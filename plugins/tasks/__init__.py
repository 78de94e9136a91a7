"""Built-in tasks: the Boolean circuits and the MNIST tasks."""
