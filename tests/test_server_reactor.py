"""
Tests for L{virtd.server.reactor}: the daemon's epoll reactor, driven one
iteration at a time over real socket pairs, and installed by C{twistd
virtd} (see also C{tests.test_server_service.TwistdTests}).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from twisted.python import context, log
from twisted.trial.unittest import SynchronousTestCase

from virtd.server.reactor import DaemonReactor, installIfNoneChosen

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Reader:
    """
    A readable end of a socket pair, recording what the reactor does to it.
    """

    def __init__(self, sock: socket.socket, onRead=None) -> None:
        self.sock = sock
        self.onRead = onRead
        self.reads: list[bytes] = []
        self.lost: list = []
        self.systems: list = []

    def fileno(self) -> int:
        return self.sock.fileno()

    def logPrefix(self) -> str:
        return "Reader-prefix"

    def doRead(self):
        self.systems.append(context.get(log.ILogContext, {}).get("system"))
        self.reads.append(self.sock.recv(100))
        # What a transport returns: a reason to disconnect, or None.
        return self.onRead() if self.onRead is not None else None

    def connectionLost(self, reason) -> None:
        self.lost.append(reason)


class DaemonReactorTests(SynchronousTestCase):
    """
    L{DaemonReactor} hands ready descriptors to Twisted's own handling,
    without the legacy log context.
    """

    def setUp(self) -> None:
        self.reactor = DaemonReactor()
        self.sockets: list[socket.socket] = []
        self.addCleanup(self.closeReactor)

    def closeReactor(self) -> None:
        self.reactor.removeAll()
        self.reactor.waker.connectionLost(None)
        self.reactor._poller.close()
        for s in self.sockets:
            s.close()

    def reader(self, onRead=None) -> tuple[Reader, socket.socket]:
        ours, theirs = socket.socketpair()
        self.sockets += [ours, theirs]
        r = Reader(ours, onRead)
        self.reactor.addReader(r)
        return r, theirs

    def test_readDispatched(self) -> None:
        """
        A readable descriptor's C{doRead} runs in the iteration that sees
        it, in the caller's log context: no per-event context naming the
        descriptor (under C{EPollReactor} the handler would see its
        C{logPrefix} as the system).
        """
        outside = context.get(log.ILogContext, {}).get("system")
        r, theirs = self.reader()
        theirs.sendall(b"ping")
        self.reactor.doIteration(1)
        self.assertEqual(r.reads, [b"ping"])
        self.assertEqual(r.systems, [outside])
        self.assertNotEqual(outside, "Reader-prefix")
        self.assertEqual(r.lost, [])

    def test_idleIterationReturns(self) -> None:
        """
        With nothing ready, an iteration returns after its timeout without
        calling any handler.
        """
        r, theirs = self.reader()
        self.reactor.doIteration(0)
        self.assertEqual(r.reads, [])

    def test_hangUpIsConnectionDone(self) -> None:
        """
        A reader reporting the end of the stream is disconnected cleanly,
        as in Twisted's reactor.
        """
        from twisted.internet.error import ConnectionDone

        r, theirs = self.reader(
            lambda: ConnectionDone() if r.reads[-1] == b"" else None)
        theirs.close()
        self.reactor.doIteration(1)
        self.assertEqual(len(r.lost), 1)
        r.lost[0].trap(ConnectionDone)
        self.assertNotIn(r, self.reactor.getReaders())

    def test_handlerErrorDisconnectsOnlyThatDescriptor(self) -> None:
        """
        An exception from one descriptor's handler is logged and that
        descriptor is dropped; another one ready in the same iteration is
        still served.
        """

        def boom() -> None:
            raise ZeroDivisionError("handler bug")

        bad, badPeer = self.reader(boom)
        good, goodPeer = self.reader()
        badPeer.sendall(b"x")
        goodPeer.sendall(b"y")
        self.reactor.doIteration(1)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(len(bad.lost), 1)
        bad.lost[0].trap(ZeroDivisionError)
        self.assertEqual(good.reads, [b"y"])
        self.assertEqual(good.lost, [])
        self.assertIn(good, self.reactor.getReaders())
        self.assertNotIn(bad, self.reactor.getReaders())

    def test_removedByEarlierEventSkipped(self) -> None:
        """
        A descriptor removed by the handler of an earlier event in the same
        iteration is not handled (its number may already belong to
        something else).
        """
        readers: list[Reader] = []

        def removeOther(me: int) -> None:
            self.reactor.removeReader(readers[1 - me])

        first, firstPeer = self.reader(lambda: removeOther(0))
        second, secondPeer = self.reader(lambda: removeOther(1))
        readers += [first, second]
        firstPeer.sendall(b"1")
        secondPeer.sendall(b"2")
        self.reactor.doIteration(1)
        self.assertEqual(len(first.reads) + len(second.reads), 1)


class InstallTests(SynchronousTestCase):
    """
    L{installIfNoneChosen} installs the daemon's reactor only where no
    reactor was chosen.
    """

    def test_notWhenInstalled(self) -> None:
        """
        Under trial a reactor is installed: nothing changes.
        """
        from twisted.internet import reactor

        self.assertIsNone(installIfNoneChosen())
        from twisted.internet import reactor as after

        self.assertIs(after, reactor)

    def test_installsInAFreshProcess(self) -> None:
        """
        In a process that has not imported a reactor, it becomes the
        global reactor and runs.
        """
        script = (
            "from virtd.server.reactor import installIfNoneChosen\n"
            "installed = installIfNoneChosen()\n"
            "from twisted.internet import reactor\n"
            "reactor.callLater(0, reactor.stop)\n"
            "reactor.run()\n"
            "print(type(reactor).__name__, installed is reactor)\n")
        out = subprocess.run([sys.executable, "-c", script], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.split(), ["DaemonReactor", "True"])
