"""
Header and payload cases as data, so the same list drives our daemon and
a real libvirtd 9.0.0 (wire facts 1.9) and the outcomes can be compared.

Each case is sent after a successful handshake on a fresh connection; the
outcome is C{('reply', status, code, domain, message)} for an error reply,
C{('reply', 0)} for success, C{'silent'} when nothing comes back and the
connection stays, C{'closed'} when the daemon hangs up.
"""

from __future__ import annotations

import struct

from tests.hostile.peer import (
    ERROR,
    MESSAGE,
    PROC_AUTH_LIST,
    PROC_CONNECT_OPEN,
    PROC_LOOKUP_BY_NAME,
    REPLY,
    STREAM,
    Closed,
    RawPeer,
    decodeError,
    frame,
    openArgs,
    xstring,
)

__all__ = ["HEADER_CASES", "PAYLOAD_CASES", "outcome", "runCase"]

_UUID = bytes.fromhex("6695eb01f6a4830479aa97f2502e193f")


def _dom(name: str = "test") -> bytes:
    return xstring(name) + _UUID + struct.pack(">i", 1)


def _schedParams(count: int, present: int | None = None) -> bytes:
    """
    DOMAIN_SET_SCHEDULER_PARAMETERS_FLAGS arguments claiming C{count}
    typed parameters and carrying C{present} of them.
    """
    one = xstring("weight") + struct.pack(">ii", 3, 1)  # UINT 1
    present = count if present is None else present
    return (_dom() + struct.pack(">I", count & 0xFFFFFFFF) + one * present
            + struct.pack(">I", 0))


SCHED = 219  # DOMAIN_SET_SCHEDULER_PARAMETERS_FLAGS

#: (name, frame bytes)
HEADER_CASES = [
    ("unknown program", frame(PROC_AUTH_LIST, prog=0x12345678, serial=5)),
    ("version 2", frame(PROC_AUTH_LIST, vers=2, serial=5)),
    ("procedure 0", frame(0, serial=5)),
    ("procedure -1", frame(-1, serial=5)),
    ("event procedure 107", frame(107, serial=5)),
    ("procedure 444 (past the table)", frame(444, serial=5)),
    ("procedure 2**31-1", frame(0x7FFFFFFF, serial=5)),
    ("CALL with status ERROR", frame(PROC_AUTH_LIST, status=ERROR, serial=5)),
    ("CALL with status 7", frame(PROC_AUTH_LIST, status=7, serial=5)),
    ("REPLY sent by the client", frame(PROC_AUTH_LIST, mtype=REPLY, serial=5)),
    ("MESSAGE sent by the client", frame(PROC_AUTH_LIST, mtype=MESSAGE,
                                         serial=5)),
    ("STREAM with no stream", frame(PROC_AUTH_LIST, mtype=STREAM, serial=5,
                                    status=2, payload=b"data")),
    ("message type 99", frame(PROC_AUTH_LIST, mtype=99, serial=5)),
    ("unknown program, MESSAGE", frame(1, prog=0x12345678, mtype=MESSAGE)),
]

PAYLOAD_CASES = [
    ("string longer than the frame",
     frame(PROC_LOOKUP_BY_NAME, xstring("test", declared=1000), 5)),
    ("string length 2**31 (negative)",
     frame(PROC_LOOKUP_BY_NAME, xstring("test", declared=0x80000000), 5)),
    ("string over its maximum, bytes present",
     frame(PROC_LOOKUP_BY_NAME, xstring(b"a" * (4194304 + 4)), 5)),
    ("array over its maximum (17 > 16)",
     frame(SCHED, _schedParams(17), 5)),
    ("array count 0x7fffffff with one element",
     frame(SCHED, _schedParams(0x7FFFFFFF, 1), 5)),
    ("negative array count",
     frame(SCHED, _schedParams(-1, 0), 5)),
    ("optional flag 2", frame(PROC_CONNECT_OPEN,
                              struct.pack(">I", 2) + openArgs()[4:], 5)),
    ("trailing bytes", frame(PROC_LOOKUP_BY_NAME,
                             xstring("test") + b"\0\0\0\0", 5)),
    ("truncated arguments", frame(PROC_LOOKUP_BY_NAME, b"\0\0", 5)),
    ("non-UTF-8 name", frame(PROC_LOOKUP_BY_NAME, xstring(b"\xff\xfe\x80t"),
                             5)),
    ("NUL in a name", frame(PROC_LOOKUP_BY_NAME, xstring(b"te\0st"), 5)),
    ("bad typed-param discriminant",
     frame(SCHED, _dom() + struct.pack(">I", 1) + xstring("weight")
           + struct.pack(">ii", 99, 1) + struct.pack(">I", 0), 5)),
]


def outcome(peer: RawPeer, wait: float = 0.5) -> tuple | str:
    """
    What the daemon did with the last frame sent.
    """
    try:
        h, payload = peer.reply(wait)
    except Closed:
        return "closed"
    except TimeoutError:
        return "silent" if peer.isOpen(0.05) else "closed"
    if h[5] == 0:
        return ("reply", 0)
    code, domain, message = decodeError(payload)
    return ("reply", h[5], code, domain, message, h[:3] + (h[4],))


def runCase(path: str, data: bytes, openFirst: bool = True,
            wait: float = 0.5) -> tuple[tuple | str, bool]:
    """
    Send one case on a fresh connection.

    @return: (outcome, whether a normal call still works afterwards on the
        same connection).
    """
    with RawPeer(path, 30) as peer:
        if openFirst:
            peer.handshake()
        peer.send(data)
        result = outcome(peer, wait)
        if result == "closed":
            return result, False
        try:
            h, _ = peer.roundtrip(PROC_AUTH_LIST, serial=77)
        except (Closed, TimeoutError):
            return result, False
        return result, h[4] == 77 and h[3] == REPLY


