"""
Helpers of L{virtd.rpc.peer}: the record of a call awaiting its reply, the
errors a peer reports, and the measure of a transport's unsent output.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from virtd import xdr
from virtd.errors import (
    VIR_ERR_ERROR,
    VIR_ERR_NO_SUPPORT,
    VIR_ERR_OPERATION_TIMEOUT,
    VIR_ERR_RPC,
    VIR_ERR_SYSTEM_ERROR,
    VIR_FROM_REMOTE,
    VIR_FROM_RPC,
    LibvirtError,
)
from virtd.protocol.message import (
    VIR_NET_ERROR,
    VIR_NET_OK,
    RemoteError,
    errorFromStruct,
)

__all__ = [
    "PendingCall", "PendingTable", "UNMATCHED", "rpcError", "lostError", "decodeRemoteError",
    "queuedBytes", "setNoDelay",
]


class PendingCall:
    """
    A call sent and not yet answered.

    @ivar ret: how to turn the reply payload into the result: C{None} for
        raw bytes, else the XDR type of the C{*_ret} struct (L{xdr.Void}
        gives C{None}).
    @ivar timer: the timeout's delayed call, or C{None}.
    """

    __slots__ = ("deferred", "prog", "vers", "proc", "name", "ret", "timer",
                 "timeout")

    def __init__(self, deferred: Deferred, prog: int, vers: int, proc: int,
                 name: str, ret: xdr.Type | None, timeout: float | None
                 ) -> None:
        self.deferred = deferred
        self.prog = prog
        self.vers = vers
        self.proc = proc
        self.name = name
        self.ret = ret
        self.timeout = timeout
        self.timer: Any = None

    def stopTimer(self) -> None:
        """
        Cancel the timeout, if one is armed.
        """
        timer = self.timer
        if timer is not None:
            self.timer = None
            if timer.active():
                timer.cancel()


#: L{PendingTable.resolve}'s answer for a reply that matches no call.
UNMATCHED = "unmatched"


class PendingTable:
    """
    The calls of one connection that await their reply, by serial.

    Serials start at 0 and wrap at 2**32, as libvirt's client counts them.
    Calls given up (cancelled or timed out) are remembered until their
    reply arrives, so that the late reply is dropped rather than taken for
    a protocol error.
    """

    def __init__(self, clock: IReactorTime, other: str) -> None:
        """
        @param clock: for the per-call timeouts.
        @param other: what is at the other end, for messages.
        """
        self._clock = clock
        self._other = other
        self._calls: dict[int, PendingCall] = {}
        self._serial = 0

    def __len__(self) -> int:
        return len(self._calls)

    def add(self, prog: int, vers: int, proc: int, name: str,
            ret: xdr.Type | None, timeout: float | None
            ) -> tuple[int, Deferred]:
        """
        Register a call about to be sent.

        @param ret: see L{PendingCall.ret}.
        @return: the call's serial and the Deferred of its result.
        """
        serial = self._serial
        self._serial = (serial + 1) & 0xFFFFFFFF
        d = Deferred(lambda _: self._cancelled(serial))
        call = PendingCall(d, prog, vers, proc, name, ret, timeout)
        self._calls[serial] = call
        if timeout is not None:
            call.timer = self._clock.callLater(timeout, self._timedOut,
                                               serial)
        return serial, d

    # Serials of calls given up on, whose late replies are dropped quietly;
    # a set is made on first use (an empty one costs 216 bytes, and most
    # connections never give up on a call).
    _abandoned: set[int] | frozenset[int] = frozenset()

    def _abandon(self, serial: int) -> None:
        abandoned = self._abandoned
        if abandoned.__class__ is not set:
            abandoned = self._abandoned = set()
        abandoned.add(serial)  # type: ignore[union-attr]

    def _cancelled(self, serial: int) -> None:
        call = self._calls.pop(serial, None)
        if call is not None:
            call.stopTimer()
            self._abandon(serial)

    def _timedOut(self, serial: int) -> None:
        call = self._calls.pop(serial, None)
        if call is None:
            return
        call.timer = None
        self._abandon(serial)
        call.deferred.errback(LibvirtError.fromCode(
            VIR_ERR_OPERATION_TIMEOUT, VIR_FROM_RPC,
            f"no reply to {call.name} (serial {serial}) from the "
            f"{self._other} within {call.timeout:g} s"))

    def resolve(self, prog: int, vers: int, proc: int, serial: int,
                status: int, message: bytes) -> str | None:
        """
        Fire the call a REPLY answers.

        @param message: the whole message (header at offset 0).
        @return: C{None} when the reply was used or deliberately dropped;
            L{UNMATCHED} when no call has its serial; otherwise the words
            of a protocol violation (the call stays pending).
        """
        call = self._calls.pop(serial, None)
        if call is None:
            if serial in self._abandoned:
                self._abandoned.discard(serial)  # type: ignore[union-attr]
                return None
            return UNMATCHED
        if call.prog != prog or call.vers != vers or call.proc != proc:
            self._calls[serial] = call
            return (f"the reply with serial {serial} is for program "
                    f"{prog:#x} version {vers} procedure {proc}, but the "
                    f"call was {call.name} (program {call.prog:#x} "
                    f"version {call.vers} procedure {call.proc})")
        if call.timer is not None:
            call.stopTimer()
        d = call.deferred
        if status == VIR_NET_OK:
            ret = call.ret
            if ret is None:
                d.callback(message[24:])
            elif ret is xdr.Void:
                d.callback(None)
            else:
                try:
                    value, end = ret.unpack(message, 24)
                    if end != len(message):
                        raise xdr.XDRError(
                            f"{len(message) - end} trailing bytes")
                except xdr.XDRError as e:
                    d.errback(rpcError(f"cannot decode the reply to "
                                       f"{call.name}: {e.reason}"))
                else:
                    d.callback(value)
        elif status == VIR_NET_ERROR:
            d.errback(decodeRemoteError(message, call.name))
        else:
            d.errback(rpcError(f"the reply to {call.name} has unexpected "
                               f"status {status}"))
        return None

    def failAll(self, err: LibvirtError) -> None:
        """
        Fail every pending call with C{err}, at once, and forget them all.
        """
        calls, self._calls = self._calls, {}
        self._abandoned = frozenset()
        for call in calls.values():
            call.stopTimer()
            call.deferred.errback(err)


def rpcError(detail: str) -> LibvirtError:
    """
    A protocol-level error (C{VIR_ERR_RPC}, C{VIR_FROM_RPC}) whose message is
    C{detail}.
    """
    return LibvirtError.fromCode(VIR_ERR_RPC, VIR_FROM_RPC, detail)


def lostError(detail: str, code: int = VIR_ERR_SYSTEM_ERROR) -> LibvirtError:
    """
    The error every pending call gets when the connection goes away.

    @param detail: the whole message, saying that the connection was lost
        and why.
    """
    return LibvirtError.fromCode(code, VIR_FROM_RPC, detail)


def describeLoss(reason: Failure, other: str) -> str:
    """
    Words for why the transport went away.

    @param other: what is at the other end, C{'daemon'} or C{'client'}.
    """
    if reason.check(ConnectionDone):
        return f"the {other} closed the connection"
    return reason.getErrorMessage()


def decodeRemoteError(message: bytes, name: str) -> LibvirtError:
    """
    The L{LibvirtError} carried by an error REPLY, with libvirt's client-side
    rewrite of "unknown procedure" RPC errors to C{VIR_ERR_NO_SUPPORT}
    (wire facts 1.8).

    @param message: the whole message (header at offset 0).
    @param name: the call, for the error raised when the payload is garbage.
    """
    try:
        value, _ = RemoteError.unpack(message, 24)
    except xdr.XDRError as e:
        return rpcError(f"cannot decode the error reply to {name}: "
                        f"{e.reason}")
    msg = value.message
    if (value.code == VIR_ERR_RPC and msg is not None
            and value.domain in (VIR_FROM_RPC, VIR_FROM_REMOTE)
            and value.level == VIR_ERR_ERROR
            and msg.startswith("unknown procedure")):
        return LibvirtError(msg, VIR_ERR_NO_SUPPORT, value.domain,
                            value.level, value.str1, value.str2, value.str3,
                            value.int1, value.int2)
    return errorFromStruct(value)


def queuedBytes(transport: Any) -> int:
    """
    How many bytes written to C{transport} have not reached the kernel yet.

    Twisted has no public interface for this, so the transports virtd uses
    are inspected: a L{twisted.internet.abstract.FileDescriptor} (TCP, UNIX,
    process pipes) keeps C{dataBuffer} from C{offset} on plus C{_tempDataLen}
    bytes not yet joined; L{twisted.protocols.tls.TLSMemoryBIOProtocol} keeps
    C{_appSendBuffer} until the handshake is done and hands ciphertext to its
    own transport; protocol wrappers forward to C{transport}; an endpoint's
    process transport keeps its stdin writer in C{_process.pipes[0]}.
    Anything else (e.g. a L{twisted.internet.testing.StringTransport})
    counts as 0.
    """
    total = 0
    for _ in range(8):
        if transport is None:
            break
        app = getattr(transport, "_appSendBuffer", None)
        if app:
            total += sum(map(len, app))
        tempLen = getattr(transport, "_tempDataLen", None)
        if tempLen is not None:
            data = getattr(transport, "dataBuffer", b"")
            return total + len(data) - getattr(transport, "offset", 0) + \
                tempLen
        process = getattr(transport, "_process", None)
        if process is not None:
            pipes = getattr(process, "pipes", None) or {}
            transport = pipes.get(0)
            continue
        transport = getattr(transport, "transport", None)
    return total


def setNoDelay(transport: Any) -> bool:
    """
    Turn Nagle's algorithm off on the TCP socket under C{transport} (also
    below TLS and protocol wrappers), as libvirt does on its TCP sockets.

    An RPC message is written in one piece and its sender then waits for
    the answer: with Nagle on, a small message written while an earlier one
    is unacknowledged waits for the peer's delayed ACK (up to 40 ms on
    Linux), which caps pipelined calls at a few thousand per second.

    @return: whether a TCP socket was found and set (C{False} for unix
        sockets, pipes and test transports).
    """
    for _ in range(8):
        if transport is None:
            return False
        sock = getattr(transport, "socket", None)
        if isinstance(sock, socket.socket):
            if sock.family not in (socket.AF_INET, socket.AF_INET6):
                return False
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                return False
            return True
        transport = getattr(transport, "transport", None)
    return False
