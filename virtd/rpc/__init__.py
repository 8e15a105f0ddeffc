"""
The Twisted side of libvirt's RPC protocol: framing (libvirt's length word
and RFC 5531 record marking), one L{RPCPeer} per connection, and the
keepalive state machine.
"""

from virtd.rpc.framing import (
    AutoFramer,
    FramingError,
    LengthFramer,
    RecordFramer,
    encodeLength,
    encodeRecord,
)
from virtd.rpc.keepalive import Keepalive
from virtd.rpc.peer import (
    VIR_CONNECT_CLOSE_REASON_CLIENT,
    VIR_CONNECT_CLOSE_REASON_EOF,
    VIR_CONNECT_CLOSE_REASON_ERROR,
    VIR_CONNECT_CLOSE_REASON_KEEPALIVE,
    RPCPeer,
)

__all__ = [
    "AutoFramer", "FramingError", "LengthFramer", "RecordFramer",
    "encodeLength", "encodeRecord", "Keepalive", "RPCPeer",
    "VIR_CONNECT_CLOSE_REASON_ERROR", "VIR_CONNECT_CLOSE_REASON_EOF",
    "VIR_CONNECT_CLOSE_REASON_KEEPALIVE", "VIR_CONNECT_CLOSE_REASON_CLIENT",
]
