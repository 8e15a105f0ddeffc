"""
The dispatcher's rules (wire facts 1.9, 4, 7.4) on a real L{ServerPeer}
over a L{StringTransport}: program/procedure lookup, status, decoding,
the handshake order, read-only refusals, daemon-level procedures, the
in-flight cap and the worker pools.
"""

from __future__ import annotations

import queue
import struct
import threading

from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from virtd import xdr
from virtd.errors import LibvirtError
from virtd.protocol import remote
from virtd.protocol.message import (
    KEEPALIVE_PROGRAM,
    VIR_NET_CALL,
    VIR_NET_ERROR,
    VIR_NET_OK,
    VIR_NET_REPLY,
    Header,
    RemoteError,
    decodeHeader,
    encodeFrame,
)
from virtd.server.backend import IBackend
from virtd.server.config import ServerConfig, uriRefusal
from virtd.server.dispatch import Dispatcher
from virtd.server.session import ClientSession, ListenerInfo, ServerPeer

P = remote.PROGRAM
DOM = ("test", bytes.fromhex("6695eb01f6a4830479aa97f2502e193f"), 1)


class QueueReactor:
    """
    Just enough reactor for the worker pools: C{callFromThread} queues the
    call for the test to run on its own thread (standing in for the
    reactor thread).
    """

    def __init__(self) -> None:
        self.calls: queue.SimpleQueue = queue.SimpleQueue()

    def callFromThread(self, f, *args) -> None:
        self.calls.put((f, args))

    def seconds(self) -> float:
        import time

        return time.monotonic()

    def callLater(self, delay, f, *args):  # keepalive timers: not exercised
        raise AssertionError("no timers expected")

    def pump(self, n: int = 1, timeout: float = 5) -> None:
        for _ in range(n):
            f, args = self.calls.get(timeout=timeout)
            f(*args)

    def pumpUntil(self, done, timeout: float = 5) -> None:
        """
        Run queued calls until C{done()}: a pool wake-up may deliver several
        completions at once, so the number of calls is not fixed.
        """
        while not done():
            self.pump(1, timeout)


@implementer(IBackend)
class FakeBackend:
    def __init__(self) -> None:
        self.opened: list[tuple[str, bool]] = []
        self.closed: list[object] = []

    def open(self, uri: str, readonly: bool) -> object:
        if uri == "test:///refuse":
            raise LibvirtError.fromCode(38, 0, "cannot open")
        self.opened.append((uri, readonly))
        return object()

    def getURI(self, conn: object) -> str:
        return self.opened[-1][0]

    def close(self, conn: object) -> None:
        self.closed.append(conn)

    def supportsFeature(self, conn: object, feature: int) -> int:
        return 0


class DispatcherHarness:
    """
    Helpers for tests that drive a L{Dispatcher} (C{self.dispatcher}, with
    a L{QueueReactor} as C{self.reactor}) over string transports.
    """

    serial = 0

    def connect(self, readonly: bool):
        peer = ServerPeer(self.reactor, isServer=True)
        session = ClientSession(self.dispatcher, peer,
                                ListenerInfo("unix", readonly, "unix:test"))
        peer.session = session  # its callHandler goes to session.dispatcher
        transport = StringTransport()
        peer.makeConnection(transport)
        return transport, session

    def send(self, proc: int, payload: bytes = b"", prog: int = P,
             vers: int = 1, status: int = VIR_NET_OK, session=None,
             transport=None) -> int:
        serial = self.serial
        self.serial += 1
        (session or self.session).peer.dataReceived(encodeFrame(
            Header(prog, vers, proc, VIR_NET_CALL, serial, status), payload))
        return serial

    def replies(self, transport=None) -> list:
        t = transport or self.transport
        data = t.value()
        t.clear()
        out = []
        while data:
            (n,) = struct.unpack(">I", data[:4])
            body, data = data[4:n], data[n:]
            h = decodeHeader(body)
            self.assertEqual(h.type, VIR_NET_REPLY)
            if h.status == VIR_NET_ERROR:
                out.append((h, RemoteError.decode(body[24:])))
            else:
                out.append((h, body[24:]))
        return out

    def error(self, expectSerial=None):
        [(h, e)] = self.replies()
        self.assertEqual(h.status, VIR_NET_ERROR)
        if expectSerial is not None:
            self.assertEqual(h.serial, expectSerial)
        return h, e

    def openConnection(self, flags: int = 0, name: str = "test:///default",
                       session=None, pump: bool = True) -> None:
        self.send(1, remote.BY_NAME["CONNECT_OPEN"].args.pack((name, flags)),
                  session=session)
        if pump:
            self.reactor.pump()

