"""
Worker threads that follow the event loop from CPU to CPU.

All of the daemon's Python runs under one interpreter lock, so its threads
take turns rather than run side by side; each turn is a hand-over of the
lock, and a hand-over between two CPUs costs a cross-CPU wake-up (on a
virtual machine, often the wake-up of a halted virtual CPU), where one on
the same CPU is a plain context switch. Left alone, the scheduler spreads
the reactor thread and the workers over the CPUs, and measured under load
(docs/benchmarks.rst, *Workers on the event loop's CPU*) the daemon served
calls at about a third of its rate in the periods when they were apart.

A L{CPUFollower} pins every worker thread to the CPU the reactor thread is
running on, checked at most every L{CPUFollower.interval} seconds when a
job is submitted. The reactor thread itself stays free to move: the
scheduler still balances it against other processes, and the workers
follow it at the next check. What is given up is running a worker's
lock-free C work (a hypervisor call's own computing, TLS encryption) on
another CPU at the same time as the reactor; C{--no-follow-cpu} turns the
following off.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable

from twisted.logger import Logger

__all__ = ["CPUFollower", "currentCPU"]

log = Logger()


def _findGetCPU() -> Callable[[], int] | None:
    """
    C{sched_getcpu} from the C library (a vDSO call on Linux: no system
    call), or L{None} where there is none.
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).sched_getcpu
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_int
    fn.argtypes = []
    return fn


_getCPU = _findGetCPU()


def currentCPU() -> int | None:
    """
    @return: the CPU the calling thread runs on, or L{None} where that
        cannot be told.
    """
    if _getCPU is None:
        return None
    cpu = _getCPU()
    return cpu if cpu >= 0 else None


class CPUFollower:
    """
    Keeps registered threads on the CPU of the thread that calls L{check}
    (the reactor thread).

    @ivar cpu: the CPU the registered threads are pinned to, or L{None}
        before the first L{check}.
    @ivar due: the C{time.monotonic()} value before which L{check} does
        nothing.
    @ivar interval: seconds between two looks at the CPU.
    """

    interval = 0.02

    def __init__(self, getCPU: Callable[[], int | None] = currentCPU) -> None:
        """
        @param getCPU: tells the calling thread's CPU (a seam for tests).
        """
        self._getCPU = getCPU
        self.cpu: int | None = None
        self.due = 0.0
        # Native thread ids; appended by the threads themselves (list
        # appends are atomic), read and pruned on the reactor thread.
        self._threads: list[int] = []
        self._lock = threading.Lock()

    @staticmethod
    def available() -> bool:
        """
        Whether this platform can tell a thread's CPU and pin threads.
        """
        return _getCPU is not None

    def register(self) -> None:
        """
        Called by a worker thread when it starts: follow from now on, and
        go to the current CPU at once.
        """
        tid = threading.get_native_id()
        # Pinned under the lock: a move by check() in between would
        # otherwise be undone by pinning to the CPU read before it.
        with self._lock:
            self._threads.append(tid)
            if self.cpu is not None:
                self._pin(tid, self.cpu)

    def unregister(self) -> None:
        """
        Called by a registered thread as it exits: its id may be given to
        another thread, of this process or another, which must not be
        moved.
        """
        tid = threading.get_native_id()
        with self._lock:
            self._threads = [t for t in self._threads if t != tid]

    def check(self, now: float) -> None:
        """
        Reactor thread: when L{due}, look at the CPU this thread runs on and
        move every registered thread there if it changed.

        @param now: C{time.monotonic()}.
        """
        if now < self.due:
            return
        self.due = now + self.interval
        cpu = self._getCPU()
        if cpu is None or cpu == self.cpu:
            return
        with self._lock:
            self.cpu = cpu
            threads = list(self._threads)
        gone = [tid for tid in threads if not self._pin(tid, cpu)]
        if gone:
            with self._lock:
                self._threads = [t for t in self._threads if t not in gone]

    def _pin(self, tid: int, cpu: int) -> bool:
        """
        @return: C{False} if the thread no longer exists.
        """
        try:
            os.sched_setaffinity(tid, {cpu})
        except ProcessLookupError:
            return False
        except OSError as e:
            # E.g. a CPU set changed under us; the next move may work.
            log.debug("could not move thread {tid} to CPU {cpu}: {e}",
                      tid=tid, cpu=cpu, e=e)
        return True
