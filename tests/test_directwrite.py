"""
Tests for L{virtd.rpc.directwrite.SharedSender} on a real unix socket
served by the reactor, read by a plain socket at the other end.
"""

from __future__ import annotations

import os
import socket

from twisted.internet import defer, protocol, reactor, threads
from twisted.trial.unittest import TestCase

from virtd.rpc.directwrite import (
    CARRIED,
    NOT_SENT,
    SENT,
    SharedSender,
    canWriteDirectly,
)


class Held(protocol.Protocol):
    def connectionMade(self) -> None:
        self.factory.connected.callback(self)


def openFds() -> int:
    return len(os.listdir("/proc/self/fd"))


class SharedSenderTests(TestCase):
    @defer.inlineCallbacks
    def setUp(self):
        path = self.mktemp()
        factory = protocol.ServerFactory.forProtocol(Held)
        factory.connected = defer.Deferred()
        port = reactor.listenUNIX(path, factory)
        self.addCleanup(port.stopListening)
        self.client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(self.client.close)
        self.client.connect(path)
        server = yield factory.connected
        self.transport = server.transport
        self.addCleanup(self.transport.abortConnection)
        self.assertTrue(canWriteDirectly(self.transport))
        self.sender = SharedSender(self.transport)
        self.addCleanup(self.sender.close)

    def read(self, n: int) -> bytes:
        self.client.settimeout(5)
        data = b""
        while len(data) < n:
            chunk = self.client.recv(n - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def test_notPrepared(self) -> None:
        """
        Before L{SharedSender.prepare} workers may not send.
        """
        self.assertEqual(self.sender.sendFromThread(b"x"), NOT_SENT)

    @defer.inlineCallbacks
    def test_sendFromWorkerThread(self):
        self.assertTrue(self.sender.prepare())
        outcome = yield threads.deferToThread(self.sender.sendFromThread,
                                              b"reply")
        self.assertEqual(outcome, SENT)
        self.assertEqual(self.read(5), b"reply")

    def test_partialSendCarriedFirst(self) -> None:
        """
        What the kernel does not take of a worker's message is written by
        the reactor before anything written after it; meanwhile workers
        send nothing.
        """
        self.assertTrue(self.sender.prepare())
        big = bytes(range(256)) * 16384  # 4 MiB: more than socket buffers
        self.assertEqual(self.sender.sendFromThread(big), CARRIED)
        self.assertEqual(self.sender.sendFromThread(b"other"), NOT_SENT)
        self.sender.send(b"after")
        self.assertTrue(self.transport.dataBuffer or
                        self.transport._tempDataLen)
        received = []

        def drain() -> None:
            received.append(self.read(len(big) + 5))

        d = threads.deferToThread(drain)
        d.addCallback(lambda _: self.assertEqual(received[0], big + b"after"))
        return d

    def test_nothingSentWhileQueued(self) -> None:
        """
        While Twisted has bytes queued for the socket a worker does not
        send: its message would overtake them.
        """
        self.assertTrue(self.sender.prepare())
        self.transport.write(b"q" * (8 << 20))
        self.assertEqual(self.sender.sendFromThread(b"x"), NOT_SENT)

    def test_closeReleasesDescriptor(self) -> None:
        """
        The duplicate descriptor lives from C{prepare} to C{close}; after
        it nothing is sent.
        """
        before = openFds()
        self.assertTrue(self.sender.prepare())
        self.assertEqual(openFds(), before + 1)
        self.sender.close()
        self.assertEqual(openFds(), before)
        self.assertEqual(self.sender.sendFromThread(b"x"), NOT_SENT)
        self.assertFalse(self.sender.prepare())

    def test_notWhileDisconnecting(self) -> None:
        self.transport.loseConnection()
        self.assertFalse(self.sender.prepare())
