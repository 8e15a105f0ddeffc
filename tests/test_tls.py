"""
Tests for L{virtd.tls}: the client against a real libvirtd and against
TLS servers run here with Twisted (our server side), with certificates
made by the test.
"""

from __future__ import annotations

import datetime
import os
import socket
import ssl
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from twisted.internet import defer, protocol, reactor, threads
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.support import RealLibvirtd, removeTree, shortTempDir
from tests.test_transports import (
    AUTH_LIST_CALL,
    AUTH_LIST_REPLY,
    RawRPC,
    authListOver,
    factoryFor,
)
from virtd import pki
from virtd.errors import VIR_ERR_RPC, LibvirtError
from virtd.tls import (
    ConfirmingServerFactory,
    TLSServerFactory,
    certificateDN,
    dnMatches,
    locateClientCredentials,
    serverSSLContext,
)
from virtd.transports import endpointFor
from virtd.uri import parse


class AuthListServer(protocol.Protocol):
    """
    Answers one AUTH_LIST call as libvirtd would.
    """

    def connectionMade(self) -> None:
        self.buffer = b""

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        if self.buffer.startswith(AUTH_LIST_CALL):
            self.buffer = self.buffer[len(AUTH_LIST_CALL):]
            self.transport.write(AUTH_LIST_REPLY)


class Silent(protocol.Protocol):
    """
    Says nothing, ever.
    """


class WrongByte(protocol.Protocol):
    def connectionMade(self) -> None:
        self.transport.write(b"\x02")


