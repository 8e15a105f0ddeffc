"""
TLS as libvirt does it: PKI file layout, certificate checks, the DN
allowlist and the single confirmation byte C{0x01} the server sends after
its checks pass.

Client side (used by L{virtd.transports}): L{TLSClientEndpoint}.

Server side (for the daemon)::

    from twisted.internet.endpoints import SSL4ServerEndpoint
    from virtd.tls import serverContextFactory, ConfirmingServerFactory

    ctx = serverContextFactory("/etc/pki/virtd")      # or None: libvirt's paths
    SSL4ServerEndpoint(reactor, 16514, ctx, interface="127.0.0.1").listen(
        ConfirmingServerFactory(rpcFactory, allowedDNs=["C=GB,O=virtd,CN=*"],
                                handshakeTimeout=10, reactor=reactor))

L{serverContextFactory} requires a client certificate signed by the CA
(unless C{verifyClient=False}); L{ConfirmingServerFactory} waits for the
handshake, matches the client's DN against the allowlist (L{dnMatches}),
writes C{0x01} and only then builds the wrapped factory's protocol (which
sees no TLS detail and gets C{tlsPeerDN} set to the client's DN string);
a client that fails a check, or does not finish the handshake in time, is
disconnected without a word, as libvirtd does.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, fail
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import (
    IHandshakeListener,
    IOpenSSLClientConnectionCreator,
    IOpenSSLContextFactory,
    IProtocolFactory,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from virtd.errors import (
    VIR_ERR_INVALID_ARG,
    VIR_ERR_RPC,
    VIR_ERR_SYSTEM_ERROR,
    VIR_FROM_RPC,
    LibvirtError,
)
from virtd.uri import ConnectionName

__all__ = [
    "ClientCredentials",
    "ServerCredentials",
    "locateClientCredentials",
    "locateServerCredentials",
    "TLSClientEndpoint",
    "serverContextFactory",
    "ConfirmingServerFactory",
    "certificateDN",
    "dnMatches",
    "CONFIRM_BYTE",
]

_log = Logger()

CONFIRM_BYTE = b"\x01"

SYSTEM_CA = "/etc/pki/CA/cacert.pem"
SYSTEM_CRL = "/etc/pki/CA/cacrl.pem"
SYSTEM_CLIENT_CERT = "/etc/pki/libvirt/clientcert.pem"
SYSTEM_CLIENT_KEY = "/etc/pki/libvirt/private/clientkey.pem"
SYSTEM_SERVER_CERT = "/etc/pki/libvirt/servercert.pem"
SYSTEM_SERVER_KEY = "/etc/pki/libvirt/private/serverkey.pem"


def _error(message: str, code: int = VIR_ERR_SYSTEM_ERROR) -> LibvirtError:
    return LibvirtError(message, code=code, domain=VIR_FROM_RPC)


# ---------------------------------------------------------------------------
# Credentials


@dataclass(frozen=True)
class ClientCredentials:
    """
    The files a TLS client uses.

    @ivar ca: the CA certificate that must have signed the server's.
    @ivar crl: a revocation list, or C{None}.
    @ivar cert: our certificate, or C{None} to present none.
    @ivar key: its private key, or C{None}.
    """

    ca: str
    crl: str | None
    cert: str | None
    key: str | None


@dataclass(frozen=True)
class ServerCredentials:
    """
    The files a TLS server uses.

    @ivar ca: the CA certificate client certificates must be signed by.
    @ivar crl: a revocation list, or C{None}.
    @ivar cert: the server certificate.
    @ivar key: its private key.
    """

    ca: str
    crl: str | None
    cert: str
    key: str


def _userPki() -> str:
    return os.path.expanduser("~/.pki/libvirt")


def locateClientCredentials(pkipath: str | None = None, *,
                            euid: int | None = None) -> ClientCredentials:
    """
    Find the client's PKI files as libvirt does: C{pkipath/cacert.pem},
    C{cacrl.pem}, C{clientcert.pem}, C{clientkey.pem}; without C{pkipath},
    a non-root user's C{~/.pki/libvirt/} first (each file falling back on
    its own, certificate and key as a pair), then C{/etc/pki/CA/cacert.pem},
    C{/etc/pki/CA/cacrl.pem}, C{/etc/pki/libvirt/clientcert.pem} and
    C{/etc/pki/libvirt/private/clientkey.pem}.

    @param pkipath: the C{pkipath=} directory, or C{None}.
    @param euid: the effective uid to assume (default: ours).
    @return: the paths; a missing CRL or a missing certificate+key pair
        becomes C{None}.
    @raise LibvirtError: if the CA file is missing, or only one of the
        certificate and key exists.
    """
    if pkipath:
        ca = os.path.join(pkipath, "cacert.pem")
        crl = os.path.join(pkipath, "cacrl.pem")
        cert = os.path.join(pkipath, "clientcert.pem")
        key = os.path.join(pkipath, "clientkey.pem")
        where = f"pkipath {pkipath}"
    else:
        ca, crl, cert, key = SYSTEM_CA, SYSTEM_CRL, SYSTEM_CLIENT_CERT, SYSTEM_CLIENT_KEY
        if (os.geteuid() if euid is None else euid) != 0:
            user = _userPki()
            if os.path.exists(os.path.join(user, "cacert.pem")):
                ca = os.path.join(user, "cacert.pem")
            if os.path.exists(os.path.join(user, "cacrl.pem")):
                crl = os.path.join(user, "cacrl.pem")
            userCert = os.path.join(user, "clientcert.pem")
            userKey = os.path.join(user, "clientkey.pem")
            if os.path.exists(userCert) and os.path.exists(userKey):
                cert, key = userCert, userKey
        where = "the default locations (give pkipath=DIR to use another directory)"
    if not os.path.exists(ca):
        raise _error(
            f"Cannot read CA certificate '{ca}': No such file or directory; "
            f"{where} must hold cacert.pem (the CA that signed the server's "
            f"certificate)")
    haveCert, haveKey = os.path.exists(cert), os.path.exists(key)
    if haveCert != haveKey:
        missing = key if haveCert else cert
        raise _error(
            f"Cannot read {'client key' if haveCert else 'client certificate'} "
            f"'{missing}': No such file or directory; the client certificate "
            f"and key go together")
    return ClientCredentials(
        ca=ca,
        crl=crl if os.path.exists(crl) else None,
        cert=cert if haveCert else None,
        key=key if haveKey else None,
    )


def locateServerCredentials(pkiDir: str | None = None, *, caFile: str | None = None,
                            certFile: str | None = None, keyFile: str | None = None,
                            crlFile: str | None = None,
                            euid: int | None = None) -> ServerCredentials:
    """
    Find the server's PKI files: C{pkiDir/cacert.pem}, C{servercert.pem},
    C{serverkey.pem} (or C{private/serverkey.pem}), C{cacrl.pem}; without
    C{pkiDir}, a non-root daemon's C{~/.pki/libvirt/} first, then
    libvirt's system paths. Explicit files (libvirtd.conf's C{ca_file},
    C{cert_file}, C{key_file}, C{crl_file}) win.

    @raise LibvirtError: naming the missing file.
    """
    if pkiDir:
        bases = [pkiDir]
    elif (os.geteuid() if euid is None else euid) != 0:
        bases = [_userPki()]
    else:
        bases = []

    def pick(names: Sequence[str], system: str) -> str:
        for base in bases:
            for n in names:
                path = os.path.join(base, n)
                if os.path.exists(path):
                    return path
        if pkiDir:
            return os.path.join(pkiDir, names[0])
        return system

    ca = caFile or pick(["cacert.pem"], SYSTEM_CA)
    cert = certFile or pick(["servercert.pem"], SYSTEM_SERVER_CERT)
    key = keyFile or pick(["serverkey.pem", "private/serverkey.pem"], SYSTEM_SERVER_KEY)
    crl = crlFile or pick(["cacrl.pem"], SYSTEM_CRL)
    for what, path in (("CA certificate", ca), ("server certificate", cert),
                       ("server key", key)):
        if not os.path.exists(path):
            raise _error(
                f"Cannot read {what} '{path}': No such file or directory; create a "
                f"PKI with 'python -m virtd.pki init DIR' and point the daemon at "
                f"DIR/server")
    if crlFile and not os.path.exists(crlFile):
        raise _error(f"Cannot read CRL '{crlFile}': No such file or directory")
    return ServerCredentials(ca=ca, crl=crl if os.path.exists(crl) else None,
                             cert=cert, key=key)


def _loadCRL(ctx: Any, path: str) -> None:
    from cryptography import x509
    from OpenSSL import crypto

    with open(path, "rb") as f:
        data = f.read()
    try:
        crl = x509.load_pem_x509_crl(data)
    except ValueError:
        crl = x509.load_der_x509_crl(data)
    store = ctx.get_cert_store()
    store.add_crl(crl)
    store.set_flags(crypto.X509StoreFlags.CRL_CHECK)


def _baseContext(method: int) -> Any:
    from OpenSSL import SSL

    ctx = SSL.Context(method)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_options(SSL.OP_NO_COMPRESSION)
    return ctx


def _loadPair(ctx: Any, cert: str, key: str, role: str) -> None:
    from OpenSSL import SSL

    try:
        ctx.use_certificate_chain_file(cert)
    except SSL.Error as e:
        raise _error(f"Cannot load {role} certificate '{cert}': {_sslText(e)}") from None
    try:
        ctx.use_privatekey_file(key)
        ctx.check_privatekey()
    except SSL.Error as e:
        raise _error(
            f"Cannot load {role} key '{key}' (or it does not match '{cert}'): "
            f"{_sslText(e)}") from None


def _sslText(e: BaseException) -> str:
    args = getattr(e, "args", ())
    if args and isinstance(args[0], list):
        texts = [t[2] for t in args[0] if isinstance(t, tuple) and len(t) == 3 and t[2]]
        if texts:
            return "; ".join(texts)
    return str(e) or type(e).__name__


# ---------------------------------------------------------------------------
# DNs


def certificateDN(cert: Any) -> str:
    """
    A certificate's subject as libvirt writes DNs for C{tls_allowed_dn_list}:
    C{KEY=value} pairs in certificate order, joined by commas
    (e.g. C{"C=GB,O=virtd,CN=client1"}).

    @param cert: a pyOpenSSL C{X509} or a cryptography certificate.
    @return: the DN string.
    """
    from virtd.pki import formatDN

    if hasattr(cert, "to_cryptography"):
        cert = cert.to_cryptography()
    return formatDN(cert.subject)


_globCache: dict[str, re.Pattern[str]] = {}


def _glob(pattern: str) -> re.Pattern[str]:
    compiled = _globCache.get(pattern)
    if compiled is None:
        # GLib's simple patterns: '*' any run, '?' one character, nothing else.
        parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
        compiled = re.compile("".join(parts), re.DOTALL)
        _globCache[pattern] = compiled
    return compiled


def dnMatches(dn: str, globs: Iterable[str] | None) -> bool:
    """
    Whether a client DN is allowed by a C{tls_allowed_dn_list}-style list.

    Patterns use libvirt's (GLib's) simple globs: C{*} matches any run of
    characters, C{?} exactly one, everything else itself (case-sensitive,
    no C{[...]} classes). C{None} allows everyone; an empty list denies
    everyone, as in libvirtd.

    @param dn: the DN from L{certificateDN}.
    @param globs: the patterns, or C{None}.
    @return: whether one pattern matches the whole DN.
    """
    if globs is None:
        return True
    return any(_glob(p).fullmatch(dn) for p in globs)


# ---------------------------------------------------------------------------
# Client side

_CHAIN_ERRORS = {2, 7, 18, 19, 20, 21, 24, 27, 28, 32}
_VERIFY_TEXT = {
    9: "is not valid yet (check the clocks of both machines)",
    10: "has expired; the server needs a new one",
    23: "has been revoked (it is listed in the CRL)",
    26: "is not meant for a TLS server (its extendedKeyUsage lacks serverAuth)",
    3: "cannot be checked against a CRL: cacrl.pem has no list for its issuer",
    12: "cannot be checked: the CRL has expired",
}


def _names(cert: Any) -> list[str]:
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return ([f"DNS:{n}" for n in san.get_values_for_type(x509.DNSName)]
            + [f"IP:{n}" for n in san.get_values_for_type(x509.IPAddress)])


def _checkServerName(cert: Any, host: str) -> str | None:
    """
    @return: C{None} if C{cert} is valid for C{host}, else the complaint.
    """
    from service_identity import CertificateError, VerificationError
    from service_identity.cryptography import (
        verify_certificate_hostname,
        verify_certificate_ip_address,
    )

    try:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            verify_certificate_hostname(cert, host)
        else:
            verify_certificate_ip_address(cert, host)
    except CertificateError:
        return (f"server certificate has no subjectAltName for '{host}' (it has no "
                f"subjectAltName at all; subject {certificateDN(cert)!r}): reissue it "
                f"with subjectAltName DNS:<name> or IP:<address>, or use no_verify=1")
    except VerificationError:
        names = ", ".join(_names(cert)) or "nothing"
        return (f"server certificate has no subjectAltName for '{host}' (it lists "
                f"{names}): connect using one of those names, reissue the certificate "
                f"for '{host}', or use no_verify=1")
    return None


@implementer(IOpenSSLClientConnectionCreator)
class _ClientCreator:
    def __init__(self, ctx: Any, host: str) -> None:
        self._ctx = ctx
        try:
            ipaddress.ip_address(host)
            self._sni = None
        except ValueError:
            self._sni = host.encode("idna")

    def clientConnectionForTLS(self, tlsProtocol: Any) -> Any:
        from OpenSSL import SSL

        conn = SSL.Connection(self._ctx, None)
        conn.set_app_data(tlsProtocol)
        if self._sni:
            conn.set_tlsext_host_name(self._sni)
        conn.set_connect_state()
        return conn


@implementer(IHandshakeListener)
class _ConfirmingClientProtocol(Protocol):
    """
    Runs between TLS and the RPC protocol on the client: checks the server's
    name, then waits for the confirmation byte before handing over.
    """

    def __init__(self, factory: _ConfirmingClientFactory, addr: Any) -> None:
        self.factory = factory
        self.addr = addr
        self.inner: Any = None
        self.handshakeDone = False
        self.verifyErrors: list[tuple[int, int, Any]] = []

    def handshakeCompleted(self) -> None:
        self.handshakeDone = True
        endpoint = self.factory.endpoint
        if endpoint.verify:
            cert = self.transport.getPeerCertificate()
            complaint = (
                "the server presented no certificate" if cert is None
                else _checkServerName(cert.to_cryptography(), endpoint.host))
            if complaint:
                self.factory.failed(_error(complaint))
                self.transport.abortConnection()

    def dataReceived(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.dataReceived(data)
            return
        if self.factory.finished:
            return
        if data[:1] != CONFIRM_BYTE:
            self.factory.failed(_error(
                f"server verification failed: expected the confirmation byte 0x01 "
                f"from {self.factory.endpoint.where}, got {data[:1].hex()}; is this "
                f"a libvirt TLS port?", VIR_ERR_RPC))
            self.transport.abortConnection()
            return
        inner = self.factory.wrapped.buildProtocol(self.addr)
        if inner is None:
            self.factory.failed(_error("the protocol factory refused the connection"))
            self.transport.loseConnection()
            return
        self.inner = inner
        inner.makeConnection(self.transport)
        self.factory.succeeded(inner)
        if len(data) > 1:
            inner.dataReceived(data[1:])

    def connectionLost(self, reason: Failure) -> None:
        if self.inner is not None:
            self.inner.connectionLost(reason)
            return
        self.factory.failed(self.factory.endpoint.explain(reason, self))

    def timedOut(self) -> None:
        endpoint = self.factory.endpoint
        if self.handshakeDone:
            message = (f"no confirmation byte from server {endpoint.where} within "
                       f"{endpoint.timeout:g} s (the server may be stuck checking our "
                       f"certificate, or is not a libvirt TLS service)")
        else:
            message = (f"TLS handshake with {endpoint.where} did not complete within "
                       f"{endpoint.timeout:g} s")
        self.factory.failed(_error(message))
        self.transport.abortConnection()


class _ConfirmingClientFactory(Factory):
    def __init__(self, wrapped: IProtocolFactory, result: Deferred[Any],
                 endpoint: TLSClientEndpoint) -> None:
        self.wrapped = wrapped
        self.result = result
        self.endpoint = endpoint
        self.finished = False
        self.protocolInstance: _ConfirmingClientProtocol | None = None
        self.timer: Any = None

    def buildProtocol(self, addr: Any) -> _ConfirmingClientProtocol:
        self.protocolInstance = _ConfirmingClientProtocol(self, addr)
        return self.protocolInstance

    def _finish(self) -> bool:
        if self.finished:
            return False
        self.finished = True
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        return True

    def succeeded(self, protocol: Any) -> None:
        if self._finish():
            self.result.callback(protocol)

    def failed(self, error: BaseException | Failure) -> None:
        if self._finish():
            self.result.errback(error)

    def timedOut(self) -> None:
        if self.protocolInstance is not None and self.protocolInstance.transport:
            self.protocolInstance.timedOut()
        else:
            self.failed(_error(
                f"unable to connect to server at '{self.endpoint.where}': no answer "
                f"within {self.endpoint.timeout:g} s"))


@implementer(IStreamClientEndpoint)
class TLSClientEndpoint:
    """
    TCP + TLS to a libvirt TLS port, with libvirt's client checks.

    C{connect()} fires with the wrapped factory's protocol only after the
    handshake, the server-name check (unless C{no_verify=1}) and the
    confirmation byte; that byte never reaches the protocol. It fails with a
    L{LibvirtError} saying what to fix: missing PKI files, a server
    certificate not signed by our CA or not naming the host, the server
    refusing our certificate, a server that never confirms.

    @ivar host: the server name checked against the certificate.
    @ivar credentials: the L{ClientCredentials} in use (after the first
        C{connect()}).
    """

    def __init__(self, reactor: Any, name: ConnectionName, *, timeout: float = 30) -> None:
        """
        @param reactor: the reactor.
        @param name: a parsed tls name (C{pkipath}, C{no_verify},
            C{no_sanity}, C{tls_priority} are honoured).
        @param timeout: seconds for TCP connect, handshake and confirmation.
        """
        self.reactor = reactor
        self.name = name
        self.host = name.host or "localhost"
        self.port = name.port or 16514
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.where = f"{host}:{self.port}"
        self.timeout = timeout
        self.verify = not name.flag("no_verify")
        self.credentials: ClientCredentials | None = None
        self._ctx: Any = None
        priority = name.params.get("tls_priority")
        if priority and priority.upper() != "NORMAL":
            _log.info("tls_priority={priority!r} is a GnuTLS setting; virtd uses "
                      "OpenSSL's defaults (TLS 1.2 or newer)", priority=priority)

    def _context(self) -> Any:
        if self._ctx is not None:
            return self._ctx
        from OpenSSL import SSL

        creds = locateClientCredentials(self.name.params.get("pkipath"))
        if not self.name.flag("no_sanity"):
            _sanityCheck(creds)
        ctx = _baseContext(SSL.TLS_CLIENT_METHOD)
        try:
            ctx.load_verify_locations(creds.ca)
        except SSL.Error as e:
            raise _error(f"Cannot load CA certificate '{creds.ca}': {_sslText(e)}") from None
        if creds.crl:
            _loadCRL(ctx, creds.crl)
        if creds.cert and creds.key:
            _loadPair(ctx, creds.cert, creds.key, "client")
        if self.verify:
            ctx.set_verify(SSL.VERIFY_PEER, _recordVerify)
        else:
            ctx.set_verify(SSL.VERIFY_NONE, lambda *a: True)
        self.credentials = creds
        self._ctx = ctx
        return ctx

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[Any]:
        try:
            ctx = self._context()
        except LibvirtError as e:
            return fail(e)

        def cancel(d: Deferred[Any]) -> None:
            proto = factory.protocolInstance
            factory.finished = True
            if factory.timer is not None and factory.timer.active():
                factory.timer.cancel()
            if proto is not None and proto.transport is not None:
                proto.transport.abortConnection()
            else:
                connecting.cancel()
            if not d.called:
                d.errback(CancelledError())

        result: Deferred[Any] = Deferred(cancel)
        factory = _ConfirmingClientFactory(protocolFactory, result, self)
        tcp = HostnameEndpoint(self.reactor, self.host, self.port, timeout=self.timeout)
        connecting = wrapClientTLS(_ClientCreator(ctx, self.host), tcp).connect(factory)

        def connectFailed(reason: Failure) -> None:
            if reason.check(CancelledError):
                return
            from virtd.transports import describeFailure

            factory.failed(_error(
                f"unable to connect to server at '{self.where}': "
                f"{describeFailure(reason)}; is the daemon listening for tls there "
                f"(listen_tls, tls_port)?"))

        connecting.addErrback(connectFailed)
        factory.timer = self.reactor.callLater(self.timeout, factory.timedOut)
        return result

    def explain(self, reason: Failure, proto: _ConfirmingClientProtocol) -> LibvirtError:
        """
        Turn the end of a connection that never got confirmed into advice.
        """
        from OpenSSL import SSL

        creds = self.credentials
        ca = creds.ca if creds else "cacert.pem"
        ours = creds.cert if creds and creds.cert else None
        refused = (
            "server refused our client certificate "
            + (f"{ours} " if ours else "(we have none: put clientcert.pem and "
               "clientkey.pem in pkipath) ")
            + "(check that it is signed by the server's CA and that its DN is "
            "allowed by the server's tls_allowed_dn_list)")
        if reason.check(SSL.Error):
            for errno, _depth, cert in proto.verifyErrors:
                subject = certificateDN(cert) if cert is not None else "?"
                if errno in _CHAIN_ERRORS:
                    return _error(
                        f"server certificate is not signed by the CA in {ca} "
                        f"(certificate {subject!r}, issuer "
                        f"{_issuerDN(cert)!r}): point pkipath= at the CA that "
                        f"signed the server's certificate, or use no_verify=1")
                text = _VERIFY_TEXT.get(errno, f"failed verification (OpenSSL error {errno})")
                return _error(f"server certificate {subject!r} {text}")
            text = _sslText(reason.value)
            if "alert" in text and ("certificate" in text or "unknown ca" in text):
                return _error(f"{refused}: the server answered with '{text}'")
            return _error(f"TLS handshake with {self.where} failed: {text}")
        if proto.handshakeDone:
            return _error(f"{refused}: it closed the connection without sending the "
                          f"confirmation byte", VIR_ERR_RPC)
        from virtd.transports import describeFailure

        return _error(f"TLS handshake with {self.where} failed: connection closed "
                      f"({describeFailure(reason)}); is this a TLS port?")


def _issuerDN(cert: Any) -> str:
    from virtd.pki import formatDN

    if cert is None:
        return "?"
    if hasattr(cert, "to_cryptography"):
        cert = cert.to_cryptography()
    return formatDN(cert.issuer)


def _recordVerify(conn: Any, cert: Any, errno: int, depth: int, ok: int) -> bool:
    if not ok:
        tls = conn.get_app_data()
        proto = getattr(tls, "wrappedProtocol", None)
        if isinstance(proto, _ConfirmingClientProtocol):
            proto.verifyErrors.append((errno, depth, cert))
    return bool(ok)


def _sanityCheck(creds: ClientCredentials) -> None:
    """
    libvirt's checks of our own files (skipped with C{no_sanity=1}):
    readable, within validity, our certificate signed by our CA.
    """
    import datetime

    from cryptography import x509

    def load(path: str, what: str) -> Any:
        try:
            with open(path, "rb") as f:
                return x509.load_pem_x509_certificate(f.read())
        except (OSError, ValueError) as e:
            raise _error(f"Cannot read {what} '{path}': {e}") from None

    now = datetime.datetime.now(datetime.UTC)
    ca = load(creds.ca, "CA certificate")
    checks = [(creds.ca, ca)]
    if creds.cert:
        cert = load(creds.cert, "client certificate")
        checks.append((creds.cert, cert))
        try:
            cert.verify_directly_issued_by(ca)
        except Exception:
            raise _error(
                f"our client certificate {creds.cert} is not signed by the CA in "
                f"{creds.ca}; the server would refuse it (use no_sanity=1 to try anyway)"
            ) from None
    for path, c in checks:
        if now > c.not_valid_after_utc:
            raise _error(f"the certificate {path} expired on {c.not_valid_after_utc:%Y-%m-%d}")
        if now < c.not_valid_before_utc:
            raise _error(f"the certificate {path} is not valid before "
                         f"{c.not_valid_before_utc:%Y-%m-%d %H:%M} UTC (check the clock)")


# ---------------------------------------------------------------------------
# Server side


@implementer(IOpenSSLContextFactory)
class _ServerContextFactory:
    """
    A pyOpenSSL context factory (C{getContext()}) for
    C{SSL4ServerEndpoint} / C{listenSSL}.

    @ivar credentials: the L{ServerCredentials} in use.
    """

    def __init__(self, ctx: Any, credentials: ServerCredentials) -> None:
        self._ctx = ctx
        self.credentials = credentials

    def getContext(self) -> Any:
        return self._ctx


def serverContextFactory(pkiDir: str | None = None, *, caFile: str | None = None,
                         certFile: str | None = None, keyFile: str | None = None,
                         crlFile: str | None = None,
                         verifyClient: bool = True) -> _ServerContextFactory:
    """
    The TLS context for a libvirt-compatible server.

    @param pkiDir: a directory with C{cacert.pem}, C{servercert.pem},
        C{serverkey.pem} and optionally C{cacrl.pem} (see
        L{locateServerCredentials} for the defaults when C{None}).
    @param caFile: overrides the CA (libvirtd.conf C{ca_file}).
    @param certFile: overrides the certificate (C{cert_file}).
    @param keyFile: overrides the key (C{key_file}).
    @param crlFile: overrides the CRL (C{crl_file}).
    @param verifyClient: require a client certificate signed by the CA
        (C{False} is libvirtd's C{tls_no_verify_certificate = 1}: none is
        asked for).
    @return: an object with C{getContext()} (and C{.credentials}), to pass
        as the context factory of C{SSL4ServerEndpoint} or C{listenSSL}.
    @raise LibvirtError: naming an unreadable or mismatched file.
    """
    from OpenSSL import SSL

    creds = locateServerCredentials(pkiDir, caFile=caFile, certFile=certFile,
                                    keyFile=keyFile, crlFile=crlFile)
    ctx = _baseContext(SSL.TLS_SERVER_METHOD)
    _loadPair(ctx, creds.cert, creds.key, "server")
    try:
        ctx.load_verify_locations(creds.ca)
        ctx.load_client_ca(creds.ca.encode())
    except SSL.Error as e:
        raise _error(f"Cannot load CA certificate '{creds.ca}': {_sslText(e)}") from None
    if creds.crl:
        _loadCRL(ctx, creds.crl)
    if verifyClient:
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT,
                       lambda conn, cert, errno, depth, ok: bool(ok))
    else:
        ctx.set_verify(SSL.VERIFY_NONE, lambda *a: True)
    # Needed for session resumption when client certificates are verified.
    ctx.set_session_id(b"virtd")
    return _ServerContextFactory(ctx, creds)


@implementer(IHandshakeListener)
class _ConfirmingServerProtocol(Protocol):
    def __init__(self, factory: ConfirmingServerFactory, addr: Any) -> None:
        self.factory = factory
        self.addr = addr
        self.inner: Any = None
        self.peerDN: str | None = None
        self._early = bytearray()
        self._timer: Any = None

    def connectionMade(self) -> None:
        f = self.factory
        self._timer = f.reactor.callLater(f.handshakeTimeout, self._deadline)

    def _deadline(self) -> None:
        self._timer = None
        _log.info("TLS client {peer} did not complete the handshake within {t} s; "
                  "dropping it", peer=self.transport.getPeer(), t=self.factory.handshakeTimeout)
        self.transport.abortConnection()

    def handshakeCompleted(self) -> None:
        cert = self.transport.getPeerCertificate()
        dn = certificateDN(cert) if cert is not None else None
        allowed = self.factory.allowedDNs
        if allowed is not None and (dn is None or not dnMatches(dn, allowed)):
            _log.warn("TLS client {peer} with DN {dn!r} is not in the allowed DN list; "
                      "closing", peer=self.transport.getPeer(), dn=dn)
            self.transport.abortConnection()
            return
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self.peerDN = dn
        inner = self.factory.wrappedFactory.buildProtocol(self.addr)
        if inner is None:
            self.transport.loseConnection()
            return
        self.transport.write(CONFIRM_BYTE)
        self.inner = inner
        try:
            inner.tlsPeerDN = dn
        except AttributeError:
            pass
        inner.makeConnection(self.transport)
        if self._early:
            data, self._early = bytes(self._early), bytearray()
            inner.dataReceived(data)

    def dataReceived(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.dataReceived(data)
        elif len(self._early) + len(data) <= 65536:
            self._early += data
        else:
            self.transport.abortConnection()

    def connectionLost(self, reason: Failure) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self.inner is not None:
            self.inner.connectionLost(reason)


class ConfirmingServerFactory(Factory):
    """
    Wrap the daemon's protocol factory for a TLS listener: after the
    handshake, check the client DN against C{allowedDNs}, send C{0x01}, then
    build and connect the wrapped factory's protocol (its C{transport} is
    the TLS transport; its C{tlsPeerDN} attribute is set to the client's DN
    or C{None} when the client sent no certificate). A client that fails
    the check, or has not finished the handshake within C{handshakeTimeout}
    seconds, is dropped without a word.

    @ivar wrappedFactory: the daemon's factory.
    @ivar allowedDNs: glob patterns (see L{dnMatches}); C{None} allows all.
    """

    def __init__(self, factory: IProtocolFactory, allowedDNs: Sequence[str] | None = None,
                 handshakeTimeout: float = 10.0, reactor: Any = None) -> None:
        """
        @param factory: the daemon's protocol factory.
        @param allowedDNs: libvirtd's C{tls_allowed_dn_list}; C{None} allows
            any DN, an empty list nobody.
        @param handshakeTimeout: seconds from accept to a finished handshake.
        @param reactor: the reactor for the deadline (default: the global).
        """
        if reactor is None:
            from twisted.internet import reactor as globalReactor
            reactor = globalReactor
        if isinstance(allowedDNs, str):
            raise LibvirtError("allowedDNs must be a list of patterns, not one string",
                               code=VIR_ERR_INVALID_ARG, domain=VIR_FROM_RPC)
        self.wrappedFactory = factory
        self.allowedDNs = list(allowedDNs) if allowedDNs is not None else None
        self.handshakeTimeout = handshakeTimeout
        self.reactor = reactor

    def doStart(self) -> None:
        self.wrappedFactory.doStart()

    def doStop(self) -> None:
        self.wrappedFactory.doStop()

    def buildProtocol(self, addr: Any) -> _ConfirmingServerProtocol:
        return _ConfirmingServerProtocol(self, addr)
