"""
libvirt's RPC message: the length word, the six-word header, message types
and statuses, size limits, program numbers and the error struct (wire facts
sections 1 and 2).
"""

from __future__ import annotations

import struct
from collections import namedtuple

from virtd import xdr
from virtd.errors import VIR_ERR_ERROR, LibvirtError
from virtd.protocol.types import Dom, Net, OptString

# Sizes (virnetprotocol.x)
VIR_NET_MESSAGE_INITIAL = 65536
VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX = 262120
VIR_NET_MESSAGE_MAX = 33554432
VIR_NET_MESSAGE_HEADER_MAX = 24
VIR_NET_MESSAGE_PAYLOAD_MAX = 33554408
VIR_NET_MESSAGE_LEN_MAX = 4
VIR_NET_MESSAGE_STRING_MAX = 4194304
VIR_NET_MESSAGE_NUM_FDS_MAX = 32
#: The smallest legal length word: itself plus the header.
MIN_FRAME = VIR_NET_MESSAGE_LEN_MAX + VIR_NET_MESSAGE_HEADER_MAX
#: The largest legal length word.
MAX_FRAME = VIR_NET_MESSAGE_LEN_MAX + VIR_NET_MESSAGE_MAX

# virNetMessageType
VIR_NET_CALL = 0
VIR_NET_REPLY = 1
VIR_NET_MESSAGE = 2
VIR_NET_STREAM = 3
VIR_NET_CALL_WITH_FDS = 4
VIR_NET_REPLY_WITH_FDS = 5
VIR_NET_STREAM_HOLE = 6

# virNetMessageStatus
VIR_NET_OK = 0
VIR_NET_ERROR = 1
VIR_NET_CONTINUE = 2

# Programs
REMOTE_PROGRAM = 0x20008086
REMOTE_PROTOCOL_VERSION = 1
QEMU_PROGRAM = 0x20008087
LXC_PROGRAM = 0x00068000
KEEPALIVE_PROGRAM = 0x6B656570
KEEPALIVE_PROTOCOL_VERSION = 1
ADMIN_PROGRAM = 0x06900690

Header = namedtuple("Header", "prog vers proc type serial status")
Header.__doc__ = "The six words that follow the length word."

_HEADER = struct.Struct(">IIiiIi")
HEADER_SIZE = _HEADER.size
_FRAME_HEAD = struct.Struct(">IIIiiIi")
_headerUnpack = _HEADER.unpack_from
_tupleNew = tuple.__new__
_frameHeadPack = _FRAME_HEAD.pack


def decodeHeader(message: bytes | bytearray | memoryview,
                 offset: int = 0) -> Header:
    """
    Read the header of a message (the bytes after the length word, as the
    framers deliver them); pass C{offset=4} for a whole frame.

    @raise xdr.XDRError: fewer than 24 bytes.
    """
    try:
        return _tupleNew(Header, _headerUnpack(message, offset))
    except struct.error:
        raise xdr.XDRError("truncated message header") from None


def encodeFrame(header: Header | tuple, payload: bytes = b"") -> bytes:
    """
    Build a whole frame in libvirt's framing: length word, header, payload.
    """
    if payload:
        return _frameHeadPack(MIN_FRAME + len(payload), *header) + payload
    return _frameHeadPack(MIN_FRAME, *header)


#: C{remote_error} (C{virNetMessageError}).
RemoteError = xdr.Struct("remote_error", [
    ("code", xdr.Int),
    ("domain", xdr.Int),
    ("message", OptString),
    ("level", xdr.Int),
    ("dom", xdr.Optional(Dom)),
    ("str1", OptString),
    ("str2", OptString),
    ("str3", OptString),
    ("int1", xdr.Int),
    ("int2", xdr.Int),
    ("net", xdr.Optional(Net)),
])


def errorToStruct(err: LibvirtError) -> tuple:
    """
    The C{remote_error} value that carries C{err} on the wire.
    """
    code, domain, message, level, str1, str2, str3, int1, int2 = err.err
    return RemoteError.cls(code, domain, message, level or VIR_ERR_ERROR,
                           None, str1, str2, str3, int1, int2, None)


def errorFromStruct(value: tuple) -> LibvirtError:
    """
    The L{LibvirtError} a decoded C{remote_error} describes.
    """
    return LibvirtError(value.message, value.code, value.domain, value.level,
                        value.str1, value.str2, value.str3, value.int1,
                        value.int2)
