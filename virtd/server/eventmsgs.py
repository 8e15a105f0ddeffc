"""
What each event libvirt-python reports looks like on the wire (wire facts
5.1, 6.2, 6.4): for every object kind and event ID, the procedure that
carries it, the legacy procedure (domain events 0-15, for clients that
registered the pre-callback way), and the names of the message fields
libvirt-python's callback arguments fill, in the callback's order.

L{encode} builds a message from a callback's arguments by field name, so
one table serves the three message shapes: a callback ID with the legacy
struct embedded (C{DOMAIN_EVENT_CALLBACK_LIFECYCLE}), a callback ID, a
reason and the embedded struct (the PM events), and the flat form of newer
events (C{DOMAIN_EVENT_CALLBACK_TUNABLE}, networks, pools...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from virtd.protocol import remote

__all__ = ["EVENTS", "Event", "encode", "kindOf"]


class Event(NamedTuple):
    """
    One event of one object kind.

    @ivar proc: the callback-form event procedure.
    @ivar legacy: the legacy procedure (no callback ID), or C{None}.
    @ivar names: the message fields libvirt-python's callback arguments
        fill, in argument order (after the object, before C{opaque}).
    """

    proc: Any
    legacy: Any
    names: tuple[str, ...]


def _e(proc: str, legacy: str | None, *names: str) -> Event:
    return Event(remote.BY_NAME[proc],
                 remote.BY_NAME[legacy] if legacy else None, names)


_D = "DOMAIN_EVENT_"
_C = "DOMAIN_EVENT_CALLBACK_"

#: kind -> {eventID: Event}; a kind's event IDs are 0 .. len - 1, as in
#: libvirt 9.0.0.
EVENTS: dict[str, dict[int, Event]] = {
    "domain": {
        0: _e(_C + "LIFECYCLE", _D + "LIFECYCLE", "event", "detail"),
        1: _e(_C + "REBOOT", _D + "REBOOT"),
        2: _e(_C + "RTC_CHANGE", _D + "RTC_CHANGE", "offset"),
        3: _e(_C + "WATCHDOG", _D + "WATCHDOG", "action"),
        4: _e(_C + "IO_ERROR", _D + "IO_ERROR", "srcPath", "devAlias",
              "action"),
        5: _e(_C + "GRAPHICS", _D + "GRAPHICS", "phase", "local", "remote",
              "authScheme", "subject"),
        6: _e(_C + "IO_ERROR_REASON", _D + "IO_ERROR_REASON", "srcPath",
              "devAlias", "action", "reason"),
        7: _e(_C + "CONTROL_ERROR", _D + "CONTROL_ERROR"),
        8: _e(_C + "BLOCK_JOB", _D + "BLOCK_JOB", "path", "type", "status"),
        9: _e(_C + "DISK_CHANGE", _D + "DISK_CHANGE", "oldSrcPath",
              "newSrcPath", "devAlias", "reason"),
        10: _e(_C + "TRAY_CHANGE", _D + "TRAY_CHANGE", "devAlias", "reason"),
        11: _e(_C + "PMWAKEUP", _D + "PMWAKEUP", "reason"),
        12: _e(_C + "PMSUSPEND", _D + "PMSUSPEND", "reason"),
        13: _e(_C + "BALLOON_CHANGE", _D + "BALLOON_CHANGE", "actual"),
        14: _e(_C + "PMSUSPEND_DISK", _D + "PMSUSPEND_DISK", "reason"),
        15: _e(_C + "DEVICE_REMOVED", _D + "DEVICE_REMOVED", "devAlias"),
        16: _e(_D + "BLOCK_JOB_2", None, "dst", "type", "status"),
        17: _e(_C + "TUNABLE", None, "params"),
        18: _e(_C + "AGENT_LIFECYCLE", None, "state", "reason"),
        19: _e(_C + "DEVICE_ADDED", None, "devAlias"),
        20: _e(_C + "MIGRATION_ITERATION", None, "iteration"),
        21: _e(_C + "JOB_COMPLETED", None, "params"),
        22: _e(_C + "DEVICE_REMOVAL_FAILED", None, "devAlias"),
        23: _e(_C + "METADATA_CHANGE", None, "type", "nsuri"),
        24: _e(_D + "BLOCK_THRESHOLD", None, "dev", "path", "threshold",
               "excess"),
        25: _e(_D + "MEMORY_FAILURE", None, "recipient", "action", "flags"),
        26: _e(_D + "MEMORY_DEVICE_SIZE_CHANGE", None, "alias", "size"),
    },
    "network": {0: _e("NETWORK_EVENT_LIFECYCLE", None, "event", "detail")},
    "pool": {0: _e("STORAGE_POOL_EVENT_LIFECYCLE", None, "event", "detail"),
             1: _e("STORAGE_POOL_EVENT_REFRESH", None)},
    "nodedev": {0: _e("NODE_DEVICE_EVENT_LIFECYCLE", None, "event",
                      "detail"),
                1: _e("NODE_DEVICE_EVENT_UPDATE", None)},
    "secret": {0: _e("SECRET_EVENT_LIFECYCLE", None, "event", "detail"),
               1: _e("SECRET_EVENT_VALUE_CHANGED", None)},
}

#: kind -> the message field naming the object
OBJECT_FIELD = {"domain": "dom", "network": "net", "pool": "pool",
                "nodedev": "dev", "secret": "secret"}

_TUNABLE_MAX = 2048
_JOB_STATS_MAX = 64


def _address(value: Any) -> tuple:
    # libvirt-python: {"family": int, "node": str, "service": str}
    return (value["family"], value["node"], value["service"])


def _identities(value: Any) -> list[tuple]:
    # libvirt-python: [(type, name), ...]
    return [(kind, name) for kind, name in value]


def _params(limit: int) -> Callable[[Any], list]:
    def convert(value: Any) -> list:
        from virtd.server.handlers.convert import toTypedParams

        return toTypedParams(value, limit=limit)
    return convert


#: (kind, eventID, field) -> conversion of libvirt-python's value
_CONVERT: dict[tuple[str, int, str], Callable[[Any], Any]] = {
    ("domain", 5, "local"): _address,
    ("domain", 5, "remote"): _address,
    ("domain", 5, "subject"): _identities,
    ("domain", 17, "params"): _params(_TUNABLE_MAX),
    ("domain", 21, "params"): _params(_JOB_STATS_MAX),
}


def _makeObject(kind: str, obj: Any) -> tuple:
    from virtd.server.handlers import convert

    return {"domain": convert.makeDom, "network": convert.makeNet,
            "pool": convert.makePool, "nodedev": convert.makeNodeDev,
            "secret": convert.makeSecret}[kind](obj)


def _build(struct: Any, values: dict[str, Any]) -> Any:
    parts = []
    for name, ftype in struct.fields:
        if name == "msg":
            parts.append(_build(ftype, values))
        else:
            parts.append(values[name])
    return tuple(parts)


def kindOf(kind: str, eventID: int) -> Event | None:
    """
    @return: the L{Event} for C{eventID} of C{kind}, or C{None}.
    """
    return EVENTS[kind].get(eventID)


def encode(kind: str, eventID: int, callbackID: int | None, obj: Any,
           args: tuple) -> tuple[int, bytes]:
    """
    Encode one event for one registration.

    @param kind: C{"domain"}, C{"network"}, C{"pool"}, C{"nodedev"} or
        C{"secret"}.
    @param callbackID: the client's callback ID, or C{None} for a legacy
        registration (which gets the legacy procedure when there is one).
    @param obj: the libvirt-python object the event is about.
    @param args: libvirt-python's callback arguments after C{obj}, without
        C{opaque}.
    @return: C{(procedure number, payload)}.
    """
    event = EVENTS[kind][eventID]
    values: dict[str, Any] = {OBJECT_FIELD[kind]: _makeObject(kind, obj),
                              "callbackID": -1 if callbackID is None
                              else callbackID}
    for name, value in zip(event.names, args, strict=True):
        conv = _CONVERT.get((kind, eventID, name))
        values[name] = conv(value) if conv is not None else value
    proc = event.legacy if (callbackID is None and event.legacy) else event.proc
    return proc.number, proc.ret.pack(_build(proc.ret, values))
