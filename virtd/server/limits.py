"""
Per-client limits that libvirtd lacks, enforced from the reactor thread:

  - a cap on the bytes queued for a client that does not read its replies
    and events (L{ClientLimits.wrote}): past it, the client is dropped with
    a log line instead of letting its output grow without bound;
  - a deadline for opening the hypervisor connection (the C{--auth-timeout}
    option): a client that connects and then sits there without completing
    the handshake (authentication, then C{CONNECT_OPEN}) loses its slot.

(The frame deadline lives in L{virtd.rpc.peer.RPCPeer}, the TLS handshake
deadline in L{virtd.tls}, keepalive in L{virtd.rpc.keepalive}.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from virtd.protocol.message import MAX_FRAME

if TYPE_CHECKING:
    from virtd.server.session import ClientSession

__all__ = ["DEFAULT_AUTH_TIMEOUT", "DEFAULT_MAX_CLIENT_OUTPUT",
           "MIN_CLIENT_OUTPUT", "ClientLimits"]

log = Logger(namespace="virtd.server")

#: Two of the largest possible replies: a client reading normally never
#: has more than that waiting, however large its replies.
DEFAULT_MAX_CLIENT_OUTPUT = 2 * MAX_FRAME
#: The smallest cap accepted (tests use small caps; real ones are larger).
MIN_CLIENT_OUTPUT = 64 * 1024
#: Seconds a client has from connecting to opening its hypervisor
#: connection.
DEFAULT_AUTH_TIMEOUT = 60.0


class ClientLimits:
    """
    The limits of one client session.

    @ivar maxOutput: bytes that may wait to be written to the client.
    @ivar authTimeout: seconds the client has to open its hypervisor
        connection, or C{None} for no limit.
    """

    def __init__(self, session: ClientSession, reactor: Any,
                 maxOutput: int = DEFAULT_MAX_CLIENT_OUTPUT,
                 authTimeout: float | None = DEFAULT_AUTH_TIMEOUT) -> None:
        self.session = session
        self.reactor = reactor
        self.maxOutput = maxOutput
        self.authTimeout = authTimeout
        # Measuring the queue means poking at the transport; do it only
        # every so many bytes written, which still catches a client that
        # never reads within a fraction of the cap.
        self._step = max(4096, maxOutput // 8)
        self._unchecked = 0
        self._authTimer: Any = None
        self._dropped = False

    def start(self) -> None:
        """
        The client is connected: arm the handshake deadline.
        """
        if self.authTimeout:
            self._authTimer = self.reactor.callLater(self.authTimeout,
                                                     self._authExpired)

    def stop(self) -> None:
        """
        The client is gone: cancel the timers.
        """
        timer, self._authTimer = self._authTimer, None
        if timer is not None and timer.active():
            timer.cancel()

    def opened(self) -> None:
        """
        The client opened its hypervisor connection: the handshake deadline
        is met, so its timer goes (an idle client holds no timer).
        """
        self.stop()

    # -- the handshake deadline ------------------------------------------------

    def _authExpired(self) -> None:
        self._authTimer = None
        session = self.session
        if session.lost or session.conn is not None:
            return
        if session.opening:
            # CONNECT_OPEN arrived in time and the hypervisor is slow:
            # the client did its part; look again later.
            self._authTimer = self.reactor.callLater(self.authTimeout,
                                                     self._authExpired)
            return
        what = ("authenticate" if not session.authenticated
                else "open a hypervisor connection (CONNECT_OPEN)")
        self._drop(f"it did not {what} within {self.authTimeout:g} s of "
                   f"connecting (--auth-timeout)")

    # -- the output cap ------------------------------------------------------

    def wrote(self, size: int) -> None:
        """
        C{size} bytes were just written to the client's transport: drop the
        client when more than L{maxOutput} bytes are waiting. A single
        message larger than the cap is let through when nothing else waits.
        """
        self._unchecked += size
        if self._unchecked < self._step:
            return
        self._unchecked = 0
        queued = self.session.peer.bytesQueued
        if queued > self.maxOutput and queued > size:
            self._drop(f"{queued} bytes of replies and events are waiting "
                       f"for it to read, more than the --max-client-output "
                       f"limit of {self.maxOutput}; it does not read what "
                       f"it asked for")

    # -- dropping ------------------------------------------------------------

    def _drop(self, why: str) -> None:
        if self._dropped:
            return
        self._dropped = True
        self.stop()
        session = self.session
        log.warn("dropping client {identity} via {listener}: {why}",
                 identity=session.identity,
                 listener=session.listener.description, why=why)
        transport = session.peer.transport
        if transport is None:
            return
        # Queued output is what the client refuses to read: discard it.
        abort = getattr(transport, "abortConnection", None)
        (abort or transport.loseConnection)()
