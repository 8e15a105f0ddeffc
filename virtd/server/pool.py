"""
A small bounded pool of worker threads for blocking libvirt-python calls.

Why not L{twisted.python.threadpool.ThreadPool}: its threads are not daemon
threads and C{stop()} joins them, so one hung hypervisor call would keep the
daemon from exiting; and its per-call bookkeeping (context propagation,
work-team accounting) costs more than the calls we run.

Why not one shared L{queue.SimpleQueue} either: with several idle threads
blocked on it, every job wakes one thread for the job and, when that thread
takes it, a second one for nothing, which then fights the first for the GIL.
Here each idle thread sleeps on its own lock, on a stack: a job wakes exactly
one thread, the one that ran last (its stack and caches are warm), and a
thread that finishes a job takes the next waiting one without sleeping.
A job's result goes on a deque, and the reactor thread is woken with
C{callFromThread} only when no wake-up is pending already: under load one
wake-up (one pipe write, one reactor iteration) delivers many completions.

A completion with nothing left to say to anyone (its reply was sent from
the worker) need not wake the reactor at all: L{WorkerPool.urgent} decides,
and the reactor takes such completions at its next L{WorkerPool.catchUp}.

A worker woken for the only call in flight, on a quiet daemon (no call
for L{WorkerPool.quietTime} before it) with no descriptor of the reactor
ready, gets the GIL at once (C{time.sleep(0)} on the reactor thread)
instead of after the rest of the reactor's loop iteration: on one client's
sequential calls that is a tenth of the round trip. Under load the reactor
has more to do at once and keeps the GIL.

With C{batch}, the threads run under Linux's C{SCHED_BATCH} policy: the
same fair share of CPU, but a thread woken for a job no longer preempts the
thread that woke it. Without it, the woken worker may switch the reactor
thread out on the spot, with the GIL held, only to find the GIL taken and
sleep again: two context switches for nothing. Measured in
docs/benchmarks.rst: a gain under load, about 5 % lost on one client's
sequential calls.
"""

from __future__ import annotations

import os
import select
import threading
from collections import deque
from collections.abc import Callable
from time import monotonic, sleep
from typing import Any

from twisted.logger import Logger

from virtd.server.affinity import CPUFollower

__all__ = ["WorkerPool"]

_STOP = ("stop",)


def nothingReadyCheck(reactor: Any) -> Callable[[], bool] | None:
    """
    A function telling whether no descriptor of C{reactor} is ready, by a
    zero-timeout poll of its epoll object (level-triggered, so asking
    consumes nothing); C{None} for reactors without one.
    """
    epoll = getattr(select, "epoll", None)
    poller = getattr(reactor, "_poller", None)
    if epoll is None or not isinstance(poller, epoll):
        return None
    poll = poller.poll

    def nothingReady() -> bool:
        try:
            return not poll(0, 1)
        except OSError:
            return False

    return nothingReady


def _batchPolicy() -> None:
    """
    Put the calling thread under C{SCHED_BATCH}, where there is one (Linux
    applies the policy to the thread, not the process).
    """
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is None:
        return
    try:
        os.sched_setscheduler(0, policy, os.sched_param(0))
    except OSError:
        pass  # a sandbox refusing it leaves the default policy


class _Sleeper:
    """
    An idle worker thread's wake-up: it sleeps acquiring C{wake} (held
    while it sleeps); whoever gives it C{job} releases C{wake}.
    """

    __slots__ = ("wake", "job")

    def __init__(self) -> None:
        self.wake = threading.Lock()
        self.wake.acquire()
        self.job: tuple | None = None


