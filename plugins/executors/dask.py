"""The built-in ``dask`` executor: work units on a dask.distributed cluster (``--scheduler``) or a
LocalCluster of ``--jobs`` worker processes. Needs ``pip install 'sculptbench[dask]'``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any, Callable, Sequence

from sculptbench.api import Cell, ExecutionOptions, Executor, SculptbenchError, UnitTracker, WorkUnit, describe_exception, hookimpl, run_unit

#: Seconds to wait for a dask scheduler to answer.
DASK_CONNECT_TIMEOUT = 5


_DASK_REGISTRY: Any = None


def _dask_registry(threads: int) -> Any:
    """The registry of this dask worker process, loaded once."""
    global _DASK_REGISTRY
    if _DASK_REGISTRY is None:
        import torch

        from sculptbench.api import load_registry

        torch.set_num_threads(threads)
        _DASK_REGISTRY = load_registry()
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads, user_api="blas")  # the BLAS of numpy and scipy, loaded by now: workers x threads <= cores
    return _DASK_REGISTRY


def dask_run_unit(unit: WorkUnit, options: ExecutionOptions) -> tuple[list[Cell], WorkUnit | None]:
    """Run one unit on a dask worker; return its cells and the unit of cells to run again.

    With a timeout, the unit runs in a thread that is abandoned when its budget runs out (dask
    cannot interrupt a running task): the running cell gets a ``timeout`` row, the rest is
    handed back to be run again.
    """
    registry = _dask_registry(options.threads)
    cells: list[Cell] = []
    tracker = UnitTracker(unit, options.timeout)

    def work() -> None:
        try:
            run_unit(unit, registry, lambda event: tracker.observe(event, cells.append))
        except Exception as exc:  # noqa: BLE001
            tracker.fail("error", f"worker failed: {describe_exception(exc)}", cells.append, isolate=False)

    if options.timeout is None:
        work()
        tracker.fail("error", "the worker delivered no result", cells.append, isolate=False)
        return cells, None
    thread = threading.Thread(target=work, daemon=True, name="sculptbench-unit")
    thread.start()
    while thread.is_alive() and not tracker.expired():
        thread.join(tracker.remaining())
    if thread.is_alive():
        rest = tracker.fail("timeout", "timed out", cells.append, detail=tracker.timeout_detail())
        return cells, rest
    tracker.fail("error", "the worker delivered no result", cells.append, isolate=False)
    return cells, None


class DaskExecutor(Executor):
    """A dask.distributed cluster: ``--scheduler tcp://HOST:PORT``, or a LocalCluster of
    ``--jobs`` worker processes. Needs ``pip install 'sculptbench[dask]'``."""

    name = "dask"
    version = "1"

    def prepare(self, options: ExecutionOptions) -> None:
        """Fail early, naming the address, when the scheduler does not answer (or dask is missing)."""
        if options.scheduler:
            client, _ = connect(options.scheduler, options.jobs)
            client.close()
        else:
            _import_distributed()

    def run(self, units: Sequence[WorkUnit], options: ExecutionOptions, deliver: Callable[[Cell], None]) -> None:
        """Submit every unit, deliver cells as units complete, resubmit what a timeout left."""
        units = [u for u in units if u.keys]
        if not units:
            return
        import logging

        client, cluster = connect(options.scheduler, options.jobs)
        futures: dict[Any, Any] = {}
        # distributed logs its reconnection attempts with tracebacks; a lost scheduler is
        # reported below in one line instead.
        dask_logs = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict) if name.split(".")[0] == "distributed"]
        levels = [log.level for log in dask_logs]
        for log in dask_logs:
            log.setLevel(logging.CRITICAL)
        heartbeat = SchedulerHeartbeat(client)
        where = f"at {options.scheduler}" if options.scheduler else "of the local cluster"
        try:
            from distributed import wait

            options = replace(options, registry=None)  # the workers load their own
            for unit in units:
                future = self._submit(client, unit, options, deliver)
                if future is not None:
                    futures[future] = unit
            while futures:
                try:
                    done = wait(list(futures), timeout=HEARTBEAT_EVERY_S, return_when="FIRST_COMPLETED").done
                except TimeoutError:
                    done = set()
                except Exception as exc:  # noqa: BLE001 - futures cancelled, e.g. because the scheduler is gone
                    if scheduler_lost(client, exc):
                        raise _lost_scheduler(where) from None
                    done = {future for future in futures if future.done()}
                for future in done:
                    self._collect(client, future, futures, options, deliver, where)
                if futures and not heartbeat.beat():
                    # No rows for the unfinished cells: they stay resumable.
                    raise SculptbenchError(
                        f"the dask scheduler {where} stopped answering (no answer to a heartbeat for {heartbeat.silence:g} s) mid-run; "
                        "the finished cells are saved, the others were not run: run the same command again to resume "
                        "once the scheduler answers, or with another --executor"
                    )
        finally:
            if client.status == "running" and heartbeat.answering:  # cancelling asks the scheduler: not one that is silent
                for future in list(futures):
                    future.cancel()
            client.close(timeout=DASK_CONNECT_TIMEOUT)
            if cluster is not None:
                cluster.close()
            for log, level in zip(dask_logs, levels):
                log.setLevel(level)

    def _collect(self, client: Any, future: Any, futures: dict[Any, Any], options: ExecutionOptions,
                 deliver: Callable[[Cell], None], where: str) -> None:
        """Deliver a finished future's cells and resubmit what a timeout left of its unit."""
        unit = futures.pop(future)
        try:
            cells, rest = future.result()
        except Exception as exc:  # noqa: BLE001 - KilledWorker, lost futures, ...
            if scheduler_lost(client, exc):
                raise _lost_scheduler(where) from None
            tracker = UnitTracker(unit)
            tracker.fail("error", f"worker died or failed on the dask cluster: {describe_exception(exc)}", deliver, isolate=False)
            return
        for cell in cells:
            deliver(cell)
        if rest is not None and rest.keys:
            again = self._submit(client, rest, options, deliver)
            if again is not None:
                futures[again] = rest

    @staticmethod
    def _submit(client: Any, unit: WorkUnit, options: ExecutionOptions, deliver: Callable[[Cell], None]) -> Any:
        try:
            return client.submit(dask_run_unit, unit, options, pure=False)
        except Exception as exc:  # noqa: BLE001 - e.g. a task object that cannot be serialised
            UnitTracker(unit).fail("error", f"cannot submit the work to dask: {describe_exception(exc)}", deliver, isolate=False)
            return None


