"""
The client side of libvirt's TLS transport: L{TLSClientEndpoint} connects
over TCP, builds the OpenSSL context from the client's PKI files, checks
the server's certificate and name, then waits for the server's
confirmation byte before handing the connection to the RPC protocol; every
failure becomes a L{LibvirtError} saying what to fix.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, fail
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import (
    IHandshakeListener,
    IOpenSSLClientConnectionCreator,
    IProtocolFactory,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from virtd.errors import VIR_ERR_RPC, LibvirtError
from virtd.tls.context import CONFIRM_BYTE, _baseContext, _error, _loadCRL, _loadPair, _sslText
from virtd.tls.credentials import ClientCredentials, locateClientCredentials
from virtd.tls.dn import certificateDN
from virtd.tls.verify import (
    _CHAIN_ERRORS,
    _VERIFY_TEXT,
    _checkServerName,
    _issuerDN,
    _sanityCheck,
)
from virtd.uri import ConnectionName

__all__ = ["TLSClientEndpoint"]

# The namespace virtd.tls logged under as one module, so log filters still match.
_log = Logger(namespace="virtd.tls")


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
            # Under TLS 1.2 a server that wants a certificate we lack ends
            # the handshake with a bare "handshake failure" alert.
            if "alert" in text and ("certificate" in text or "unknown ca" in text
                                    or (ours is None and "handshake failure" in text)):
                return _error(f"{refused}: the server answered with '{text}'")
            return _error(f"TLS handshake with {self.where} failed: {text}")
        if proto.handshakeDone:
            return _error(f"{refused}: it closed the connection without sending the "
                          f"confirmation byte", VIR_ERR_RPC)
        from virtd.transports import describeFailure

        return _error(f"TLS handshake with {self.where} failed: connection closed "
                      f"({describeFailure(reason)}); is this a TLS port?")


def _recordVerify(conn: Any, cert: Any, errno: int, depth: int, ok: int) -> bool:
    if not ok:
        tls = conn.get_app_data()
        proto = getattr(tls, "wrappedProtocol", None)
        if isinstance(proto, _ConfirmingClientProtocol):
            proto.verifyErrors.append((errno, depth, cert))
    return bool(ok)
