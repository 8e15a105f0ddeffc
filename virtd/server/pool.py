"""
A small bounded pool of worker threads for blocking libvirt-python calls.

Why not L{twisted.python.threadpool.ThreadPool}: its threads are not daemon
threads and C{stop()} joins them, so one hung hypervisor call would keep the
daemon from exiting; and its per-call bookkeeping (context propagation,
work-team accounting) costs more than the calls we run. Here a job is one
tuple on a L{queue.SimpleQueue}; its result goes on a deque, and the
reactor thread is woken with C{callFromThread} only when no wake-up is
pending already: under load one wake-up (one pipe write, one reactor
iteration) delivers many completions.
"""

from __future__ import annotations

import threading
from collections import deque
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
        # Completed jobs, (done, tag, ok, result), appended by workers and
        # taken by _deliver on the reactor thread.
        self._results: deque = deque()
        self._wakePending = False
        #: Called on the reactor thread after each batch of completions
        #: (e.g. to write the replies they made in one go), or C{None}.
        self.afterDelivery: Callable[[], None] | None = None
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

    def _deliver(self) -> None:
        """
        Reactor thread: hand every completed job to its C{done}.
        """
        # Clear the flag before taking results: a worker that appends after
        # this point either is seen by the loop below or wakes us again.
        self._wakePending = False
        results = self._results
        pop = results.popleft
        while results:
            done, tag, ok, result = pop()
            self.busy -= 1
            try:
                done(tag, ok, result)
            except Exception:
                self.log.failure("completion callback {done!r} failed",
                                 done=done)
        after = self.afterDelivery
        if after is not None:
            after()

    def _work(self) -> None:
        get = self._queue.get
        append = self._results.append
        callFromThread = self._reactor.callFromThread
        deliver = self._deliver
        while True:
            job = get()
            if job is _STOP:
                return
            fn, args, done, tag = job
            try:
                append((done, tag, True, fn(*args)))
            except BaseException as e:  # delivered to the caller, not lost
                append((done, tag, False, e))
            if not self._wakePending:
                self._wakePending = True
                callFromThread(deliver)

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