class WorkerPool:
    """
    Runs functions in at most C{size} threads, started on demand.

    Jobs are submitted on the reactor thread; their completion callbacks run
    on the reactor thread too.

    @ivar busy: jobs submitted and not yet completed (reactor thread only).
    @ivar size: the maximum number of threads.
    """

    log = Logger()

    #: Seconds the backlog may make no progress before one more thread is
    #: woken for it (see C{awake}).
    stallTime = 0.002
    #: Seconds without a call before which a daemon counts as quiet enough
    #: to hand the GIL to a woken worker at once (see the module's text).
    quietTime = 0.0001

    def __init__(self, reactor: Any, name: str, size: int,
                 awake: int | None = None, batch: bool = False,
                 follower: CPUFollower | None = None) -> None:
        """
        @param reactor: the reactor results are delivered to.
        @param name: a name for the threads (shown in debuggers and logs).
        @param size: the maximum number of threads, at least 1.
        @param awake: how many threads are woken for jobs at once (default
            C{size}). Beyond that, jobs wait in the backlog for a running
            thread to finish, which costs no wake-up; but when the backlog
            makes no progress for L{stallTime} seconds (every running
            thread waits on a slow call), one more thread is woken, up to
            C{size}. In CPython only one thread runs Python at a time, so
            waking more threads for quick calls only adds GIL hand-offs.
        @param batch: run the threads as C{SCHED_BATCH} where the platform
            has it (see the module docstring); elsewhere this does nothing.
        @param follower: keeps the threads on the reactor thread's CPU
            (see L{virtd.server.affinity}), or L{None}.
        """
        if size < 1:
            raise ValueError(f"the {name} pool needs at least one thread")
        self._reactor = reactor
        self.name = name
        self.size = size
        self.awake = size if awake is None else max(1, min(awake, size))
        self.batch = batch
        self.busy = 0
        # Threads running or about to run jobs (not sleeping), jobs taken
        # from the backlog so far, and the stall check: all under _mutex
        # except the timer, which is reactor-only.
        self._running = 0
        self._taken = 0
        self._stallCall: Any = None
        self._takenAtCheck = 0
        # Jobs no thread was free for, oldest first, and the idle threads
        # (their wake-up locks, held while they sleep), last idle on top;
        # both only under _mutex.
        self._mutex = threading.Lock()
        self._backlog: deque = deque()
        self._idle: list[_Sleeper] = []
        # Completed jobs, (done, tag, ok, result), appended by workers and
        # taken by _deliver on the reactor thread.
        self._results: deque = deque()
        self._wakePending = False
        #: Called on the reactor thread after each batch of completions
        #: (e.g. to write the replies they made in one go), or C{None}.
        self.afterDelivery: Callable[[], None] | None = None
        #: Called in the worker thread as C{urgent(tag, ok, result)} after
        #: a job: false lets the completion wait for the reactor's next
        #: L{catchUp} instead of waking it. C{None}: always wake.
        self.urgent: Callable[[Any, bool, Any], bool] | None = None
        self._threads: list[threading.Thread] = []
        self._stopped = False
        self._nothingReady = nothingReadyCheck(reactor)
        self._lastSubmit = 0.0
        self._quietBefore = 0.0
        self.follower = follower

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
        now = monotonic()
        self._quietBefore, self._lastSubmit = now - self._lastSubmit, now
        follower = self.follower
        if follower is not None and now >= follower.due:
            follower.check(now)
        self._hand((fn, args, done, tag))

    def _hand(self, job: tuple | None, force: bool = False) -> None:
        # Reactor thread: to an idle thread, else a new one, else the
        # backlog (the first running thread to finish takes it).
        spawn = False
        with self._mutex:
            sleeper = None
            if force or self._running < self.awake:
                if self._idle:
                    sleeper = self._idle.pop()
                    self._running += 1
                elif len(self._threads) < self.size and not self._stopped:
                    spawn = True
                    self._running += 1
            if sleeper is None:
                self._backlog.append(job)
        if sleeper is not None:
            sleeper.job = job
            sleeper.wake.release()
            if (self.busy == 1 and self._quietBefore > self.quietTime
                    and self._nothingReady is not None
                    and self._nothingReady()):
                # The only call in flight, on a quiet daemon, and nothing
                # else ready: the reactor thread would only finish its loop
                # iteration and sleep, with the woken worker waiting for
                # the GIL until then. Hand the GIL over now.
                sleep(0)
        elif spawn:
            self._spawn()
        elif self._stallCall is None and not self._stopped:
            self._takenAtCheck = self._taken
            self._stallCall = self._reactor.callLater(self.stallTime,
                                                      self._checkStall)

    def _checkStall(self) -> None:
        """
        Reactor thread: wake one more thread when the backlog made no
        progress since the last check (the running threads are stuck in
        slow calls); check again while anything waits.
        """
        self._stallCall = None
        sleeper = job = None
        spawn = False
        with self._mutex:
            if not self._backlog or self._stopped:
                return
            if self._taken == self._takenAtCheck:
                if self._idle:
                    sleeper = self._idle.pop()
                    job = self._backlog.popleft()
                    self._running += 1
                elif len(self._threads) < self.size:
                    spawn = True
                    self._running += 1
            self._takenAtCheck = self._taken
        if sleeper is not None:
            sleeper.job = job
            sleeper.wake.release()
        elif spawn:
            self._spawn()
        self._stallCall = self._reactor.callLater(self.stallTime,
                                                  self._checkStall)

    @property
    def idle(self) -> bool:
        """
        Whether fewer jobs are in flight than the pool has threads at most
        (a job submitted now need not wait for one to finish, though it may
        wait for the stall check when C{awake} threads are running).
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

    def catchUp(self) -> None:
        """
        Reactor thread: deliver the completions that did not wake it (see
        L{urgent}) now. Whoever reads state those completions change
        (C{busy}, a client's calls in flight) calls this first.
        """
        if self._results:
            self._deliver()

    def _work(self) -> None:
        if self.batch:
            _batchPolicy()
        if self.follower is not None:
            self.follower.register()
        me = _Sleeper()
        mutex = self._mutex
        backlog = self._backlog
        idle = self._idle
        append = self._results.append
        callFromThread = self._reactor.callFromThread
        deliver = self._deliver
        job = None
        while True:
            if job is None:
                with mutex:
                    if backlog:
                        job = backlog.popleft()
                        self._taken += 1
                    else:
                        idle.append(me)
                        self._running -= 1
                if job is None:
                    me.wake.acquire()
                    job, me.job = me.job, None
            if job is _STOP:
                if self.follower is not None:
                    self.follower.unregister()
                return
            fn, args, done, tag = job
            job = None
            try:
                ok, result = True, fn(*args)
            except BaseException as e:  # delivered to the caller, not lost
                ok, result = False, e
            # Appended before urgent() looks at anything: a reactor that
            # changes what urgent() reads and then catches up sees it.
            append((done, tag, ok, result))
            if not self._wakePending:
                urgent = self.urgent
                if urgent is None or urgent(tag, ok, result):
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
            for _ in range(len(self._threads)):
                self._hand(_STOP, force=True)
            if self._stallCall is not None and self._stallCall.active():
                self._stallCall.cancel()
            self._stallCall = None
        if timeout > 0:
            import time

            deadline = time.monotonic() + timeout
            for t in self._threads:
                t.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in self._threads if t.is_alive()]
