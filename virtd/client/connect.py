"""
L{connect}: open a connection the way libvirt's client does when it has an
event loop (as C{virsh} does), over any transport L{virtd.transports} knows.

On the wire (wire facts section 4.2), after the transport is ready:

  1. C{AUTH_LIST}: C{[0]} (none) or an empty list goes on; a server that
     does not know the procedure is taken to need no authentication;
     SASL and polkit are refused with an error saying so;
  2. C{CONNECT_SUPPORTS_FEATURE(10)}: whether the server does keepalive;
  3. C{CONNECT_OPEN(name, flags)} with the name and flags libvirt derives
     (L{virtd.uri.openFlags}: bit 1 read-only, ...);
  4. C{CONNECT_GET_URI} only when no name was given at all;
  5. C{CONNECT_SUPPORTS_FEATURE(14)} and C{(15)};
  6. C{CONNECT_REGISTER_CLOSE_CALLBACK} when feature 15 is supported (as
     C{virsh} does right after opening; L{Connection.close} unregisters);
  7. keepalive PINGs start when feature 10 is supported and C{keepalive}
     is not C{None}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import CancelledError, Deferred, fail
from twisted.internet.endpoints import connectProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from virtd.client.connection import (
    FEATURE_PROGRAM_KEEPALIVE,
    FEATURE_REMOTE_CLOSE_CALLBACK,
    FEATURE_REMOTE_EVENT_CALLBACK,
    Connection,
)
from virtd.errors import (
    VIR_ERR_AUTH_UNAVAILABLE,
    VIR_ERR_NO_SUPPORT,
    VIR_ERR_OPERATION_TIMEOUT,
    VIR_FROM_REMOTE,
    LibvirtError,
)

__all__ = ["connect"]

_log = Logger()

REMOTE_AUTH_NONE = 0
REMOTE_AUTH_SASL = 1
REMOTE_AUTH_POLKIT = 2
_AUTH_NAMES = {REMOTE_AUTH_SASL: "SASL", REMOTE_AUTH_POLKIT: "polkit"}

#: Seconds allowed for the transport to come up when no timeout is given.
DEFAULT_CONNECT_TIMEOUT = 30.0


def connect(name: str | None = None, readonly: bool = False,
            reactor: Any = None,
            keepalive: tuple[float, int] | None = (5, 6),
            timeout: float | None = None) -> Deferred:
    """
    Open a connection to a libvirt daemon.

    @param name: a libvirt URI (C{"test+unix:///default?socket=..."},
        C{"qemu+ssh://root@host/system"}, ...) or a C{remote:} name
        (C{"remote:tls:host name=test:///default"}); C{None} means
        C{$LIBVIRT_DEFAULT_URI}, else the local daemon's default.
    @param readonly: open read-only (the read-only socket for unix; the
        server refuses every write operation).
    @param reactor: the reactor to use; the global one by default.
    @param keepalive: C{(interval, count)}: after C{interval} seconds
        without traffic send a PING, and give the connection up when the
        server stays silent for C{interval * (count + 1)} seconds; C{None}
        disables our PINGs (the server's are always answered).
    @param timeout: seconds allowed for the whole opening (transport and
        handshake); C{None} for no limit beyond the transport's own
        (30 s to establish it).
    @return: a Deferred firing with a L{Connection}, or failing with a
        L{LibvirtError} that says what went wrong. Cancelling it abandons
        the attempt and closes the transport.
    """
    if reactor is None:
        from twisted.internet import reactor as globalReactor
        reactor = globalReactor
    from virtd import transports, uri

    try:
        parsed = uri.parse(name)
        endpoint = transports.endpointFor(
            reactor, parsed, readonly,
            timeout=timeout if timeout is not None else DEFAULT_CONNECT_TIMEOUT)
    except LibvirtError:
        return fail()
    opener = _Opener(reactor, parsed, readonly, keepalive)
    d = Deferred.fromCoroutine(opener.run(endpoint))
    if timeout is not None:
        d.addTimeout(timeout, reactor, onTimeoutCancel=opener.timedOut)
    return d


class _Opener:
    """
    One attempt to open a connection; remembers the step it is at so that
    a timeout can say where it stuck.
    """

    def __init__(self, reactor: Any, parsed: Any, readonly: bool,
                 keepalive: tuple[float, int] | None) -> None:
        self.reactor = reactor
        self.parsed = parsed
        self.readonly = readonly
        self.keepalive = keepalive
        self.step = "connecting the transport"
        self.peer: Any = None
        self.where = parsed.original or "the default daemon"

    def timedOut(self, result: Any, timeout: float) -> Any:
        if isinstance(result, Failure) and result.check(CancelledError):
            raise LibvirtError.fromCode(
                VIR_ERR_OPERATION_TIMEOUT, VIR_FROM_REMOTE,
                f"opening {self.where!r} took more than {timeout:g} s "
                f"(stuck {self.step}); is the daemon reachable and "
                "responding?")
        return result

    async def call(self, procName: str, args: Any = None) -> Any:
        from virtd.protocol.remote import BY_NAME

        return await self.peer.call(BY_NAME[procName], args)

    async def feature(self, feature: int) -> int:
        self.step = f"asking the server about feature {feature}"
        try:
            return (await self.call("CONNECT_SUPPORTS_FEATURE",
                                    (feature,))).supported
        except LibvirtError as e:
            _log.info("feature {feature} query failed ({error}); assuming "
                      "it is unsupported", feature=feature, error=e)
            return 0

    async def run(self, endpoint: Any) -> Connection:
        from virtd import uri
        from virtd.rpc.peer import RPCPeer

        framing = "record" if self.parsed.recordMarking else "length"
        peer = RPCPeer(reactor=self.reactor, framing=framing)
        await connectProtocol(endpoint, peer)
        self.peer = peer
        try:
            await self.authenticate()
            features = {
                FEATURE_PROGRAM_KEEPALIVE:
                    await self.feature(FEATURE_PROGRAM_KEEPALIVE)}
            self.step = "opening the connection (CONNECT_OPEN)"
            await self.call("CONNECT_OPEN", (
                self.parsed.remoteName,
                uri.openFlags(self.parsed, self.readonly)))
            connectedURI = self.parsed.original
            if not connectedURI:
                self.step = "asking the daemon for its URI"
                connectedURI = (await self.call("CONNECT_GET_URI")).uri
            for feature in (FEATURE_REMOTE_EVENT_CALLBACK,
                            FEATURE_REMOTE_CLOSE_CALLBACK):
                features[feature] = await self.feature(feature)
            if features[FEATURE_REMOTE_CLOSE_CALLBACK]:
                self.step = "registering for close notices"
                await self.call("CONNECT_REGISTER_CLOSE_CALLBACK")
        except BaseException:
            peer.close()
            raise
        if self.keepalive is not None and features[FEATURE_PROGRAM_KEEPALIVE]:
            interval, count = self.keepalive
            peer.startKeepalive(interval, count)
        return Connection(peer, self.parsed, connectedURI,
                          readonly=self.readonly, features=features)

    async def authenticate(self) -> None:
        self.step = "asking which authentication the server wants"
        try:
            types = (await self.call("AUTH_LIST")).types
        except LibvirtError as e:
            if e.get_error_code() != VIR_ERR_NO_SUPPORT:
                raise
            types = []  # an old server without AUTH_LIST: no auth
        if not types or types[0] == REMOTE_AUTH_NONE:
            return
        kind = _AUTH_NAMES.get(types[0], f"type {types[0]}")
        raise LibvirtError.fromCode(
            VIR_ERR_AUTH_UNAVAILABLE, VIR_FROM_REMOTE,
            f"{self.where!r} requires {kind} authentication, which the "
            "virtd client does not support yet; configure the daemon's "
            "listener with auth \"none\" (TLS client certificates still "
            "apply) or connect through a listener that needs none")
