"""
Tests for the daemon's TLS layer (L{virtd.tls.memorybio} over
L{virtd.tls.sslcontext}) with real TLS clients: Python's C{ssl} (OpenSSL)
in a thread, certificates made by the test.
"""

from __future__ import annotations

import datetime
import os
import socket
import ssl
import time
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from twisted.internet import defer, protocol, reactor, threads
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.interfaces import IHandshakeListener
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import TestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tests.support import removeTree, shortTempDir
from tests.test_tls import AUTH_LIST_CALL, AUTH_LIST_REPLY, AuthListServer
from virtd import pki
from virtd.errors import LibvirtError
from virtd.rpc.directwrite import CARRIED, SENT, IReplySender
from virtd.tls import ConfirmingServerFactory, TLSServerFactory, serverSSLContext


class Echo(protocol.Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


class GreetsFirst(protocol.Protocol):
    """
    Writes before the handshake has finished (in connectionMade).
    """

    def connectionMade(self) -> None:
        self.transport.write(b"hello")


class TLSServerTests(TestCase):
    timeout = 60

    def setUp(self) -> None:
        self.dir = shortTempDir("vdtls")
        self.addCleanup(removeTree, self.dir)
        self.ca = pki.makeCA(os.path.join(self.dir, "ca"), keySize=2048)
        self.clientDir = os.path.join(self.dir, "client")
        pki.writeClientLayout(self.clientDir, self.ca)
        self.serverDir = os.path.join(self.dir, "srv")
        pki.writeServerLayout(self.serverDir, self.ca)
        self.logged: list[str] = []

        def observe(event: dict) -> None:
            if event.get("log_namespace") == "virtd.tls":
                from twisted.logger import formatEvent

                self.logged.append(formatEvent(event))

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)

    @defer.inlineCallbacks
    def listen(self, factory: Any, confirm: bool = True, **kw: Any) -> Any:
        ctx = serverSSLContext(self.serverDir, **kw)
        if confirm:
            factory = ConfirmingServerFactory(factory, handshakeTimeout=5, reactor=reactor)
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            TLSServerFactory(factory, ctx))
        self.addCleanup(port.stopListening)
        return port.getHost().port

    def clientContext(self, certDir: str | None = None,
                      maxVersion: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=f"{self.clientDir}/cacert.pem")
        if certDir is not None:
            ctx.load_cert_chain(f"{certDir}/clientcert.pem", f"{certDir}/clientkey.pem")
        if maxVersion is not None:
            ctx.maximum_version = maxVersion
        return ctx

    def authList(self, port: int, ctx: ssl.SSLContext) -> tuple[bytes, str, bool]:
        """
        In a thread: the confirmation byte and an AUTH_LIST reply, the TLS
        version, and whether a session ticket came with them.
        """
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                got = s.recv(1)
                s.sendall(AUTH_LIST_CALL)
                got += receive(s, len(AUTH_LIST_REPLY))
                return got, s.version() or "", s.session.has_ticket

    @defer.inlineCallbacks
    def test_tls13WithoutTickets(self) -> None:
        """
        The daemon's TLS is 1.3 and sends no session ticket: libvirt's
        client reads the confirmation byte first thing after its handshake.
        """
        port = yield self.listen(protocol.Factory.forProtocol(AuthListServer))
        got, version, ticket = yield threads.deferToThread(
            self.authList, port, self.clientContext(self.clientDir))
        self.assertEqual(got, b"\x01" + AUTH_LIST_REPLY)
        self.assertEqual(version, "TLSv1.3")
        self.assertFalse(ticket)

    @defer.inlineCallbacks
    def test_tls12Client(self) -> None:
        """
        A client that stops at TLS 1.2 is still served.
        """
        port = yield self.listen(protocol.Factory.forProtocol(AuthListServer))
        got, version, _ = yield threads.deferToThread(
            self.authList, port,
            self.clientContext(self.clientDir, maxVersion=ssl.TLSVersion.TLSv1_2))
        self.assertEqual(got, b"\x01" + AUTH_LIST_REPLY)
        self.assertEqual(version, "TLSv1.2")

    @defer.inlineCallbacks
    def test_refusedCertificateLogged(self) -> None:
        """
        A client certificate from another CA fails the handshake; the log
        says who and why, and the next client is served.
        """
        port = yield self.listen(protocol.Factory.forProtocol(AuthListServer))
        other = pki.initPKI(os.path.join(self.dir, "other"))
        yield self.assertFailure(threads.deferToThread(
            self.authList, port, self.clientContext(other.clientDir)),
            ssl.SSLError, ConnectionError)
        yield self.waitForLog("failed the handshake")
        [line] = [m for m in self.logged if "failed the handshake" in m]
        self.assertIn("TLS client 127.0.0.1:", line)
        self.assertIn("its certificate did not verify (unable to get local issuer "
                      "certificate); dropping it", line)
        got, _, _ = yield threads.deferToThread(
            self.authList, port, self.clientContext(self.clientDir))
        self.assertEqual(got, b"\x01" + AUTH_LIST_REPLY)

    @defer.inlineCallbacks
    def test_revokedCertificate(self) -> None:
        """
        With cacrl.pem revoking the client's certificate, it is refused.
        """
        with open(f"{self.clientDir}/clientcert.pem", "rb") as f:
            serial = x509.load_pem_x509_certificate(f.read()).serial_number
        now = datetime.datetime.now(datetime.UTC)
        crl = (x509.CertificateRevocationListBuilder()
               .issuer_name(self.ca.cert.subject)
               .last_update(now - datetime.timedelta(minutes=5))
               .next_update(now + datetime.timedelta(days=1))
               .add_revoked_certificate(
                   x509.RevokedCertificateBuilder().serial_number(serial)
                   .revocation_date(now - datetime.timedelta(minutes=1)).build())
               .sign(self.ca.key, hashes.SHA256()))
        with open(f"{self.serverDir}/cacrl.pem", "wb") as f:
            f.write(crl.public_bytes(serialization.Encoding.PEM))
        port = yield self.listen(protocol.Factory.forProtocol(AuthListServer))
        yield self.assertFailure(threads.deferToThread(
            self.authList, port, self.clientContext(self.clientDir)),
            ssl.SSLError, ConnectionError)
        yield self.waitForLog("failed the handshake")
        self.assertIn("certificate revoked", " ".join(self.logged))

    @defer.inlineCallbacks
    def test_noClientCertificateAsked(self) -> None:
        """
        verifyClient=False: a client without a certificate is served.
        """
        port = yield self.listen(protocol.Factory.forProtocol(AuthListServer),
                                 verifyClient=False)
        got, _, _ = yield threads.deferToThread(self.authList, port, self.clientContext())
        self.assertEqual(got, b"\x01" + AUTH_LIST_REPLY)

    @defer.inlineCallbacks
    def test_largeData(self) -> None:
        """
        A megabyte each way crosses many TLS records and socket reads.
        """
        port = yield self.listen(protocol.Factory.forProtocol(Echo), confirm=False)
        ctx = self.clientContext(self.clientDir)
        data = os.urandom(1 << 20)

        def echo() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(data)
                    return receive(s, len(data))

        got = yield threads.deferToThread(echo)
        self.assertEqual(got, data)

    @defer.inlineCallbacks
    def test_writeBeforeHandshake(self) -> None:
        """
        What the wrapped protocol writes before the handshake is done is
        sent once it is.
        """
        port = yield self.listen(protocol.Factory.forProtocol(GreetsFirst),
                                 confirm=False)
        ctx = self.clientContext(self.clientDir)

        def read() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    return s.recv(10)

        got = yield threads.deferToThread(read)
        self.assertEqual(got, b"hello")

    @defer.inlineCallbacks
    def test_closeNotifyAnswered(self) -> None:
        """
        A client's close_notify is answered with ours and the connection
        is closed: the client's unwrap() returns.
        """
        port = yield self.listen(protocol.Factory.forProtocol(AuthListServer))
        ctx = self.clientContext(self.clientDir)

        def closeCleanly() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                s = ctx.wrap_socket(raw, server_hostname="localhost")
                self.assertEqual(s.recv(1), b"\x01")
                plain = s.unwrap()
                return plain.recv(10)

        got = yield threads.deferToThread(closeCleanly)
        self.assertEqual(got, b"")

    @defer.inlineCallbacks
    def test_garbage(self) -> None:
        """
        Bytes that are not TLS, before and after a handshake, get the
        client logged and hung up on at once (not at the handshake
        deadline), its descriptors closed; the listener keeps serving.
        """
        port = yield self.listen(protocol.Factory.forProtocol(AuthListServer))
        # The reactor's thread pool (and its waker pipe) first, then count.
        yield threads.deferToThread(lambda: None)
        descriptors = len(os.listdir("/proc/self/fd"))

        def untilClosed(sock: socket.socket) -> tuple[bytes, float]:
            # What arrives until the server hangs up, and how long that took.
            started, got = time.monotonic(), b""
            while True:
                try:
                    chunk = sock.recv(100)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                got += chunk
            return got, time.monotonic() - started

        def plain() -> tuple[bytes, float]:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(AUTH_LIST_CALL)
                return untilClosed(s)

        ctx = self.clientContext(self.clientDir)

        def corrupt() -> tuple[bytes, float]:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                s = ctx.wrap_socket(raw, server_hostname="localhost")
                self.assertEqual(s.recv(1), b"\x01")
                # Past the TLS layer: an application-data record header
                # with nonsense after it; then read the bytes themselves.
                with socket.socket(fileno=os.dup(s.fileno())) as below:
                    below.settimeout(10)
                    below.sendall(b"\x17\x03\x03\x00\x20" + b"\x00" * 32)
                    return untilClosed(below)

        # The server hangs up itself, well before the 5 s handshake deadline.
        got, took = yield threads.deferToThread(plain)
        # At most an alert, never an RPC reply.
        self.assertNotIn(AUTH_LIST_REPLY, got)
        self.assertLess(took, 4)
        yield self.waitForLog("failed the handshake: it does not speak TLS")
        _, took = yield threads.deferToThread(corrupt)
        self.assertLess(took, 4)
        yield self.waitForLog("sent bad TLS data")
        got, _, _ = yield threads.deferToThread(
            self.authList, port, self.clientContext(self.clientDir))
        self.assertEqual(got, b"\x01" + AUTH_LIST_REPLY)
        # Every connection's descriptors are closed again.
        for _ in range(200):
            if len(os.listdir("/proc/self/fd")) <= descriptors:
                break
            yield deferLater(0.01)
        self.assertLessEqual(len(os.listdir("/proc/self/fd")), descriptors)

    @defer.inlineCallbacks
    def test_sendFromThread(self) -> None:
        """
        A worker thread encrypts and sends on its own; what the kernel did
        not take is carried, and goes out before the reactor's next write.
        (Workers use it for replies, see ServerPeer.sharedSender.)
        """
        outcomes: list[str] = []
        big = os.urandom(4 << 20)

        @implementer(IHandshakeListener)
        class FromThread(protocol.Protocol):
            def handshakeCompleted(self) -> None:
                # A small send buffer: one send cannot take the big message.
                self.transport.getHandle().setsockopt(
                    socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
                sender = self.transport.threadSender()
                verifyObject(IReplySender, sender)
                if not sender.prepare():
                    outcomes.append("not prepared")
                    return
                d = threads.deferToThread(sender.sendFromThread, b"first")
                d.addCallback(outcomes.append)
                # Too much for the socket's buffers: part is carried.
                d.addCallback(lambda _: threads.deferToThread(sender.sendFromThread, big))
                d.addCallback(outcomes.append)
                # The reactor writes before taking the carried part itself.
                d.addCallback(lambda _: self.transport.write(b"last"))
                d.addCallback(lambda _: outcomes.append(sender.flush()))

        port = yield self.listen(protocol.Factory.forProtocol(FromThread),
                                 confirm=False)
        ctx = self.clientContext(self.clientDir)
        want = len(b"first") + len(big) + len(b"last")

        def read() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"go")  # the handshake finishes on the server
                    return receive(s, want)

        got = yield threads.deferToThread(read)
        self.assertEqual(got, b"first" + big + b"last")
        self.assertEqual(outcomes, [SENT, CARRIED, 0])

    def test_badFiles(self) -> None:
        """
        A key that does not match the certificate is named at startup.
        """
        other = pki.initPKI(os.path.join(self.dir, "other"))
        os.replace(f"{other.serverDir}/serverkey.pem", f"{self.serverDir}/serverkey.pem")
        e = self.assertRaises(LibvirtError, serverSSLContext, self.serverDir)
        self.assertIn(f"Cannot load server certificate '{self.serverDir}/servercert.pem' "
                      f"or key '{self.serverDir}/serverkey.pem'", e.get_error_message())
        self.assertIn("key values mismatch", e.get_error_message())

    @defer.inlineCallbacks
    def waitForLog(self, text: str) -> Any:
        for _ in range(200):
            if any(text in m for m in self.logged):
                return
            yield deferLater(0.01)
        self.fail(f"nothing logged with {text!r}: {self.logged}")


def receive(s: socket.socket, count: int) -> bytes:
    """
    Read C{count} bytes from C{s}, or what came before it closed.
    """
    got = bytearray()
    while len(got) < count:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    return bytes(got)


def deferLater(seconds: float) -> defer.Deferred:
    from twisted.internet.task import deferLater as later

    return later(reactor, seconds, lambda: None)
