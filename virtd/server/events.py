"""
Event registration and relay (wire facts 6.2): a client registers for
domain, network or storage-pool events; the daemon registers a callback on
the client's libvirt connection and sends each event to the client as a
MESSAGE carrying the callback ID libvirt gave (as libvirtd does).

libvirt calls the callbacks on the reactor thread (L{virtd.eventloop}), so
the relay writes straight to the client's peer.

Relayed: domain LIFECYCLE and REBOOT, network LIFECYCLE, storage pool
LIFECYCLE and REFRESH. Other event IDs are refused with
C{VIR_ERR_NO_SUPPORT}, so the client knows it will get nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from virtd import xdr
from virtd.errors import VIR_ERR_NO_SUPPORT, VIR_FROM_RPC, LibvirtError
from virtd.protocol import remote
from virtd.server.rpcerrors import NOT_OPEN, internalError

if TYPE_CHECKING:
    from virtd.protocol.message import Header
    from virtd.server.dispatch import Dispatcher
    from virtd.server.session import ClientSession

__all__ = ["PROCEDURES", "deregisterAll"]

log = Logger(namespace="virtd.server")

_CallbackID = xdr.Struct("remote_callback_id", [("callbackID", xdr.Int)])

# kind -> (number of event IDs in libvirt 9.0.0, {eventID: event proc name},
#          libvirt-python register / deregister method, args field)
_KINDS = {
    "domain": (27, {0: "DOMAIN_EVENT_CALLBACK_LIFECYCLE",
                    1: "DOMAIN_EVENT_CALLBACK_REBOOT"},
               "domainEventRegisterAny", "domainEventDeregisterAny", "dom"),
    "network": (1, {0: "NETWORK_EVENT_LIFECYCLE"},
                "networkEventRegisterAny", "networkEventDeregisterAny", "net"),
    "pool": (2, {0: "STORAGE_POOL_EVENT_LIFECYCLE",
                 1: "STORAGE_POOL_EVENT_REFRESH"},
             "storagePoolEventRegisterAny", "storagePoolEventDeregisterAny",
             "pool"),
}


def _domainMessage(proc: Any, cbid: int, dom: Any, *rest: Any) -> bytes:
    from virtd.server.handlers.convert import makeDom

    msg = proc.ret.fields[1][1]  # the embedded legacy *_msg struct
    return proc.ret.pack((cbid, msg.cls(makeDom(dom), *rest)))


def _networkMessage(proc: Any, cbid: int, net: Any, *rest: Any) -> bytes:
    from virtd.server.handlers.convert import makeNet

    return proc.ret.pack((cbid, makeNet(net), *rest))


def _poolMessage(proc: Any, cbid: int, pool: Any, *rest: Any) -> bytes:
    from virtd.server.handlers.convert import makePool

    return proc.ret.pack((cbid, makePool(pool), *rest))


_ENCODERS = {"domain": _domainMessage, "network": _networkMessage,
             "pool": _poolMessage}


class _Registration:
    """
    One callback registered on a client's libvirt connection.
    """

    __slots__ = ("session", "kind", "proc", "callbackID")

    def __init__(self, session: ClientSession, kind: str, proc: Any) -> None:
        self.session = session
        self.kind = kind
        self.proc = proc
        self.callbackID: int | None = None

    def __call__(self, conn: Any, obj: Any, *rest: Any) -> None:
        # libvirt passes (conn, object, event details..., opaque).
        session = self.session
        if session.lost or self.callbackID is None:
            return
        try:
            payload = _ENCODERS[self.kind](self.proc, self.callbackID, obj,
                                           *rest[:-1])
        except Exception:
            log.failure("cannot encode {proc} for {identity}",
                        proc=self.proc.name, identity=session.identity)
            return
        session.peer.sendEvent(remote.PROGRAM, self.proc.number, payload)


def _register(session: ClientSession, kind: str, eventID: int, handle: Any,
              reg: _Registration) -> tuple[int, _Registration]:
    """
    Worker thread: register C{reg} on the session's libvirt connection.
    """
    from virtd.server.handlers import convert

    conn = session.conn
    resolve = {"domain": convert.domain, "network": convert.network,
               "pool": convert.pool}[kind]
    obj = resolve(conn, handle) if handle is not None else None
    register = getattr(conn, _KINDS[kind][2])
    reg.callbackID = cbid = register(obj, eventID, reg, None)
    return cbid, reg


def _deregister(conn: Any, kind: str, cbid: int) -> None:
    getattr(conn, _KINDS[kind][3])(cbid)


def deregisterAll(conn: Any, events: dict) -> None:
    """
    Worker thread: drop every callback a gone client registered, before its
    connection is closed (libvirt keeps a connection with callbacks alive).
    """
    for cbid, reg in list(events.items()):
        try:
            _deregister(conn, reg.kind, cbid)
        except Exception:
            pass
    events.clear()


def _makeRegister(kind: str) -> Any:
    count, procs, _, _, field = _KINDS[kind]

    def register(d: Dispatcher, session: ClientSession, header: Header,
                 args: Any) -> None:
        if session.conn is None:
            return d.refuse(session, header, NOT_OPEN)
        eventID = args.eventID
        if not 0 <= eventID < count:
            return d.refuse(session, header, internalError(
                f"unsupported event ID {eventID}"))
        name = procs.get(eventID)
        if name is None:
            return d.refuse(session, header, LibvirtError.fromCode(
                VIR_ERR_NO_SUPPORT, VIR_FROM_RPC,
                f"virtd does not relay {kind} event ID {eventID} yet"))
        reg = _Registration(session, kind, remote.BY_NAME[name])
        d.runJob(session, header, _register,
                 (session, kind, eventID, getattr(args, field), reg),
                 _registered)

    return register


def _registered(session: ClientSession, header: Header, ok: bool,
                result: Any) -> None:
    d = session.dispatcher
    if not ok:
        return d.refuse(session, header, _asError(d, result))
    cbid, reg = result
    session.events[cbid] = reg
    session.peer.sendReply(header, _CallbackID.pack((cbid,)))


def _asError(d: Dispatcher, exc: BaseException) -> LibvirtError:
    if isinstance(exc, LibvirtError):
        return exc
    if d._libvirtError is not None and isinstance(exc, d._libvirtError):
        from virtd.server.backend import convertError

        return convertError(exc)
    return internalError(f"virtd could not register the callback: {exc}")


def _makeDeregister(kind: str) -> Any:
    def deregister(d: Dispatcher, session: ClientSession, header: Header,
                   args: Any) -> None:
        if session.conn is None:
            return d.refuse(session, header, NOT_OPEN)
        cbid = args.callbackID
        reg = session.events.get(cbid)
        if reg is None or reg.kind != kind:
            return d.refuse(session, header, internalError(
                f"{kind} event callback {cbid} not registered"))
        del session.events[cbid]
        d.runJob(session, header, _deregister, (session.conn, kind, cbid),
                 _deregistered)

    return deregister


def _deregistered(session: ClientSession, header: Header, ok: bool,
                  result: Any) -> None:
    if not ok:
        return session.dispatcher.refuse(session, header,
                                         _asError(session.dispatcher, result))
    session.peer.sendReply(header, b"")


#: procedure name -> daemon-level implementation
PROCEDURES = {
    "CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY": _makeRegister("domain"),
    "CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY": _makeDeregister("domain"),
    "CONNECT_NETWORK_EVENT_REGISTER_ANY": _makeRegister("network"),
    "CONNECT_NETWORK_EVENT_DEREGISTER_ANY": _makeDeregister("network"),
    "CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY": _makeRegister("pool"),
    "CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY": _makeDeregister("pool"),
}
