"""
Tests for the client's reuse of encoded arguments (L{virtd.client.calls.rpc}
called without arguments): the bytes on the wire are those of a fresh
encoding, a handle whose identity changes sends its new identity, and calls
with arguments, or on a closed connection, take the full path.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.test_peer import connected
from virtd.client.connection import Connection
from virtd.client.domain import Domain
from virtd.errors import LibvirtError
from virtd.protocol.remote import BY_NAME
from virtd.protocol.types import Dom
from virtd.rpc.framing import LengthFramer

UUID = bytes(range(16))


def sentPayloads(data: bytes) -> list[tuple[int, bytes]]:
    """
    (procedure, payload) of every call frame in C{data}.
    """
    framer = LengthFramer()
    out = []
    for frame in framer.feed(data):
        out.append((int.from_bytes(frame[8:12], "big"), bytes(frame[24:])))
    return out


def fresh(procName: str, args: tuple | None) -> bytes:
    return BY_NAME[procName].args.pack(args) if args is not None else b""


class BarePayloadTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.peer, self.transport, _ = connected()
        self.conn = Connection(self.peer, None, "test:///default")

    def sent(self) -> list[tuple[int, bytes]]:
        data = self.transport.value()
        self.transport.clear()
        return sentPayloads(data)

    def test_handleCallBytes(self) -> None:
        """
        C{dom.info()} sends the domain's reference, the same bytes as a
        fresh encoding, every time.
        """
        dom = Domain(self.conn, Dom.cls("test", UUID, 1))
        dom.info()
        dom.info()
        expected = fresh("DOMAIN_GET_INFO", (Dom.cls("test", UUID, 1),))
        proc = BY_NAME["DOMAIN_GET_INFO"].number
        self.assertEqual(self.sent(), [(proc, expected), (proc, expected)])

    def test_identityChange(self) -> None:
        """
        A domain whose id changed (it was started) sends its new id.
        """
        dom = Domain(self.conn, Dom.cls("test", UUID, -1))
        dom.info()
        dom._setID(7)
        dom.info()
        payloads = [p for _, p in self.sent()]
        self.assertEqual(payloads, [
            fresh("DOMAIN_GET_INFO", (Dom.cls("test", UUID, -1),)),
            fresh("DOMAIN_GET_INFO", (Dom.cls("test", UUID, 7),)),
        ])

    def test_handlesDoNotShare(self) -> None:
        """
        Two handles send their own references.
        """
        a = Domain(self.conn, Dom.cls("a", UUID, 1))
        b = Domain(self.conn, Dom.cls("b", UUID[::-1], 2))
        a.info()
        b.info()
        a.info()
        payloads = [p for _, p in self.sent()]
        pa = fresh("DOMAIN_GET_INFO", (Dom.cls("a", UUID, 1),))
        pb = fresh("DOMAIN_GET_INFO", (Dom.cls("b", UUID[::-1], 2),))
        self.assertEqual(payloads, [pa, pb, pa])

    def test_defaultsAndArguments(self) -> None:
        """
        A connection-level call without arguments sends its defaults and
        constants (C{need_results=1, flags=0}); with an argument it sends
        that argument, and the next call without one the defaults again.
        """
        self.conn.listAllDomains()
        self.conn.listAllDomains(4)
        self.conn.listAllDomains()
        payloads = [p for _, p in self.sent()]
        self.assertEqual(payloads, [
            fresh("CONNECT_LIST_ALL_DOMAINS", (1, 0)),
            fresh("CONNECT_LIST_ALL_DOMAINS", (1, 4)),
            fresh("CONNECT_LIST_ALL_DOMAINS", (1, 0)),
        ])

    def test_repliesStillShaped(self) -> None:
        """
        The reply of a call that reused its payload is turned into
        libvirt-python's shape as before.
        """
        from tests.test_peer import reply

        dom = Domain(self.conn, Dom.cls("test", UUID, 1))
        d = dom.info()
        ret = BY_NAME["DOMAIN_GET_INFO"].ret
        body = ret.pack(ret.cls(1, 8192, 4096, 2, 123))
        self.peer.dataReceived(reply(0, BY_NAME["DOMAIN_GET_INFO"].number, body))
        self.assertEqual(self.successResultOf(d), [1, 8192, 4096, 2, 123])

    def test_missingArgumentStillFails(self) -> None:
        """
        A method with a required argument called without it raises
        C{TypeError} as Python does; nothing is sent.
        """
        dom = Domain(self.conn, Dom.cls("test", UUID, 1))
        self.assertRaises(TypeError, dom.setMemory)
        self.assertEqual(self.transport.value(), b"")

    def test_closedConnection(self) -> None:
        """
        On a connection being closed, an argument-less call fails with the
        closed-connection error, cached payload or not.
        """
        dom = Domain(self.conn, Dom.cls("test", UUID, 1))
        dom.info()
        self.conn._closing = True
        f = self.failureResultOf(dom.info(), LibvirtError)
        self.assertIn("client socket is closed", str(f.value))
