"""
Faults: a client gone mid-call, a libvirt call that raises, one that
hangs, the daemon restarted under a connected client.
"""

from __future__ import annotations

import struct
import threading

from twisted.internet import defer

from tests.hostile.health import HostileCase
from tests.hostile.peer import (
    KEEPALIVE,
    MESSAGE,
    OK,
    PROC_LOOKUP_BY_NAME,
    RawPeer,
    decodeError,
    frame,
    secondClient,
    xstring,
)
from virtd.errors import LibvirtError

PROC_GET_INFO = 16
PROC_GET_STATE = 212


class FaultyHandlers(HostileCase):
    """
    DOMAIN_GET_INFO blocks until C{self.gate} is set; DOMAIN_GET_STATE
    raises a RuntimeError (a bug in a handler).
    """

    def makeHandlers(self):
        from virtd.server.handlers import HANDLERS

        self.gate = threading.Event()
        self.entered = threading.Event()
        self.addCleanup(self.gate.set)
        handlers = dict(HANDLERS)
        real = handlers["DOMAIN_GET_INFO"]

        def hang(ctx, args):
            self.entered.set()
            self.gate.wait(30)
            return real(ctx, args)

        def boom(ctx, args):
            raise RuntimeError("boom")

        handlers["DOMAIN_GET_INFO"] = hang
        handlers["DOMAIN_GET_STATE"] = boom
        return handlers

    def lookup(self, peer: RawPeer) -> bytes:
        h, body = peer.roundtrip(PROC_LOOKUP_BY_NAME, xstring("test"))
        assert h[5] == OK
        return body

    @defer.inlineCallbacks
    def test_clientGoneMidCall(self):
        """
        The client hangs up while its call runs: the result is dropped,
        the session and its hypervisor connection are released (fds back
        to the baseline), nothing is logged as a failure.
        """
        def scenario():
            with RawPeer(self.daemon.sock) as peer:
                peer.handshake()
                peer.call(PROC_GET_INFO, self.lookup(peer))
                assert self.entered.wait(5)
            self.gate.set()

        yield self.inThread(scenario)
        yield self.settle(0.2)

    @defer.inlineCallbacks
    def test_handlerRaises(self):
        def scenario():
            with RawPeer(self.daemon.sock) as peer:
                peer.handshake()
                h, body = peer.roundtrip(PROC_GET_STATE,
                                         self.lookup(peer) + b"\0\0\0\0")
                again, _ = peer.roundtrip(PROC_LOOKUP_BY_NAME, xstring("test"))
                return h[5], decodeError(body), again[5]

        status, (code, domain, message), after = yield self.inThread(scenario)
        self.assertEqual((status, code, domain, after), (1, 1, 7, OK))
        self.assertIn("DOMAIN_GET_STATE", message)
        self.assertIn("RuntimeError: boom", message)
        # The bug is logged with its traceback (an error we handled, so
        # the invariants must not count it).
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(len(self.logs.failures()), 1)
        self.logs.clear()

    @defer.inlineCallbacks
    def test_handlerHangs(self):
        """
        While one call hangs: other clients are served, the same client's
        other calls are answered, and its keepalive PING gets a PONG.
        """
        def scenario():
            with RawPeer(self.daemon.sock) as peer:
                peer.handshake()
                dom = self.lookup(peer)
                hung = peer.call(PROC_GET_INFO, dom)
                assert self.entered.wait(5)
                took, _ = secondClient(self.daemon.sock, 1.0)
                other, _ = peer.roundtrip(PROC_LOOKUP_BY_NAME, xstring("test"),
                                          timeout=1)
                peer.send(frame(1, prog=KEEPALIVE, mtype=MESSAGE))
                pong, _ = peer.readFrame(1)
                self.gate.set()
                h, body = peer.reply(5)
                return took, other[5], pong, h[4] == hung, \
                    struct.unpack_from(">i", body)[0]

        took, other, pong, matched, state = yield self.inThread(scenario)
        self.assertLess(took, 1.0)
        self.assertEqual(other, OK)
        self.assertEqual(pong[:4], (KEEPALIVE, 1, 2, MESSAGE))
        self.assertTrue(matched)
        self.assertEqual(state, 1)


class RestartTests(HostileCase):

    @defer.inlineCallbacks
    def test_restartUnderClient(self):
        """
        Our client, connected when the daemon stops, sees an error saying
        the connection was lost, then connects again to the new daemon.
        """
        import virtd

        uri = self.daemon.uri()
        conn = yield virtd.connect(uri, keepalive=None)
        self.assertTrue((yield conn.getHostname()))
        yield self.daemon.service.stopService()
        error = yield self.assertFailure(conn.getHostname(), LibvirtError)
        self.assertIn("connection", str(error).lower())
        self.assertRegex(str(error), "lost|closed")
        yield self.daemon.start()
        again = yield virtd.connect(uri, keepalive=None)
        self.assertTrue((yield again.getHostname()))
        yield again.close()
        yield conn.close()
