"""
Hostile use of resources: thousands of idle connections, slow drips, a
client that never reads, a flood of pipelined calls.
"""

from __future__ import annotations

import array
import os
import resource
import select
import socket
import threading
import time

from twisted.internet import defer

from tests.hostile.health import HostileCase
from tests.hostile.peer import (
    OK,
    PROC_GET_CAPABILITIES,
    PROC_LOOKUP_BY_NAME,
    Closed,
    RawPeer,
    frame,
    secondClient,
    xstring,
)


def _raiseFdLimit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (min(wanted, hard), hard))


class IdleConnectionsTests(HostileCase):

    timeout = 120

    @defer.inlineCallbacks
    def test_twoThousandIdle(self):
        """
        2,000 clients that connect and say nothing: every one is accepted
        (the default --max-clients is 5,000) and a second client is still
        served within a second.
        """
        _raiseFdLimit(8192)
        held: list[socket.socket] = []
        self.addCleanup(lambda: [s.close() for s in held])

        def connectAll():
            deadline = time.monotonic() + 30
            while len(held) < 2000 and time.monotonic() < deadline:
                s = socket.socket(socket.AF_UNIX)
                s.settimeout(10)
                try:
                    s.connect(self.daemon.sock)
                except BlockingIOError:
                    # The listen backlog is full: the daemon has not
                    # accepted the previous ones yet.
                    s.close()
                    time.sleep(0.01)
                    continue
                held.append(s)

        yield self.inThread(connectAll)
        for _ in range(200):
            if len(self.daemon.service.dispatcher.sessions) >= 2000:
                break
            yield self.settle(0.05)
        self.assertGreaterEqual(len(self.daemon.service.dispatcher.sessions),
                                2000)
        took, _ = yield self.inThread(secondClient, self.daemon.sock, 1.0)
        self.assertLess(took, 1.0)
        for s in held:
            s.close()
        held.clear()


class SlowDripTests(HostileCase):

    timeout = 120
    daemonArgs = ["--frame-timeout", "2"]

    @defer.inlineCallbacks
    def test_twoHundredSlowDrips(self):
        """
        200 clients each dripping a frame one byte every 0.25 s: all are
        dropped once --frame-timeout (2 s) has passed since their frame
        began, whatever they keep sending; others are served meanwhile.
        """
        data = frame(PROC_LOOKUP_BY_NAME, xstring("test"), 1)

        def drip():
            socks = []
            for _ in range(200):
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.daemon.sock)
                s.setblocking(False)
                socks.append(s)
            start = time.monotonic()
            closedAt: dict[int, float] = {}
            pos = 0
            while len(closedAt) < len(socks) and time.monotonic() - start < 8:
                for i, s in enumerate(socks):
                    if i in closedAt:
                        continue
                    try:
                        s.send(data[pos % len(data):pos % len(data) + 1])
                    except OSError:
                        closedAt[i] = time.monotonic() - start
                r, _, _ = select.select(
                    [s for i, s in enumerate(socks) if i not in closedAt],
                    [], [], 0.25)
                for s in r:
                    try:
                        if not s.recv(100):
                            closedAt[socks.index(s)] = time.monotonic() - start
                    except OSError:
                        closedAt[socks.index(s)] = time.monotonic() - start
                pos += 1
            for s in socks:
                s.close()
            # Only 28 bytes of a 36-byte frame per 7 s: none can finish one.
            return closedAt

        dripping = self.inThread(drip)
        yield self.settle(0.5)
        took, _ = yield self.inThread(secondClient, self.daemon.sock, 1.0)
        closedAt = yield dripping
        self.assertEqual(len(closedAt), 200, "some drips were not dropped")
        self.assertGreaterEqual(min(closedAt.values()), 1.5)
        self.assertLess(max(closedAt.values()), 5.0)
        self.assertTrue(self.logs.matching("did not arrive completely"))


class NeverReadsTests(HostileCase):

    timeout = 120
    daemonArgs = ["--max-client-output", "262144"]

    @defer.inlineCallbacks
    def test_droppedWithLogLine(self):
        """
        A client that keeps calling and never reads its replies is dropped
        once more than --max-client-output bytes wait for it, with a log
        line saying why; its queued output is discarded.
        """
        def scenario():
            with RawPeer(self.daemon.sock, 10) as peer:
                peer.handshake()
                peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                     4096)
                call = frame(PROC_GET_CAPABILITIES, b"", 9)
                start = time.monotonic()
                sent = 0
                try:
                    while time.monotonic() - start < 30:
                        peer.send(call * 50)
                        sent += 50
                except (BrokenPipeError, ConnectionResetError):
                    return "dropped", sent, time.monotonic() - start
                except TimeoutError:
                    return "stalled", sent, time.monotonic() - start
                return "kept", sent, time.monotonic() - start

        outcome, sent, seconds = yield self.inThread(scenario)
        self.assertEqual(outcome, "dropped",
                         f"after {sent} calls in {seconds:.1f} s")
        lines = self.logs.matching("dropping client", "--max-client-output")
        self.assertEqual(len(lines), 1, self.logs.texts()[-5:])


class PipelineFloodTests(HostileCase):

    timeout = 120

    @defer.inlineCallbacks
    def test_flood(self):
        """
        5,000 calls written as fast as the socket takes them, replies read
        by another thread: every one is answered once, and memory stays
        bounded (checked by the invariants).
        """
        count = 5000

        def scenario():
            with RawPeer(self.daemon.sock, 30) as peer:
                peer.handshake()
                lookup = xstring("test")
                batch = b"".join(frame(PROC_LOOKUP_BY_NAME, lookup, 1000 + i)
                                 for i in range(count))
                writer = threading.Thread(target=peer.send, args=(batch,))
                writer.start()
                seen = []
                try:
                    for _ in range(count):
                        h, _ = peer.reply(30)
                        seen.append((h[4], h[5]))
                except (Closed, TimeoutError) as e:
                    return f"{len(seen)} replies then {e!r}"
                finally:
                    writer.join()
                return seen

        seen = yield self.inThread(scenario)
        self.assertIsInstance(seen, list, seen)
        self.assertEqual(sorted(s for s, _ in seen),
                         list(range(1000, 1000 + count)))
        self.assertEqual({st for _, st in seen}, {OK})


class PassedDescriptorsTests(HostileCase):

    @defer.inlineCallbacks
    def test_descriptorsNotKept(self):
        """
        A client that sends descriptors (C{SCM_RIGHTS}) with its calls,
        which libvirt would only do for procedures virtd does not carry
        out: every call is answered, and none of the 400 descriptors stays
        open in the daemon (checked by the invariants), while the client's
        own copies stay valid.
        """
        calls, perCall = 50, 8
        lookup = xstring("test")

        def scenario():
            with RawPeer(self.daemon.sock, 10) as peer:
                peer.handshake()
                statuses = []
                with open("/dev/null", "rb") as f:
                    fds = [f.fileno()] * perCall
                    for i in range(calls):
                        peer.sock.sendmsg(
                            [frame(PROC_LOOKUP_BY_NAME, lookup, 100 + i)],
                            [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                              array.array("i", fds))])
                        h, _ = peer.reply(10)
                        statuses.append((h[4], h[5]))
                    f.fileno()  # ours is still open
                    os.fstat(f.fileno())
                return statuses

        statuses = yield self.inThread(scenario)
        self.assertEqual(statuses, [(100 + i, OK) for i in range(calls)])
