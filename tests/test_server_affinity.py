"""
Tests for L{virtd.server.affinity}: worker threads kept on the reactor
thread's CPU. Real threads, real C{sched_setaffinity}; the CPU the
"reactor" reports is chosen by the test, so that a move is seen even on a
machine with one CPU.
"""

from __future__ import annotations

import os
import threading

from twisted.trial.unittest import SynchronousTestCase

from virtd.server.affinity import CPUFollower, currentCPU
from virtd.server.config import ServerConfig
from virtd.server.pool import WorkerPool

from .test_server_pool import ThreadReactor

ALLOWED = sorted(os.sched_getaffinity(0))


class Parked:
    """
    A thread that registers with a follower, then waits until released.
    """

    def __init__(self, follower: CPUFollower) -> None:
        self.registered = threading.Event()
        self.release = threading.Event()
        self.tid = 0
        self.thread = threading.Thread(target=self._run, args=(follower,),
                                       daemon=True)
        self.thread.start()
        if not self.registered.wait(10):
            raise AssertionError("the thread never registered")

    def _run(self, follower: CPUFollower) -> None:
        self.tid = threading.get_native_id()
        follower.register()
        self.registered.set()
        self.release.wait(30)

    def stop(self) -> None:
        self.release.set()
        self.thread.join(10)


class CPUFollowerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.cpu = ALLOWED[-1]
        self.follower = CPUFollower(lambda: self.cpu)

    def parked(self) -> Parked:
        p = Parked(self.follower)
        self.addCleanup(p.stop)
        return p

    def test_currentCPU(self) -> None:
        """
        On Linux the calling thread's CPU is one it may run on.
        """
        self.assertIn(currentCPU(), ALLOWED)
        self.assertTrue(CPUFollower.available())

    def test_registeredThreadsMoveToTheReactorsCPU(self) -> None:
        """
        A check pins every registered thread to the CPU the checking thread
        reports; a thread registering afterwards goes there at once. The
        checking thread itself is left free.
        """
        first = self.parked()
        self.assertEqual(os.sched_getaffinity(first.tid), set(ALLOWED))
        self.follower.check(1.0)
        self.assertEqual(self.follower.cpu, self.cpu)
        self.assertEqual(os.sched_getaffinity(first.tid), {self.cpu})
        later = self.parked()
        self.assertEqual(os.sched_getaffinity(later.tid), {self.cpu})
        self.assertEqual(os.sched_getaffinity(0), set(ALLOWED))

    def test_followsAMove(self) -> None:
        """
        When the checking thread runs on another CPU at a later check, the
        threads follow it there.
        """
        p = self.parked()
        self.cpu = ALLOWED[0]
        self.follower.check(1.0)
        self.assertEqual(os.sched_getaffinity(p.tid), {ALLOWED[0]})
        self.cpu = ALLOWED[-1]
        self.follower.check(1.0 + self.follower.interval)
        self.assertEqual(os.sched_getaffinity(p.tid), {ALLOWED[-1]})

    def test_looksAtMostEveryInterval(self) -> None:
        """
        Between two looks at least C{interval} seconds pass: calls in
        between cost a comparison and move nothing.
        """
        looks = []
        follower = CPUFollower(lambda: looks.append(1) or self.cpu)
        follower.check(10.0)
        follower.check(10.0 + follower.interval / 2)
        self.assertEqual(len(looks), 1)
        follower.check(10.0 + follower.interval)
        self.assertEqual(len(looks), 2)

    def test_goneThreadsForgotten(self) -> None:
        """
        A registered thread that has exited is dropped at the next move;
        the others still move.
        """
        gone, stays = self.parked(), self.parked()
        gone.stop()
        self.cpu = ALLOWED[0]
        self.follower.check(1.0)
        self.assertEqual(os.sched_getaffinity(stays.tid), {ALLOWED[0]})
        self.assertEqual(self.follower._threads, [stays.tid])

    def test_exitingWorkersUnregister(self) -> None:
        """
        A pool's threads leave the follower as they stop, so that their ids,
        once reused, are never moved.
        """
        reactor = ThreadReactor()
        follower = CPUFollower(lambda: self.cpu)
        pool = WorkerPool(reactor, "u", 2, follower=follower)
        pool.submit(threading.get_native_id, (), lambda *a: None)
        reactor.runQueued()
        self.assertEqual(len(follower._threads), 1)
        self.assertEqual(pool.stop(5), [])
        self.assertEqual(follower._threads, [])

    def test_unknownCPUMovesNothing(self) -> None:
        """
        Where the CPU cannot be told, nothing is pinned.
        """
        follower = CPUFollower(lambda: None)
        p = Parked(follower)
        self.addCleanup(p.stop)
        follower.check(1.0)
        self.assertIsNone(follower.cpu)
        self.assertEqual(os.sched_getaffinity(p.tid), set(ALLOWED))


class PoolFollowsTests(SynchronousTestCase):
    """
    A L{WorkerPool} with a follower: its threads register as they start
    and a submission checks the reactor thread's CPU when due.
    """

    def test_workersPinnedOnSubmit(self) -> None:
        reactor = ThreadReactor()
        cpu = ALLOWED[-1]
        follower = CPUFollower(lambda: cpu)
        pool = WorkerPool(reactor, "f", 2, follower=follower)
        self.addCleanup(pool.stop, 5)
        results: list = []

        def done(tag, ok, result) -> None:
            results.append(result)

        pool.submit(lambda: os.sched_getaffinity(0), (), done)
        reactor.runQueued()
        self.assertEqual(results, [{cpu}])
        self.assertEqual(follower.cpu, cpu)

    def test_daemonDefault(self) -> None:
        """
        C{twistd virtd} keeps its workers on the event loop's CPU unless
        told C{--no-follow-cpu}; the dispatcher then has no follower.
        """
        from twisted.internet.task import Clock

        from virtd.server.dispatch import Dispatcher
        from virtd.server.options import Options

        for argv, expected in [([], True), (["--no-follow-cpu"], False)]:
            options = Options()
            options.parseOptions(["--unix", "/nonexistent"] + argv)
            config = options.toConfig()
            self.assertIs(config.followCPU, expected)
            dispatcher = Dispatcher(Clock(), config, backend=None)
            self.assertIs(dispatcher.follower is not None, expected)
            self.assertIs(dispatcher.normal.follower, dispatcher.follower)
            self.assertIs(dispatcher.priority.follower, dispatcher.follower)
        self.assertTrue(ServerConfig().followCPU)
