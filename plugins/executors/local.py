"""The built-in executors (``local`` and ``dask``) and helpers for writing others.

Both run :class:`sculptbench.harness.WorkUnit` objects (some cells of one group) with
:func:`sculptbench.harness.run_unit`, which reports *events*: ``("begin", cell_key or None,
what)`` before each stage (``what`` is e.g. ``"pruner 'magnitude'"`` or ``"detector
'louvain'"``; the key is ``None`` for the group's prune stage) and ``("cell", Cell)`` when a
cell is finished. A :class:`UnitTracker` follows these events, so when a unit times out or its
worker dies, the executor knows which cell was running: that cell gets a ``timeout`` or
``error`` row, the cells already finished are kept, and the unit's remaining cells are run again
as a new unit (their pruned networks come from the stage cache). A failure in the prune stage
fails every unfinished cell of the unit. See ``docs/execution.md``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

from sculptbench import hookimpl
from sculptbench.core import Executor, SculptbenchError

#: Seconds a new worker process may take to import torch and load the plugins.
WORKER_START_TIMEOUT = 300.0
#: Seconds to wait for a dask scheduler to answer.
DASK_CONNECT_TIMEOUT = 5


@dataclass
class ExecutionOptions:
    """How to run: worker count, per-cell timeout, dask scheduler, torch threads per worker.

    ``registry`` is the coordinating process's registry, used when a unit runs in-process.
    """

    jobs: int = 1
    timeout: float | None = None
    scheduler: str | None = None
    threads: int = 1
    registry: Any = None


def threads_per_worker(requested: int, jobs: int, cores: int | None = None) -> int:
    """torch threads per worker so that workers x threads does not exceed the cores."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(requested, cores // max(jobs, 1)))


