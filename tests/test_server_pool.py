"""
Tests for L{virtd.server.pool.WorkerPool}: real threads, with a clock for
the stall check and a queue standing in for the reactor thread.
"""

from __future__ import annotations

import os
import queue
import threading
import time

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from virtd.server.pool import WorkerPool, nothingReadyCheck


class ThreadReactor(Clock):
    """
    A L{Clock} whose C{callFromThread} queues the call for the test's
    thread, which plays the reactor thread.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fromThreads: queue.SimpleQueue = queue.SimpleQueue()
        self.wakeUps = 0

    def callFromThread(self, f, *args) -> None:
        self.wakeUps += 1
        self.fromThreads.put((f, args))

    def runQueued(self, timeout: float = 5) -> None:
        f, args = self.fromThreads.get(timeout=timeout)
        f(*args)


def whereRun(gate: threading.Event | None = None) -> str:
    """
    A job: wait for C{gate} if given, then say which thread ran it.
    """
    if gate is not None and not gate.wait(10):
        raise AssertionError("gate never opened")
    return threading.current_thread().name


class WorkerPoolTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = ThreadReactor()
        self.results: list = []

    def pool(self, size: int, awake: int | None = None) -> WorkerPool:
        pool = WorkerPool(self.reactor, "t", size, awake)
        self.addCleanup(pool.stop, 5)
        return pool

    def done(self, tag, ok, result) -> None:
        self.results.append((tag, ok, result))

    def waitResults(self, n: int) -> None:
        while len(self.results) < n:
            self.reactor.runQueued()

    def test_oneThreadForSequentialCalls(self) -> None:
        """
        Calls made one after the other all run on the thread that ran last:
        no thread is started or woken beside it.
        """
        pool = self.pool(4)
        for i in range(5):
            pool.submit(whereRun, (), self.done, i)
            self.waitResults(i + 1)
        self.assertEqual({r for _, _, r in self.results}, {"virtd-t-0"})
        self.assertEqual(pool.busy, 0)

    def test_batchPolicy(self) -> None:
        """
        With C{batch}, jobs run in C{SCHED_BATCH} threads (a woken worker
        does not preempt the reactor); without, under the default policy.
        """
        batch = WorkerPool(self.reactor, "b", 1, batch=True)
        self.addCleanup(batch.stop, 5)
        batch.submit(os.sched_getscheduler, (0,), self.done, "batch")
        self.pool(1).submit(os.sched_getscheduler, (0,), self.done, "normal")
        self.waitResults(2)
        self.assertEqual(sorted(self.results),
                         [("batch", True, os.SCHED_BATCH),
                          ("normal", True, os.SCHED_OTHER)])
        # The reactor thread (this one) is left alone.
        self.assertEqual(os.sched_getscheduler(0), os.SCHED_OTHER)

    def test_batchByDefaultInTheDaemon(self) -> None:
        """
        C{twistd virtd} runs its workers as C{SCHED_BATCH} unless told
        C{--no-batch-workers}.
        """
        from virtd.server.options import Options

        for argv, expected in [([], True), (["--no-batch-workers"], False)]:
            options = Options()
            options.parseOptions(["--unix", "/nonexistent"] + argv)
            self.assertIs(options.toConfig().batchWorkers, expected)

    def test_exceptionsDelivered(self) -> None:
        pool = self.pool(1)
        pool.submit(int, ("x",), self.done, "tag")
        self.waitResults(1)
        [(tag, ok, result)] = self.results
        self.assertEqual((tag, ok, type(result)), ("tag", False, ValueError))

    def test_backlogRunsWithoutNewThread(self) -> None:
        """
        With one thread awake, a second call waits for the first to finish
        and then runs on the same thread.
        """
        pool = self.pool(3, awake=1)
        gate = threading.Event()
        pool.submit(whereRun, (gate,), self.done, "a")
        pool.submit(whereRun, (), self.done, "b")
        gate.set()
        self.waitResults(2)
        self.assertEqual(sorted(self.results),
                         [("a", True, "virtd-t-0"), ("b", True, "virtd-t-0")])

    def test_stalledBacklogWakesAnotherThread(self) -> None:
        """
        When the awake threads make no progress for C{stallTime}, one more
        thread is woken for the waiting calls: a slow call does not hold
        up the others for longer than that.
        """
        pool = self.pool(3, awake=1)
        gate = threading.Event()
        self.addCleanup(gate.set)
        pool.submit(whereRun, (gate,), self.done, "slow")
        pool.submit(whereRun, (), self.done, "quick")
        self.assertRaises(queue.Empty, self.reactor.runQueued, 0.1)
        self.reactor.advance(pool.stallTime)
        self.waitResults(1)
        self.assertEqual(self.results, [("quick", True, "virtd-t-1")])
        gate.set()
        self.waitResults(2)
        # Nothing waits any more: the check is not rescheduled.
        self.reactor.advance(pool.stallTime)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_progressingBacklogWakesNobody(self) -> None:
        """
        A backlog that is being worked through does not count as stalled.
        """
        pool = self.pool(3, awake=1)
        gates = [threading.Event() for _ in range(3)]
        for i, gate in enumerate(gates):
            pool.submit(whereRun, (gate,), self.done, i)
        gates[0].set()
        self.waitResults(1)
        # The thread has taken the second call from the backlog meanwhile.
        self.reactor.advance(pool.stallTime)
        gates[1].set()
        gates[2].set()
        self.waitResults(3)
        self.assertEqual({r for _, _, r in self.results}, {"virtd-t-0"})

    def test_quietCompletion(self) -> None:
        """
        A completion L{WorkerPool.urgent} calls not urgent does not wake the
        reactor; L{WorkerPool.catchUp} delivers it.
        """
        pool = self.pool(1)
        finished = threading.Event()
        pool.urgent = lambda tag, ok, result: tag != "quiet"

        def job() -> str:
            return "done"

        def note(tag, ok, result) -> None:
            self.done(tag, ok, result)

        pool.submit(job, (), note, "quiet")
        pool.submit(finished.set, (), note, "marker")
        self.waitResults(2)
        # One wake-up, for the urgent marker; it delivered both in order.
        self.assertEqual(self.reactor.wakeUps, 1)
        self.assertEqual([t for t, _, _ in self.results], ["quiet", "marker"])

        self.results.clear()
        pool.submit(job, (), note, "quiet")
        for _ in range(500):
            if pool._results:
                break
            time.sleep(0.01)
        self.assertEqual((self.results, pool.busy), ([], 1))
        pool.catchUp()
        self.assertEqual((self.results, pool.busy),
                         ([("quiet", True, "done")], 0))
        self.assertEqual(self.reactor.wakeUps, 1)

    def test_stop(self) -> None:
        """
        C{stop} lets queued calls finish, then every thread exits.
        """
        pool = WorkerPool(self.reactor, "t", 2, awake=1)
        gate = threading.Event()
        pool.submit(whereRun, (gate,), self.done, "a")
        pool.submit(whereRun, (), self.done, "b")
        self.assertEqual(len(self.reactor.getDelayedCalls()), 1)
        pool.stop()
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        gate.set()
        self.assertEqual(pool.stop(5), [])
        self.waitResults(2)
        self.assertEqual(len(self.results), 2)


class NothingReadyTests(SynchronousTestCase):
    """
    L{nothingReadyCheck} asks the reactor's epoll object, without consuming
    anything.
    """

    def test_epoll(self) -> None:
        from twisted.internet.abstract import FileDescriptor
        from twisted.internet.epollreactor import EPollReactor

        reactor = EPollReactor()
        self.addCleanup(reactor._poller.close)
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        self.addCleanup(os.close, w)

        class Reader(FileDescriptor):
            def fileno(self) -> int:
                return r

            def doRead(self) -> None:
                pass

        reader = Reader(reactor)
        reactor.addReader(reader)
        self.addCleanup(reactor.removeReader, reader)
        nothingReady = nothingReadyCheck(reactor)
        self.assertTrue(nothingReady())
        os.write(w, b"x")
        self.assertFalse(nothingReady())
        # Level-triggered: still ready until read.
        self.assertFalse(nothingReady())
        os.read(r, 1)
        self.assertTrue(nothingReady())

    def test_otherReactors(self) -> None:
        self.assertIsNone(nothingReadyCheck(Clock()))
