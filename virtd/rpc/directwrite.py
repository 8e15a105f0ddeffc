"""
Writing a message to a plain socket at once instead of on the next reactor
iteration.

Twisted's C{FileDescriptor.write} only queues the bytes and asks the poller
to report the socket writable (one C{epoll_ctl}); the next iteration sends
them and stops watching (another C{epoll_ctl}). For an RPC reply of a few
dozen bytes that is two system calls and a reactor iteration more than the
one C{send} the reply needs, paid on every call. L{writeDirectly} sends right
away when nothing is queued, and hands whatever the kernel did not take to
C{transport.write}, so ordering, flow control and error handling stay
Twisted's.

Only Twisted's own plain TCP and unix socket transports are written to this
way; anything else (TLS, process pipes, test transports) gets
C{transport.write} itself.

L{SharedSender} goes one step further for the daemon: a worker thread that
has just made a reply sends it itself, so the reply does not wait for the
reactor thread to wake up (a futex wake-up, a GIL hand-off and a reactor
iteration per call in CPython). L{IReplySender} is what the daemon needs of
it; the TLS listener's connections provide one too
(L{virtd.tls.memorybio}).
"""

from __future__ import annotations

import threading
from typing import Any

from twisted.internet import tcp
from zope.interface import Interface, implementer

__all__ = ["CARRIED", "NOT_SENT", "SENT", "IReplySender", "SharedSender",
           "canWriteDirectly", "writeDirectly"]

try:
    from twisted.internet import unix as _unix
except ImportError:  # pragma: no cover (platforms without unix sockets)
    _PLAIN: tuple[type, ...] = (tcp.Server, tcp.Client)
else:
    _PLAIN = (tcp.Server, tcp.Client, _unix.Server, _unix.Client)


def canWriteDirectly(transport: Any) -> bool:
    """
    Whether L{writeDirectly} may be used on C{transport}: one of Twisted's
    plain TCP or unix socket transports, without TLS.
    """
    return type(transport) in _PLAIN and not getattr(transport, "TLS", False)


def writeDirectly(transport: Any, data: bytes) -> None:
    """
    Write C{data} to C{transport} (for which L{canWriteDirectly} was
    true), sending it at once when nothing is queued before it.
    """
    # Anything queued, a TLS layer started later, a producer to notify, or
    # a closing connection: Twisted's own path.
    if (transport.dataBuffer or transport._tempDataLen or transport.TLS
            or transport.disconnecting or not transport.connected
            or transport.producer is not None
            or transport._writeDisconnected
            or getattr(transport, "_sendmsgQueue", None)):
        transport.write(data)
        return
    try:
        sent = transport.socket.send(data)
    except BlockingIOError:
        sent = 0
    except OSError:
        # Let the reactor find the error on its next write attempt and
        # close the connection its usual way.
        transport.write(data)
        return
    if sent < len(data):
        transport.write(data[sent:])


#: L{SharedSender.sendFromThread} outcomes.
SENT = "sent"
CARRIED = "carried"
NOT_SENT = "not sent"


class IReplySender(Interface):
    """
    The sending side of one connection, shared between the reactor thread
    and the worker threads that send their replies themselves.
    """

    def prepare() -> bool:
        """
        Reactor thread: get ready for L{sendFromThread}.

        @return: whether workers may send now.
        """

    def sendFromThread(data: bytes) -> str:  # noqa: N805
        """
        Worker thread: send the whole message C{data} now if nothing is
        queued before it.

        @return: L{SENT}, L{CARRIED} (the reactor thread must call
            L{flush}) or L{NOT_SENT} (the reactor thread must send C{data}).
        """

    def send(data: bytes) -> None:  # noqa: N805
        """
        Reactor thread: send C{data} after anything a worker left over.
        """

    def flush() -> int:
        """
        Reactor thread: queue what a worker could not send.

        @return: the number of bytes queued.
        """

    def close() -> None:
        """
        Reactor thread, once the connection is lost: no more sends.
        """


@implementer(IReplySender)
class SharedSender:
    """
    The sending side of a plain socket, shared between the reactor thread
    and worker threads.

    The reactor thread owns the transport; a worker thread may send a whole
    message on it only while nothing is queued in the transport, under a
    lock every sender on this connection takes. Twisted itself sends queued
    bytes without the lock, which is safe because the reactor queues bytes
    only under the lock and a worker never sends while bytes are queued.

    Workers send on a duplicate of the socket's descriptor, closed (under
    the lock) when the connection is lost: the descriptor number a worker
    uses can never be closed and reused for another client in the middle of
    its send.

    @ivar transport: the Twisted transport (for which L{canWriteDirectly}
        holds).
    """

    __slots__ = ("transport", "_lock", "_sock", "_closed", "_carry")

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self._lock = threading.Lock()
        self._sock: Any = None
        self._closed = False
        # The unsent end of a message a worker sent in part: it goes out
        # before anything else.
        self._carry: bytes | None = None

    def prepare(self) -> bool:
        """
        Reactor thread: get ready for L{sendFromThread}.

        @return: whether workers may send (false once the connection is
            closing or its descriptor cannot be duplicated).
        """
        if self._sock is not None:
            return not self._closed
        if self._closed or not self.transport.connected or \
                self.transport.disconnecting:
            return False
        try:
            sock = self.transport.socket.dup()
        except OSError:
            # Out of descriptors: the reactor sends, as before.
            return False
        with self._lock:
            if self._closed:
                sock.close()
                return False
            self._sock = sock
        return True

    def sendFromThread(self, data: bytes) -> str:
        """
        Worker thread: send C{data} now if nothing is queued before it.

        @return: L{SENT} (the kernel has all of it), L{CARRIED} (it has
            part; the reactor thread must call L{flush} for the rest) or
            L{NOT_SENT} (nothing was sent; the reactor thread must write
            C{data} itself).
        """
        with self._lock:
            sock = self._sock
            t = self.transport
            if (sock is None or self._closed or self._carry is not None
                    or t.dataBuffer or t._tempDataLen or t.disconnecting
                    or t.producer is not None or t._writeDisconnected):
                return NOT_SENT
            try:
                sent = sock.send(data)
            except BlockingIOError:
                return NOT_SENT
            except OSError:
                # The reactor finds the error on its own write and closes
                # the connection its usual way.
                return NOT_SENT
            if sent == len(data):
                return SENT
            self._carry = data[sent:]
            return CARRIED

    def send(self, data: bytes) -> None:
        """
        Reactor thread: write C{data} after anything a worker left over,
        at once when nothing is queued (see L{writeDirectly}).
        """
        with self._lock:
            carry = self._carry
            if carry is not None:
                self._carry = None
                self.transport.write(carry)
                self.transport.write(data)
            else:
                writeDirectly(self.transport, data)

    def flush(self) -> int:
        """
        Reactor thread: queue what a worker could not send.

        @return: the number of bytes queued.
        """
        with self._lock:
            carry, self._carry = self._carry, None
            if carry is None:
                return 0
            self.transport.write(carry)
            return len(carry)

    def close(self) -> None:
        """
        Reactor thread, once the connection is lost: no more sends.
        """
        with self._lock:
            self._closed = True
            self._carry = None
            sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
