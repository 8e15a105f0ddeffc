"""
Domain handles kept per session (L{virtd.server.handlers.convert.domainOf}):
the daemon's real dispatcher, handlers and libvirt's test driver through
libvirt-python.
"""

from __future__ import annotations

import uuid

from twisted.trial.unittest import SynchronousTestCase

from tests.test_server_dispatch import DispatcherHarness, QueueReactor, _failure
from virtd.protocol import remote
from virtd.protocol.message import VIR_NET_ERROR, VIR_NET_OK
from virtd.server.backend import LibvirtBackend
from virtd.server.config import ServerConfig
from virtd.server.dispatch import Dispatcher
from virtd.server.handlers import HANDLERS, convert

TEST_UUID = bytes.fromhex("6695eb01f6a4830479aa97f2502e193f")

SPARE_XML = """<domain type='test'>
  <name>handles-spare</name>
  <uuid>0d6b5e6c-4ad4-4a4e-9a59-0d5b8a1c0e2f</uuid>
  <memory>65536</memory>
  <os><type>hvm</type></os>
</domain>"""


class RecordingBackend(LibvirtBackend):
    """
    The real backend, noting what libvirt's C{close()} returned: the number
    of references still held on the connection (0: it was freed).
    """

    def __init__(self) -> None:
        super().__init__()
        self.closeResults: list[int] = []

    def close(self, conn) -> None:
        self.closeResults.append(conn.close())


class DomainHandleTests(DispatcherHarness, SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = QueueReactor()
        self.backend = RecordingBackend()
        config = ServerConfig(unix="/nonexistent", workers=2, prioWorkers=1)
        self.dispatcher = Dispatcher(self.reactor, config, self.backend,
                                     HANDLERS)
        self.addCleanup(self.dispatcher.normal.stop)
        self.addCleanup(self.dispatcher.priority.stop)
        self.transport, self.session = self.connect(readonly=False)
        self.openConnection()
        [(h, _)] = self.replies()
        self.assertEqual(h.status, VIR_NET_OK)
        self.addCleanup(self.disconnect)

    def disconnect(self) -> None:
        if self.session.conn is not None:
            self.session.peer.connectionLost(_failure())
            self.reactor.pumpUntil(lambda: self.backend.closeResults)

    def call(self, name: str, *args):
        """
        Make one call and wait for its answer: the decoded C{*_ret}, or the
        L{RemoteError}.
        """
        proc = remote.BY_NAME[name]
        serial = self.send(proc.number, proc.args.pack(args))
        out: list = []
        self.reactor.pumpUntil(lambda: out.extend(self.replies()) or out)
        [(h, body)] = out
        self.assertEqual(h.serial, serial)
        if h.status == VIR_NET_ERROR:
            return body
        return proc.ret.decode(body) if proc.ret is not None else None

    def test_handleKeptPerWireHandle(self) -> None:
        """
        Calls naming the same domain by the same wire handle share one
        C{virDomain}; another id (the domain restarted since) gets its own.
        """
        running = ("test", TEST_UUID, 1)
        self.assertEqual(self.call("DOMAIN_GET_INFO", running).state, 1)
        [kept] = self.session.domains.values()
        self.call("DOMAIN_GET_INFO", running)
        self.assertIs(self.session.domains[running], kept)
        self.call("DOMAIN_GET_INFO", ("test", TEST_UUID, -1))
        self.assertEqual(len(self.session.domains), 2)
        self.assertEqual(kept.UUID(), TEST_UUID)

    def test_bounded(self) -> None:
        """
        A client varying the name and id it sends for one UUID cannot make
        the session keep more than C{DOMAIN_HANDLES_MAX} handles.
        """
        self.patch(convert, "DOMAIN_HANDLES_MAX", 3)
        for i in range(10):
            info = self.call("DOMAIN_GET_INFO", ("name%d" % i, TEST_UUID, i))
            self.assertEqual(info.state, 1)
            self.assertLessEqual(len(self.session.domains), 3)

    def test_connectionFreedAtClose(self) -> None:
        """
        A session's kept handles are dropped before its connection is
        closed, so libvirt frees the connection (a C{virDomain} holds a
        reference on it).
        """
        self.call("DOMAIN_GET_INFO", ("test", TEST_UUID, 1))
        self.assertTrue(self.session.domains)
        self.disconnect()
        self.assertEqual(self.backend.closeResults, [0])
        self.assertIsNone(self.session.domains)

    def test_undefinedDomain(self) -> None:
        """
        A kept handle whose domain was undefined since answers as a handle
        never seen does: libvirt's "no domain with matching uuid" error.
        """
        [handle] = self.call("DOMAIN_DEFINE_XML", SPARE_XML)
        self.assertEqual(self.call("DOMAIN_GET_INFO", handle).state, 5)
        self.assertIn(tuple(handle), self.session.domains)
        self.assertIsNone(self.call("DOMAIN_UNDEFINE", handle))

        other = uuid.uuid4()
        stale = self.call("DOMAIN_GET_INFO", handle)
        unseen = self.call("DOMAIN_GET_INFO", (handle.name, other.bytes, -1))
        expected = "Domain not found: no domain with matching uuid '%s' " \
                   "(handles-spare)"
        self.assertEqual((stale.code, stale.domain), (42, 12))
        self.assertEqual(stale.message, expected % (
            uuid.UUID(bytes=bytes(handle.uuid)),))
        self.assertEqual((unseen.code, unseen.domain, unseen.message),
                         (42, 12, expected % (other,)))
