"""
A small bounded pool of worker threads for blocking libvirt-python calls.

Why not L{twisted.python.threadpool.ThreadPool}: its threads are not daemon
threads and C{stop()} joins them, so one hung hypervisor call would keep the
daemon from exiting; and its per-call bookkeeping (context propagation,
work-team accounting) costs more than the calls we run. Here a job is one
tuple on a L{queue.SimpleQueue}, and its result comes back to the reactor
thread with one C{callFromThread}.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

from twisted.logger import Logger

__all__ = ["WorkerPool"]

_STOP = None


class WorkerPool:
    """
    Runs functions in at most C{size} threads, started on demand.

    Jobs are submitted on the reactor thread; their completion callbacks run
    on the reactor thread too.

    @ivar busy: jobs submitted and not yet completed (reactor thread only).
    @ivar size: the maximum number of threads.
    """

    log = Logger()

    def __init__(self, reactor: Any, name: str, size: int) -> None:
        """
        @param reactor: the reactor results are delivered to.
        @param name: a name for the threads (shown in debuggers and logs).
        @param size: the maximum number of threads, at least 1.
        """
        if size < 1:
            raise ValueError(f"the {name} pool needs at least one thread")
        self._reactor = reactor
        self.name = name
        self.size = size
        self.busy = 0
        self._queue: SimpleQueue = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._stopped = False

    def submit(self, fn: Callable, args: tuple,
               done: Callable[[Any, bool, Any], None], tag: Any = None) -> None:
        """
        Run C{fn(*args)} in a worker thread, then C{done(tag, ok, result)} on
        the reactor thread: C{ok} is C{True} and C{result} the return value,
        or C{ok} is C{False} and C{result} the exception raised.

        @param tag: passed back to C{done} unchanged (saves a closure per
            call on the hot path).
        """
        self.busy += 1
        if self.busy > len(self._threads) and len(self._threads) < self.size:
            self._spawn()
        self._queue.put((fn, args, done, tag))

    @property
    def idle(self) -> bool:
        """
        Whether a submitted job would start at once.
        """
        return self.busy < self.size

    def _spawn(self) -> None:
        t = threading.Thread(target=self._work, daemon=True,
                             name=f"virtd-{self.name}-{len(self._threads)}")
        self._threads.append(t)
        t.start()

    def _finished(self, done: Callable, tag: Any, ok: bool,
                  result: Any) -> None:
        self.busy -= 1
        done(tag, ok, result)

    def _work(self) -> None:
        get = self._queue.get
        callFromThread = self._reactor.callFromThread
        finished = self._finished
        while True:
            job = get()
            if job is _STOP:
                return
            fn, args, done, tag = job
            try:
                result = fn(*args)
            except BaseException as e:  # delivered to the caller, not lost
                callFromThread(finished, done, tag, False, e)
            else:
                callFromThread(finished, done, tag, True, result)

    def stop(self, timeout: float = 0.0) -> list[str]:
        """
        Ask every thread to exit once the jobs queued before now are done.

        Threads are daemon threads: a call that never returns cannot keep
        the process alive.

        @param timeout: seconds to wait, in total, for the threads to exit.
        @return: the names of threads still running after C{timeout}.
        """
        if not self._stopped:
            self._stopped = True
            for _ in self._threads:
                self._queue.put(_STOP)
        if timeout > 0:
            import time

            deadline = time.monotonic() + timeout
            for t in self._threads:
                t.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in self._threads if t.is_alive()]
