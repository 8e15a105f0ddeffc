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

Like the daemon's plain sockets (L{virtd.rpc.directwrite}), a connection
sends at once when nothing is queued, and lets worker threads encrypt and
send replies themselves (L{TLSServerProtocol.threadSender}): the TLS
object is used under a lock every user of it takes.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

from twisted.internet.interfaces import IHandshakeListener, IProtocolFactory, ISSLTransport
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from zope.interface import implementer

from virtd.rpc.directwrite import (
    CARRIED,
    NOT_SENT,
    SENT,
    IReplySender,
    canWriteDirectly,
    writeDirectly,
)

__all__ = ["TLSServerFactory", "TLSServerProtocol"]

_log = Logger(namespace="virtd.tls")

# SSLObject.read returns one record's plaintext, at most 16 KiB; asking
# for more only makes a bigger buffer to shrink.
_READ_SIZE = 16384


@implementer(ISSLTransport)
class TLSServerProtocol(ProtocolWrapper):
    """
    One TLS server connection: ciphertext from the TCP transport goes
    through an C{ssl.SSLObject}, plaintext to and from the wrapped protocol.

    The reactor thread owns the connection. The C{ssl.SSLObject} and the
    outgoing ciphertext are touched only under C{_lock}, which a worker
    thread sending a reply (L{sendFromThread}) takes too; nothing else is
    called while it is held, and the outgoing BIO is empty whenever it is
    free.
    """

    _sslObject: Any = None
    _handshakeDone = False
    _closing = False
    # Ciphertext a worker could not send whole: it goes out first.
    _carry: bytes | None = None
    # The duplicated descriptor workers send on (see threadSender).
    _sock: Any = None

    def connectionMade(self) -> None:
        self._lock = threading.Lock()
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._sslObject = self.factory.sslContext.wrap_bio(
            self._incoming, self._outgoing, server_side=True)
        self._early: list[bytes] = []
        self._direct = canWriteDirectly(self.transport)
        super().connectionMade()

    # -- from the network ----------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        completed = False
        chunks: list[bytes] = []
        ended = False
        error: BaseException | None = None
        with self._lock:
            sslObject = self._sslObject
            if sslObject is None or self._closing:
                return
            self._incoming.write(data)
            if not self._handshakeDone:
                try:
                    sslObject.do_handshake()
                except ssl.SSLWantReadError:
                    self._flushLocked()
                    return
                except (ssl.SSLError, OSError) as e:
                    error = e
                else:
                    self._handshakeDone = completed = True
                    if self._early:
                        early, self._early = b"".join(self._early), []
                        try:
                            sslObject.write(early)
                        except (ssl.SSLError, OSError) as e:
                            error = e
            incoming = self._incoming
            # Reading on with nothing left would only raise SSLWantReadError
            # (and let go of the GIL on the way).
            while error is None and (incoming.pending or sslObject.pending()):
                try:
                    chunk = sslObject.read(_READ_SIZE)
                except ssl.SSLWantReadError:
                    break
                except (ssl.SSLError, OSError) as e:
                    error = e
                    break
                if not chunk:
                    ended = True  # the client's close_notify
                    break
                chunks.append(chunk)
            # A TLS 1.3 key update or an alert may want an answer.
            self._flushLocked()
        if error is not None and not chunks:
            return self._failed(error)
        if completed and IHandshakeListener.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.handshakeCompleted()
        for chunk in chunks:
            if self._closing:
                return
            self.wrappedProtocol.dataReceived(chunk)
        if error is not None:
            self._failed(error)
        elif ended:
            self.loseConnection()

    def _failed(self, e: BaseException) -> None:
        # The alert OpenSSL prepared went out with the last flush; drop the
        # client without a word at the RPC level, as libvirtd does.
        peer = self.transport.getPeer()
        _log.info("TLS client {peer} {when}: {why}; dropping it",
                  peer=f"{getattr(peer, 'host', peer)}:{getattr(peer, 'port', '')}",
                  when="failed the handshake" if not self._handshakeDone
                  else "sent bad TLS data",
                  why=_describe(e))
        self._closing = True
        self.transport.loseConnection()

    # -- to the network ------------------------------------------------------

    def write(self, data: bytes) -> None:
        error = None
        with self._lock:
            if self._closing or self._sslObject is None:
                return
            if not self._handshakeDone:
                self._early.append(bytes(data))
                return
            try:
                self._sslObject.write(data)
            except (ssl.SSLError, OSError) as e:
                error = e
            self._flushLocked()
        if error is not None:
            self._failed(error)

    def writeSequence(self, data: Any) -> None:
        self.write(b"".join(data))

    def _flushLocked(self) -> None:
        pending = self._outgoing.pending
        carry = self._carry
        if carry is not None:
            self._carry = None
            self.transport.write(carry)
        if not pending:
            return
        data = self._outgoing.read(pending)
        if self._direct:
            writeDirectly(self.transport, data)
        else:
            self.transport.write(data)

    def loseConnection(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self.disconnecting = True
            if self._sslObject is not None and self._handshakeDone:
                try:
                    self._sslObject.unwrap()
                except (ssl.SSLError, OSError):
                    pass  # the peer's close_notify is not awaited
            self._flushLocked()
        self.transport.loseConnection()

    def abortConnection(self) -> None:
        self._closing = True
        self.transport.abortConnection()

    def getPeerCertificate(self) -> Any:
        """
        @return: the client's certificate (a C{cryptography} certificate),
            or C{None} when it sent none or the handshake is not done.
        """
        with self._lock:
            if self._sslObject is None or not self._handshakeDone:
                return None
            der = self._sslObject.getpeercert(binary_form=True)
        if not der:
            return None
        from cryptography import x509

        return x509.load_der_x509_certificate(der)

    def connectionLost(self, reason: Failure) -> None:
        self.closeThreadSends()
        with self._lock:
            self._sslObject = None
            self._closing = True
        super().connectionLost(reason)

    # -- replies sent by worker threads --------------------------------------

    def threadSender(self) -> _ThreadSender:
        """
        The L{IReplySender} worker threads may send whole messages with.
        """
        return _ThreadSender(self)

    def prepareThreadSends(self) -> bool:
        """
        Reactor thread: get ready for L{sendFromThread}.

        @return: whether workers may send now.
        """
        if self._sock is not None:
            return not self._closing
        if (not self._direct or self._closing or not self._handshakeDone
                or not self.transport.connected or self.transport.disconnecting):
            return False
        try:
            sock = self.transport.socket.dup()
        except OSError:
            return False  # out of descriptors: the reactor sends
        with self._lock:
            if self._closing:
                sock.close()
                return False
            self._sock = sock
        return True

    def sendFromThread(self, data: bytes) -> str:
        """
        Worker thread: encrypt and send C{data} now if nothing is queued
        before it.

        @return: L{SENT}, L{CARRIED} (the reactor thread must call
            L{flushCarry}) or L{NOT_SENT} (the reactor must write C{data}).
        """
        with self._lock:
            sock = self._sock
            t = self.transport
            if (sock is None or self._closing or self._carry is not None
                    or self._sslObject is None
                    or t.dataBuffer or t._tempDataLen or t.disconnecting
                    or t.producer is not None or t._writeDisconnected):
                return NOT_SENT
            try:
                self._sslObject.write(data)
            except (ssl.SSLError, OSError):
                return NOT_SENT  # the reactor's write meets the error again
            out = self._outgoing.read()
            try:
                sent = sock.send(out)
            except OSError:
                # Would block, or an error the reactor finds on its own write.
                sent = 0
            if sent == len(out):
                return SENT
            self._carry = out[sent:]
            return CARRIED

    def flushCarry(self) -> int:
        """
        Reactor thread: queue what a worker could not send.

        @return: the number of bytes queued.
        """
        with self._lock:
            carry, self._carry = self._carry, None
            if carry is not None:
                self.transport.write(carry)
        return len(carry) if carry is not None else 0

    def closeThreadSends(self) -> None:
        """
        Reactor thread, once the connection is lost: no more worker sends.
        """
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            self._closing = True
            self._carry = None
            sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


@implementer(IReplySender)
class _ThreadSender:
    """
    L{TLSServerProtocol}'s sending side as an L{IReplySender}.
    """

    __slots__ = ("prepare", "sendFromThread", "send", "flush", "close")

    def __init__(self, p: TLSServerProtocol) -> None:
        self.prepare = p.prepareThreadSends
        self.sendFromThread = p.sendFromThread
        self.send = p.write
        self.flush = p.flushCarry
        self.close = p.closeThreadSends


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
