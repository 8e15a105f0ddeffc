"""
L{RPCPeer}: one end of a libvirt RPC connection, client or daemon side.

The peer frames the byte stream (L{virtd.rpc.framing}), allocates serials
for outgoing calls and matches replies to their Deferreds by serial (replies
may come back in any order), hands incoming calls, events and stream packets
to handlers its owner sets, answers keepalive PINGs, and fails every pending
call at once, with a message saying why, when the connection goes away.

It does not know what a procedure means: L{RPCPeer.call} takes a
L{virtd.protocol.procedures.Procedure}-like object (C{program}, C{version},
C{number}, C{name}, C{args}, C{ret}) and uses only its XDR types.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from virtd import xdr
from virtd.errors import LibvirtError
from virtd.protocol.constants import (
    VIR_CONNECT_CLOSE_REASON_CLIENT,
    VIR_CONNECT_CLOSE_REASON_EOF,
    VIR_CONNECT_CLOSE_REASON_ERROR,
    VIR_CONNECT_CLOSE_REASON_KEEPALIVE,
)
from virtd.protocol.message import (
    KEEPALIVE_PROGRAM,
    KEEPALIVE_PROTOCOL_VERSION,
    LXC_PROGRAM,
    MAX_FRAME,
    QEMU_PROGRAM,
    REMOTE_PROGRAM,
    VIR_NET_CALL,
    VIR_NET_CALL_WITH_FDS,
    VIR_NET_ERROR,
    VIR_NET_MESSAGE,
    VIR_NET_OK,
    VIR_NET_REPLY,
    VIR_NET_REPLY_WITH_FDS,
    VIR_NET_STREAM,
    VIR_NET_STREAM_HOLE,
    Header,
    RemoteError,
    errorToStruct,
)
from virtd.rpc.directwrite import canWriteDirectly, writeDirectly
from virtd.rpc.framing import (
    AutoFramer,
    FramingError,
    LengthFramer,
    RecordFramer,
)
from virtd.rpc.keepalive import Keepalive
from virtd.rpc.pending import (
    UNMATCHED,
    PendingTable,
    describeLoss,
    lostError,
    queuedBytes,
    rpcError,
    setNoDelay,
)
from virtd.rpc.plainread import readPlainly, stopReadingPlainly

__all__ = [
    "RPCPeer", "VIR_CONNECT_CLOSE_REASON_ERROR",
    "VIR_CONNECT_CLOSE_REASON_EOF", "VIR_CONNECT_CLOSE_REASON_KEEPALIVE",
    "VIR_CONNECT_CLOSE_REASON_CLIENT",
]

log = Logger()

PROC_PING = 1
PROC_PONG = 2

_headerUnpack = struct.Struct(">IIiiIi").unpack_from
_makeHeader = Header._make
_FRAMERS = {"length": LengthFramer, "record": RecordFramer,
            "auto": AutoFramer}
_PING = Header(KEEPALIVE_PROGRAM, KEEPALIVE_PROTOCOL_VERSION, PROC_PING,
               VIR_NET_MESSAGE, 0, VIR_NET_OK)
_PONG = _PING._replace(proc=PROC_PONG)
_KEEPALIVE_PREFIX = struct.pack(">II", KEEPALIVE_PROGRAM,
                                KEEPALIVE_PROTOCOL_VERSION)
_MESSAGE_TYPE = struct.pack(">i", VIR_NET_MESSAGE)

Handler = Callable[[Header, bytes], object]


class RPCPeer(Protocol):
    """
    One connection speaking libvirt's RPC protocol.

    Handlers, set by the owner (each may be C{None}); they are called on the
    reactor thread with the decoded L{Header} and the payload (the bytes
    after the header); whatever they raise is logged and the connection
    stays up:

      - C{callHandler(header, payload)}: incoming CALL / CALL_WITH_FDS. A
        daemon-side peer without one answers "Cannot find program"; a client
        side peer without one treats a CALL as a protocol error, as libvirt's
        client does.
      - C{eventHandler(header, payload)}: MESSAGE frames of programs other
        than KEEPALIVE. On the client side a MESSAGE for a program not in
        L{eventPrograms} closes the connection (as libvirt does).
      - C{streamHandler(header, payload)}: STREAM and STREAM_HOLE frames.

    @ivar isServer: whether this is the daemon's end.
    @ivar eventPrograms: programs whose events a client-side peer accepts.
    @ivar frameTimeout: seconds within which a frame must arrive completely
        once its first byte is here (C{None}: no limit). A slow drip of bytes
        does not extend it.
    @ivar closeReason: C{None} while connected, then one of the
        C{VIR_CONNECT_CLOSE_REASON_*} values.
    @ivar closeError: the L{LibvirtError} pending and later calls fail with,
        once the connection is closing or lost.
    """

    callHandler: Handler | None = None
    eventHandler: Handler | None = None
    streamHandler: Handler | None = None
    eventPrograms = frozenset({REMOTE_PROGRAM, QEMU_PROGRAM, LXC_PROGRAM})
    closeReason: int | None = None
    closeError: LibvirtError | None = None
    #: Send each message at once when the socket has nothing queued (see
    #: L{virtd.rpc.directwrite}).
    directWrites = True
    #: Read unix sockets with C{recv}, not C{recvmsg} (see
    #: L{virtd.rpc.plainread}); the daemon's peers do. The client's do not:
    #: against libvirtd with 32 calls in flight it measured slower so
    #: (29.5-31.7k against 33.5-35.1k C{dom.info()}/s, three runs each).
    plainReads = False

    def __init__(self, reactor: Any = None, isServer: bool = False,
                 framing: str = "length", maxFrame: int = MAX_FRAME,
                 frameTimeout: float | None = None) -> None:
        """
        @param reactor: provides C{IReactorTime} (timeouts, keepalive);
            the global reactor by default.
        @param isServer: C{True} for the daemon's end of a connection.
        @param framing: C{'length'} (libvirt), C{'record'} (RFC 5531) or
            C{'auto'} (chosen from the first word received: bit 31 set means
            record marking).
        @param maxFrame: the largest frame accepted, length word included.
        @param frameTimeout: see L{frameTimeout}.
        @raise ValueError: unknown C{framing}.
        """
        if reactor is None:
            from twisted.internet import reactor as _reactor
            reactor = _reactor
        try:
            framerType = _FRAMERS[framing]
        except KeyError:
            raise ValueError(
                f"unknown framing {framing!r}; use one of "
                f"{', '.join(sorted(_FRAMERS))}") from None
        self._reactor = reactor
        self.isServer = isServer
        self.frameTimeout = frameTimeout
        self._framer = framerType(maxFrame)
        self._feed = self._framer.feed
        self._encode = self._framer.encode
        self._other = "client" if isServer else "daemon"
        self._pending = PendingTable(reactor, self._other)
        self._keepalive: Keepalive | None = None
        self._frameTimer: Any = None
        self._closing = False
        self._paused = False
        self._transportPaused = False
        self._held: list[bytes] | None = None
        self._lostWaiters: list[Deferred] = []
        self._lostReason: Failure | None = None

    _direct = False
    _plain = False
    # Frames held while paused; made on first use, as an empty deque costs
    # about 760 bytes (tracemalloc) on every idle connection.
    _backlog: deque[bytes] | tuple[()] = ()

    def _send(self, data: bytes) -> None:
        if self._direct:
            writeDirectly(self.transport, data)
        else:
            self.transport.write(data)

    def _write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            held.append(data)
        else:
            self._send(data)

    def holdWrites(self) -> bool:
        """
        Collect outgoing messages until L{flushWrites}, which writes them
        in one piece: many replies (or calls) made in one go then cost one
        system call instead of one each. Incoming frames are handled this
        way already.

        @return: C{True} if this started holding (the caller must flush),
            C{False} if writes were held already.
        """
        if self._held is None:
            self._held = []
            return True
        return False

    def flushWrites(self) -> None:
        """
        Write what L{holdWrites} collected, and write at once again.
        """
        held = self._held
        if held is not None:
            self._held = None
            if held and self.connected:
                self._send(held[0] if len(held) == 1 else b"".join(held))

    def connectionMade(self) -> None:
        # Every message is written whole and answered: Nagle's algorithm
        # would only delay it (see setNoDelay).
        setNoDelay(self.transport)
        if self.directWrites and canWriteDirectly(self.transport):
            self._direct = True
        if self.plainReads:
            self._plain = readPlainly(self.transport)

    # -- framing and dispatch ------------------------------------------------

    @property
    def framing(self) -> str | None:
        """
        C{'length'} or C{'record'}; C{None} while C{'auto'} has not chosen.
        """
        return self._framer.kind

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            messages = self._feed(data)
        except FramingError as e:
            # Frames that preceded the bad one are valid: handle them first.
            if e.messages:
                self._handle(e.messages)
            self._fatal(f"cannot read a frame from the {self._other}: "
                        f"{e.reason}")
            return
        if self.frameTimeout is not None:
            self._checkFrameDeadline(bool(messages))
        if self._paused and not self._transportPaused:
            # Bytes arrived while paused: stop reading for real now.
            self._stopTransport()
        if messages:
            if self._held is None:
                # Answers to a batch of frames leave in one write.
                self._held = []
                try:
                    self._handle(messages)
                finally:
                    self.flushWrites()
            else:
                self._handle(messages)

    def _handle(self, messages: list[bytes]) -> None:
        if self._keepalive is not None:
            self._keepalive.received()
        if self._paused or self._backlog:
            self._queue(messages)
            if not self._paused:
                self._drain()
        else:
            self._deliver(messages)

    def _deliver(self, messages: list[bytes]) -> None:
        handle = self._frameReceived
        if len(messages) == 1:
            handle(messages[0])
            return
        it = iter(messages)
        for message in it:
            handle(message)
            if self._paused or self._closing:
                if not self._closing:
                    self._queue(it)
                    if self._backlog:
                        self._stopTransport()
                return

    def _queue(self, messages: Iterable[bytes]) -> None:
        # Keepalive frames are answered even while reading is paused, as
        # they take no request slot in libvirtd either.
        backlog = self._backlog
        if backlog.__class__ is not deque:
            backlog = self._backlog = deque()
        append = backlog.append
        for message in messages:
            if message[:8] == _KEEPALIVE_PREFIX and \
                    message[12:16] == _MESSAGE_TYPE:
                self._frameReceived(message)
            else:
                append(message)

    def _drain(self) -> None:
        backlog = self._backlog
        while backlog and not self._paused and not self._closing:
            self._frameReceived(backlog.popleft())

    def _frameReceived(self, message: bytes) -> None:
        h = _headerUnpack(message)
        prog, vers, proc, mtype, serial, status = h
        if mtype == VIR_NET_CALL_WITH_FDS or mtype == VIR_NET_REPLY_WITH_FDS:
            # Drop the descriptor count (the framer checked it). virtd
            # hands no descriptor on: they are closed unused (by the kernel
            # on a plain read, else by Twisted), and the daemon refuses the
            # calls that need them.
            message = message[:24] + message[28:]
        if mtype == VIR_NET_REPLY or mtype == VIR_NET_REPLY_WITH_FDS:
            self._replyReceived(prog, vers, proc, serial, status, message)
        elif mtype == VIR_NET_CALL or mtype == VIR_NET_CALL_WITH_FDS:
            handler = self.callHandler
            if handler is not None:
                self._run(handler, h, message)
            elif self.isServer:
                self.sendError(
                    _makeHeader((prog, vers, proc, mtype, serial, status)),
                    rpcError(f"Cannot find program {prog} version {vers}"))
            else:
                self._fatal(f"the daemon sent a CALL (program {prog:#x}, "
                            f"procedure {proc}); clients accept none")
        elif mtype == VIR_NET_MESSAGE:
            if prog == KEEPALIVE_PROGRAM and vers == KEEPALIVE_PROTOCOL_VERSION:
                if proc == PROC_PING:
                    self.sendMessage(_PONG)
                return
            if not self.isServer and prog not in self.eventPrograms:
                self._fatal(f"the daemon sent an event for unknown program "
                            f"{prog:#x} version {vers}")
                return
            handler = self.eventHandler
            if handler is not None:
                self._run(handler, h, message)
            elif self.isServer:
                log.warn("ignoring a MESSAGE (program {prog:#x}, procedure "
                         "{proc}) sent by a client", prog=prog, proc=proc)
        elif mtype == VIR_NET_STREAM or mtype == VIR_NET_STREAM_HOLE:
            handler = self.streamHandler
            if handler is not None:
                self._run(handler, h, message)
        elif self.isServer:
            log.warn("ignoring a message of unknown type {type} (program "
                     "{prog:#x}, procedure {proc}) sent by a client",
                     type=mtype, prog=prog, proc=proc)
        else:
            self._fatal(f"the daemon sent a message of unknown type {mtype} "
                        f"(program {prog:#x}, procedure {proc})")

    def _run(self, handler: Handler, h: tuple, message: bytes) -> None:
        try:
            handler(_makeHeader(h), message[24:])
        except Exception:
            log.failure("handler {handler!r} failed on a message from the "
                        "{other}; the connection stays open",
                        handler=handler, other=self._other)

    def _replyReceived(self, prog: int, vers: int, proc: int, serial: int,
                       status: int, message: bytes) -> None:
        problem = self._pending.resolve(prog, vers, proc, serial, status,
                                        message)
        if problem is None:
            return
        if problem is UNMATCHED:
            if self.isServer:
                log.warn("ignoring a REPLY (program {prog:#x}, procedure "
                         "{proc}, serial {serial}) sent by a client",
                         prog=prog, proc=proc, serial=serial)
                return
            problem = (f"the daemon sent a reply (program {prog:#x}, "
                       f"procedure {proc}) with serial {serial}, which "
                       f"matches no call in progress")
        self._fatal(problem)

    def _checkFrameDeadline(self, completed: bool) -> None:
        timer = self._frameTimer
        if self._framer.inMessage:
            if timer is None or completed:
                # A new frame started: its own deadline.
                if timer is not None and timer.active():
                    timer.cancel()
                self._frameTimer = self._reactor.callLater(
                    self.frameTimeout, self._frameTooSlow)
        elif timer is not None:
            self._frameTimer = None
            if timer.active():
                timer.cancel()

    def _frameTooSlow(self) -> None:
        self._frameTimer = None
        self._fatal(f"a frame from the {self._other} did not arrive "
                    f"completely within {self.frameTimeout:g} s")

    # -- outgoing ------------------------------------------------------------

    def sendMessage(self, header: tuple, payload: bytes = b"") -> None:
        """
        Send one message as it is, in one write.

        @param header: a L{Header} or a 6-tuple in its order.
        @param payload: the bytes after the header.
        """
        if self.connected and not self._closing:
            self._write(self._encode(header, payload))

    def sendReply(self, request: Header, payload: bytes = b"") -> None:
        """
        Answer the CALL C{request} successfully.

        @param payload: the encoded C{*_ret} struct (empty for void).
        """
        self.sendMessage((request.prog, request.vers, request.proc,
                          VIR_NET_REPLY, request.serial, VIR_NET_OK), payload)

    def sendError(self, request: Header, err: LibvirtError) -> None:
        """
        Answer the CALL C{request} with an error REPLY carrying C{err}.
        """
        self.sendMessage((request.prog, request.vers, request.proc,
                          VIR_NET_REPLY, request.serial, VIR_NET_ERROR),
                         RemoteError.pack(errorToStruct(err)))

    def sendEvent(self, prog: int, proc: int, payload: bytes) -> None:
        """
        Send an event: a MESSAGE with serial 1, as libvirtd does.
        """
        self.sendMessage((prog, 1, proc, VIR_NET_MESSAGE, 1, VIR_NET_OK),
                         payload)

    def call(self, proc: Any, args: Any = None,
             timeout: float | None = None) -> Deferred:
        """
        Call a procedure and wait for its reply.

        @param proc: a L{virtd.protocol.procedures.Procedure} (or anything
            with C{program}, C{version}, C{number}, C{name}, C{args}, C{ret}).
        @param args: the C{*_args} value: a namedtuple or tuple in field
            order, or a dict of fields; ignored for void arguments.
        @param timeout: seconds to wait for the reply, or C{None} for ever.
        @return: a Deferred firing with the decoded C{*_ret} value (C{None}
            for void) or failing with L{LibvirtError}: the daemon's error
            ("unknown procedure" rewritten to C{VIR_ERR_NO_SUPPORT}), a
            timeout (C{VIR_ERR_OPERATION_TIMEOUT}) or the lost connection.
            Cancelling it forgets the call; a late reply is dropped.
        """
        try:
            payload = self.encodeArgs(proc, args)
        except (xdr.XDRError, TypeError) as e:
            return fail(rpcError(
                f"cannot encode the arguments of {proc.name}: {e}"))
        return self._startCall(proc.program, proc.version, proc.number,
                               payload, timeout, proc.name, proc.ret)

    @staticmethod
    def encodeArgs(proc: Any, args: Any) -> bytes:
        """
        The payload of a call of C{proc} with C{args} (as L{call} takes
        them).

        @raise xdr.XDRError: if C{args} do not fit the procedure's type.
        @raise TypeError: likewise, for a value of the wrong kind.
        """
        argsType = proc.args
        if argsType is xdr.Void:
            return b""
        if isinstance(args, dict):
            args = argsType(**args)
        return argsType.pack(args)

    def callEncoded(self, proc: Any, payload: bytes,
                    timeout: float | None = None) -> Deferred:
        """
        L{call} with the arguments already encoded (by L{encodeArgs}):
        for a caller that sends the same arguments again and again.
        """
        return self._startCall(proc.program, proc.version, proc.number,
                               payload, timeout, proc.name, proc.ret)

    def callRaw(self, prog: int, vers: int, proc: int, payload: bytes = b"",
                timeout: float | None = None) -> Deferred:
        """
        Call with an already encoded payload.

        @return: a Deferred firing with the reply's payload bytes, failing
            as L{call}'s does.
        """
        return self._startCall(prog, vers, proc, payload, timeout,
                               f"procedure {proc} of program {prog:#x}", None)

    def _startCall(self, prog: int, vers: int, proc: int, payload: bytes,
                   timeout: float | None, name: str,
                   ret: xdr.Type | None) -> Deferred:
        if self._closing or not self.connected:
            return fail(self.closeError or lostError(
                f"cannot call {name}: not connected to the {self._other}"))
        serial, d = self._pending.add(prog, vers, proc, name, ret, timeout)
        self._write(self._encode(
            (prog, vers, proc, VIR_NET_CALL, serial, VIR_NET_OK), payload))
        return d

    @property
    def pendingCalls(self) -> int:
        """
        How many calls await their reply.
        """
        return len(self._pending)

    @property
    def bytesQueued(self) -> int:
        """
        Bytes written but not yet handed to the kernel (see
        L{virtd.rpc.pending.queuedBytes} for how this is measured).
        """
        if self.transport is None:
            return 0
        return queuedBytes(self.transport)

    # -- flow control --------------------------------------------------------

    def pauseReading(self) -> None:
        """
        Stop reading and stop handing frames to the handlers; frames already
        read wait until L{resumeReading}.
        """
        # The transport itself is paused only once a frame arrives while
        # paused (see _stopTransport): a daemon pausing at its in-flight
        # limit and resuming a moment later, as under pipelined load, then
        # costs no poller (de)registration at all. At most one segment read
        # (64 KiB) is held meanwhile.
        self._paused = True

    @property
    def readingStopped(self) -> bool:
        """
        Whether the transport itself is paused (L{pauseReading} was called
        and bytes arrived since): only L{resumeReading} reads again.
        """
        return self._transportPaused

    def _stopTransport(self) -> None:
        if not self._transportPaused and self.connected and \
                not self._closing:
            self._transportPaused = True
            self.transport.pauseProducing()

    def resumeReading(self) -> None:
        """
        Hand over the frames that waited, then read again.
        """
        if not self._paused:
            return
        self._paused = False
        self._drain()
        if not self._paused and self._transportPaused:
            self._transportPaused = False
            if self.connected and not self._closing:
                self.transport.resumeProducing()

    # -- keepalive -----------------------------------------------------------

    def startKeepalive(self, interval: float, count: int) -> None:
        """
        Send PINGs after C{interval} s of silence and close the connection
        when the peer stays silent C{interval * (count + 1)} s. PINGs are
        answered whether or not this is running.
        """
        self.stopKeepalive()
        self._keepalive = Keepalive(self._reactor, interval, count,
                                    self._sendPing, self._keepaliveDead)
        self._keepalive.start()

    def stopKeepalive(self) -> None:
        """
        Stop sending PINGs.
        """
        if self._keepalive is not None:
            self._keepalive.stop()
            self._keepalive = None

    def _sendPing(self) -> None:
        self.sendMessage(_PING)

    def _keepaliveDead(self) -> None:
        silent = self._keepalive.silentFor() if self._keepalive else 0
        self._close(VIR_CONNECT_CLOSE_REASON_KEEPALIVE, lostError(
            f"connection to the {self._other} was lost: no keepalive "
            f"response from the peer in {silent:g} s"), abort=True)
        log.info("closed the connection: no keepalive response from the "
                 "{other} in {silent} s", other=self._other, silent=silent)

    # -- closing -------------------------------------------------------------

    def close(self) -> None:
        """
        Close the connection after the queued output is written; pending
        calls fail saying the connection was closed by this program.
        """
        self._close(VIR_CONNECT_CLOSE_REASON_CLIENT, lostError(
            f"the connection to the {self._other} was closed by this "
            "program"), abort=False)

    def _fatal(self, why: str) -> None:
        """
        A protocol violation: log it and drop the connection at once.
        """
        if self._closing:
            return
        log.warn("closing the connection with {peer}: {why}",
                 peer=self._peerName(), why=why)
        self._close(VIR_CONNECT_CLOSE_REASON_ERROR, rpcError(
            f"connection to the {self._other} was closed: {why}"),
            abort=True)

    def _peerName(self) -> str:
        try:
            return str(self.transport.getPeer())
        except Exception:
            return f"the {self._other}"

    def _close(self, reason: int, error: LibvirtError, abort: bool) -> None:
        if self._closing:
            return
        # Answers already made go first, as they would without holding.
        self.flushWrites()
        self._closing = True
        self.closeReason = reason
        self.closeError = error
        self._stopTimers()
        if self.connected:
            t = self.transport
            closer = getattr(t, "abortConnection", None) if abort else None
            (closer or t.loseConnection)()

    def _stopTimers(self) -> None:
        self.stopKeepalive()
        timer = self._frameTimer
        if timer is not None:
            self._frameTimer = None
            if timer.active():
                timer.cancel()

    def whenLost(self) -> Deferred:
        """
        @return: a Deferred that fails with the L{Failure} given to
            C{connectionLost} (L{twisted.internet.error.ConnectionDone} for a
            clean close) once the connection is gone; use C{addBoth} or
            C{addErrback}. L{closeReason} and L{closeError} are set by then.
        """
        if self._lostReason is not None:
            return fail(self._lostReason)
        d = Deferred()
        self._lostWaiters.append(d)
        return d

    def connectionLost(self, reason: Failure) -> None:
        if self._plain:
            self._plain = False
            stopReadingPlainly(self.transport)
        self._closing = True
        self.connected = 0
        self._held = None
        self._stopTimers()
        self._backlog = ()
        if self.closeError is None:
            self.closeReason = (VIR_CONNECT_CLOSE_REASON_EOF
                                if reason.check(ConnectionDone)
                                else VIR_CONNECT_CLOSE_REASON_ERROR)
            self.closeError = lostError(
                f"connection to the {self._other} was lost: "
                f"{describeLoss(reason, self._other)}")
        self._lostReason = reason
        self._pending.failAll(self.closeError)
        waiters, self._lostWaiters = self._lostWaiters, []
        for d in waiters:
            d.errback(reason)
