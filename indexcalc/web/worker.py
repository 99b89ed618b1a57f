"""Derivations in worker processes with a time limit, so that a derivation that runs long
(or a runaway one) is cut off with a message and never hangs the playground's server.

:class:`Workers` keeps a few processes started (``spawn``: no fork of a threaded
server), each answering requests one at a time over a pipe. A request that takes longer
than ``timeout`` seconds ends its process, which is replaced, and the answer is a
message. The function a worker runs is named by ``"module:function"`` (default
:func:`indexcalc.web.render.derivation`); it takes a request dict and returns plain data.

    >>> with Workers(count=1, timeout=60) as workers:
    ...     workers.run({"src": "y[i] = exp(x[i])", "check": False})["index"]
    'dx[i] = dy[i]*y[i]'
"""

from __future__ import annotations

import importlib
import multiprocessing
import queue
import signal
import threading

DEFAULT = "indexcalc.web.render:derivation"
READY = "ready"
#: how long (seconds) a new worker may take to start (import SymPy, warm up)
STARTUP = 120.0
#: how long (seconds) a derivation may run by default
TIMEOUT = 10.0


def _load(name: str):
    module, _, function = name.partition(":")
    return getattr(importlib.import_module(module), function)


def _serve(conn, name: str) -> None:
    """A worker's loop: a request in, its answer out, until the pipe closes. It first says
    that it is ready (loaded and warmed up: SymPy's caches), so that the time limit counts
    the derivation only."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which ends its workers
    failure = None
    try:
        function = _load(name)
    except Exception as e:  # noqa: BLE001 - reported with every answer
        function, failure = None, f"the playground's worker cannot start: {type(e).__name__}: {e}"
    else:
        try:
            function({"src": "y = sum[i](exp(x[i]))", "check": False})
        except Exception:  # noqa: BLE001, S110 - a warm-up only
            pass
    try:
        conn.send(READY)
    except (OSError, ValueError):
        return
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if function is None:
            answer = {"ok": False, "error": failure, "warnings": []}
        else:
            try:
                answer = function(request)
            except BaseException as e:  # noqa: BLE001 - the function should not raise; never a traceback
                answer = {"ok": False, "error": f"internal error: {type(e).__name__}: {e}", "warnings": []}
        try:
            conn.send(answer)
        except (OSError, ValueError):
            return


class _Process:
    def __init__(self, context, name: str):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, name), daemon=True,
                                       name="indexcalc-serve-worker")
        self.process.start()
        child.close()
        self.ready = False

    def wait_ready(self) -> None:
        """Wait for the worker to start (not counted in the time limit)."""
        if not self.ready:
            if not self.conn.poll(STARTUP) or self.conn.recv() != READY:
                raise EOFError("the worker did not start")
            self.ready = True

    def stop(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)


class Workers:
    """``count`` worker processes running ``function`` (``"module:function"``); ``run``
    answers a request within ``timeout`` seconds or says that it ran too long."""

    def __init__(self, function: str = DEFAULT, count: int = 2, timeout: float = TIMEOUT):
        self.function, self.timeout = function, timeout
        self._context = multiprocessing.get_context("spawn")
        self._idle: queue.Queue = queue.Queue()
        self._all: list = []
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(count):
            self._idle.put(self._start())

    def _start(self) -> _Process:
        with self._lock:
            worker = _Process(self._context, self.function)
            self._all.append(worker)
            return worker

    def _replace(self, worker: _Process) -> None:
        worker.stop()
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
            if self._closed:
                return
        self._idle.put(self._start())

    def run(self, request: dict) -> dict:
        """The answer to ``request``; ``{"ok": False, "error": ..., "timeout": True}`` when
        it takes longer than the time limit (its worker is ended and replaced)."""
        try:
            worker = self._idle.get(timeout=self.timeout)
        except queue.Empty:
            return self._late("the playground is busy with other derivations")
        try:
            worker.wait_ready()
            worker.conn.send(request)
            if worker.conn.poll(self.timeout):
                answer = worker.conn.recv()
                self._idle.put(worker)
                return answer
        except (EOFError, OSError, ValueError):  # the worker died (out of memory, say)
            self._replace(worker)
            return {"ok": False, "error": "the derivation failed: its worker process ended", "warnings": []}
        self._replace(worker)
        return self._late("the derivation ran too long")

    def _late(self, what: str) -> dict:
        return {"ok": False, "timeout": True, "warnings": [],
                "error": f"{what} and was cut off after {self.timeout:g} s; try a smaller program, "
                         "fewer inputs in wrt, or indexcalc derive on the command line"}

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers, self._all = self._all, []
        for worker in workers:
            worker.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
