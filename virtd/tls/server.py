"""
libvirt's checks after the TLS handshake, for the daemon:
L{ConfirmingServerFactory} wraps the daemon's protocol factory so each
client is checked against the DN allowlist and sent the confirmation byte
C{0x01} before the RPC protocol sees it. A client that fails a check, or
does not finish the handshake in time, is dropped without a word, as
libvirtd does. The TLS layer under it is L{virtd.tls.memorybio}.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet.interfaces import IHandshakeListener, IProtocolFactory
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from virtd.errors import VIR_ERR_INVALID_ARG, VIR_FROM_RPC, LibvirtError
from virtd.tls.context import CONFIRM_BYTE
from virtd.tls.dn import certificateDN, dnMatches

__all__ = ["ConfirmingServerFactory"]

# The namespace virtd.tls logged under as one module, so log filters still match.
_log = Logger(namespace="virtd.tls")


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
            # A clean close sends close_notify, so the client reads an end
            # rather than a reset; the handshake deadline still aborts a
            # client that will not take it.
            self.transport.loseConnection()
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
