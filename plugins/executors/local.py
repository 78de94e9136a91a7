"""The built-in ``local`` executor: work units in processes on this machine.

For ``--jobs 1`` without ``--timeout`` each unit runs in a child forked from this process; else
in a pool of long-lived worker processes. Either way a plugin that hangs or kills its process
costs its cell a ``timeout`` or ``error`` row, never the run (see ``docs/execution.md``).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import deque
from typing import Any, Callable, Sequence

from sculptbench.api import (
    Cell,
    CoordinatorGone,
    ExecutionOptions,
    Executor,
    SculptbenchError,
    UnitTracker,
    WorkUnit,
    death_message,
    describe_exception,
    hookimpl,
    run_unit,
)

#: Seconds a new worker process may take to import torch and load the plugins.
WORKER_START_TIMEOUT = 300.0


class LocalExecutor(Executor):
    """Long-lived worker processes on this machine (``--jobs N``, or ``--timeout``); for ``--jobs 1``
    without ``--timeout``, one child forked from this process per unit."""

    name = "local"
    version = "1"

    def run(self, units: Sequence[WorkUnit], options: ExecutionOptions, deliver: Callable[[Cell], None]) -> None:
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


def run_forked(units: Sequence[WorkUnit], options: ExecutionOptions, deliver: Callable[[Cell], None]) -> None:
    """Run each unit in a child forked from this process, which has torch and the plugins loaded.

    Forking takes milliseconds and nothing is pickled on the way in (the child inherits the unit
    and the registry), so this is nearly as cheap as running in-process; but a plugin that kills
    its process (``os._exit``, a segfault) leaves an ``error`` row with the exit code, and the
    unit's remaining cells run in a new child.
    """
    import multiprocessing

    from sculptbench.api import load_registry

    ctx = multiprocessing.get_context("fork")
    registry = options.registry if options.registry is not None else load_registry()
    pending = deque(u for u in units if u.keys)
    while pending:
        unit = pending.popleft()
        tracker = UnitTracker(unit)
        receiver, sender = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_forked_unit, args=(unit, registry, sender, os.getpid()), name="sculptbench-unit", daemon=True)
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
        tracker.fail("error", "the executor delivered no result", deliver, isolate=False)


def die_with_parent(parent: int) -> None:
    """Make this process die the moment its parent ``parent`` does (Linux: ``PR_SET_PDEATHSIG``,
    SIGKILL); exit at once if the parent is already gone. Elsewhere a no-op beyond that check."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl: the cache's owner check still holds
            pass
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


#: prctl option: the signal this process gets when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1


def _forked_unit(unit: WorkUnit, registry: Any, sender: Any, coordinator: int) -> None:
    """The body of a forked child: run one unit, sending its events to the coordinator; the child
    dies with the coordinator (it never outlives it to write cache entries)."""
    die_with_parent(coordinator)
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    # A child forked after torch ran an OpenMP region on several threads hangs in its next
    # parallel region; on one thread it never enters one.
    torch.set_num_threads(1)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    _run_reporting(unit, registry, sender.send)


def _run_reporting(unit: WorkUnit, registry: Any, send: Callable[[tuple], None]) -> bool:
    """Run ``unit``, sending its events; an exception is sent as ``("crash", description)``, for
    the coordinator to turn into error rows. ``False`` when the coordinator is gone."""
    try:
        run_unit(unit, registry, send)
    except CoordinatorGone:
        return False
    except Exception as exc:  # noqa: BLE001 - reported as error rows by the coordinator
        try:
            send(("crash", describe_exception(exc)))
        except Exception:  # noqa: BLE001 - the coordinator is gone
            return False
    return True


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
        self.unit: WorkUnit = None
        self.tracker: UnitTracker | None = None
        self.dead = False

    @property
    def deadline(self) -> float | None:
        """When the running stage of the worker's unit runs out of time (``None``: no limit)."""
        return self.tracker.deadline if self.tracker is not None else None

    def assign(self, unit: WorkUnit, timeout: float | None) -> None:
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

        from sculptbench.api import worker_preload

        self.options = options
        if "forkserver" in multiprocessing.get_all_start_methods():
            # A clean server process imports torch and the built-in plugins once; each worker
            # (and each replacement of a dead one) is forked from it in well under a second.
            self.ctx = multiprocessing.get_context("forkserver")
            self.ctx.set_forkserver_preload(worker_preload())
        else:
            self.ctx = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []
        self.start_failures = 0

    def _spawn(self) -> _Worker:
        worker = _Worker(self.ctx, self.options.threads)
        self.workers.append(worker)
        return worker

    def run(self, units: Sequence[WorkUnit], deliver: Callable[[Cell], None]) -> None:
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

    def _assign(self, w: _Worker, unit: WorkUnit, pending: deque, deliver: Callable[[Cell], None]) -> None:
        try:
            w.assign(unit, self.options.timeout)
        except (OSError, EOFError):  # the worker is gone: it is noticed and replaced, the unit waits
            w.release()
            pending.appendleft(unit)
        except Exception as exc:  # noqa: BLE001 - e.g. a task object that cannot be pickled
            w.release()
            UnitTracker(unit).fail("error", f"cannot send the work to a worker process: {describe_exception(exc)}", deliver, isolate=False)

    def _service(self, w: _Worker, pending: deque, deliver: Callable[[Cell], None]) -> None:
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

    def _drain(self, w: _Worker, pending: deque, deliver: Callable[[Cell], None]) -> None:
        try:
            while not w.dead and w.conn.poll():
                self._handle(w, w.conn.recv(), pending, deliver)
        except (EOFError, OSError):
            pass

    def _handle(self, w: _Worker, message: tuple, pending: deque, deliver: Callable[[Cell], None]) -> None:
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
    def _requeue(unit: WorkUnit, pending: deque) -> None:
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

    from sculptbench.api import load_registry, warm_up

    torch.set_num_threads(threads)
    registry = load_registry()
    warm_up(registry)
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads, user_api="blas")  # the BLAS of numpy and scipy, loaded by now: workers x threads <= cores
    conn.send(("ready", os.getpid()))
    while True:
        try:
            unit = conn.recv()
        except (EOFError, OSError):
            return
        if unit is None or not _run_reporting(unit, registry, conn.send):
            return
        conn.send(("done",))



@hookimpl
def register_executors(register):
    """Register the ``local`` executor."""
    register(LocalExecutor())