class UnitTracker:
    """Follows one unit's events; builds the rows of a failed unit and the unit to run again.

    With a ``timeout`` (seconds per cell) it also keeps the unit's :attr:`deadline`: each cell
    is granted ``timeout`` seconds when its first stage begins, and the group's prune stage
    ``timeout`` x the unit's unfinished cells (it serves them all). A hanging cell therefore
    costs one ``timeout``, wherever it sits in its group. ``clock`` is for tests.
    """

    def __init__(self, unit: Any, timeout: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.unit = unit
        self.finished: set[str] = set()
        self.current: tuple[str | None, str] | None = None
        self.lock = threading.Lock()
        self.closed = False
        self.timeout, self.clock = timeout, clock
        #: Every budget granted, as ``(cell key or None for the prune stage, seconds)``.
        self.grants: list[tuple[str | None, float]] = []
        self.deadline: float | None = None
        # Until the first stage begins (loading cached networks), one cell's worth.
        self._grant(None, timeout)

    def _grant(self, key: str | None, seconds: float | None) -> None:
        if seconds is None:
            return
        self.grants.append((key, seconds))
        self.deadline = self.clock() + seconds

    def expired(self) -> bool:
        """Whether the running stage is past its budget."""
        with self.lock:
            return self.deadline is not None and not self.closed and self.clock() >= self.deadline

    def remaining(self) -> float | None:
        """Seconds until the deadline (``None``: no limit)."""
        with self.lock:
            return None if self.deadline is None else max(0.0, self.deadline - self.clock())

    def timeout_detail(self) -> str:
        """What follows "timed out while running X" in a ``timeout`` row."""
        key, seconds = self.grants[-1] if self.grants else (None, 0.0)
        if key is None and self.current is not None and self.current[0] is None:
            cells = round(seconds / self.timeout) if self.timeout else 0
            return f" (budget {seconds:g} s for the prune stage of {cells} cells: --timeout {self.timeout:g} s per cell)"
        return f" (budget {seconds:g} s: --timeout {self.timeout:g} s per cell)"

    def observe(self, event: tuple, deliver: Callable[[Any], None]) -> None:
        """Record an event; deliver a finished cell (once; events after :meth:`fail` are dropped)."""
        with self.lock:
            if self.closed:
                return
            if event[0] == "begin":
                if self.timeout is not None:
                    if event[1] is None:
                        self._grant(None, self.timeout * max(len(self.unfinished), 1))
                    elif self.current is None or self.current[0] != event[1]:
                        self._grant(event[1], self.timeout)
                self.current = (event[1], event[2])
            elif event[0] == "cell":
                cell = event[1]
                if cell.cell_key in self.finished or cell.cell_key not in self.unit.keys:
                    return
                self.finished.add(cell.cell_key)
                if self.current and self.current[0] == cell.cell_key:
                    self.current = None
                deliver(cell)

    @property
    def unfinished(self) -> list[str]:
        """Keys of the unit not delivered yet, in order."""
        return [k for k in self.unit.keys if k not in self.finished]

    def fail(self, status: str, message: str, deliver: Callable[[Any], None], isolate: bool = True, detail: str = "") -> Any | None:
        """Deliver ``status`` rows for the failure and return the unit of cells to run again.

        When a cell's stage was running (and ``isolate``), only that cell fails; otherwise (the
        prune stage, or nothing known) every unfinished cell does.
        """
        from sculptbench.harness import failure_cell

        with self.lock:
            if self.closed:
                return None
            self.closed = True
            key, what = self.current if self.current else (None, None)
            text = (f"{message} while running {what}" if what else message) + detail
            left = self.unfinished
            if isolate and key is not None and key in left:
                deliver(failure_cell(self.unit, key, status, text))
                rest = [k for k in left if k != key]
                return replace(self.unit, keys=rest) if rest else None
            for k in left:
                deliver(failure_cell(self.unit, k, status, text))
            return None


def death_message(exitcode: int | None) -> str:
    """The ``error`` row's message for a worker process that died."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = str(-exitcode)
        return f"worker died (exit code {exitcode}, signal {name})"
    return f"worker died (exit code {exitcode})"


# --------------------------------------------------------------------------- local
class LocalExecutor(Executor):
    """Long-lived worker processes on this machine (``--jobs N``, or ``--timeout``); for ``--jobs 1``
    without ``--timeout``, one child forked from this process per unit."""

    name = "local"
    version = "1"

    def run(self, units: Sequence[Any], options: ExecutionOptions, deliver: Callable[[Any], None]) -> None:
        """Run every unit, each isolated in a process of its own."""
        if options.jobs <= 1 and options.timeout is None and can_fork_units():
            run_forked(units, options, deliver)
            return
        WorkerPool(options).run(units, deliver)


def can_fork_units() -> bool:
    """Whether units can run in children forked from this process (Linux: elsewhere forking a
    process that has loaded torch is not safe, and the spawned worker pool is used)."""
    import multiprocessing
    import sys

    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def run_forked(units: Sequence[Any], options: ExecutionOptions, deliver: Callable[[Any], None]) -> None:
    """Run each unit in a child forked from this process, which has torch and the plugins loaded.

    Forking takes milliseconds and nothing is pickled on the way in (the child inherits the unit
    and the registry), so this is nearly as cheap as running in-process; but a plugin that kills
    its process (``os._exit``, a segfault) leaves an ``error`` row with the exit code, and the
    unit's remaining cells run in a new child.
    """
    import multiprocessing

    from sculptbench.plugin_manager import load_registry

    ctx = multiprocessing.get_context("fork")
    registry = options.registry if options.registry is not None else load_registry()
    pending = deque(u for u in units if u.keys)
    while pending:
        unit = pending.popleft()
        tracker = UnitTracker(unit)
        receiver, sender = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_forked_unit, args=(unit, registry, sender), name="sculptbench-unit", daemon=True)
        child.start()
        sender.close()
        try:
            while True:
                try:
                    message = receiver.recv()
                except (EOFError, OSError):
                    break
                if message[0] == "crash":
                    tracker.fail("error", f"worker failed: {message[1]}", deliver, isolate=False)
                else:
                    tracker.observe(message, deliver)
            child.join()
        finally:
            receiver.close()
            if child.is_alive():  # Ctrl-C or an error in the coordinator
                child.kill()
                child.join(5)
        if child.exitcode != 0:
            rest = tracker.fail("error", death_message(child.exitcode), deliver)
            if rest is not None and rest.keys:
                pending.appendleft(rest)
        tracker.fail("error", "the harness delivered no result", deliver, isolate=False)


def _forked_unit(unit: Any, registry: Any, sender: Any) -> None:
    """The body of a forked child: run one unit, sending its events to the coordinator."""
    import torch

    from sculptbench.harness import describe_exception, run_unit

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    # A child forked after torch ran an OpenMP region on several threads hangs in its next
    # parallel region; on one thread it never enters one.
    torch.set_num_threads(1)
    try:
        run_unit(unit, registry, sender.send)
    except Exception as exc:  # noqa: BLE001 - reported as error rows by the coordinator
        try:
            sender.send(("crash", describe_exception(exc)))
        except Exception:  # noqa: BLE001 - the coordinator is gone
            pass


class _Worker:
    """One worker process with a duplex pipe."""

    def __init__(self, ctx: Any, threads: int):
        self.conn, child = ctx.Pipe(duplex=True)
        # The worker exits when this pipe's write end closes: when the coordinator dies, even by kill -9.
        lifeline_r, self.lifeline = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_worker_main, args=(child, lifeline_r, threads, dict(os.environ)), name="sculptbench-worker", daemon=False)
        self.process.start()
        child.close()
        lifeline_r.close()
        self.started = time.monotonic()
        self.ready = False
        self.unit: Any = None
        self.tracker: UnitTracker | None = None
        self.dead = False

    @property
    def deadline(self) -> float | None:
        """When the running stage of the worker's unit runs out of time (``None``: no limit)."""
        return self.tracker.deadline if self.tracker is not None else None

    def assign(self, unit: Any, timeout: float | None) -> None:
        self.unit, self.tracker = unit, UnitTracker(unit, timeout)
        self.conn.send(unit)

    def release(self) -> None:
        self.unit = self.tracker = None

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()
        self.lifeline.close()
        self.dead = True


class WorkerPool:
    """A small pool of spawned worker processes; the coordinator assigns one unit at a time.

    Unlike ``concurrent.futures.ProcessPoolExecutor``, one worker dying (``os._exit``, a
    segfault, SIGKILL) does not break the pool: its unit's rows are written and it is replaced.
    """

    def __init__(self, options: ExecutionOptions):
        import multiprocessing

        from sculptbench.plugin_manager import BUILTIN_PLUGINS

        self.options = options
        if "forkserver" in multiprocessing.get_all_start_methods():
            # A clean server process imports torch and the built-in plugins once; each worker
            # (and each replacement of a dead one) is forked from it in well under a second.
            self.ctx = multiprocessing.get_context("forkserver")
            self.ctx.set_forkserver_preload(["sculptbench.harness", "sculptbench.plugins.executors.local", *BUILTIN_PLUGINS])
        else:
            self.ctx = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []
        self.start_failures = 0

    def _spawn(self) -> _Worker:
        worker = _Worker(self.ctx, self.options.threads)
        self.workers.append(worker)
        return worker

    def run(self, units: Sequence[Any], deliver: Callable[[Any], None]) -> None:
        """Run every unit; return when each of their cells was delivered."""
        pending = deque(u for u in units if u.keys)
        if not pending:
            return
        from multiprocessing.connection import wait

        ok = False
        try:
            for _ in range(min(self.options.jobs, sum(len(u.keys) for u in pending))):
                self._spawn()
            while pending or any(w.unit is not None for w in self.workers):
                for w in self.workers:
                    if w.ready and w.unit is None and pending:
                        self._assign(w, pending.popleft(), pending, deliver)
                now = time.monotonic()
                deadlines = [w.deadline for w in self.workers if w.deadline is not None]
                deadlines += [w.started + WORKER_START_TIMEOUT for w in self.workers if not w.ready]
                wait_for = max(0.0, min(deadlines) - now) if deadlines else None
                wait([w.conn for w in self.workers] + [w.process.sentinel for w in self.workers], timeout=wait_for)
                for w in list(self.workers):
                    self._service(w, pending, deliver)
                self.workers = [w for w in self.workers if not w.dead]
                busy = sum(1 for w in self.workers if w.unit is not None)
                want = min(self.options.jobs, busy + len(pending))
                while len(self.workers) < want:
                    self._spawn()
            ok = True
        finally:
            self._shutdown(graceful=ok)

    def _assign(self, w: _Worker, unit: Any, pending: deque, deliver: Callable[[Any], None]) -> None:
        try:
            w.assign(unit, self.options.timeout)
        except (OSError, EOFError):  # the worker is gone: it is noticed and replaced, the unit waits
            w.release()
            pending.appendleft(unit)
        except Exception as exc:  # noqa: BLE001 - e.g. a task object that cannot be pickled
            from sculptbench.harness import describe_exception

            w.release()
            UnitTracker(unit).fail("error", f"cannot send the work to a worker process: {describe_exception(exc)}", deliver, isolate=False)

    def _service(self, w: _Worker, pending: deque, deliver: Callable[[Any], None]) -> None:
        """Read a worker's messages and handle its death or an expired deadline."""
        self._drain(w, pending, deliver)
        if w.dead:
            return
        if not w.process.is_alive():
            w.process.join(1)
            self._drain(w, pending, deliver)
            code = w.process.exitcode
            w.kill()
            if not w.ready:
                self.start_failures += 1
                if self.start_failures >= 3:
                    raise SculptbenchError(f"worker processes die while starting ({death_message(code)}); run with --jobs 1 to see why")
                return
            if w.tracker is not None:
                self._requeue(w.tracker.fail("error", death_message(code), deliver), pending)
            return
        now = time.monotonic()
        if w.unit is not None and w.deadline is not None and now >= w.deadline:
            self._drain(w, pending, deliver)
            if w.unit is None or not w.tracker.expired():  # it finished, or began a new cell, just in time
                return
            w.kill()
            self._requeue(w.tracker.fail("timeout", "timed out", deliver, detail=w.tracker.timeout_detail()), pending)
        elif not w.ready and now - w.started > WORKER_START_TIMEOUT:
            w.kill()
            raise SculptbenchError(f"a worker process did not start within {WORKER_START_TIMEOUT:g} s")

    def _drain(self, w: _Worker, pending: deque, deliver: Callable[[Any], None]) -> None:
        try:
            while not w.dead and w.conn.poll():
                self._handle(w, w.conn.recv(), pending, deliver)
        except (EOFError, OSError):
            pass

    def _handle(self, w: _Worker, message: tuple, pending: deque, deliver: Callable[[Any], None]) -> None:
        kind = message[0]
        if kind == "ready":
            w.ready = True
            self.start_failures = 0
        elif kind in ("begin", "cell") and w.tracker is not None:
            w.tracker.observe(message, deliver)
        elif kind == "crash" and w.tracker is not None:
            w.tracker.fail("error", f"worker failed: {message[1]}", deliver, isolate=False)
        elif kind == "done" and w.tracker is not None:
            w.tracker.fail("error", "the worker delivered no result", deliver, isolate=False)
            w.release()

    @staticmethod
    def _requeue(unit: Any, pending: deque) -> None:
        if unit is not None and unit.keys:
            pending.appendleft(unit)

    def _shutdown(self, graceful: bool) -> None:
        for w in self.workers:
            if w.dead:
                continue
            if graceful and w.unit is None:
                try:
                    w.conn.send(None)
                except (OSError, ValueError):
                    pass
            else:
                w.process.kill()
        end = time.monotonic() + 2.0
        for w in self.workers:
            if not w.dead:
                w.process.join(max(0.0, end - time.monotonic()))
                w.kill()
        self.workers = []


def _watch_lifeline(lifeline: Any) -> None:
    """Exit as soon as the coordinator is gone (its end of ``lifeline`` closes; it never writes)."""
    try:
        lifeline.poll(None)
    finally:
        os._exit(1)


def _worker_main(conn: Any, lifeline: Any, threads: int, environ: dict[str, str]) -> None:
    """A worker process: load the plugins once, then run the units it is sent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    threading.Thread(target=_watch_lifeline, args=(lifeline,), daemon=True).start()
    # A forkserver was started with the environment of its time: use the coordinator's now.
    os.environ.clear()
    os.environ.update(environ)
    import torch

    from sculptbench.harness import describe_exception, run_unit
    from sculptbench.plugin_manager import load_registry

    torch.set_num_threads(threads)
    registry = load_registry()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            unit = conn.recv()
        except (EOFError, OSError):
            return
        if unit is None:
            return
        try:
            run_unit(unit, registry, conn.send)
        except Exception as exc:  # noqa: BLE001 - reported as error rows by the coordinator
            try:
                conn.send(("crash", describe_exception(exc)))
            except Exception:  # noqa: BLE001
                return
        conn.send(("done",))


# --------------------------------------------------------------------------- dask
_DASK_REGISTRY: Any = None


def _dask_registry(threads: int) -> Any:
    """The registry of this dask worker process, loaded once."""
    global _DASK_REGISTRY
    if _DASK_REGISTRY is None:
        import torch

        from sculptbench.plugin_manager import load_registry

        torch.set_num_threads(threads)
        _DASK_REGISTRY = load_registry()
    return _DASK_REGISTRY


def dask_run_unit(unit: Any, options: ExecutionOptions) -> tuple[list[Any], Any]:
    """Run one unit on a dask worker; return its cells and the unit of cells to run again.

    With a timeout, the unit runs in a thread that is abandoned when its budget runs out (dask
    cannot interrupt a running task): the running cell gets a ``timeout`` row, the rest is
    handed back to be run again.
    """
    from sculptbench.harness import describe_exception, run_unit

    registry = _dask_registry(options.threads)
    cells: list[Any] = []
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

    def run(self, units: Sequence[Any], options: ExecutionOptions, deliver: Callable[[Any], None]) -> None:
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
        try:
            from distributed import as_completed

            options = replace(options, registry=None)  # the workers load their own
            for unit in units:
                future = self._submit(client, unit, options, deliver)
                if future is not None:
                    futures[future] = unit
            queue = as_completed(list(futures))
            for future in queue:
                unit = futures.pop(future)
                try:
                    cells, rest = future.result()
                except Exception as exc:  # noqa: BLE001 - KilledWorker, lost futures, ...
                    from sculptbench.harness import describe_exception

                    if scheduler_lost(client, exc):
                        # No rows for the unfinished cells: they stay resumable.
                        where = f"at {options.scheduler}" if options.scheduler else "of the local cluster"
                        raise SculptbenchError(
                            f"lost the dask scheduler {where} mid-run; the finished cells are saved, the others were not run: "
                            "run the same command again to resume once the scheduler is back"
                        ) from None
                    tracker = UnitTracker(unit)
                    tracker.fail("error", f"worker died or failed on the dask cluster: {describe_exception(exc)}", deliver, isolate=False)
                    continue
                for cell in cells:
                    deliver(cell)
                if rest is not None and rest.keys:
                    again = self._submit(client, rest, options, deliver)
                    if again is not None:
                        futures[again] = rest
                        queue.add(again)
        finally:
            if client.status == "running":
                for future in list(futures):
                    future.cancel()
            client.close(timeout=DASK_CONNECT_TIMEOUT)
            if cluster is not None:
                cluster.close()
            for log, level in zip(dask_logs, levels):
                log.setLevel(level)

    @staticmethod
    def _submit(client: Any, unit: Any, options: ExecutionOptions, deliver: Callable[[Any], None]) -> Any:
        try:
            return client.submit(dask_run_unit, unit, options, pure=False)
        except Exception as exc:  # noqa: BLE001 - e.g. a task object that cannot be serialised
            from sculptbench.harness import describe_exception

            UnitTracker(unit).fail("error", f"cannot submit the work to dask: {describe_exception(exc)}", deliver, isolate=False)
            return None


def scheduler_lost(client: Any, exc: BaseException) -> bool:
    """Whether a future failed because the client lost its scheduler (not because of the work).

    ``dask_run_unit`` catches what the work raises, so a connection error (distributed's
    ``CommClosedError`` is an ``OSError``) comes from fetching the result, not from the work.
    """
    return (isinstance(exc, OSError) or "scheduler-connection-lost" in str(exc)
            or client.status not in ("running", "connecting", "newly-created"))


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
    """Register the built-in executors."""
    register(LocalExecutor())
    register(DaskExecutor())
