"""
The invariants every hostile case ends with, and the daemon they are
checked on.

L{HostileCase} starts our daemon in-process (L{HostileDaemon}), records a
baseline (open file descriptors, resident memory) once a well-behaved client
has been served, and after the test -- as its first cleanup, so no case
can forget -- checks that:

  - the daemon still runs;
  - a second client completes AUTH_LIST, CONNECT_OPEN, CONNECT_GET_HOSTNAME
    and CONNECT_CLOSE within a second;
  - the process's open file descriptors come back to the baseline;
  - resident memory stays within L{MEMORY_SLACK} of the baseline;
  - nothing was logged as a failure (an unhandled error) by the daemon.
"""

from __future__ import annotations

import os
import time
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.logger import globalLogPublisher
from twisted.trial import unittest

from tests.hostile.peer import secondClient
from tests.test_server_fixture import InProcessVirtd, inThread
from virtd.server.options import Options
from virtd.server.service import VirtdService

__all__ = ["HostileCase", "HostileDaemon", "LogWatch", "fdCount", "rssKiB"]

#: How far resident memory may grow over a case (KiB).
MEMORY_SLACK = 256 * 1024


def fdCount(pid: int | str = "self") -> int:
    """
    Open file descriptors of a process.
    """
    return len(os.listdir(f"/proc/{pid}/fd"))


def rssKiB(pid: int | str = "self") -> int:
    """
    Resident memory of a process, in KiB (C{VmRSS}).
    """
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


def _describeFds() -> list[str]:
    out = []
    for fd in sorted(os.listdir("/proc/self/fd"), key=int):
        try:
            out.append(f"{fd}={os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            pass
    return out


class HostileDaemon(InProcessVirtd):
    """
    L{InProcessVirtd} whose handlers can be replaced, so a test can make
    one procedure raise or hang.
    """

    def __init__(self, handlers: dict | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.handlers = handlers

    def startService(self) -> defer.Deferred:
        options = Options()
        options.parseOptions(self.argv())
        self.service = VirtdService(options.config, handlers=self.handlers)
        self.service.startService()
        return self.service.whenListening.addCallback(self._listening)


class LogWatch:
    """
    Collects the log events emitted while a test runs.
    """

    def __init__(self) -> None:
        self.events: list[dict] = []

    def __call__(self, event: dict) -> None:
        self.events.append(event)

    def start(self) -> None:
        globalLogPublisher.addObserver(self)

    def stop(self) -> None:
        globalLogPublisher.removeObserver(self)

    def texts(self) -> list[str]:
        from twisted.logger import formatEvent

        return [formatEvent(e) for e in self.events]

    def matching(self, *words: str) -> list[str]:
        """
        Formatted messages that contain every one of C{words}.
        """
        return [t for t in self.texts() if all(w in t for w in words)]

    def failures(self) -> list[str]:
        """
        Events that carry a failure (C{log.failure}, unhandled errors in
        Deferreds, errors logged by the reactor).
        """
        from twisted.logger import formatEvent

        out = []
        for e in self.events:
            if "log_failure" in e or e.get("isError"):
                f = e.get("log_failure")
                out.append(formatEvent(e) + (f"\n{f.getTraceback()}"
                                             if f is not None else ""))
        return out

    def clear(self) -> None:
        self.events.clear()


class HostileCase(unittest.TestCase):
    """
    Base class: a fresh daemon per test and the invariants at the end.

    @cvar daemonArgs: extra command-line options for the daemon.
    @cvar handlers: replacement handler table, or C{None}.
    @cvar checkFds: whether to check file descriptors (off for cases that
        deliberately leave a worker thread holding a connection).
    """

    timeout = 90
    daemonArgs: list[str] = []
    handlers: dict | None = None
    checkFds = True

    @defer.inlineCallbacks
    def setUp(self):
        self.logs = LogWatch()
        self.logs.start()
        self.addCleanup(self.logs.stop)
        self.daemon = yield HostileDaemon.forTest(
            self, handlers=self.makeHandlers(), extraArgs=list(self.daemonArgs))
        yield inThread(secondClient, self.daemon.sock, 5.0)
        yield self.settle()
        self.baseFds = fdCount()
        self.baseRss = rssKiB()
        # Cleanups run last-in first-out, before tearDown in this trial:
        # added last, the invariants run while the daemon still does.
        self.addCleanup(self.assertHealthy)

    def makeHandlers(self) -> dict | None:
        return self.handlers

    def settle(self, seconds: float = 0.05) -> defer.Deferred:
        return deferLater(reactor, seconds, lambda: None)

    def inThread(self, f: Any, *args: Any, **kw: Any) -> defer.Deferred:
        return inThread(f, *args, **kw)

    @defer.inlineCallbacks
    def assertHealthy(self):
        """
        The invariants; tests with several sub-cases call it after each.
        """
        self.assertTrue(self.daemon.service.running, "the daemon stopped")
        took, name = yield inThread(secondClient, self.daemon.sock, 1.0)
        self.assertTrue(name)
        if self.checkFds:
            deadline = time.monotonic() + 5
            while fdCount() > self.baseFds and time.monotonic() < deadline:
                yield self.settle(0.05)
            self.assertLessEqual(
                fdCount(), self.baseFds,
                f"file descriptors: {fdCount()} open, {self.baseFds} at the "
                f"start: {_describeFds()}")
        grown = rssKiB() - self.baseRss
        self.assertLess(grown, MEMORY_SLACK,
                        f"resident memory grew by {grown} KiB")
        failures = self.logs.failures()
        self.assertEqual(failures, [], "the daemon logged failures")
