"""
Event registration and relay (wire facts 6.2, 6.4).

A client registers for domain, network, storage-pool, node-device or secret
events; the daemon registers a callback on the client's own libvirt
connection and sends each event to that client only, as a MESSAGE carrying
the callback ID the daemon gave it.

libvirt accepts one callback per (connection, event ID, object), while a
client may register the same event several times (once the modern way and
once the legacy way, say). So each session keeps one libvirt registration
per (kind, event ID, object) -- a L{_Backend} -- and fans its events out to
the client's registrations (L{_Subscriber}s) of that key. Callback IDs are
the session's own, counted from 0.

Every libvirt call runs in a worker thread, one at a time per session, so
a deregistration and a new registration of the same key never race inside
libvirt. libvirt calls the callbacks on the reactor thread
(L{virtd.eventloop}), where the relay writes straight to the client.

A client that stops reading cannot make the daemon hold its events without
bound: once more than L{MAX_EVENT_BACKLOG} bytes wait to be written to it,
it is dropped and the log says why.

When a client goes, L{deregisterAll} (called by the dispatcher before the
libvirt connection is closed) removes every libvirt registration it had.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from virtd import xdr
from virtd.errors import VIR_ERR_INVALID_ARG, VIR_FROM_NONE, LibvirtError
from virtd.protocol import remote
from virtd.server.eventmsgs import EVENTS, encode
from virtd.server.rpcerrors import NOT_OPEN, internalError

if TYPE_CHECKING:
    from virtd.protocol.message import Header
    from virtd.server.dispatch import Dispatcher
    from virtd.server.session import ClientSession

__all__ = ["MAX_EVENT_BACKLOG", "PROCEDURES", "deregisterAll", "registryOf"]

log = Logger(namespace="virtd.server")

#: Bytes that may wait to be written to one client when an event is due;
#: past this the client is not reading and is dropped.
MAX_EVENT_BACKLOG = 4 * 1024 * 1024

_LEGACY_COUNT = sum(1 for e in EVENTS["domain"].values() if e.legacy)
_CallbackID = xdr.Struct("remote_callback_id", [("callbackID", xdr.Int)])
_ZERO = xdr.Int.pack(0)

# kind -> (libvirt-python register / deregister method, args field,
#          convert.* lookup name)
_KINDS = {
    "domain": ("domainEventRegisterAny", "domainEventDeregisterAny", "dom",
               "domain"),
    "network": ("networkEventRegisterAny", "networkEventDeregisterAny", "net",
                "network"),
    "pool": ("storagePoolEventRegisterAny", "storagePoolEventDeregisterAny",
             "pool", "pool"),
    "nodedev": ("nodeDeviceEventRegisterAny", "nodeDeviceEventDeregisterAny",
                "dev", "nodeDevice"),
    "secret": ("secretEventRegisterAny", "secretEventDeregisterAny", "secret",
               "secret"),
}

#: libvirtd's words for the objects, in "... event callback N not registered"
_NOUNS = {"domain": "domain", "network": "network", "pool": "storage pool",
          "nodedev": "node device", "secret": "secret"}


class _Subscriber:
    """
    One registration a client made: its callback ID, or C{None} when it
    registered the legacy way (events then go without a callback ID).
    """

    __slots__ = ("callbackID", "backend")

    def __init__(self, callbackID: int | None, backend: _Backend) -> None:
        self.callbackID = callbackID
        self.backend = backend


class _Backend:
    """
    One callback registered on the session's libvirt connection, fanning
    its events out to the session's subscribers of the same key.

    @ivar libvirtID: the ID libvirt returned, once registered.
    @ivar waiting: register CALLs to answer once libvirt has answered,
        as C{(header, subscriber, legacyReply)}.
    """

    __slots__ = ("registry", "kind", "eventID", "key", "subscribers",
                 "libvirtID", "waiting")

    def __init__(self, registry: Registry, kind: str, eventID: int,
                 key: tuple) -> None:
        self.registry = registry
        self.kind = kind
        self.eventID = eventID
        self.key = key
        self.subscribers: list[_Subscriber] = []
        self.libvirtID: int | None = None
        self.waiting: list[tuple] = []

    def __call__(self, conn: Any, obj: Any, *rest: Any) -> None:
        # libvirt passes (conn, object, event values..., opaque); reactor
        # thread. Never raise into libvirt.
        try:
            self.registry.relay(self, obj, rest[:-1])
        except Exception:
            log.failure("cannot relay {kind} event {eventID}",
                        kind=self.kind, eventID=self.eventID)


class Registry:
    """
    The event registrations of one client session.

    @ivar backends: libvirt callback ID -> L{_Backend}; this is the
        session's C{events} dict, which the dispatcher hands to
        L{deregisterAll} when the client goes.
    """

    def __init__(self, session: ClientSession) -> None:
        self.session = session
        self.backends: dict[int, _Backend] = session.events
        self.byKey: dict[tuple, _Backend] = {}
        self.subscribers: dict[int, _Subscriber] = {}
        self.legacy: dict[int, _Subscriber] = {}
        self.nextID = 0
        self._jobs: deque = deque()
        self._busy = False
        self.dropped = False

    # -- libvirt calls, one at a time ----------------------------------------

    def _submit(self, header: Header | None, fn: Any, args: tuple,
                done: Any) -> None:
        self._jobs.append((header, fn, args, done))
        self._pump()

    def _pump(self) -> None:
        session = self.session
        while not self._busy and self._jobs:
            header, fn, args, done = self._jobs.popleft()
            if session.lost or session.conn is None:
                # What was registered is in self.backends: deregisterAll
                # removes it with the connection.
                self._jobs.clear()
                return
            self._busy = True
            session.dispatcher.runJob(session, header, fn,
                                      (session.conn,) + args,
                                      self._finished(done))

    def _finished(self, done: Any) -> Any:
        def finished(session: ClientSession, header: Header, ok: bool,
                     result: Any) -> None:
            self._busy = False
            try:
                done(header, ok, result)
            finally:
                self._pump()
        return finished

    # -- registering ----------------------------------------------------------

    def register(self, header: Header, kind: str, eventID: int,
                 handle: Any, legacy: bool = False,
                 legacyReply: bytes = b"") -> None:
        """
        Register the client for C{eventID} of C{kind} (about C{handle}, or
        every object when C{None}) and answer C{header}: with the new
        callback ID, or C{legacyReply} for a legacy registration.
        """
        key = (kind, eventID, _objectKey(handle))
        backend = self.byKey.get(key)
        if backend is None:
            backend = _Backend(self, kind, eventID, key)
            self.byKey[key] = backend
            self._submit(header, _register,
                         (kind, eventID, handle, backend),
                         lambda h, ok, r: self._registered(backend, ok, r))
        if legacy:
            subscriber = _Subscriber(None, backend)
            self.legacy[eventID] = subscriber
        else:
            subscriber = _Subscriber(self.nextID, backend)
            self.nextID += 1
        backend.subscribers.append(subscriber)
        if backend.libvirtID is None:
            backend.waiting.append((header, subscriber, legacyReply))
        else:
            self._answer(header, subscriber, legacyReply)

    def _answer(self, header: Header, subscriber: _Subscriber,
                legacyReply: bytes) -> None:
        if subscriber.callbackID is None:
            return self.session.peer.sendReply(header, legacyReply)
        self.subscribers[subscriber.callbackID] = subscriber
        self.session.peer.sendReply(header,
                                    _CallbackID.pack((subscriber.callbackID,)))

    def _registered(self, backend: _Backend, ok: bool, result: Any) -> None:
        waiting, backend.waiting = backend.waiting, []
        if ok:
            backend.libvirtID = result
            self.backends[result] = backend
            if self.session.lost:
                return
            for header, subscriber, legacyReply in waiting:
                self._answer(header, subscriber, legacyReply)
            if not backend.subscribers:
                self._release(None, backend)
            return
        # libvirt refused: nobody gets this registration.
        del self.byKey[backend.key]
        err = _asError(self.session.dispatcher, result)
        for header, subscriber, _ in waiting:
            if subscriber.callbackID is None:
                self.legacy.pop(backend.eventID, None)
            if not self.session.lost:
                self.session.dispatcher.refuse(self.session, header, err)
        backend.subscribers.clear()

    # -- deregistering --------------------------------------------------------

    def deregister(self, header: Header, kind: str, callbackID: int) -> None:
        """
        Drop the client's registration C{callbackID} and answer C{header}.
        """
        subscriber = self.subscribers.get(callbackID)
        if subscriber is None or subscriber.backend.kind != kind:
            return self.session.dispatcher.refuse(
                self.session, header, internalError(
                    f"{_NOUNS[kind]} event callback {callbackID} not "
                    f"registered"))
        del self.subscribers[callbackID]
        self._unsubscribe(header, subscriber, b"")

    def deregisterLegacy(self, header: Header, eventID: int,
                         reply: bytes = b"") -> None:
        """
        Drop the client's legacy registration for C{eventID}.
        """
        subscriber = self.legacy.pop(eventID, None)
        if subscriber is None or subscriber.backend.libvirtID is None:
            if subscriber is not None:
                self.legacy[eventID] = subscriber
            return self.session.dispatcher.refuse(
                self.session, header, internalError(
                    f"domain event {eventID} not registered"))
        self._unsubscribe(header, subscriber, reply)

    def _unsubscribe(self, header: Header, subscriber: _Subscriber,
                     reply: bytes) -> None:
        backend = subscriber.backend
        backend.subscribers.remove(subscriber)
        if backend.subscribers:
            return self.session.peer.sendReply(header, reply)
        self._release(header, backend, reply)

    def _release(self, header: Header | None, backend: _Backend,
                 reply: bytes = b"") -> None:
        """
        The last subscriber of C{backend} went: remove the libvirt callback,
        then answer C{header} (if any) with C{reply}.
        """
        del self.byKey[backend.key]

        def done(h: Header, ok: bool, result: Any) -> None:
            self.backends.pop(backend.libvirtID, None)
            if not ok:
                log.warn("cannot remove {kind} event callback {id} for "
                         "{identity}: {why}", kind=backend.kind,
                         id=backend.libvirtID, why=result,
                         identity=self.session.identity)
            if header is not None and not self.session.lost:
                if ok:
                    self.session.peer.sendReply(header, reply)
                else:
                    self.session.dispatcher.refuse(
                        self.session, header,
                        _asError(self.session.dispatcher, result))

        # The dispatcher only hands C{header} back to C{done}: None is fine
        # when nobody waits for an answer.
        self._submit(header, _deregister, (backend.kind, backend.libvirtID),
                     done)

    # -- relaying -------------------------------------------------------------

    def relay(self, backend: _Backend, obj: Any, args: tuple) -> None:
        """
        Reactor thread: send one libvirt event to every subscriber of
        C{backend}.
        """
        session = self.session
        if session.lost or self.dropped or not backend.subscribers:
            return
        peer = session.peer
        queued = peer.bytesQueued
        if queued > MAX_EVENT_BACKLOG:
            return self._drop(queued)
        for subscriber in list(backend.subscribers):
            if (subscriber.callbackID is not None
                    and subscriber.callbackID not in self.subscribers):
                continue  # its register reply has not gone out yet
            proc, payload = encode(backend.kind, backend.eventID,
                                   subscriber.callbackID, obj, args)
            peer.sendEvent(remote.PROGRAM, proc, payload)

    def _drop(self, queued: int) -> None:
        self.dropped = True
        session = self.session
        log.warn("dropping client {identity} via {listener}: {queued} bytes "
                 "of events and replies wait for it to read, more than "
                 "the {cap} the daemon keeps for a client; it registered "
                 "for events and stopped reading them", queued=queued,
                 cap=MAX_EVENT_BACKLOG, identity=session.identity,
                 listener=session.listener.description)
        transport = session.peer.transport
        if transport is not None:
            # What waits is what the client refuses to read: discard it.
            abort = getattr(transport, "abortConnection", None)
            (abort or transport.loseConnection)()


def _objectKey(handle: Any) -> Any:
    if handle is None:
        return None
    if isinstance(handle, str):
        return handle
    uuid = getattr(handle, "uuid", None)
    if uuid is not None:
        return bytes(uuid)
    return tuple(handle)


def registryOf(session: ClientSession) -> Registry:
    """
    The session's L{Registry}, made on first use.
    """
    registry = session.__dict__.get("eventRegistry")
    if registry is None:
        registry = session.__dict__["eventRegistry"] = Registry(session)
    return registry


# -- worker-thread parts ------------------------------------------------------


def _register(conn: Any, kind: str, eventID: int, handle: Any,
              backend: _Backend) -> int:
    from virtd.server.handlers import convert

    register, _, _, lookup = _KINDS[kind]
    obj = getattr(convert, lookup)(conn, handle) if handle is not None else None
    return getattr(conn, register)(obj, eventID, backend, None)


def _deregister(conn: Any, kind: str, libvirtID: int) -> None:
    getattr(conn, _KINDS[kind][1])(libvirtID)


def deregisterAll(conn: Any, events: dict) -> None:
    """
    Worker thread: remove every libvirt callback a gone client had, before
    its connection is closed (libvirt keeps a connection with callbacks
    alive).

    @param events: the session's C{events}: libvirt callback ID ->
        L{_Backend}.
    """
    for libvirtID, backend in list(events.items()):
        try:
            _deregister(conn, backend.kind, libvirtID)
        except Exception as e:
            log.warn("cannot remove {kind} event callback {id} of a gone "
                     "client: {why}", kind=backend.kind, id=libvirtID, why=e)
    events.clear()


def _asError(d: Dispatcher, exc: BaseException) -> LibvirtError:
    if isinstance(exc, LibvirtError):
        return exc
    if d._libvirtError is not None and isinstance(exc, d._libvirtError):
        from virtd.server.backend import convertError

        return convertError(exc)
    return internalError(f"virtd could not change the event callback: {exc}")


# -- procedures -----------------------------------------------------------------


def _checkEventID(d: Dispatcher, session: ClientSession, header: Header,
                  kind: str, eventID: int, legacy: bool = False) -> bool:
    # The legacy procedures know only the events that have a legacy
    # message (0-15), as in libvirtd.
    count = _LEGACY_COUNT if legacy else len(EVENTS[kind])
    if not 0 <= eventID < count:
        d.refuse(session, header, internalError(
            f"unsupported event ID {eventID}"))
        return False
    return True


def _makeRegister(kind: str) -> Any:
    field = _KINDS[kind][2]

    def register(d: Dispatcher, session: ClientSession, header: Header,
                 args: Any) -> None:
        if session.conn is None:
            return d.refuse(session, header, NOT_OPEN)
        if _checkEventID(d, session, header, kind, args.eventID):
            registryOf(session).register(header, kind, args.eventID,
                                         getattr(args, field))

    return register


def _makeDeregister(kind: str) -> Any:
    def deregister(d: Dispatcher, session: ClientSession, header: Header,
                   args: Any) -> None:
        if session.conn is None:
            return d.refuse(session, header, NOT_OPEN)
        registryOf(session).deregister(header, kind, args.callbackID)

    return deregister


def _legacyRegister(eventID: int | None, reply: bytes) -> Any:
    # eventID None: CONNECT_DOMAIN_EVENT_REGISTER_ANY's own argument;
    # CONNECT_DOMAIN_EVENT_REGISTER is lifecycle. Both are one registration
    # per event ID, without a domain filter (wire facts 6.4).
    def register(d: Dispatcher, session: ClientSession, header: Header,
                 args: Any) -> None:
        if session.conn is None:
            return d.refuse(session, header, NOT_OPEN)
        wanted = args.eventID if eventID is None else eventID
        if not _checkEventID(d, session, header, "domain", wanted, True):
            return
        registry = registryOf(session)
        if wanted in registry.legacy:
            # libvirt itself refuses a second identical callback.
            return d.refuse(session, header, LibvirtError.fromCode(
                VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                "event callback already tracked"))
        registry.register(header, "domain", wanted, None, legacy=True,
                          legacyReply=reply)

    return register


def _legacyDeregister(eventID: int | None, reply: bytes) -> Any:
    def deregister(d: Dispatcher, session: ClientSession, header: Header,
                   args: Any) -> None:
        if session.conn is None:
            return d.refuse(session, header, NOT_OPEN)
        wanted = args.eventID if eventID is None else eventID
        if not _checkEventID(d, session, header, "domain", wanted, True):
            return
        registryOf(session).deregisterLegacy(header, wanted, reply)

    return deregister


#: procedure name -> daemon-level implementation
PROCEDURES = {
    "CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY": _makeRegister("domain"),
    "CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY": _makeDeregister("domain"),
    "CONNECT_NETWORK_EVENT_REGISTER_ANY": _makeRegister("network"),
    "CONNECT_NETWORK_EVENT_DEREGISTER_ANY": _makeDeregister("network"),
    "CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY": _makeRegister("pool"),
    "CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY": _makeDeregister("pool"),
    "CONNECT_NODE_DEVICE_EVENT_REGISTER_ANY": _makeRegister("nodedev"),
    "CONNECT_NODE_DEVICE_EVENT_DEREGISTER_ANY": _makeDeregister("nodedev"),
    "CONNECT_SECRET_EVENT_REGISTER_ANY": _makeRegister("secret"),
    "CONNECT_SECRET_EVENT_DEREGISTER_ANY": _makeDeregister("secret"),
    # Legacy registration (wire facts 6.4); libvirtd leaves the
    # cb_registered of 105/106 at 0.
    "CONNECT_DOMAIN_EVENT_REGISTER": _legacyRegister(0, _ZERO),
    "CONNECT_DOMAIN_EVENT_DEREGISTER": _legacyDeregister(0, _ZERO),
    "CONNECT_DOMAIN_EVENT_REGISTER_ANY": _legacyRegister(None, b""),
    "CONNECT_DOMAIN_EVENT_DEREGISTER_ANY": _legacyDeregister(None, b""),
}
