"""
Procedures the daemon answers itself (DESIGN decision 4): authentication
listing, opening and closing the hypervisor connection, RPC-level
features, close-callback registration and the connection's URI.

Each function runs on the reactor thread as
C{fn(dispatcher, session, header, args)} and sends its own reply; blocking
work (opening the hypervisor connection) goes to the priority pool through
L{Dispatcher.runJob}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from virtd import xdr
from virtd.errors import LibvirtError, printable
from virtd.protocol.constants import (
    REMOTE_AUTH_NONE,
    VIR_DRV_FEATURE_FD_PASSING,
    VIR_DRV_FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER,
    VIR_DRV_FEATURE_PROGRAM_KEEPALIVE,
    VIR_DRV_FEATURE_REMOTE_CLOSE_CALLBACK,
    VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK,
    VIR_DRV_FEATURE_TYPED_PARAM_STRING,
)
from virtd.server.config import uriRefusal
from virtd.server.rpcerrors import ALREADY_OPEN, NOT_OPEN, internalError

if TYPE_CHECKING:
    from virtd.protocol.message import Header
    from virtd.server.dispatch import Dispatcher
    from virtd.server.session import ClientSession

__all__ = ["table"]

log = Logger(namespace="virtd.server")

VIR_CONNECT_RO = 1

#: Features the daemon itself supports, whatever the hypervisor
#: (libvirtd 9.0.0: always 1, or global to every driver).
DAEMON_FEATURES = frozenset({
    VIR_DRV_FEATURE_FD_PASSING,
    VIR_DRV_FEATURE_TYPED_PARAM_STRING,
    VIR_DRV_FEATURE_PROGRAM_KEEPALIVE,
    VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK,
    VIR_DRV_FEATURE_REMOTE_CLOSE_CALLBACK,
    VIR_DRV_FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER,
})

_AUTH_NONE = xdr.Array(xdr.Int, 20).pack([REMOTE_AUTH_NONE])
_ONE = xdr.Int.pack(1)
_ZERO = xdr.Int.pack(0)
_String = xdr.String(4194304)
#: The one URI opened on the reactor thread (see connectOpen).
_TEST_DEFAULT = "test:///default"

Proc = Callable[["Dispatcher", "ClientSession", "Header", Any], None]
_TABLE: dict[str, Proc] = {}


def _daemon(name: str) -> Callable[[Proc], Proc]:
    def register(f: Proc) -> Proc:
        _TABLE[name] = f
        return f
    return register


def table() -> dict[str, Proc]:
    """
    @return: procedure name -> daemon-level implementation.
    """
    from virtd.server.events import PROCEDURES as events

    return {**_TABLE, **events}


@_daemon("AUTH_LIST")
def authList(d: Dispatcher, session: ClientSession, header: Header,
             args: Any) -> None:
    # Every listener uses auth "none": the client is already authenticated.
    session.peer.sendReply(header, _AUTH_NONE)


@_daemon("CONNECT_SUPPORTS_FEATURE")
def supportsFeature(d: Dispatcher, session: ClientSession, header: Header,
                    args: Any) -> None:
    feature = args.feature
    if feature == VIR_DRV_FEATURE_PROGRAM_KEEPALIVE:
        # Allowed before CONNECT_OPEN; arms the daemon's PINGs.
        if not session.keepalive:
            session.keepalive = True
            if d.config.keepaliveInterval > 0:
                session.peer.startKeepalive(d.config.keepaliveInterval,
                                            d.config.keepaliveCount)
        return session.peer.sendReply(header, _ONE)
    if session.conn is None:
        return d.refuse(session, header, NOT_OPEN, _name(header))
    if feature in DAEMON_FEATURES:
        return session.peer.sendReply(header, _ONE)
    supported = d.backend.supportsFeature(session.conn, feature)
    session.peer.sendReply(header, _ONE if supported else _ZERO)


@_daemon("CONNECT_OPEN")
def connectOpen(d: Dispatcher, session: ClientSession, header: Header,
                args: Any) -> None:
    if session.conn is not None or session.opening:
        return d.refuse(session, header, ALREADY_OPEN, "CONNECT_OPEN")
    uri = args.name or d.config.uri
    err = uriRefusal(uri, d.config.allowURIs)
    if err is not None:
        return d.refuse(session, header, err, "CONNECT_OPEN")
    readonly = session.listener.readonly or bool(args.flags & VIR_CONNECT_RO)
    session.opening = True
    if d.inlinePriority and uri == _TEST_DEFAULT:
        # CONNECT_OPEN is @priority high and test:///default is built in
        # memory: no hand-off to a worker and back (DESIGN decision 5).
        # Other test:/// URIs name a file to read, which could block.
        return d.runJobInline(session, header, _open,
                              (d.backend, uri, readonly), _opened)
    d.runJob(session, header, _open, (d.backend, uri, readonly), _opened)


def _open(backend: Any, uri: str, readonly: bool) -> tuple:
    # libvirt-python refuses what C would take (a NUL, non-UTF-8 bytes):
    # open what libvirtd would have seen.
    from virtd.server.handlers.convert import asCStrings

    conn = backend.open(asCStrings(uri), readonly)
    try:
        canonical = backend.getURI(conn)
    except Exception:
        canonical = uri
    return conn, canonical, readonly


def _opened(session: ClientSession, header: Header, ok: bool,
            result: Any) -> None:
    d = session.dispatcher
    session.opening = False
    if not ok:
        if not isinstance(result, LibvirtError):
            log.failure("opening the hypervisor connection for {identity} "
                        "failed", failure=_failure(result),
                        identity=session.identity)
            result = internalError(f"virtd could not open the hypervisor "
                                   f"connection: {result}")
        if not session.lost:
            d.refuse(session, header, result, "CONNECT_OPEN")
        return
    conn, uri, readonly = result
    session.conn = conn
    session.uri = uri
    session.readonly = readonly
    if session.lost:
        return  # the dispatcher closes it once the job is accounted for
    session.limits.opened()
    log.info("client {identity} via {listener} opened {uri}{ro}",
             identity=session.identity,
             listener=session.listener.description, uri=printable(uri),
             ro=" read-only" if readonly else "")
    session.peer.sendReply(header, b"")


@_daemon("CONNECT_CLOSE")
def connectClose(d: Dispatcher, session: ClientSession, header: Header,
                 args: Any) -> None:
    # Reply, then hang up once the reply is written; the hypervisor
    # connection is closed when the session ends.
    session.peer.sendReply(header, b"")
    session.peer.close()


@_daemon("CONNECT_REGISTER_CLOSE_CALLBACK")
def registerCloseCallback(d: Dispatcher, session: ClientSession,
                          header: Header, args: Any) -> None:
    if session.conn is None:
        return d.refuse(session, header, NOT_OPEN, _name(header))
    # libvirtd accepts repeated registrations; so do we.
    session.closeCallback = True
    session.peer.sendReply(header, b"")


@_daemon("CONNECT_UNREGISTER_CLOSE_CALLBACK")
def unregisterCloseCallback(d: Dispatcher, session: ClientSession,
                            header: Header, args: Any) -> None:
    if session.conn is None:
        return d.refuse(session, header, NOT_OPEN, _name(header))
    session.closeCallback = False
    session.peer.sendReply(header, b"")


@_daemon("CONNECT_GET_URI")
def getURI(d: Dispatcher, session: ClientSession, header: Header,
           args: Any) -> None:
    if session.conn is None:
        return d.refuse(session, header, NOT_OPEN, _name(header))
    session.peer.sendReply(header, _String.pack(session.uri or ""))


def _name(header: Header) -> str:
    from virtd.protocol.remote import PROCEDURES

    proc = PROCEDURES.get(header.proc)
    return proc.name if proc is not None else f"procedure {header.proc}"


@_daemon("CONNECT_IS_SECURE")
def isSecure(d: Dispatcher, session: ClientSession, header: Header,
             args: Any) -> None:
    # libvirtd asks its own hypervisor connection (the client library
    # combines that with what it knows about the transport).
    if session.conn is None:
        return d.refuse(session, header, NOT_OPEN, "CONNECT_IS_SECURE")
    d.runJob(session, header, _isSecure, (session.conn,), _answered)


def _isSecure(conn: Any) -> bytes:
    return _ONE if conn.isSecure() else _ZERO


def _answered(session: ClientSession, header: Header, ok: bool,
              result: Any) -> None:
    if session.lost:
        return
    if ok:
        return session.peer.sendReply(header, result)
    d = session.dispatcher
    err = result
    if not isinstance(err, LibvirtError):
        if d._libvirtError is not None and isinstance(err, d._libvirtError):
            from virtd.server.backend import convertError

            err = convertError(err)
        else:
            err = internalError(f"virtd could not carry out the call: {err}")
    d.refuse(session, header, err)


def _failure(exc: BaseException) -> Any:
    from twisted.python.failure import Failure

    return Failure(exc, type(exc), exc.__traceback__)
