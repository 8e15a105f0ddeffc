"""
What the daemon logs about a client: the line when it opens a hypervisor
connection and the line when it leaves, with the number of calls it made.
"""

from __future__ import annotations

import re
import socket

from twisted.internet import defer, reactor, task
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial import unittest

from tests.test_server_fixture import InProcessVirtd, inThread
from tests.test_server_limits import frame, readFrame
from virtd import xdr
from virtd.protocol import remote


class ClientLinesTests(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def setUp(self):
        self.ours = yield InProcessVirtd.forTest(self)
        self.events: list[dict] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def lines(self) -> list[str]:
        # Every line the daemon writes about a particular client.
        return [line for line in (formatEvent(e) for e in self.events
                                  if e.get("log_namespace") == "virtd.server")
                if line.startswith("client ")]

    @defer.inlineCallbacks
    def disconnection(self) -> defer.Deferred:
        for _ in range(200):  # the daemon sees the hang-up a little later
            found = [line for line in self.lines()
                     if line.startswith("client disconnected:")]
            if found:
                return found
            yield task.deferLater(reactor, 0.05, lambda: None)
        self.fail(f"no disconnection line in {self.lines()}")

    def converse(self, calls: list[bytes]) -> list:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(self.ours.sock)
        try:
            answers = []
            for data in calls:
                s.sendall(data)
                answers.append(readFrame(s)[0])
            return answers
        finally:
            s.close()

    @defer.inlineCallbacks
    def test_openAndLeave(self):
        """
        A client that opens and closes properly gets two lines: who opened
        what through which listener, then how long it stayed, every call
        it sent (refused ones too) and why it ended. Nothing is logged for
        the bare connection.
        """
        openArgs = remote.BY_NAME["CONNECT_OPEN"].args.pack(("test:///default", 0))
        answers = yield inThread(self.converse, [
            frame(66, b"", 0),                       # AUTH_LIST
            frame(60, xdr.Int.pack(10), 1),          # SUPPORTS_FEATURE
            frame(1, openArgs, 2),                   # CONNECT_OPEN
            frame(99999, b"", 3),                    # unknown: refused
            frame(2, b"", 4),                        # CONNECT_CLOSE
        ])
        self.assertEqual([h.status for h in answers], [0, 0, 0, 1, 0])
        [left] = yield self.disconnection()
        where = re.escape(f"via unix:{self.ours.sock}")
        opened = [line for line in self.lines() if " opened " in line]
        self.assertEqual(len(opened), 1, self.lines())
        self.assertRegex(opened[0], r"^client unix pid=\d+ uid=\d+ gid=\d+ "
                         + where + r" opened test:///default$")
        self.assertRegex(left, r"^client disconnected: unix pid=\d+ uid=\d+ "
                         r"gid=\d+ " + where + r" after \d+\.\d s and 5 calls "
                         r"\(closed after the client's CONNECT_CLOSE\)$")
        self.assertEqual(len(self.lines()), 2, self.lines())

    @defer.inlineCallbacks
    def test_oneCallNoOpen(self):
        """
        A client that never opens shows in the disconnection line only,
        and one call is one call.
        """
        yield inThread(self.converse, [frame(66, b"", 0)])
        [left] = yield self.disconnection()
        self.assertIn(" and 1 call (", left)
        self.assertEqual(len(self.lines()), 1, self.lines())
