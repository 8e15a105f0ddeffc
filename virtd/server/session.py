"""
One client of the daemon: its connection (an L{RPCPeer}), its state in the
RPC handshake and its hypervisor connection.

The session is also the C{ctx} handlers receive: C{ctx.conn} is the
libvirt connection, C{ctx.session} the session itself.
"""

from __future__ import annotations

import socket
import struct
import time
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger
from twisted.python.failure import Failure

from virtd.protocol.message import Header
from virtd.rpc.directwrite import IReplySender, SharedSender
from virtd.rpc.peer import VIR_CONNECT_CLOSE_REASON_CLIENT, RPCPeer
from virtd.rpc.pending import rpcError
from virtd.server.limits import ClientLimits

if TYPE_CHECKING:
    from virtd.server.dispatch import Dispatcher

__all__ = ["ClientSession", "ListenerInfo", "ServerPeer", "peerIdentity"]

log = Logger(namespace="virtd.server")

_UCRED = struct.Struct("3i")


class ListenerInfo:
    """
    What a client's listener implies for it.

    @ivar kind: C{'unix'}, C{'tcp'}, C{'tls'} or C{'endpoint'}.
    @ivar readonly: clients on it are read-only whatever they ask.
    @ivar description: for logs, e.g. C{'unix:/run/virtd/virtd-sock'}.
    """

    __slots__ = ("kind", "readonly", "description")

    def __init__(self, kind: str, readonly: bool, description: str) -> None:
        self.kind = kind
        self.readonly = readonly
        self.description = description

    def __repr__(self) -> str:
        ro = " read-only" if self.readonly else ""
        return f"<listener {self.description}{ro}>"