def serverCertWithoutSAN(directory: str, ca: pki.CertAndKey) -> None:
    """
    Write a server pkipath whose certificate has no subjectAltName.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .sign(ca.key, hashes.SHA256())
    )
    pki._writeCACert(directory, ca)
    pki._write(directory, pki.CertAndKey(cert, key), pki.SERVER_CERT, pki.SERVER_KEY)


class Fixture:
    """
    A CA, a client pkipath, and TLS servers (ours) on 127.0.0.1.
    """

    def __init__(self, testCase: TestCase) -> None:
        self.testCase = testCase
        self.dir = shortTempDir("vdtls")
        testCase.addCleanup(removeTree, self.dir)
        self.ca = pki.makeCA(os.path.join(self.dir, "ca"), keySize=2048)
        self.clientDir = os.path.join(self.dir, "client")
        pki.writeClientLayout(self.clientDir, self.ca)

    def serverDir(self, name: str, **kw: Any) -> str:
        path = os.path.join(self.dir, name)
        pki.writeServerLayout(path, self.ca, **kw)
        return path

    @defer.inlineCallbacks
    def listen(self, serverDir: str, factory: Any, confirm: bool = True,
               allowedDNs: Any = None) -> Any:
        ctx = serverSSLContext(serverDir)
        if confirm:
            factory = ConfirmingServerFactory(factory, allowedDNs=allowedDNs,
                                              handshakeTimeout=5, reactor=reactor)
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            TLSServerFactory(factory, ctx))
        self.testCase.addCleanup(port.stopListening)
        return port.getHost().port

    def endpoint(self, host: str, port: int, extra: str = "", timeout: float = 10,
                 pkipath: str | None = None) -> Any:
        name = (f"test+tls://{host}:{port}/default?pkipath={pkipath or self.clientDir}"
                + extra)
        return endpointFor(reactor, parse(name), timeout=timeout)


class RealLibvirtdTests(TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def test_tls(self) -> None:
        """
        TLS to a real libvirtd by IP and by name: the confirmation byte is
        consumed, the first bytes the protocol sees are the RPC reply.
        """
        daemon = RealLibvirtd.forTest(self, tls=True)
        for host in ("127.0.0.1", "localhost"):
            ep = endpointFor(reactor, parse(daemon.uri("tls", host=host)))
            yield authListOver(self, ep)
        # and through the remote: syntax
        ep = endpointFor(reactor, parse(
            f"remote:tls:127.0.0.1:{daemon.tlsPort} pkipath={daemon.clientPki}"))
        yield authListOver(self, ep)

    @defer.inlineCallbacks
    def test_wrongCA(self) -> None:
        """
        Our pkipath holds another CA: the server certificate is not signed
        by it, and the message names our CA file.
        """
        daemon = RealLibvirtd.forTest(self, tls=True)
        other = shortTempDir("vdca")
        self.addCleanup(removeTree, other)
        ca = pki.makeCA(os.path.join(other, "ca"))
        pki.writeClientLayout(os.path.join(other, "client"), ca)
        ep = endpointFor(reactor, parse(
            f"test+tls://127.0.0.1:{daemon.tlsPort}/default?pkipath={other}/client"))
        e = yield self.assertFailure(ep.connect(factoryFor(RawRPC())), LibvirtError)
        self.assertIn(f"server certificate is not signed by the CA in {other}/client/cacert.pem",
                      e.get_error_message())

    @defer.inlineCallbacks
    def test_serverRefusesOurDN(self) -> None:
        """
        libvirtd's tls_allowed_dn_list does not list our DN: it closes
        without the confirmation byte and we say what to check.
        """
        daemon = RealLibvirtd.forTest(self, tls=True, allowedDNs=["C=XX,CN=nobody"])
        ep = endpointFor(reactor, parse(daemon.uri("tls")))
        e = yield self.assertFailure(ep.connect(factoryFor(RawRPC())), LibvirtError)
        self.assertIn("server refused our client certificate", e.get_error_message())
        self.assertIn("tls_allowed_dn_list", e.get_error_message())

    @defer.inlineCallbacks
    def test_clientCertFromOtherCA(self) -> None:
        """
        Our certificate is signed by another CA: the sanity check says so
        up front; with no_sanity=1 the server refuses it.
        """
        daemon = RealLibvirtd.forTest(self, tls=True)
        other = shortTempDir("vdca")
        self.addCleanup(removeTree, other)
        ca = pki.makeCA(os.path.join(other, "ca"))
        mixed = os.path.join(other, "mixed")
        pki.writeClientLayout(mixed, ca)
        with open(os.path.join(daemon.clientPki, "cacert.pem"), "rb") as src:
            with open(os.path.join(mixed, "cacert.pem"), "wb") as dst:
                dst.write(src.read())
        base = f"test+tls://127.0.0.1:{daemon.tlsPort}/default?pkipath={mixed}"
        ep = endpointFor(reactor, parse(base))
        e = yield self.assertFailure(ep.connect(factoryFor(RawRPC())), LibvirtError)
        self.assertIn("is not signed by the CA", e.get_error_message())
        self.assertIn("our client certificate", e.get_error_message())
        ep = endpointFor(reactor, parse(base + "&no_sanity=1"))
        e = yield self.assertFailure(ep.connect(factoryFor(RawRPC())), LibvirtError)
        self.assertIn("server refused our client certificate", e.get_error_message())


class OwnServerTests(TestCase):
    timeout = 60

    def setUp(self) -> None:
        self.fx = Fixture(self)

    @defer.inlineCallbacks
    def test_ourServerAndClient(self) -> None:
        """
        Our server side (context factory + ConfirmingServerFactory) with our
        client; the wrapped protocol gets the client's DN.
        """
        seen: list[Any] = []

        class Recording(AuthListServer):
            def connectionMade(self) -> None:
                seen.append(self.tlsPeerDN)
                super().connectionMade()

        port = yield self.fx.listen(self.fx.serverDir("srv"),
                                    protocol.Factory.forProtocol(Recording),
                                    allowedDNs=["C=GB,O=virtd,CN=*"])
        yield authListOver(self, self.fx.endpoint("127.0.0.1", port))
        yield authListOver(self, self.fx.endpoint("localhost", port))
        self.assertEqual(seen, [pki.DEFAULT_CLIENT_DN] * 2)

    @defer.inlineCallbacks
    def test_ourServerRefusesDN(self) -> None:
        port = yield self.fx.listen(self.fx.serverDir("srv"),
                                    protocol.Factory.forProtocol(AuthListServer),
                                    allowedDNs=["C=GB,O=virtd,CN=admin"])
        e = yield self.assertFailure(
            self.fx.endpoint("127.0.0.1", port).connect(factoryFor(RawRPC())),
            LibvirtError)
        self.assertIn("server refused our client certificate", e.get_error_message())

    @defer.inlineCallbacks
    def test_ourServerRequiresClientCert(self) -> None:
        """
        A client without a certificate is refused during the handshake.
        """
        port = yield self.fx.listen(self.fx.serverDir("srv"),
                                    protocol.Factory.forProtocol(AuthListServer))
        bare = os.path.join(self.fx.dir, "bare")
        os.makedirs(bare)
        with open(os.path.join(self.fx.clientDir, "cacert.pem"), "rb") as f:
            ca = f.read()
        with open(os.path.join(bare, "cacert.pem"), "wb") as f:
            f.write(ca)
        e = yield self.assertFailure(
            self.fx.endpoint("127.0.0.1", port, pkipath=bare).connect(factoryFor(RawRPC())),
            LibvirtError)
        self.assertIn("server refused our client certificate (we have none",
                      e.get_error_message())

    @defer.inlineCallbacks
    def test_hostnameMismatch(self) -> None:
        """
        The certificate names another host: the message lists what it names;
        no_verify=1 connects anyway.
        """
        port = yield self.fx.listen(
            self.fx.serverDir("other", names=["other.example"], ips=[]),
            protocol.Factory.forProtocol(AuthListServer))
        e = yield self.assertFailure(
            self.fx.endpoint("127.0.0.1", port).connect(factoryFor(RawRPC())),
            LibvirtError)
        self.assertIn("server certificate has no subjectAltName for '127.0.0.1' "
                      "(it lists DNS:other.example)", e.get_error_message())
        e = yield self.assertFailure(
            self.fx.endpoint("localhost", port).connect(factoryFor(RawRPC())),
            LibvirtError)
        self.assertIn("no subjectAltName for 'localhost'", e.get_error_message())
        yield authListOver(self, self.fx.endpoint("127.0.0.1", port, "&no_verify=1"))

    @defer.inlineCallbacks
    def test_noSubjectAltName(self) -> None:
        directory = os.path.join(self.fx.dir, "nosan")
        serverCertWithoutSAN(directory, self.fx.ca)
        port = yield self.fx.listen(directory, protocol.Factory.forProtocol(AuthListServer))
        e = yield self.assertFailure(
            self.fx.endpoint("127.0.0.1", port).connect(factoryFor(RawRPC())),
            LibvirtError)
        self.assertIn("server certificate has no subjectAltName for '127.0.0.1' "
                      "(it has no subjectAltName at all", e.get_error_message())

    @defer.inlineCallbacks
    def test_noConfirmationByte(self) -> None:
        """
        A TLS server that never sends 0x01: the connect fails after the
        timeout instead of hanging.
        """
        port = yield self.fx.listen(self.fx.serverDir("srv"),
                                    protocol.Factory.forProtocol(Silent), confirm=False)
        e = yield self.assertFailure(
            self.fx.endpoint("127.0.0.1", port, timeout=1).connect(factoryFor(RawRPC())),
            LibvirtError)
        self.assertIn("no confirmation byte from server 127.0.0.1:%d within 1 s" % port,
                      e.get_error_message())

    @defer.inlineCallbacks
    def test_wrongConfirmationByte(self) -> None:
        port = yield self.fx.listen(self.fx.serverDir("srv"),
                                    protocol.Factory.forProtocol(WrongByte), confirm=False)
        e = yield self.assertFailure(
            self.fx.endpoint("127.0.0.1", port).connect(factoryFor(RawRPC())),
            LibvirtError)
        self.assertEqual(e.get_error_code(), VIR_ERR_RPC)
        self.assertIn("expected the confirmation byte 0x01", e.get_error_message())

    @defer.inlineCallbacks
    def test_foreignClient(self) -> None:
        """
        A client using Python's ssl module (OpenSSL, not Twisted) gets
        0x01 right after the handshake, then RPC.
        """
        port = yield self.fx.listen(self.fx.serverDir("srv"),
                                    protocol.Factory.forProtocol(AuthListServer))
        d = self.fx.clientDir

        def talk() -> bytes:
            ctx = ssl.create_default_context(cafile=f"{d}/cacert.pem")
            ctx.load_cert_chain(f"{d}/clientcert.pem", f"{d}/clientkey.pem")
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    first = s.recv(1)
                    s.sendall(AUTH_LIST_CALL)
                    reply = b""
                    while len(reply) < len(AUTH_LIST_REPLY):
                        reply += s.recv(100)
                    return first + reply

        got = yield threads.deferToThread(talk)
        self.assertEqual(got, b"\x01" + AUTH_LIST_REPLY)

    @defer.inlineCallbacks
    def test_handshakeDeadline(self) -> None:
        """
        A client that connects and never starts TLS is dropped.
        """
        ctx = serverSSLContext(self.fx.serverDir("srv"))
        factory = ConfirmingServerFactory(protocol.Factory.forProtocol(AuthListServer),
                                          handshakeTimeout=0.5, reactor=reactor)
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            TLSServerFactory(factory, ctx))
        self.addCleanup(port.stopListening)

        def idle() -> bytes:
            with socket.create_connection(("127.0.0.1", port.getHost().port),
                                          timeout=10) as s:
                try:
                    return s.recv(10)
                except ConnectionResetError:
                    return b""

        got = yield threads.deferToThread(idle)
        self.assertEqual(got, b"")

    def test_missingPKI(self) -> None:
        e = self.assertRaises(LibvirtError, locateClientCredentials,
                              os.path.join(self.fx.dir, "nothing"))
        self.assertIn("Cannot read CA certificate", e.get_error_message())
        self.assertIn("nothing/cacert.pem", e.get_error_message())
        e = self.assertRaises(LibvirtError, serverSSLContext,
                              os.path.join(self.fx.dir, "nothing"))
        self.assertIn("Cannot read CA certificate", e.get_error_message())


class DNTests(SynchronousTestCase):
    def test_dnMatches(self) -> None:
        dn = "C=GB,ST=London,L=London,O=Red Hat,CN=client1"
        self.assertTrue(dnMatches(dn, None))
        self.assertFalse(dnMatches(dn, []))
        self.assertTrue(dnMatches(dn, ["C=GB,ST=London,L=London,O=Red Hat,CN=*"]))
        self.assertTrue(dnMatches(dn, ["nope", "*CN=client?"]))
        self.assertFalse(dnMatches(dn, ["C=GB,*,CN=client"]))
        self.assertFalse(dnMatches(dn, ["c=gb*"]))
        # no character classes: '[' is literal
        self.assertFalse(dnMatches(dn, ["*CN=client[1]"]))
        self.assertTrue(dnMatches("CN=a[1]", ["CN=a[1]"]))

    def test_certificateDN(self) -> None:
        ca = pki.makeCA(None)
        pair = pki.makeClientCert(None, ca, "C=GB,O=virtd,OU=ops,CN=x\\,y")
        self.assertEqual(certificateDN(pair.cert), "C=GB,O=virtd,OU=ops,CN=x\\,y")
