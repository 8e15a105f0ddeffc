"""
The daemon's limits on real sockets: keepalive PINGs only after a client
asked for them and dropping a silent client, the --max-clients pause, the
in-flight cap with pipelined calls.
"""

from __future__ import annotations

import socket
import struct
import time

from twisted.internet import defer
from twisted.internet.task import deferLater
from twisted.trial import unittest

from tests.test_server_fixture import InProcessVirtd, inThread
from virtd import xdr
from virtd.protocol import remote
from virtd.protocol.message import (
    KEEPALIVE_PROGRAM,
    VIR_NET_CALL,
    VIR_NET_MESSAGE,
    Header,
    decodeHeader,
    encodeFrame,
)


def frame(proc: int, payload: bytes = b"", serial: int = 0) -> bytes:
    return encodeFrame(Header(remote.PROGRAM, 1, proc, VIR_NET_CALL, serial,
                              0), payload)


def readFrame(s: socket.socket) -> tuple:
    def read(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    (n,) = struct.unpack(">I", read(4))
    body = read(n - 4)
    return decodeHeader(body), body[24:]


class KeepaliveTests(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def setUp(self):
        self.ours = yield InProcessVirtd.forTest(
            self, extraArgs=["--keepalive-interval", "1",
                             "--keepalive-count", "1"])

    def session(self, askKeepalive: bool) -> list:
        """
        Connect, optionally ask feature 10, then stay silent and record
        what the daemon sends and when it hangs up.
        """
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(self.ours.sock)
        events = []
        start = time.monotonic()
        try:
            s.sendall(frame(66))
            readFrame(s)
            if askKeepalive:
                s.sendall(frame(60, xdr.Int.pack(10), 1))
                h, body = readFrame(s)
                events.append(("feature10", xdr.Int.decode(body)))
            s.settimeout(3.5 if not askKeepalive else 10)
            while True:
                try:
                    h, body = readFrame(s)
                except EOFError:
                    events.append(("closed", round(time.monotonic() - start)))
                    return events
                except TimeoutError:
                    events.append(("quiet", None))
                    return events
                events.append(((h.prog, h.proc, h.type, h.serial), None))
        finally:
            s.close()

    @defer.inlineCallbacks
    def test_pingsAfterFeature10(self):
        events = yield inThread(self.session, True)
        ping = ((KEEPALIVE_PROGRAM, 1, VIR_NET_MESSAGE, 0), None)
        self.assertEqual(events[0], ("feature10", 1))
        self.assertIn(ping, events)
        # Silent for interval * (count + 1) = 2 s: dropped.
        self.assertEqual(events[-1][0], "closed")
        self.assertLessEqual(events[-1][1], 4)

    @defer.inlineCallbacks
    def test_noPingsWithoutFeature10(self):
        events = yield inThread(self.session, False)
        self.assertEqual(events, [("quiet", None)])

    @defer.inlineCallbacks
    def test_pingAnswered(self):
        def ping():
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(5)
            s.connect(self.ours.sock)
            try:
                s.sendall(encodeFrame(Header(KEEPALIVE_PROGRAM, 1, 1,
                                             VIR_NET_MESSAGE, 0, 0)))
                return readFrame(s)[0]
            finally:
                s.close()

        h = yield inThread(ping)
        self.assertEqual((h.prog, h.proc, h.type, h.serial, h.status),
                         (KEEPALIVE_PROGRAM, 2, VIR_NET_MESSAGE, 0, 0))


class MaxClientsTests(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def test_pauseAndResume(self):
        """
        At --max-clients the daemon stops accepting (a new client waits in
        the backlog rather than being reset) and serves it once a slot
        frees.
        """
        ours = yield InProcessVirtd.forTest(self,
                                            extraArgs=["--max-clients", "2"])

        def scenario():
            held = []
            for _ in range(2):
                s = socket.socket(socket.AF_UNIX)
                s.settimeout(5)
                s.connect(ours.sock)
                s.sendall(frame(66))
                readFrame(s)
                held.append(s)
            waiting = socket.socket(socket.AF_UNIX)
            waiting.settimeout(1)
            waiting.connect(ours.sock)  # queued in the kernel backlog
            waiting.sendall(frame(66))
            try:
                readFrame(waiting)
                early = True
            except TimeoutError:
                early = False
            held[0].close()
            waiting.settimeout(5)
            h, body = readFrame(waiting)
            for s in held[1:] + [waiting]:
                s.close()
            return early, body

        early, body = yield inThread(scenario)
        self.assertFalse(early, "the third client was served at the limit")
        self.assertEqual(body, b"\0\0\0\1\0\0\0\0")


class PipelineTests(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def test_manyCallsInOneSegment(self):
        """
        100 calls in one write: all answered, none lost, with at most
        --max-client-requests in flight at a time.
        """
        ours = yield InProcessVirtd.forTest(self)

        def scenario():
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(10)
            s.connect(ours.sock)
            try:
                s.sendall(frame(66) + frame(1, remote.BY_NAME[
                    "CONNECT_OPEN"].args.pack(("test:///default", 0)), 1))
                readFrame(s)
                readFrame(s)
                lookup = xdr.String().pack("test")
                s.sendall(b"".join(frame(23, lookup, 100 + i)
                                   for i in range(100)))
                return sorted(readFrame(s)[0].serial for _ in range(100))
            finally:
                s.close()

        serials = yield inThread(scenario)
        self.assertEqual(serials, list(range(100, 200)))


class FrameTimeoutTests(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def test_slowDripDropped(self):
        """
        A client that starts a frame and drips the rest slower than
        --frame-timeout allows is dropped, however often it sends a byte;
        another client is served meanwhile.
        """
        ours = yield InProcessVirtd.forTest(self,
                                            extraArgs=["--frame-timeout", "1"])

        def drip():
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(5)
            s.connect(ours.sock)
            data = frame(66)
            start = time.monotonic()
            try:
                for byte in data:
                    s.sendall(bytes([byte]))
                    time.sleep(0.2)
                return ("completed", s.recv(100))
            except OSError:
                return ("dropped", round(time.monotonic() - start))
            finally:
                s.close()

        def other():
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(5)
            s.connect(ours.sock)
            try:
                s.sendall(frame(66))
                return readFrame(s)[1]
            finally:
                s.close()

        dripping = inThread(drip)
        answer = yield inThread(other)
        self.assertEqual(answer, b"\0\0\0\1\0\0\0\0")
        outcome, seconds = yield dripping
        self.assertEqual(outcome, "dropped")
        self.assertLessEqual(seconds, 3)


class IdleCostTests(unittest.TestCase):
    """
    What an opened, idle client keeps on the daemon (D4 in
    docs/benchmarks.rst measures the bytes).
    """

    timeout = 60

    @defer.inlineCallbacks
    def test_openedClientsHoldNoTimerOrBacklog(self):
        """
        Once a client has opened its hypervisor connection, its handshake
        deadline timer is gone, and a connection that was never paused has
        no frame backlog allocated.
        """
        import gc

        import libvirt
        from twisted.internet import reactor

        from virtd.server.limits import ClientLimits
        from virtd.server.session import ServerPeer

        ours = yield InProcessVirtd.forTest(self)

        def deadlines() -> int:
            return sum(1 for c in reactor.getDelayedCalls()
                       if isinstance(getattr(c.func, "__self__", None), ClientLimits))

        conns = yield inThread(lambda: [libvirt.open(ours.uri()) for _ in range(5)])
        self.addCleanup(inThread, lambda: [c.close() for c in conns])
        peers = [o for o in gc.get_objects() if isinstance(o, ServerPeer)
                 and o.session is not None and o.session.conn is not None]
        self.assertEqual(len(peers), 5)
        self.assertEqual(deadlines(), 0)
        self.assertEqual([p for p in peers if "_backlog" in vars(p)], [])
        # A client that connects and has not opened yet does have one.
        raw = socket.socket(socket.AF_UNIX)
        self.addCleanup(raw.close)
        yield inThread(raw.connect, ours.sock)
        for _ in range(100):
            if deadlines():
                break
            yield deferLater(reactor, 0.02, lambda: None)
        self.assertEqual(deadlines(), 1)