def peerIdentity(transport: Any, dn: str | None = None) -> str:
    """
    Describe who is on the other end of C{transport}, for logs: uid/pid/gid
    from C{SO_PEERCRED} on unix sockets, the certificate's DN on TLS, the
    address otherwise.

    @param dn: the client certificate's DN when the TLS layer has already
        worked it out (it is then not read from the certificate again).
    """
    parts = []
    try:
        peer = transport.getPeer()
    except Exception:
        peer = None
    handle = None
    try:
        handle = transport.getHandle()
    except Exception:
        pass
    cert = None
    getCert = getattr(transport, "getPeerCertificate", None)
    if dn is None and getCert is not None:
        try:
            cert = getCert()
        except Exception:
            cert = None
    if isinstance(handle, socket.socket) and handle.family == socket.AF_UNIX:
        try:
            pid, uid, gid = _UCRED.unpack(handle.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
            parts.append(f"unix pid={pid} uid={uid} gid={gid}")
        except OSError:
            parts.append("unix")
    elif peer is not None and hasattr(peer, "host"):
        parts.append(f"{peer.host}:{peer.port}")
    elif peer is not None:
        parts.append(str(peer))
    if dn is None and cert is not None:
        dn = _dn(cert)
    if dn is not None:
        parts.append(f"dn={dn}")
    return " ".join(parts) or "unknown peer"


def _dn(cert: Any) -> str:
    try:
        from virtd.tls.dn import certificateDN

        return certificateDN(cert)
    except Exception:
        try:
            return ",".join(f"{k.decode()}={v.decode()}"
                            for k, v in cert.get_subject().get_components())
        except Exception:
            return "?"


class ClientSession:
    """
    Per-client state.

    @ivar peer: the client's L{RPCPeer}.
    @ivar listener: the L{ListenerInfo} it arrived through.
    @ivar authenticated: whether it may make calls other than AUTH_* (auth
        type "none" on every listener: true from the start).
    @ivar conn: the hypervisor connection once CONNECT_OPEN succeeded.
    @ivar opening: CONNECT_OPEN is in progress.
    @ivar readonly: the client is read-only (listener, or open flags).
    @ivar uri: the URI of C{conn}.
    @ivar closeCallback: the client registered a close callback.
    @ivar keepalive: the client asked for keepalive (feature 10).
    @ivar inFlight: calls being carried out in worker threads.
    @ivar calls: calls the client has sent, answered or refused.
    @ivar identity: who the client is, for logs.
    @ivar lost: the connection is gone.
    """

    def __init__(self, dispatcher: Dispatcher, peer: RPCPeer,
                 listener: ListenerInfo) -> None:
        self.dispatcher = dispatcher
        self.peer = peer
        self.listener = listener
        self.authenticated = True
        self.conn: Any = None
        self.opening = False
        self.readonly = listener.readonly
        self.uri: str | None = None
        self.closeCallback = False
        self.keepalive = False
        self.inFlight = 0
        self.paused = False
        self.calls = 0
        self.identity = "?"
        self.lost = False
        self.started = time.monotonic()
        #: event registrations, for the event relay: callback id -> data
        self.events: dict[int, Any] = {}
        #: domain handles kept for this connection, made on first use
        #: (L{virtd.server.handlers.convert.domainOf})
        self.domains: dict | None = None
        #: output cap and handshake deadline (L{virtd.server.limits}); the
        #: listener's factory sets the deadline
        self.limits = ClientLimits(self, dispatcher.reactor,
                                   dispatcher.config.maxClientOutput, None)

    @property
    def session(self) -> ClientSession:
        """
        Handlers reach the session as C{ctx.session}.
        """
        return self

    def __repr__(self) -> str:
        return f"<ClientSession {self.identity} via {self.listener}>"

    # -- connection events (called by ServerPeer) ------------------------------

    def connectionMade(self) -> None:
        self.identity = peerIdentity(self.peer.transport,
                                     getattr(self.peer, "tlsPeerDN", None))
        self.dispatcher.sessionStarted(self)
        self.limits.start()
        # No line here: the CONNECT_OPEN and disconnection lines name the
        # client and its listener, and twistd's file observer is slow
        # enough that three lines per client cost about a tenth of the
        # open+close rate over unix (docs/benchmarks.rst).

    def connectionLost(self, reason: Failure) -> None:
        self.lost = True
        self.limits.stop()
        if self.peer.closeReason == VIR_CONNECT_CLOSE_REASON_CLIENT:
            # We hung up after answering CONNECT_CLOSE. The client usually
            # hangs up first (it has its reply), which Twisted, waiting to
            # flush, reports as a non-clean loss: say what happened.
            why = "closed after the client's CONNECT_CLOSE"
        else:
            why = reason.getErrorMessage() if reason is not None else "closed"
        log.info("client disconnected: {identity} via {listener} after "
                 "{seconds:.1f} s and {calls} call{s} ({why})",
                 identity=self.identity, listener=self.listener.description,
                 seconds=time.monotonic() - self.started, calls=self.calls,
                 s="" if self.calls == 1 else "s", why=why)
        self.dispatcher.sessionEnded(self)

    # -- flow control ------------------------------------------------------

    def callStarted(self, limit: int) -> None:
        """
        A call went to a worker: stop reading once C{limit} are in flight.
        """
        self.inFlight += 1
        if self.inFlight >= limit and not self.paused:
            self.paused = True
            self.peer.pauseReading()

    def callFinished(self, limit: int) -> None:
        """
        A call came back from its worker: read again below C{limit}.
        """
        self.inFlight -= 1
        if self.paused and self.inFlight < limit and not self.lost:
            self.paused = False
            self.peer.resumeReading()


class ServerPeer(RPCPeer):
    """
    The daemon's end of one client connection: an L{RPCPeer} that tells
    its L{ClientSession} when the connection starts and ends.
    """

    plainReads = True

    session: ClientSession | None = None
    _shared: IReplySender | None = None

    def callHandler(self, header: Header, payload: bytes) -> None:  # type: ignore[override]
        """
        Hand an incoming call to the session's dispatcher (a method, not a
        C{partial} made per connection: some 230 bytes less per client).
        """
        session = self.session
        if session is not None:
            session.dispatcher.dispatch(session, header, payload)
        else:
            self.sendError(header, rpcError("this connection has no session "
                                            "to run calls"))

    @property
    def encode(self) -> Any:
        """
        C{encode(header, payload) -> bytes} for this connection's framing;
        safe to call from any thread.
        """
        return self._encode

    def sharedSender(self) -> IReplySender | None:
        """
        The L{IReplySender} worker threads may send replies with (a
        L{SharedSender}, or for TLS the transport's own, see
        L{virtd.tls.memorybio}), or C{None} where they may not (transports
        Twisted must write itself, a connection that is closing).
        """
        shared = self._shared
        if shared is None:
            if self._direct:
                shared = SharedSender(self.transport)
            else:
                make = getattr(self.transport, "threadSender", None)
                if make is None:
                    return None
                shared = make()
            self._shared = shared
        return shared if shared.prepare() else None

    def _send(self, data: bytes) -> None:
        shared = self._shared
        if shared is not None:
            shared.send(data)
        else:
            super()._send(data)

    def flushCarried(self) -> None:
        """
        Write what a worker thread could not send of its reply.
        """
        shared = self._shared
        if shared is not None and self.session is not None:
            self.session.limits.wrote(shared.flush())

    def dataReceived(self, data: bytes) -> None:
        session = self.session
        if session is not None:
            # Settle calls answered from worker threads first: a slot they
            # freed must count before these frames are let in.
            session.dispatcher.catchUp()
        super().dataReceived(data)

    def _stopTransport(self) -> None:
        super()._stopTransport()
        session = self.session
        if self._transportPaused and session is not None:
            # Completions that saw reading not yet stopped did not wake
            # the reactor, and no incoming data will now: take them here.
            session.dispatcher.catchUp()

    def sendMessage(self, header: tuple, payload: bytes = b"") -> None:
        super().sendMessage(header, payload)
        session = self.session
        if session is not None:
            # 28: the length word and the header.
            session.limits.wrote(28 + len(payload))

    def connectionMade(self) -> None:
        super().connectionMade()
        if self.session is not None:
            self.session.connectionMade()

    def connectionLost(self, reason: Failure) -> None:
        if self._shared is not None:
            self._shared.close()
        try:
            super().connectionLost(reason)
        finally:
            if self.session is not None:
                self.session.connectionLost(reason)
