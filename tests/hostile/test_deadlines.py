"""
Deadlines: the handshake (--auth-timeout), TLS handshakes, keepalive, and
input that is not libvirt at all, on both sides.
"""

from __future__ import annotations

import os
import struct
import time

from twisted.internet import defer, protocol, reactor
from twisted.trial import unittest

from tests.hostile.health import HostileCase, HostileDaemon, fdCount
from tests.hostile.peer import (
    PROC_AUTH_LIST,
    PROC_SUPPORTS_FEATURE,
    RawPeer,
    frame,
)
from tests.support import removeTree, shortTempDir
from virtd.errors import LibvirtError


class AuthTimeoutTests(HostileCase):

    daemonArgs = ["--auth-timeout", "1"]

    def timed(self, busy: bool) -> float:
        start = time.monotonic()
        with RawPeer(self.daemon.sock) as peer:
            if busy:
                # Activity does not extend the deadline.
                while time.monotonic() - start < 4:
                    try:
                        peer.roundtrip(PROC_AUTH_LIST)
                    except Exception:
                        break
                    time.sleep(0.2)
            peer.expectClosed(4)
        return time.monotonic() - start

    @defer.inlineCallbacks
    def test_idleDropped(self):
        for busy in (False, True):
            seconds = yield self.inThread(self.timed, busy)
            self.assertTrue(0.8 <= seconds < 2.5, f"busy={busy}: {seconds}")
        self.assertEqual(len(self.logs.matching("--auth-timeout")), 2)

    @defer.inlineCallbacks
    def test_openedKept(self):
        def scenario():
            with RawPeer(self.daemon.sock) as peer:
                peer.handshake()
                time.sleep(1.6)
                return peer.isOpen(0.1) and \
                    peer.roundtrip(PROC_AUTH_LIST)[0][5]

        self.assertEqual((yield self.inThread(scenario)), 0)


class KeepaliveDeadlineTests(HostileCase):

    daemonArgs = ["--keepalive-interval", "1", "--keepalive-count", "2"]

    @defer.inlineCallbacks
    def test_silentPeerClosed(self):
        """
        A client that asked for keepalive and then says nothing is closed
        interval * (count + 1) = 3 s after it last spoke.
        """
        def scenario():
            with RawPeer(self.daemon.sock, 10) as peer:
                peer.handshake()
                peer.roundtrip(PROC_SUPPORTS_FEATURE, struct.pack(">i", 10))
                start = time.monotonic()
                got = peer.expectClosed(8)
                return time.monotonic() - start, got.count(b"keep")

        seconds, pings = yield self.inThread(scenario)
        self.assertTrue(2.5 <= seconds < 4.5, seconds)
        self.assertEqual(pings, 2)


class TLSHandshakeTests(HostileCase):

    daemonArgs = ["--tls-handshake-timeout", "1"]

    def makeHandlers(self):
        return None

    @defer.inlineCallbacks
    def setUp(self):
        # HostileCase's daemon has no TLS listener: add one beside it.
        yield super().setUp()
        self.tls = yield HostileDaemon.forTest(
            self, tls=True, extraArgs=["--tls-handshake-timeout", "1"])
        self.baseFds = fdCount()

    @defer.inlineCallbacks
    def test_stalledHandshakes(self):
        def stall(hello: bytes) -> float:
            start = time.monotonic()
            with RawPeer(("127.0.0.1", self.tls.tlsPort)) as peer:
                if hello:
                    peer.send(hello)
                peer.expectClosed(5)
            return time.monotonic() - start

        for hello in (b"", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"):
            seconds = yield self.inThread(stall, hello)
            self.assertTrue(0.8 <= seconds < 3, seconds)


class GarbageTests(HostileCase):
    """
    Something that is not a libvirt client: the daemon drops it and says
    in its log what the bytes look like.
    """

    @defer.inlineCallbacks
    def test_garbage(self):
        def send(data: bytes) -> bytes:
            with RawPeer(self.daemon.sock) as peer:
                peer.send(data)
                return peer.expectClosed(3)

        for data, looks in (
                (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "an HTTP request"),
                (b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
                 "an SSH banner"),
                (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 40,
                 "TLS handshake"),
                (b"bash: virt-ssh-helper: command not found\n",
                 "text (a shell")):
            self.assertEqual((yield self.inThread(send, data)), b"")
            self.assertTrue(self.logs.matching(looks), looks)


class _Fake(protocol.Protocol):
    """
    A server that is not libvirtd, or a broken one.
    """

    def connectionMade(self):
        if self.factory.mode == "ssh":
            self.transport.write(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")

    def dataReceived(self, data):
        mode = self.factory.mode
        serial = struct.unpack_from(">I", data, 20)[0]
        if mode == "http":
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        elif mode == "serial":
            self.transport.write(frame(PROC_AUTH_LIST, b"\0\0\0\1\0\0\0\0",
                                       serial + 99, mtype=1))
        elif mode == "oversized":
            self.transport.write(struct.pack(">I", 0x7FFFFFFF) + b"\0" * 64)
        elif mode == "short":
            self.transport.write(struct.pack(">I", 12) + b"\0" * 64)


class BrokenServerTests(unittest.TestCase):
    """
    Our client against a server that sends garbage, an unknown serial or
    an oversized reply: a clear error, and nothing left open.
    """

    timeout = 30

    @defer.inlineCallbacks
    def attempt(self, mode: str) -> str:
        import virtd

        directory = shortTempDir("vdf")
        self.addCleanup(removeTree, directory)
        path = f"{directory}/sock"
        factory = protocol.Factory.forProtocol(_Fake)
        factory.mode = mode
        port = reactor.listenUNIX(path, factory)
        before = _sockets()
        try:
            error = yield self.assertFailure(
                virtd.connect(f"test+unix:///default?socket={path}",
                              keepalive=None, timeout=10), LibvirtError)
        finally:
            yield port.stopListening()
        # The listener and the client's socket are both gone.
        for _ in range(50):
            if _sockets() <= before - 1:
                break
            yield _sleep(0.02)
        self.assertEqual(_sockets(), before - 1)
        return str(error)

    @defer.inlineCallbacks
    def test_httpResponse(self):
        message = yield self.attempt("http")
        self.assertIn("HTTP response", message)

    @defer.inlineCallbacks
    def test_sshBanner(self):
        message = yield self.attempt("ssh")
        self.assertIn("SSH banner", message)

    @defer.inlineCallbacks
    def test_unknownSerial(self):
        message = yield self.attempt("serial")
        self.assertIn("matches no call", message)

    @defer.inlineCallbacks
    def test_oversizedReply(self):
        message = yield self.attempt("oversized")
        self.assertIn("exceeds the maximum", message)

    @defer.inlineCallbacks
    def test_shortReply(self):
        message = yield self.attempt("short")
        self.assertIn("below the minimum", message)


def _sockets() -> int:
    """
    Open sockets of this process (other fds come and go with threads).
    """
    n = 0
    for f in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{f}").startswith("socket:")
        except OSError:
            pass
    return n


def _sleep(seconds: float) -> defer.Deferred:
    from twisted.internet.task import deferLater

    return deferLater(reactor, seconds, lambda: None)

