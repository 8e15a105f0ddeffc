"""
The client from both Twisted coroutine styles, against a real libvirtd:
C{async}/C{await} through C{Deferred.fromCoroutine}, and
C{inlineCallbacks}; plus plain callback chains.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.trial import unittest

import virtd
from tests.support import RealLibvirtd


class StyleTests(unittest.TestCase):
    def setUp(self):
        self.daemon = RealLibvirtd.forTest(self, tcp=False)
        self.uri = self.daemon.uri("unix")

    def test_asyncAwait(self):
        """
        Every method's Deferred can be awaited.
        """
        async def scenario():
            conn = await virtd.connect(self.uri)
            try:
                dom = await conn.lookupByName("test")
                state, maxMem, memory, nrVirtCpu, cpuTime = await dom.info()
                self.assertEqual((state, maxMem, nrVirtCpu), (1, 8388608, 2))
                self.assertEqual(await dom.suspend(), 0)
                self.assertEqual(await dom.state(), [3, 1])
            finally:
                await conn.close()
            return "done"

        d = Deferred.fromCoroutine(scenario())
        d.addCallback(self.assertEqual, "done")
        return d

    @inlineCallbacks
    def test_inlineCallbacks(self):
        """
        The same with inlineCallbacks.
        """
        conn = yield virtd.connect(self.uri, readonly=True)
        try:
            names = [d.name() for d in (yield conn.listAllDomains())]
            self.assertEqual(names, ["test"])
            net = yield conn.networkLookupByName("default")
            self.assertEqual((yield net.bridgeName()), "virbr0")
            try:
                yield net.destroy()
            except virtd.LibvirtError as e:
                self.assertEqual(e.get_error_code(), 29)  # read-only
            else:
                self.fail("a read-only connection destroyed a network")
        finally:
            yield conn.close()

    def test_callbacks(self):
        """
        Plain callback chains work too.
        """
        d = virtd.connect(self.uri)

        def opened(conn):
            return conn.getType().addCallback(
                lambda kind: conn.close().addCallback(lambda _: kind))

        d.addCallback(opened)
        d.addCallback(self.assertEqual, "TEST")
        return d
