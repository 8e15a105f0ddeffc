"""
Tests for L{virtd.rpc.plainread}: which transports read with C{recv}, and
that bytes still flow and an end of stream is still seen through them.
"""

from __future__ import annotations

import os

from twisted.internet import defer, reactor
from twisted.internet.endpoints import UNIXClientEndpoint, connectProtocol
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IFileDescriptorReceiver
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.internet.testing import StringTransport
from twisted.trial import unittest
from zope.interface import implementer

from virtd.rpc.plainread import readPlainly


class Collect(Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.lost: defer.Deferred = defer.Deferred()
        self.made: defer.Deferred = defer.Deferred()
        self.plain: bool | None = None

    def connectionMade(self) -> None:
        self.plain = readPlainly(self.transport)
        self.made.callback(self)

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason) -> None:
        self.lost.callback([reason])


@implementer(IFileDescriptorReceiver)
class TakesDescriptors(Collect):
    def fileDescriptorReceived(self, descriptor: int) -> None:
        os.close(descriptor)


@defer.inlineCallbacks
def connectedPair(testCase: unittest.TestCase, makeServer: type):
    """
    A real unix socket connection: (server protocol, a L{Collect} client),
    once the server protocol is connected.
    """
    path = testCase.mktemp()
    server: list = []

    def build(addr):
        p = makeServer()
        server.append(p)
        return p

    port = reactor.listenUNIX(path, _Build(build))
    testCase.addCleanup(port.stopListening)
    client = Collect()
    yield connectProtocol(UNIXClientEndpoint(reactor, path), client)
    while not server or server[0].transport is None:
        yield deferLaterZero()
    # Not kept here: a test may check the protocol is freed.
    return server.pop(), client


class PlainReadTests(unittest.TestCase):
    def connectedPair(self, serverProtocol: type = Collect):
        return connectedPair(self, serverProtocol)

    @defer.inlineCallbacks
    def test_unixBothEnds(self):
        """
        Twisted's unix server and client transports read with C{recv}
        afterwards; bytes arrive whole both ways, and a close is seen as a
        clean end of stream.
        """
        server, client = yield self.connectedPair()
        self.assertTrue(server.plain)
        self.assertTrue(client.plain)
        client.transport.write(b"x" * 100000)
        server.transport.write(b"hello")
        while len(server.data) < 100000 or client.data != b"hello":
            yield deferLaterZero()
        self.assertEqual(server.data, b"x" * 100000)
        client.transport.loseConnection()
        [reason] = yield server.lost
        self.assertTrue(reason.check(ConnectionDone), reason)
        yield client.lost

    @defer.inlineCallbacks
    def test_descriptorReceiverKeepsRecvmsg(self):
        """
        A protocol that takes descriptors keeps Twisted's C{recvmsg}.
        """
        server, client = yield self.connectedPair(TakesDescriptors)
        self.assertFalse(server.plain)
        self.assertNotIn("doRead", vars(server.transport))
        client.transport.loseConnection()
        yield server.lost

    def test_otherTransports(self):
        """
        Anything but Twisted's own unix transports is left alone.
        """
        t = StringTransport()
        t.protocol = Collect()
        self.assertFalse(readPlainly(t))
        self.assertNotIn("doRead", vars(t))


class _Build(Factory):
    def __init__(self, build) -> None:
        self.build = build

    def buildProtocol(self, addr):
        return self.build(addr)


def deferLaterZero() -> defer.Deferred:
    return deferLater(reactor, 0.001, lambda: None)


class NoCycleTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_transportFreedAtClose(self):
        """
        Once an RPC peer's unix connection is lost, its transport no longer
        refers to itself: it is freed without the garbage collector (a
        cycle kept the daemon's hypervisor connections open until the
        collector ran).
        """
        import gc
        import weakref

        from virtd.server.session import ServerPeer

        peer, client = yield connectedPair(
            self, lambda: ServerPeer(isServer=True))
        self.assertTrue(peer._plain)
        ref = weakref.ref(peer.transport)
        lost = peer.whenLost()
        lost.addErrback(lambda f: None)
        client.transport.loseConnection()
        yield lost
        yield client.lost
        yield deferLaterZero()
        gc.disable()
        self.addCleanup(gc.enable)
        del peer
        yield deferLaterZero()
        self.assertIsNone(ref(), "the transport outlived its connection")
