"""
TLS for the daemon's listener on Python's C{ssl} memory BIOs:
L{TLSServerFactory} wraps a protocol factory so that every accepted TCP
connection is a TLS server connection, and the wrapped protocol sees a
transport that reads and writes plaintext.

It stands in for Twisted's C{listenSSL} (pyOpenSSL) so that the daemon can
speak TLS 1.3 without session tickets (see L{virtd.tls.sslcontext}).
The wrapped protocol is told of the finished handshake through
C{IHandshakeListener.handshakeCompleted}, as with Twisted's TLS, and the
transport's C{getPeerCertificate} returns the client certificate as a
C{cryptography} certificate.
"""

from __future__ import annotations

import ssl
from typing import Any

from twisted.internet.interfaces import IHandshakeListener, IProtocolFactory, ISSLTransport
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from zope.interface import implementer

__all__ = ["TLSServerFactory"]

_log = Logger(namespace="virtd.tls")

# One TLS record carries at most 16 KiB of plaintext.
_READ_SIZE = 65536


@implementer(ISSLTransport)
class TLSServerProtocol(ProtocolWrapper):
    """
    One TLS server connection: ciphertext from the TCP transport goes
    through an C{ssl.SSLObject}, plaintext to and from the wrapped protocol.
    """

    _sslObject: Any = None
    _handshakeDone = False
    _closing = False

    def connectionMade(self) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._sslObject = self.factory.sslContext.wrap_bio(
            self._incoming, self._outgoing, server_side=True)
        self._early: list[bytes] = []
        super().connectionMade()

    # -- from the network ----------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        sslObject = self._sslObject
        if sslObject is None:
            return
        self._incoming.write(data)
        if not self._handshakeDone:
            try:
                sslObject.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                return
            except (ssl.SSLError, OSError) as e:
                self._failed(e)
                return
            self._handshakeDone = True
            self._flush()
            if self._early:
                early, self._early = b"".join(self._early), []
                self.write(early)
            if IHandshakeListener.providedBy(self.wrappedProtocol):
                self.wrappedProtocol.handshakeCompleted()
        self._readPlaintext()

    def _readPlaintext(self) -> None:
        while self._sslObject is not None and not self._closing:
            try:
                data = self._sslObject.read(_READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLError, OSError) as e:
                self._failed(e)
                break
            if not data:
                # The client's close_notify: answer it and hang up.
                self.loseConnection()
                break
            self.wrappedProtocol.dataReceived(data)
        # A TLS 1.3 key update or an alert may want an answer.
        self._flush()

    def _failed(self, e: BaseException) -> None:
        # Send whatever alert OpenSSL prepared, then drop the client
        # without a word at the RPC level, as libvirtd does.
        peer = self.transport.getPeer()
        _log.info("TLS client {peer} {when}: {why}; dropping it",
                  peer=f"{getattr(peer, 'host', peer)}:{getattr(peer, 'port', '')}",
                  when="failed the handshake" if not self._handshakeDone
                  else "sent bad TLS data",
                  why=_describe(e))
        self._flush()
        self._closing = True
        self.transport.loseConnection()

    # -- to the network ------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._closing or self._sslObject is None:
            return
        if not self._handshakeDone:
            self._early.append(bytes(data))
            return
        try:
            self._sslObject.write(data)
        except (ssl.SSLError, OSError) as e:
            self._failed(e)
            return
        self._flush()

    def writeSequence(self, data: Any) -> None:
        self.write(b"".join(data))

    def _flush(self) -> None:
        pending = self._outgoing.pending
        if pending:
            self.transport.write(self._outgoing.read(pending))

    def loseConnection(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._sslObject is not None and self._handshakeDone:
            try:
                self._sslObject.unwrap()
            except (ssl.SSLError, OSError):
                pass  # the peer's close_notify is not awaited
            self._flush()
        self.transport.loseConnection()

    def abortConnection(self) -> None:
        self._closing = True
        self.transport.abortConnection()

    def getPeerCertificate(self) -> Any:
        """
        @return: the client's certificate (a C{cryptography} certificate),
            or C{None} when it sent none or the handshake is not done.
        """
        if self._sslObject is None or not self._handshakeDone:
            return None
        der = self._sslObject.getpeercert(binary_form=True)
        if not der:
            return None
        from cryptography import x509

        return x509.load_der_x509_certificate(der)

    def connectionLost(self, reason: Failure) -> None:
        self._sslObject = None
        self._closing = True
        super().connectionLost(reason)


@implementer(IProtocolFactory)
class TLSServerFactory(WrappingFactory):
    """
    Serve C{wrappedFactory}'s protocol over TLS with C{sslContext} (from
    L{virtd.tls.sslcontext.serverSSLContext}); listen with C{listenTCP}.
    """

    protocol = TLSServerProtocol

    def __init__(self, wrappedFactory: IProtocolFactory,
                 sslContext: ssl.SSLContext) -> None:
        super().__init__(wrappedFactory)
        self.sslContext = sslContext

    def registerProtocol(self, p: Any) -> None:
        pass  # WrappingFactory's dict of live protocols is not needed

    def unregisterProtocol(self, p: Any) -> None:
        pass


def _describe(e: BaseException) -> str:
    verify = getattr(e, "verify_message", None)
    if verify:
        return f"its certificate did not verify ({verify})"
    reason = getattr(e, "reason", None)
    if reason == "WRONG_VERSION_NUMBER":
        return "it does not speak TLS (wrong version number)"
    if reason:
        return reason.replace("_", " ").lower()
    return str(e) or type(e).__name__
