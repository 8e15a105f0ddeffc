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
"""

from __future__ import annotations

from typing import Any

from twisted.internet import tcp

__all__ = ["canWriteDirectly", "writeDirectly"]

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