def _lost_scheduler(where: str) -> SculptbenchError:
    """The run's one line when the scheduler is gone (no rows for the unfinished cells: they stay resumable)."""
    return SculptbenchError(
        f"lost the dask scheduler {where} mid-run; the finished cells are saved, the others were not run: "
        "run the same command again to resume once the scheduler is back"
    )


def scheduler_lost(client: Any, exc: BaseException) -> bool:
    """Whether a future failed because the client lost its scheduler (not because of the work).

    ``dask_run_unit`` catches what the work raises, so a connection error (distributed's
    ``CommClosedError`` is an ``OSError``) comes from fetching the result, not from the work.
    """
    return (isinstance(exc, OSError) or "scheduler-connection-lost" in str(exc)
            or client.status not in ("running", "connecting", "newly-created"))


#: The application-level heartbeat: every HEARTBEAT_EVERY_S seconds the client asks the scheduler
#: for its identity and waits HEARTBEAT_TIMEOUT_S for the answer; after SCHEDULER_SILENCE_S
#: without one the run fails. A stopped scheduler (``kill -STOP``, a hung host) keeps its TCP
#: connections open, so only an answer proves it alive. Worst case from the last answer to the
#: failure: the silence plus one heartbeat's timeout (40 s), plus closing the client (5 s).
HEARTBEAT_EVERY_S = 5.0
HEARTBEAT_TIMEOUT_S = 10.0
SCHEDULER_SILENCE_S = 30.0


