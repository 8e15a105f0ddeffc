"""
Hostile framing: impossible lengths, truncation, segmentation, pipelining,
a bad frame between good ones.
"""

from __future__ import annotations

import socket
import struct
import time

from twisted.internet import defer

from tests.hostile.health import HostileCase
from tests.hostile.peer import (
    OK,
    PROC_AUTH_LIST,
    PROC_CONNECT_OPEN,
    PROC_LOOKUP_BY_NAME,
    RawPeer,
    frame,
    openArgs,
    xstring,
)
from virtd.protocol.message import MAX_FRAME


def _recordingHandlers(seen: list) -> dict:
    from virtd.server.handlers import HANDLERS

    handlers = dict(HANDLERS)
    real = handlers["DOMAIN_LOOKUP_BY_NAME"]

    def lookup(ctx, args):
        seen.append(args.name)
        return real(ctx, args)

    handlers["DOMAIN_LOOKUP_BY_NAME"] = lookup
    return handlers


class BadLengthTests(HostileCase):
    """
    A length word below 28 or above 32 MiB + 4 closes the connection at
    once, with no reply, before anything it announces is buffered.
    """

    def badLength(self, length: int) -> bytes:
        with RawPeer(self.daemon.sock) as peer:
            # A valid header after the bad length: only the length is wrong.
            peer.send(frame(PROC_AUTH_LIST, length=length))
            return peer.expectClosed(2)

    @defer.inlineCallbacks
    def test_lengths(self):
        for length in (0, 3, 4, 27, MAX_FRAME + 1, 0xFFFFFFFF):
            got = yield self.inThread(self.badLength, length)
            self.assertEqual(got, b"", f"length {length}: the daemon answered")
            yield self.assertHealthy()
        self.assertTrue(self.logs.matching("below the minimum"))
        self.assertTrue(self.logs.matching("exceeds the maximum"))

    @defer.inlineCallbacks
    def test_maxLengthAccepted(self):
        """
        The largest legal length is read (and the payload refused as
        undecodable), not mistaken for an oversized frame.
        """
        def scenario():
            with RawPeer(self.daemon.sock, 30) as peer:
                peer.handshake()
                body = b"\0" * (MAX_FRAME - 28)
                peer.send(frame(PROC_LOOKUP_BY_NAME, body, 7))
                h, payload = peer.reply(30)
                return h, struct.unpack_from(">i", payload)[0], peer.isOpen()

        h, code, stillOpen = yield self.inThread(scenario)
        self.assertEqual((h[4], h[5], code), (7, 1, 39))
        self.assertTrue(stillOpen)

    @defer.inlineCallbacks
    def test_truncatedThenEOF(self):
        def scenario():
            with RawPeer(self.daemon.sock) as peer:
                whole = frame(PROC_CONNECT_OPEN, openArgs())
                peer.send(whole[:len(whole) - 9])
                peer.sock.shutdown(socket.SHUT_WR)
                return peer.expectClosed(3)

        self.assertEqual((yield self.inThread(scenario)), b"")


class SegmentationTests(HostileCase):

    @defer.inlineCallbacks
    def test_oneByteSegments(self):
        """
        A call split into 1-byte segments is answered like any other.
        """
        def scenario():
            with RawPeer(self.daemon.sock) as peer:
                peer.handshake()
                data = frame(PROC_LOOKUP_BY_NAME, xstring("test"), 9)
                for i in range(len(data)):
                    peer.send(data[i:i + 1])
                    time.sleep(0.002)
                return peer.reply()

        h, payload = yield self.inThread(scenario)
        self.assertEqual((h[2], h[4], h[5]), (PROC_LOOKUP_BY_NAME, 9, OK))
        self.assertEqual(payload[:8], xstring("test"))

    @defer.inlineCallbacks
    def test_hundredCallsInOneSegment(self):
        def scenario():
            with RawPeer(self.daemon.sock, 10) as peer:
                peer.handshake()
                peer.send(b"".join(frame(PROC_LOOKUP_BY_NAME, xstring("test"),
                                         100 + i) for i in range(100)))
                replies = [peer.reply(10)[0] for _ in range(100)]
                return sorted(h[4] for h in replies), {h[5] for h in replies}

        serials, statuses = yield self.inThread(scenario)
        self.assertEqual(serials, list(range(100, 200)))
        self.assertEqual(statuses, {OK})


class BadFrameBetweenGoodOnes(HostileCase):
    """
    good, bad, good in one segment: the first is carried out, the
    connection closes, the third is never executed.
    """

    def makeHandlers(self):
        self.seen = []
        return _recordingHandlers(self.seen)

    @defer.inlineCallbacks
    def test_thirdNotExecuted(self):
        def scenario():
            with RawPeer(self.daemon.sock) as peer:
                peer.handshake()
                peer.send(frame(PROC_LOOKUP_BY_NAME, xstring("first"), 10)
                          + frame(PROC_AUTH_LIST, length=3)
                          + frame(PROC_LOOKUP_BY_NAME, xstring("third"), 12))
                return peer.expectClosed(3)

        yield self.inThread(scenario)
        yield self.settle(0.3)
        self.assertEqual(self.seen, ["first"])
