"""
The client's opening handshake and call plumbing, byte for byte, with a
L{StringTransport} standing in for the daemon (no I/O).
"""

from __future__ import annotations

from twisted.internet.defer import succeed
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from virtd import uri, xdr
from virtd.client.connect import _Opener
from virtd.client.connection import Connection
from virtd.errors import VIR_ERR_AUTH_UNAVAILABLE, VIR_ERR_RPC, VIR_FROM_RPC, LibvirtError
from virtd.protocol.message import (
    KEEPALIVE_PROGRAM,
    REMOTE_PROGRAM,
    VIR_NET_ERROR,
    VIR_NET_MESSAGE,
    VIR_NET_OK,
    VIR_NET_REPLY,
    RemoteError,
    decodeHeader,
    encodeFrame,
    errorToStruct,
)
from virtd.protocol.remote import BY_NAME, PROCEDURES
from virtd.rpc.framing import LengthFramer


class FakeEndpoint:
    """
    Connects the protocol to a L{StringTransport} at once.
    """

    def __init__(self) -> None:
        self.transport = StringTransport()

    def connect(self, factory):
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(self.transport)
        return succeed(protocol)


class Daemon:
    """
    Reads the client's calls from the transport and answers them.
    """

    def __init__(self, endpoint: FakeEndpoint) -> None:
        self.transport = endpoint.transport
        self.framer = LengthFramer()
        self.seen: list[tuple[str, int, object]] = []
        self.peer = None

    def calls(self) -> list:
        data = self.transport.value()
        self.transport.clear()
        out = []
        for message in self.framer.feed(data):
            header = decodeHeader(message)
            proc = PROCEDURES[header.proc] if header.prog == REMOTE_PROGRAM else None
            args = None
            if proc is not None and proc.args is not xdr.Void:
                args = proc.args.decode(message[24:])
            out.append((header, proc.name if proc else header.proc, args))
        return out

    def reply(self, header, value=None, name=None) -> None:
        proc = BY_NAME[name] if name else PROCEDURES[header.proc]
        payload = b"" if value is None else proc.ret.pack(value)
        self.peer.dataReceived(encodeFrame(
            (header.prog, header.vers, header.proc, VIR_NET_REPLY,
             header.serial, VIR_NET_OK), payload))

    def error(self, header, err: LibvirtError) -> None:
        self.peer.dataReceived(encodeFrame(
            (header.prog, header.vers, header.proc, VIR_NET_REPLY,
             header.serial, VIR_NET_ERROR),
            RemoteError.pack(errorToStruct(err))))