class DispatchTests(DispatcherHarness, SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = QueueReactor()
        self.backend = FakeBackend()
        self.gate = threading.Event()
        self.gate.set()
        self.seen: list = []

        def getInfo(ctx, args):
            self.gate.wait(5)
            self.seen.append((ctx.session, args))
            return (1, 8388608, 2097152, 2, 123)

        def lookup(ctx, args):
            if args.name != "test":
                raise LibvirtError("Domain not found", 42, 12,
                                   str1="Domain not found")
            return (DOM,)

        def broken(ctx, args):
            raise RuntimeError("bug in a handler")

        handlers = {"DOMAIN_GET_INFO": getInfo,
                    "DOMAIN_LOOKUP_BY_NAME": lookup,
                    "DOMAIN_DESTROY": lambda ctx, args: None,
                    "DOMAIN_GET_XML_DESC": lambda ctx, args: ("<domain/>",),
                    "CONNECT_GET_TYPE": broken}
        self.config = ServerConfig(unix="/nonexistent", maxClientRequests=2,
                                   workers=2, prioWorkers=1)
        self.dispatcher = Dispatcher(self.reactor, self.config, self.backend,
                                     handlers)
        self.addCleanup(self.dispatcher.normal.stop)
        self.addCleanup(self.dispatcher.priority.stop)
        self.transport, self.session = self.connect(readonly=False)
        self.serial = 0

    # -- protocol errors, worded as libvirtd words them ----------------------

    def test_unknownProgram(self) -> None:
        serial = self.send(3, prog=5, vers=7)
        h, e = self.error(serial)
        self.assertEqual((h.prog, h.vers, h.proc), (5, 7, 3))
        self.assertEqual((e.code, e.domain, e.message),
                         (39, 7, "Cannot find program 5 version 7"))
        self.assertEqual((e.str1, e.str2), ("%s", e.message))

    def test_keepaliveProgramCall(self) -> None:
        self.send(1, prog=KEEPALIVE_PROGRAM)
        _, e = self.error()
        self.assertEqual(e.message, "Cannot find program 1801807216 version 1")

    def test_badStatus(self) -> None:
        self.send(3, status=1)
        _, e = self.error()
        self.assertEqual((e.code, e.domain, e.message),
                         (39, 7, "Unexpected message status 1"))

    def test_unknownProcedures(self) -> None:
        for proc in (0, -1, 444, 107, 318):  # gap/out of range, events
            self.send(proc)
            _, e = self.error()
            self.assertEqual((e.code, e.domain, e.message, e.level),
                             (39, 7, f"unknown procedure: {proc}", 2))

    def test_undecodableBeforeOpen(self) -> None:
        """
        As in libvirtd, undecodable arguments are reported before the
        missing hypervisor connection is.
        """
        self.send(23, b"\0\0\0\5tes")
        _, e = self.error()
        self.assertEqual((e.code, e.domain, e.message),
                         (39, 7, "Unable to decode message payload"))

    def test_unimplementedProcedure(self) -> None:
        self.openConnection()
        self.replies()
        setVcpus = remote.BY_NAME["DOMAIN_SET_VCPUS"]
        self.send(setVcpus.number, setVcpus.args.pack((DOM, 1)))
        _, e = self.error()
        self.assertEqual(e.message, f"unknown procedure: {setVcpus.number}")

    def test_undecodable(self) -> None:
        """
        Arguments that do not decode get libvirt's "Unable to decode"
        error; on an open connection the worker finds out.
        """
        self.openConnection()
        self.replies()
        for payload in (b"", b"\0\0\0\5tes", xdr.String().pack("test") + b"x",
                        b"\xff\xff\xff\xff"):
            self.send(23, payload)
            self.reactor.pumpUntil(lambda: self.session.inFlight == 0)
            _, e = self.error()
            self.assertEqual((e.code, e.domain, e.message),
                             (39, 7, "Unable to decode message payload"))
        # The connection stays usable.
        self.send(23, xdr.String().pack("test"))
        self.reactor.pump()
        [(h, body)] = self.replies()
        self.assertEqual(h.status, VIR_NET_OK)

    # -- the handshake -------------------------------------------------------

    def test_authList(self) -> None:
        self.send(66)
        [(h, body)] = self.replies()
        self.assertEqual(body, b"\0\0\0\1\0\0\0\0")

    def test_beforeOpen(self) -> None:
        for proc, payload in ((3, b""), (23, xdr.String().pack("test")),
                              (60, xdr.Int.pack(14)), (110, b""),
                              (360, b""), (361, b"")):
            self.send(proc, payload)
            _, e = self.error()
            self.assertEqual((e.code, e.domain, e.message),
                             (1, 7, "internal error: hypervisor connection "
                                    "not open"))
            self.assertEqual(e.str2, "hypervisor connection not open")

    def test_keepaliveFeatureBeforeOpen(self) -> None:
        self.config.keepaliveInterval = -1  # no timers in this reactor
        self.send(60, xdr.Int.pack(10))
        [(h, body)] = self.replies()
        self.assertEqual(body, b"\0\0\0\1")
        self.assertTrue(self.session.keepalive)

    def test_features(self) -> None:
        self.openConnection()
        self.replies()
        answers = {}
        for f in (1, 2, 3, 8, 9, 11, 14, 15, 16, 17, 99, -1):
            self.send(60, xdr.Int.pack(f))
            [(h, body)] = self.replies()
            answers[f] = xdr.Int.decode(body)
        self.assertEqual(answers, {1: 0, 2: 0, 3: 0, 8: 1, 9: 1, 11: 0, 14: 1,
                                   15: 1, 16: 1, 17: 0, 99: 0, -1: 0})

    def test_open(self) -> None:
        self.openConnection(flags=2)  # bit 1 (USER) is ignored
        [(h, body)] = self.replies()
        self.assertEqual((h.status, body), (VIR_NET_OK, b""))
        self.assertEqual(self.backend.opened, [("test:///default", False)])
        self.send(110)
        [(h, body)] = self.replies()
        self.assertEqual(xdr.String().decode(body), "test:///default")

    def test_openDefaultURI(self) -> None:
        self.config.uri = "test:///other"
        self.openConnection(name="")
        self.assertEqual(self.backend.opened, [("test:///other", False)])

    def test_secondOpen(self) -> None:
        self.openConnection()
        self.replies()
        self.send(1, remote.BY_NAME["CONNECT_OPEN"].args.pack(
            ("test:///default", 0)))
        _, e = self.error()
        self.assertEqual((e.code, e.domain, e.message),
                         (1, 7, "internal error: connection already open"))
        # Unlike libvirtd 9.0.0, the first connection survives.
        self.send(23, xdr.String().pack("test"))
        self.reactor.pump()
        [(h, body)] = self.replies()
        self.assertEqual(h.status, VIR_NET_OK)

    def test_openRefusedByBackend(self) -> None:
        self.openConnection(name="test:///refuse")
        _, e = self.error()
        self.assertEqual((e.code, e.domain), (38, 0))
        self.assertIsNone(self.session.conn)

    def test_openRemoteURIRefused(self) -> None:
        for name in ("qemu+ssh://h/system", "test://host/default",
                     "remote:///", "test+tcp://127.0.0.1/default", "default",
                     "qemu:///system?socket=/run/elsewhere",
                     "qemu:///system?SOCKET=/run/elsewhere",
                     "qemu:///system?mode=direct",
                     "qemu:///system?x=1;socket=/run/elsewhere",
                     "qemu:///system?sock%65t=/run/elsewhere",
                     "test:///default?x=1&name=test%2Btcp://h/default"):
            self.send(1, remote.BY_NAME["CONNECT_OPEN"].args.pack((name, 0)))
            _, e = self.error()
            self.assertEqual(e.code, 29)
            self.assertIn(name, e.message)
        self.assertEqual(self.backend.opened, [])

    def test_remoteDriverParametersNamed(self) -> None:
        """
        The refusal names the remote-driver parameters it found; other
        parameters (a local driver's own) are left to the driver.
        """
        e = uriRefusal("qemu:///system?mode=direct&Socket=/x&flag", [])
        self.assertIn("sets mode, socket, which only libvirt's remote driver",
                      e.get_error_message())
        self.assertIsNone(uriRefusal("qemu:///embed?root=/var/lib/x", []))

    def test_allowURI(self) -> None:
        self.config.allowURIs = ["test:///def*"]
        self.assertIsNone(uriRefusal("test:///default", ["test:///def*"]))
        self.openConnection(name="test:///other", pump=False)
        _, e = self.error()
        self.assertIn("--allow-uri", e.message)
        self.openConnection(name="test:///default")
        [(h, body)] = self.replies()
        self.assertEqual(h.status, VIR_NET_OK)

    def test_closeCallbacks(self) -> None:
        self.openConnection()
        self.replies()
        for proc in (360, 360, 361, 361):
            self.send(proc)
            [(h, body)] = self.replies()
            self.assertEqual((h.status, body), (VIR_NET_OK, b""))

    def test_close(self) -> None:
        self.openConnection()
        self.replies()
        self.send(2)
        [(h, body)] = self.replies()
        self.assertEqual((h.proc, h.status), (2, VIR_NET_OK))
        self.assertTrue(self.transport.disconnecting)

    def test_poolsFollowConfig(self) -> None:
        """
        Both pools get the configured scheduling policy for their threads.
        """
        self.assertEqual((self.dispatcher.normal.batch,
                          self.dispatcher.priority.batch), (True, True))
        config = ServerConfig(unix="/nonexistent", batchWorkers=False)
        other = Dispatcher(self.reactor, config, self.backend, {})
        self.assertEqual((other.normal.batch, other.priority.batch),
                         (False, False))

    def test_releaseOnDisconnect(self) -> None:
        self.openConnection()
        self.replies()
        conn = self.session.conn
        self.session.peer.connectionLost(_failure())
        self.reactor.pump()
        self.assertEqual(self.backend.closed, [conn])
        self.assertNotIn(self.session, self.dispatcher.sessions)

    # -- calls ---------------------------------------------------------------

    def test_call(self) -> None:
        self.openConnection()
        self.replies()
        serial = self.send(16, remote.BY_NAME["DOMAIN_GET_INFO"].args.pack(
            (DOM,)))
        self.reactor.pump()
        [(h, body)] = self.replies()
        self.assertEqual((h.proc, h.serial, h.status), (16, serial, 0))
        self.assertEqual(tuple(remote.BY_NAME["DOMAIN_GET_INFO"].ret.decode(
            body)), (1, 8388608, 2097152, 2, 123))
        session, args = self.seen[0]
        self.assertIs(session, self.session)
        self.assertEqual(args.dom.name, "test")

    def test_libvirtError(self) -> None:
        self.openConnection()
        self.replies()
        self.send(23, xdr.String().pack("nope"))
        self.reactor.pump()
        _, e = self.error()
        self.assertEqual((e.code, e.domain, e.message, e.str1),
                         (42, 12, "Domain not found", "Domain not found"))

    def test_handlerBug(self) -> None:
        self.openConnection()
        self.replies()
        self.send(3)
        self.reactor.pump()
        _, e = self.error()
        self.assertEqual((e.code, e.domain), (1, 7))
        self.assertIn("CONNECT_GET_TYPE", e.message)
        self.assertIn("bug in a handler", e.message)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_inFlightCap(self) -> None:
        """
        With max-client-requests 2, the third pipelined call waits: the
        client's transport is paused until a slot frees.
        """
        self.openConnection()
        self.replies()
        self.gate.clear()
        args = remote.BY_NAME["DOMAIN_GET_INFO"].args.pack((DOM,))
        frames = b"".join(encodeFrame(Header(P, 1, 16, 0, s, 0), args)
                          for s in (10, 11, 12))
        self.session.peer.dataReceived(frames)
        self.assertEqual(self.session.inFlight, 2)
        self.assertEqual(self.transport.producerState, "paused")
        self.gate.set()
        self.reactor.pumpUntil(lambda: self.session.inFlight == 0)
        serials = sorted(h.serial for h, _ in self.replies())
        self.assertEqual(serials, [10, 11, 12])
        self.assertEqual(self.session.inFlight, 0)
        self.assertEqual(self.transport.producerState, "producing")

    def test_priorityPool(self) -> None:
        """
        High-priority calls go to the priority pool when every normal
        worker is busy.
        """
        self.openConnection()
        self.replies()
        self.gate.clear()
        t2, s2 = self.connect(readonly=False)
        self.openConnection(session=s2)
        t2.clear()
        info = remote.BY_NAME["DOMAIN_GET_INFO"].args.pack((DOM,))
        self.send(16, info)
        self.send(16, info)
        self.assertEqual(self.dispatcher.normal.busy, 2)
        self.send(23, xdr.String().pack("test"), session=s2)
        self.reactor.pump()
        self.assertEqual(self.dispatcher.priority.busy, 0)
        self.assertEqual(len(self.replies(t2)), 1)
        self.gate.set()
        self.reactor.pumpUntil(lambda: self.dispatcher.normal.busy == 0)
        self.assertEqual(len(self.replies()), 2)

    # -- read-only -----------------------------------------------------------

    def test_readonlyListener(self) -> None:
        transport, session = self.connect(readonly=True)
        self.openConnection(session=session)
        self.assertEqual(self.backend.opened, [("test:///default", True)])
        self.assertTrue(session.readonly)
        transport.clear()
        self.send(12, remote.BY_NAME["DOMAIN_DESTROY"].args.pack((DOM,)),
                  session=session)
        [(h, e)] = self.replies(transport)
        self.assertEqual((e.code, e.domain, e.message, e.str1, e.str2),
                         (29, 20, "operation forbidden: read only access "
                                  "prevents virDomainDestroy",
                          "operation forbidden: %s",
                          "read only access prevents virDomainDestroy"))
        xmlDesc = remote.BY_NAME["DOMAIN_GET_XML_DESC"]
        self.send(14, xmlDesc.args.pack((DOM, 1)), session=session)
        [(h, e)] = self.replies(transport)
        self.assertEqual(e.message, "operation forbidden: virDomainGetXMLDesc "
                                    "with secure flag")
        self.send(14, xmlDesc.args.pack((DOM, 2)), session=session)
        self.reactor.pump()
        [(h, body)] = self.replies(transport)
        self.assertEqual(h.status, VIR_NET_OK)

    def test_readonlyFlag(self) -> None:
        self.openConnection(flags=1)
        self.assertEqual(self.backend.opened, [("test:///default", True)])
        self.replies()
        self.send(12, remote.BY_NAME["DOMAIN_DESTROY"].args.pack((DOM,)))
        _, e = self.error()
        self.assertEqual(e.code, 29)


def _failure():
    from twisted.internet.error import ConnectionDone
    from twisted.python.failure import Failure

    return Failure(ConnectionDone())


class SessionlessPeerTests(SynchronousTestCase):
    def test_callRefused(self):
        """
        A daemon-side peer with no session answers a call with libvirt's
        RPC error instead of dropping it.
        """
        from twisted.internet.task import Clock

        peer = ServerPeer(Clock(), isServer=True)
        transport = StringTransport()
        peer.makeConnection(transport)
        peer.dataReceived(encodeFrame(
            Header(P, 1, remote.REMOTE_PROC_CONNECT_OPEN, VIR_NET_CALL, 7,
                   VIR_NET_OK), b""))
        data = transport.value()
        header = decodeHeader(data[4:28])
        self.assertEqual((header.serial, header.status), (7, VIR_NET_ERROR))
        self.assertIn(b"no session", data)
