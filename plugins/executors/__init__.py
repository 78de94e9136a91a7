"""Built-in executors: ``local`` and ``dask``."""