class SchedulerHeartbeat:
    """Asks a dask client's scheduler for a sign of life, at most every :data:`HEARTBEAT_EVERY_S`."""

    def __init__(self, client: Any, every: float | None = None, timeout: float | None = None, silence: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.client, self.clock = client, clock
        self.every = HEARTBEAT_EVERY_S if every is None else every
        self.timeout = HEARTBEAT_TIMEOUT_S if timeout is None else timeout
        self.silence = SCHEDULER_SILENCE_S if silence is None else silence
        self.last_answer = self.clock()
        self.next_beat = self.last_answer + self.every
        #: Whether the last heartbeat was answered.
        self.answering = True

    def beat(self) -> bool:
        """Send a heartbeat when one is due; ``False`` once the scheduler has been silent for
        :attr:`silence` seconds."""
        if self.clock() < self.next_beat:
            return True
        try:
            self.client.sync(self.client.scheduler.identity, callback_timeout=self.timeout)
        except Exception:  # noqa: BLE001 - a timeout or a closed connection: no answer either way
            self.answering = False
        else:
            self.answering = True
            self.last_answer = self.clock()
        self.next_beat = self.clock() + (self.every if self.answering else 0.0)
        return self.clock() - self.last_answer < self.silence


#: Largest first message a dask scheduler sends (its handshake is a few hundred bytes).
DASK_HANDSHAKE_LIMIT = 1 << 20
#: Seconds an established dask connection may stay silent before dask drops it.
DASK_IDLE_TIMEOUT = 60


def probe_scheduler(scheduler: str, timeout: float = DASK_CONNECT_TIMEOUT) -> None:
    """Check that a ``tcp://`` address answers like a dask scheduler, within ``timeout`` seconds.

    A dask scheduler sends its handshake as soon as it accepts a connection: eight bytes giving
    the message size, then the message. A listener that stays silent, closes at once, or
    announces an absurd size (garbage) is refused here, before dask would wait forever for the
    handshake or try to allocate what the garbage announced. Other schemes (``tls://``) are
    left to dask's own connect timeout.
    """
    import socket
    import struct

    if not scheduler.startswith("tcp://"):
        return
    hostport = scheduler[len("tcp://"):].rstrip("/")
    host, _, port = hostport.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        return  # let dask name the malformed address
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            header = b""
            while len(header) < 8:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = sock.recv(8 - len(header))
                if not chunk:
                    raise _ProbeError("closed the connection without a dask handshake")
                header += chunk
    except _ProbeError as exc:
        raise _scheduler_error(scheduler, str(exc), timeout) from None
    except socket.timeout:
        raise _scheduler_error(scheduler, f"it accepted the connection but sent nothing in {timeout:g} s; is it a dask scheduler?", timeout) from None
    except OSError as exc:
        raise _scheduler_error(scheduler, exc.strerror or str(exc) or type(exc).__name__, timeout) from None
    (size,) = struct.unpack("<Q", header)
    if not 0 < size <= DASK_HANDSHAKE_LIMIT:
        raise _scheduler_error(scheduler, f"it answered with something that is not the dask protocol (a first message of {size:,} bytes)", timeout)


class _ProbeError(Exception):
    pass


def _scheduler_error(scheduler: str, detail: str, timeout: float = DASK_CONNECT_TIMEOUT) -> SculptbenchError:
    return SculptbenchError(
        f"cannot reach the dask scheduler at {scheduler} within {timeout:g} s ({detail}); "
        "check the address, or start one with `dask scheduler`"
    )


def connect(scheduler: str | None, jobs: int) -> tuple[Any, Any]:
    """A dask client: to ``scheduler`` (failing within a few seconds), or to a new LocalCluster.

    Connecting to a scheduler is bounded end to end: :func:`probe_scheduler` first, then dask's
    connect and handshake in a watchdog thread given ``DASK_CONNECT_TIMEOUT`` more seconds; dask's
    own connect and idle timeouts are set for every later connection.
    """
    import logging

    Client, LocalCluster = _import_distributed()
    import dask

    dask.config.set({"distributed.comm.timeouts.connect": f"{DASK_CONNECT_TIMEOUT}s",
                     "distributed.comm.timeouts.tcp": f"{DASK_IDLE_TIMEOUT}s"})
    if scheduler:
        probe_scheduler(scheduler)
        outcome: dict[str, Any] = {}

        def attempt() -> None:
            try:
                outcome["client"] = Client(scheduler, timeout=f"{DASK_CONNECT_TIMEOUT}s")
            except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, ValueError for a bad address
                outcome["error"] = exc

        worker = threading.Thread(target=attempt, name="sculptbench-dask-connect", daemon=True)
        worker.start()
        worker.join(2 * DASK_CONNECT_TIMEOUT)
        if "client" in outcome:
            return outcome["client"], None
        exc = outcome.get("error")
        detail = " ".join(str(exc).split()) or type(exc).__name__ if exc is not None else "no dask handshake in time"
        raise _scheduler_error(scheduler, detail)
    cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR)
    return Client(cluster), cluster


def _import_distributed() -> tuple[Any, Any]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SculptbenchError("--executor dask needs dask.distributed; install it with: pip install 'sculptbench[dask]'") from None
    return Client, LocalCluster


@hookimpl
def register_executors(register):
    """Register the ``dask`` executor."""
    register(DaskExecutor())
