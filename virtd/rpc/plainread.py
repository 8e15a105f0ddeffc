"""
Reading a unix socket with C{recv} instead of C{recvmsg}.

Twisted's unix socket transports read every chunk with C{recvmsg} and a
control-message buffer, so that a protocol providing
L{IFileDescriptorReceiver} can be handed descriptors, and wrap the result in
a named tuple. The RPC peers take no descriptors (libvirt's descriptor
passing is not implemented), yet paid for it on every read: with one
client calling C{dom.info()} in a loop, the daemon's reactor took 16-19 us
from the end of C{epoll_wait} to the peer's C{dataReceived} with
C{recvmsg}, and 10-12 us with C{recv} (timestamps in the live daemon,
medians of 15,000 calls, two runs each). L{readPlainly} makes one
transport read the way Twisted's TCP transport does; the daemon's peers
use it (see L{virtd.rpc.peer.RPCPeer.plainReads}).

Descriptors a client sends anyway are not received: with no control buffer
the kernel drops them (C{MSG_CTRUNC}) and releases its references, so
nothing is left open in this process, as before, when Twisted closed them
itself.
"""

from __future__ import annotations

import types
from typing import Any

from twisted.internet import tcp
from twisted.internet.interfaces import IFileDescriptorReceiver

__all__ = ["readPlainly", "stopReadingPlainly"]

try:
    from twisted.internet import unix as _unix
except ImportError:  # pragma: no cover (platforms without unix sockets)
    _UNIX: tuple[type, ...] = ()
else:
    _UNIX = (_unix.Server, _unix.Client)


def readPlainly(transport: Any) -> bool:
    """
    Make C{transport}, if it is one of Twisted's own unix socket transports
    (without TLS) whose protocol takes no descriptors, read with C{recv}.

    @return: whether it now does.
    """
    if (type(transport) not in _UNIX or getattr(transport, "TLS", False)
            or IFileDescriptorReceiver.providedBy(transport.protocol)):
        return False
    # TCP's doRead: recv, then the same _dataReceived and error handling.
    transport.doRead = types.MethodType(tcp.Connection.doRead, transport)
    return True


def stopReadingPlainly(transport: Any) -> None:
    """
    Undo L{readPlainly} once the connection is lost: the bound method ties
    the transport to itself, and the cycle would keep it and its protocol
    (with whatever that holds, such as a hypervisor connection) alive until
    the garbage collector runs.
    """
    vars(transport).pop("doRead", None)