class HandshakeTests(SynchronousTestCase):
    def open(self, name, readonly=False, keepalive=(5, 6)):
        self.clock = MemoryReactorClock()
        endpoint = FakeEndpoint()
        self.daemon = Daemon(endpoint)
        opener = _Opener(self.clock, uri.parse(name), readonly, keepalive)
        from twisted.internet.defer import Deferred
        d = Deferred.fromCoroutine(opener.run(endpoint))
        self.daemon.peer = opener.peer
        return d

    def step(self, expectName, expectArgs, answer):
        [(header, name, args)] = self.daemon.calls()
        self.assertEqual((name, args), (expectName, expectArgs))
        if isinstance(answer, LibvirtError):
            self.daemon.error(header, answer)
        else:
            self.daemon.reply(header, answer)
        return header

    def test_virshSequence(self):
        """
        Like virsh: AUTH_LIST, feature 10, CONNECT_OPEN with the derived
        name, features 14 and 15, REGISTER_CLOSE_CALLBACK; serials from 0;
        keepalive started.
        """
        d = self.open("test+unix:///default?socket=/x/sock")
        serials = []
        serials.append(self.step("AUTH_LIST", None, ([0],)).serial)
        serials.append(self.step("CONNECT_SUPPORTS_FEATURE", (10,), (1,)).serial)
        header = self.step("CONNECT_OPEN", ("test:///default",
                           uri.openFlags(uri.parse("test+unix:///default"))), None)
        serials.append(header.serial)
        serials.append(self.step("CONNECT_SUPPORTS_FEATURE", (14,), (1,)).serial)
        serials.append(self.step("CONNECT_SUPPORTS_FEATURE", (15,), (1,)).serial)
        serials.append(self.step("CONNECT_REGISTER_CLOSE_CALLBACK", None, None).serial)
        self.assertEqual(serials, [0, 1, 2, 3, 4, 5])
        conn = self.successResultOf(d)
        self.assertIsInstance(conn, Connection)
        self.assertEqual(conn.features, {10: 1, 14: 1, 15: 1})
        self.assertEqual(self.successResultOf(conn.getURI()),
                         "test+unix:///default?socket=/x/sock")
        # Keepalive: a PING after 5 s of silence.
        self.clock.advance(5.1)
        [(header, name, _)] = self.daemon.calls()
        self.assertEqual((header.prog, header.proc, header.type),
                         (KEEPALIVE_PROGRAM, 1, VIR_NET_MESSAGE))

    def test_readonlyNoNameNoFeatures(self):
        """
        Read-only sets bit 0 of the open flags; no name asks GET_URI; an
        old daemon (no AUTH_LIST, features 10 and 15 unsupported) gets no
        close-callback registration and no PINGs.
        """
        d = self.open(None, readonly=True)
        self.step("AUTH_LIST", None, LibvirtError(
            "unknown procedure: 66", VIR_ERR_RPC, VIR_FROM_RPC))
        self.step("CONNECT_SUPPORTS_FEATURE", (10,), (0,))
        [(header, name, args)] = self.daemon.calls()
        self.assertEqual(name, "CONNECT_OPEN")
        self.assertEqual(args.name, "")
        self.assertEqual(args.flags & 1, 1)
        self.daemon.reply(header)
        self.step("CONNECT_GET_URI", None, ("test:///default",))
        self.step("CONNECT_SUPPORTS_FEATURE", (14,), (1,))
        self.step("CONNECT_SUPPORTS_FEATURE", (15,), (0,))
        conn = self.successResultOf(d)
        self.assertEqual(self.successResultOf(conn.getURI()), "test:///default")
        self.clock.advance(60)
        self.assertEqual(self.daemon.calls(), [])
        # close() sends only CONNECT_CLOSE when 15 was not supported.
        closed = conn.close()
        self.step("CONNECT_CLOSE", None, None)
        self.assertEqual(self.successResultOf(closed), 0)

    def test_saslRefused(self):
        """
        SASL is refused with an error saying so, and the transport closed.
        """
        d = self.open("test+tcp://h/default")
        self.step("AUTH_LIST", None, ([1],))
        e = self.failureResultOf(d, LibvirtError).value
        self.assertEqual(e.get_error_code(), VIR_ERR_AUTH_UNAVAILABLE)
        self.assertIn("SASL", e.get_error_message())
        self.assertTrue(self.daemon.transport.disconnecting)

    def connected(self):
        d = self.open("test+unix:///default?socket=/x/sock", keepalive=None)
        self.step("AUTH_LIST", None, ([0],))
        self.step("CONNECT_SUPPORTS_FEATURE", (10,), (1,))
        self.step("CONNECT_OPEN", ("test:///default", uri.openFlags(
            uri.parse("test+unix:///default"))), None)
        self.step("CONNECT_SUPPORTS_FEATURE", (14,), (1,))
        self.step("CONNECT_SUPPORTS_FEATURE", (15,), (1,))
        self.step("CONNECT_REGISTER_CLOSE_CALLBACK", None, None)
        return self.successResultOf(d)

    def test_closedEvent(self):
        """
        CONNECT_EVENT_CONNECTION_CLOSED calls the close callback with the
        daemon's reason; the connection itself stays open (as libvirt).
        """
        conn = self.connected()
        seen = []
        conn.registerCloseCallback(lambda *a: seen.append(a), "op")
        proc = BY_NAME["CONNECT_EVENT_CONNECTION_CLOSED"]
        self.daemon.peer.dataReceived(encodeFrame(
            (REMOTE_PROGRAM, 1, proc.number, VIR_NET_MESSAGE, 1, VIR_NET_OK),
            proc.ret.pack((3,))))
        self.assertEqual(seen, [(conn, 3, "op")])
        self.assertEqual(conn.isAlive(), 1)

    def test_callShapes(self):
        """
        Arguments bind like Python calls (defaults, keywords), the handle
        leads, and replies take libvirt-python's shapes.
        """
        conn = self.connected()
        d = conn.lookupByName(name="test")
        dom = BY_NAME["DOMAIN_LOOKUP_BY_NAME"].ret.cls(
            ("test", b"u" * 16, 1))
        self.step("DOMAIN_LOOKUP_BY_NAME", ("test",), dom)
        domain = self.successResultOf(d)
        self.assertEqual((domain.name(), domain.ID()), ("test", 1))
        d = domain.XMLDesc()
        [(header, name, args)] = self.daemon.calls()
        self.assertEqual((name, args.flags), ("DOMAIN_GET_XML_DESC", 0))
        self.assertEqual(args.dom.name, "test")
        self.daemon.reply(header, ("<domain/>",))
        self.assertEqual(self.successResultOf(d), "<domain/>")
        d = domain.suspend()
        self.step("DOMAIN_SUSPEND", (dom.dom,), None)
        self.assertEqual(self.successResultOf(d), 0)
        d = domain.destroy()
        self.step("DOMAIN_DESTROY", (dom.dom,), None)
        self.successResultOf(d)
        self.assertEqual(domain.ID(), -1)
        self.assertRaises(TypeError, domain.setMemory)
        self.assertRaises(TypeError, domain.XMLDesc, 0, 1)
        self.assertRaises(TypeError, domain.XMLDesc, bogus=1)
        # A bad UUID string fails the Deferred without any traffic.
        self.failureResultOf(conn.lookupByUUIDString("xyz"), LibvirtError)
        self.assertEqual(self.daemon.calls(), [])
        # Counted lists skip the second call when the count is zero.
        d = conn.listDefinedDomains()
        self.step("CONNECT_NUM_OF_DEFINED_DOMAINS", None, (0,))
        self.assertEqual(self.successResultOf(d), [])
        d = conn.listDomainsID()
        self.step("CONNECT_NUM_OF_DOMAINS", None, (2,))
        self.step("CONNECT_LIST_DOMAINS", (2,), ([1, 4],))
        self.assertEqual(self.successResultOf(d), [1, 4])

    def test_lostFailsPending(self):
        """
        Losing the transport fails every pending call at once and calls
        the close callback; later calls fail immediately.
        """
        from twisted.internet.error import ConnectionDone
        from twisted.python.failure import Failure

        conn = self.connected()
        seen = []
        conn.registerCloseCallback(lambda *a: seen.append(a[1]), None)
        pending = [conn.getHostname(), conn.getType(), conn.listAllDomains()]
        self.daemon.peer.connectionLost(Failure(ConnectionDone()))
        for d in pending:
            self.failureResultOf(d, LibvirtError)
        self.assertEqual(seen, [1])
        e = self.failureResultOf(conn.getHostname(), LibvirtError).value
        self.assertIn("client socket is closed", e.get_error_message())
        self.assertEqual(self.successResultOf(conn.close()), 0)
