"""
Event callbacks on the client (wire facts 6.2): L{EventMethods}, the
connection's C{domainEventRegisterAny} / C{domainEventDeregisterAny} and
their network, storage-pool and node-device siblings.

As libvirt's own client does, the connection registers with the server only
once per (kind, event ID, object): further local callbacks of the same key
share the server's callback ID, the server-side registration goes when the
last local one does, and each incoming event is fanned out to the local
callbacks of its server callback ID. The IDs handed to the application are
the connection's own.

Callbacks get libvirt-python's arguments -- C{(conn, obj, *values,
opaque)}, e.g. C{(conn, dom, event, detail, opaque)} for a lifecycle event
and C{(conn, dom, opaque)} for a reboot -- and run on the reactor thread as
the event arrives. An exception (or a failing Deferred) from a callback is
logged; it never breaks the connection or the other callbacks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.logger import Logger

from virtd.client.calls import typedParamsToDict
from virtd.client.handle import deferred
from virtd.errors import VIR_ERR_INVALID_ARG, VIR_FROM_NONE, LibvirtError
from virtd.protocol.message import REMOTE_PROGRAM
from virtd.protocol.remote import BY_NAME, PROCEDURES

__all__ = ["EventMethods"]

_log = Logger()

# kind -> (register proc, deregister proc, number of event IDs in libvirt
#          9.0.0, public API name for errors)
_KINDS = {
    "domain": ("CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY",
               "CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY", 27,
               "virConnectDomainEventRegisterAny"),
    "network": ("CONNECT_NETWORK_EVENT_REGISTER_ANY",
                "CONNECT_NETWORK_EVENT_DEREGISTER_ANY", 1,
                "virConnectNetworkEventRegisterAny"),
    "pool": ("CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY",
             "CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY", 2,
             "virConnectStoragePoolEventRegisterAny"),
    "nodedev": ("CONNECT_NODE_DEVICE_EVENT_REGISTER_ANY",
                "CONNECT_NODE_DEVICE_EVENT_DEREGISTER_ANY", 2,
                "virConnectNodeDeviceEventRegisterAny"),
}

_C = "DOMAIN_EVENT_CALLBACK_"
# Callback-form event procedures, in event-ID order per kind. Their message
# fields after the callback ID and the object are libvirt-python's callback
# arguments, in order.
_EVENT_PROCS = {
    "domain": (_C + "LIFECYCLE", _C + "REBOOT", _C + "RTC_CHANGE",
               _C + "WATCHDOG", _C + "IO_ERROR", _C + "GRAPHICS",
               _C + "IO_ERROR_REASON", _C + "CONTROL_ERROR", _C + "BLOCK_JOB",
               _C + "DISK_CHANGE", _C + "TRAY_CHANGE", _C + "PMWAKEUP",
               _C + "PMSUSPEND", _C + "BALLOON_CHANGE", _C + "PMSUSPEND_DISK",
               _C + "DEVICE_REMOVED", "DOMAIN_EVENT_BLOCK_JOB_2",
               _C + "TUNABLE", _C + "AGENT_LIFECYCLE", _C + "DEVICE_ADDED",
               _C + "MIGRATION_ITERATION", _C + "JOB_COMPLETED",
               _C + "DEVICE_REMOVAL_FAILED", _C + "METADATA_CHANGE",
               "DOMAIN_EVENT_BLOCK_THRESHOLD", "DOMAIN_EVENT_MEMORY_FAILURE",
               "DOMAIN_EVENT_MEMORY_DEVICE_SIZE_CHANGE"),
    "network": ("NETWORK_EVENT_LIFECYCLE",),
    "pool": ("STORAGE_POOL_EVENT_LIFECYCLE", "STORAGE_POOL_EVENT_REFRESH"),
    "nodedev": ("NODE_DEVICE_EVENT_LIFECYCLE", "NODE_DEVICE_EVENT_UPDATE"),
}

#: event procedure number -> (kind, eventID)
_BY_PROC = {BY_NAME[name].number: (kind, eventID)
            for kind, names in _EVENT_PROCS.items()
            for eventID, name in enumerate(names)}

_OBJECT_FIELDS = {"dom": "domain", "net": "network", "pool": "pool",
                  "dev": "nodedev"}


def _handle(conn: Any, kind: str, ref: Any) -> Any:
    if kind == "domain":
        from virtd.client.domain import Domain

        return Domain(conn, ref)
    if kind == "network":
        from virtd.client.network import Network

        return Network(conn, ref)
    if kind == "pool":
        from virtd.client.storage import StoragePool

        return StoragePool(conn, ref)
    from virtd.client.nodedev import NodeDevice

    return NodeDevice(conn, ref)


def _pythonValue(name: str, value: Any) -> Any:
    """
    A message field as libvirt-python hands it to callbacks.
    """
    if name in ("local", "remote"):  # graphics addresses
        return {"family": value.family, "node": value.node,
                "service": value.service}
    if name == "subject":
        return [(identity.type, identity.name) for identity in value]
    if name == "params":
        return typedParamsToDict(value)
    return value


def _flatten(struct: Any, value: Any) -> list[tuple[str, Any]]:
    out = []
    for (name, ftype), item in zip(struct.fields, value, strict=True):
        if name == "msg":
            out.extend(_flatten(ftype, item))
        else:
            out.append((name, item))
    return out


class _Remote:
    """
    One registration on the server, shared by the local callbacks of its key.
    """

    __slots__ = ("kind", "eventID", "key", "serverID", "locals", "waiters")

    def __init__(self, kind: str, eventID: int, key: tuple) -> None:
        self.kind = kind
        self.eventID = eventID
        self.key = key
        self.serverID: int | None = None
        self.locals: list[_Local] = []
        self.waiters: list[Deferred] | None = []


class _Local:
    __slots__ = ("localID", "callback", "opaque", "remote")

    def __init__(self, localID: int, callback: Callable, opaque: Any,
                 remote: _Remote) -> None:
        self.localID = localID
        self.callback = callback
        self.opaque = opaque
        self.remote = remote


class _EventState:
    def __init__(self) -> None:
        self.remotes: dict[tuple, _Remote] = {}
        self.byServer: dict[tuple[str, int], _Remote] = {}
        self.locals: dict[int, _Local] = {}
        self.nextID = 0


class EventMethods:
    """
    Event registration for L{virtd.client.connection.Connection}.
    """

    def _eventState(self) -> _EventState:
        state = self.__dict__.get("_events")
        if state is None:
            state = self.__dict__["_events"] = _EventState()
        return state

    # -- the public API ----------------------------------------------------

    def domainEventRegisterAny(self, dom: Any, eventID: int,
                               cb: Callable, opaque: Any, *,
                               timeout: float | None = None) -> Deferred:
        """
        Call C{cb(conn, dom, *values, opaque)} for every event C{eventID}
        (a C{VIR_DOMAIN_EVENT_ID_*}) of domain C{dom}, or of every domain
        when C{dom} is C{None}.

        @return: a Deferred firing with the callback ID for
            L{domainEventDeregisterAny}.
        """
        return self._eventRegister("domain", dom, eventID, cb, opaque,
                                   timeout)

    def domainEventDeregisterAny(self, callbackID: int, *,
                                 timeout: float | None = None) -> Deferred:
        """
        Remove a callback added by L{domainEventRegisterAny}.

        @return: a Deferred firing with C{None} (libvirt-python returns
            nothing), as do the other C{*EventDeregisterAny} methods.
        """
        return self._eventDeregister("domain", callbackID, timeout)

    def networkEventRegisterAny(self, net: Any, eventID: int, cb: Callable,
                                opaque: Any, *,
                                timeout: float | None = None) -> Deferred:
        """
        Call C{cb(conn, net, event, detail, opaque)} for network lifecycle
        events (C{VIR_NETWORK_EVENT_ID_LIFECYCLE}) of C{net}, or of every
        network when C{None}.

        @return: a Deferred firing with the callback ID.
        """
        return self._eventRegister("network", net, eventID, cb, opaque,
                                   timeout)

    def networkEventDeregisterAny(self, callbackID: int, *,
                                  timeout: float | None = None) -> Deferred:
        """
        Remove a callback added by L{networkEventRegisterAny}.
        """
        return self._eventDeregister("network", callbackID, timeout)

    def storagePoolEventRegisterAny(self, pool: Any, eventID: int,
                                    cb: Callable, opaque: Any, *,
                                    timeout: float | None = None) -> Deferred:
        """
        Call C{cb(conn, pool, event, detail, opaque)} for lifecycle events
        (C{VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE}) or C{cb(conn, pool,
        opaque)} for refresh events of C{pool}, or of every pool when
        C{None}.

        @return: a Deferred firing with the callback ID.
        """
        return self._eventRegister("pool", pool, eventID, cb, opaque,
                                   timeout)

    def storagePoolEventDeregisterAny(self, callbackID: int, *,
                                      timeout: float | None = None
                                      ) -> Deferred:
        """
        Remove a callback added by L{storagePoolEventRegisterAny}.
        """
        return self._eventDeregister("pool", callbackID, timeout)

    def nodeDeviceEventRegisterAny(self, dev: Any, eventID: int,
                                   cb: Callable, opaque: Any, *,
                                   timeout: float | None = None) -> Deferred:
        """
        Call C{cb(conn, dev, event, detail, opaque)} (lifecycle) or
        C{cb(conn, dev, opaque)} (update) for node-device events.

        @return: a Deferred firing with the callback ID.
        """
        return self._eventRegister("nodedev", dev, eventID, cb, opaque,
                                   timeout)

    def nodeDeviceEventDeregisterAny(self, callbackID: int, *,
                                     timeout: float | None = None
                                     ) -> Deferred:
        """
        Remove a callback added by L{nodeDeviceEventRegisterAny}.
        """
        return self._eventDeregister("nodedev", callbackID, timeout)

    # -- registering ---------------------------------------------------------

    def _eventRegister(self, kind: str, obj: Any, eventID: int,
                       cb: Callable, opaque: Any,
                       timeout: float | None) -> Deferred:
        _, _, count, api = _KINDS[kind]
        if not isinstance(eventID, int) or not 0 <= eventID < count:
            return fail(LibvirtError.fromCode(
                VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                f"eventID in {api} must be between 0 and {count - 1} "
                f"(libvirt 9.0), got {eventID!r}"))
        if not callable(cb):
            return fail(LibvirtError.fromCode(
                VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                f"cb in {api} must be callable, got {cb!r}"))
        ref = obj._ref if obj is not None else None
        key = (kind, eventID, None if ref is None else tuple(ref))
        return self._eventAdd(kind, eventID, key, ref, cb, opaque, timeout)

    @deferred
    async def _eventAdd(self, kind: str, eventID: int, key: tuple, ref: Any,
                        cb: Callable, opaque: Any,
                        timeout: float | None) -> int:
        state = self._eventState()
        remote = state.remotes.get(key)
        first = remote is None
        if first:
            remote = state.remotes[key] = _Remote(kind, eventID, key)
        local = _Local(state.nextID, cb, opaque, remote)
        state.nextID += 1
        remote.locals.append(local)
        try:
            if first:
                wire = ref
                if kind == "nodedev" and ref is not None:
                    wire = (ref.name,)
                reply = await self._call(_KINDS[kind][0], (eventID, wire),
                                         timeout)
                remote.serverID = reply.callbackID
                state.byServer[(kind, reply.callbackID)] = remote
                waiters, remote.waiters = remote.waiters, None
                for waiter in waiters or ():
                    waiter.callback(None)
            elif remote.waiters is not None:
                waiter: Deferred = Deferred()
                remote.waiters.append(waiter)
                await waiter
        except BaseException as e:
            remote.locals.remove(local)
            if first:
                if state.remotes.get(key) is remote:
                    del state.remotes[key]
                waiters, remote.waiters = remote.waiters, None
                for waiter in waiters or ():
                    waiter.errback(e)
            raise
        state.locals[local.localID] = local
        return local.localID

    @deferred
    async def _eventDeregister(self, kind: str, callbackID: int,
                               timeout: float | None) -> None:
        state = self._eventState()
        local = state.locals.get(callbackID)
        if local is None or local.remote.kind != kind:
            raise LibvirtError.fromCode(
                VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                f"callbackID in {_KINDS[kind][3].replace('Register', 'Deregister')} "
                f"does not name a registered {kind} event callback: "
                f"{callbackID!r}")
        del state.locals[callbackID]
        remote = local.remote
        remote.locals.remove(local)
        if remote.locals:
            return
        state.remotes.pop(remote.key, None)
        state.byServer.pop((kind, remote.serverID), None)
        if self.isAlive():  # type: ignore[attr-defined]
            await self._call(_KINDS[kind][1], (remote.serverID,), timeout)

    # -- delivering ----------------------------------------------------------

    def _eventDispatch(self, header: Any, payload: bytes) -> bool:
        """
        Deliver an event MESSAGE to its local callbacks.

        @return: whether the message was an event this module handles.
        """
        if header.prog != REMOTE_PROGRAM:
            return False
        kindAndID = _BY_PROC.get(header.proc)
        if kindAndID is None:
            return False
        kind, eventID = kindAndID
        proc = PROCEDURES[header.proc]
        try:
            fields = _flatten(proc.ret, proc.ret.decode(payload))
        except Exception:
            _log.failure("cannot decode event {name} from the server",
                         name=proc.name)
            return True
        state = self._eventState()
        serverID = fields[0][1]
        remote = state.byServer.get((kind, serverID))
        if remote is None:
            _log.debug("event {name} for callback {id} nobody registered",
                       name=proc.name, id=serverID)
            return True
        obj = None
        values = []
        for name, value in fields[1:]:
            if obj is None and _OBJECT_FIELDS.get(name) == kind:
                obj = _handle(self, kind, value)
            else:
                values.append(_pythonValue(name, value))
        for local in list(remote.locals):
            if state.locals.get(local.localID) is local:
                self._eventCall(local, proc.name, obj, values)
        return True

    def _eventCall(self, local: _Local, name: str, obj: Any,
                   values: list) -> None:
        try:
            result = local.callback(self, obj, *values, local.opaque)
        except Exception:
            _log.failure("event callback {callback!r} for {name} raised",
                         callback=local.callback, name=name)
            return
        if isinstance(result, Deferred):
            result.addErrback(lambda f: _log.failure(
                "event callback {callback!r} for {name} failed", failure=f,
                callback=local.callback, name=name))
