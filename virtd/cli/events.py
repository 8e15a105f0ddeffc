"""
The C{event} command: print domain events as they arrive.

It registers with C{conn.domainEventRegisterAny(dom, eventID, callback,
opaque)}, libvirt-python's call, and removes its registrations with
C{conn.domainEventDeregisterAny(callbackID)} at the end. Callbacks get
libvirt-python's arguments: C{(conn, dom, *values, opaque)}.
"""

from __future__ import annotations

import json
import time
from typing import Any

from twisted.internet.defer import Deferred

from virtd.cli.domains import lookupDomain
from virtd.cli.output import Text
from virtd.cli.registry import Context, arg, command
from virtd.errors import (
    VIR_ERR_NO_SUPPORT,
    VIR_ERR_SYSTEM_ERROR,
    VIR_FROM_NONE,
    VIR_FROM_RPC,
    LibvirtError,
)

__all__ = ["EVENT_NAMES", "describeLifecycle"]

#: virsh's names of C{VIR_DOMAIN_EVENT_ID_*}, in id order.
EVENT_NAMES = (
    "lifecycle", "reboot", "rtc-change", "watchdog", "io-error", "graphics",
    "io-error-reason", "control-error", "block-job", "disk-change",
    "tray-change", "pm-wakeup", "pm-suspend", "balloon-change",
    "pm-suspend-disk", "device-removed", "block-job-2", "tunable",
    "agent-lifecycle", "device-added", "migration-iteration",
    "job-completed", "device-removal-failed", "metadata-change",
    "block-threshold", "memory-failure", "memory-device-size-change",
)

# Lifecycle event types and their details, as virsh words them.
_LIFECYCLE = (
    ("Defined", ("Added", "Updated", "Renamed", "Snapshot")),
    ("Undefined", ("Removed", "Renamed")),
    ("Started", ("Booted", "Migrated", "Restored", "Snapshot",
                 "Event wakeup")),
    ("Suspended", ("Paused", "Migrated", "I/O Error", "Watchdog", "Restored",
                   "Snapshot", "API error", "Post-copy", "Post-copy Error")),
    ("Resumed", ("Unpaused", "Migrated", "Snapshot", "Post-copy",
                 "Post-copy Error")),
    ("Stopped", ("Shutdown", "Destroyed", "Crashed", "Migrated", "Saved",
                 "Failed", "Snapshot")),
    ("Shutdown", ("Finished", "Finished after guest request",
                  "Finished after host request")),
    ("PMSuspended", ("Memory", "Disk")),
    ("Crashed", ("Panicked", "Crashloaded")),
)


def describeLifecycle(event: int, detail: int) -> tuple[str, str]:
    """
    @return: virsh's words for a lifecycle event, e.g. C{("Suspended",
        "Paused")}; C{"unknown"} for numbers newer than libvirt 9.0.
    """
    if 0 <= event < len(_LIFECYCLE):
        name, details = _LIFECYCLE[event]
        return name, details[detail] if 0 <= detail < len(details) else "unknown"
    return "unknown", "unknown"


def _timestamp(now: float) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))
    return f"{stamp}.{int(now * 1000) % 1000:03d}+0000"


class _Printer:
    """
    Prints events and counts them; fires L{finished} after C{limit}.
    """

    def __init__(self, ctx: Context, limit: int | None, timestamps: bool) -> None:
        self.ctx = ctx
        self.limit = limit
        self.timestamps = timestamps
        self.received = 0
        self.finished: Deferred = Deferred()

    def __call__(self, conn: Any, dom: Any, *rest: Any) -> None:
        *values, eventID = rest
        name = EVENT_NAMES[eventID] if eventID < len(EVENT_NAMES) else str(eventID)
        now = self.ctx.reactor.seconds()
        if self.ctx.asJSON:
            record: dict[str, Any] = {
                "event": name, "domain": dom.name(), "uuid": dom.UUIDString(),
                "values": [_jsonable(v) for v in values]}
            if eventID == 0 and len(values) >= 2:
                record["type"], record["detail"] = describeLifecycle(*values[:2])
            if self.timestamps:
                record["timestamp"] = now
            self.ctx.write(json.dumps(record) + "\n")
        else:
            line = f"event '{name}' for domain '{dom.name()}'"
            if eventID == 0 and len(values) >= 2:
                line += ": " + " ".join(describeLifecycle(*values[:2]))
            elif values:
                line += ": " + " ".join(str(_jsonable(v)) for v in values)
            if self.timestamps:
                line = f"{_timestamp(now)}: {line}"
            self.ctx.write(line + "\n")
        self.received += 1
        if self.limit is not None and self.received >= self.limit:
            self.finish()

    def finish(self) -> None:
        if not self.finished.called:
            self.finished.callback(None)

    def lost(self, conn: Any, reason: int, opaque: Any) -> None:
        if not self.finished.called:
            self.finished.errback(LibvirtError.fromCode(
                VIR_ERR_SYSTEM_ERROR, VIR_FROM_RPC,
                f"the connection closed while waiting for events (reason "
                f"{reason}); {self.received} event(s) received"))


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (int, float, str, bool)):
        return value
    return str(value)


@command(
    "event", "print domain events as they arrive",
    arg("--domain", metavar="DOMAIN", help="only events of this domain"),
    arg("--event", metavar="NAME", choices=EVENT_NAMES,
        help="which event (default lifecycle; see --list)"),
    arg("--all", action="store_true", help="every event type"),
    arg("--loop", action="store_true",
        help="keep going (default: stop after the first event)"),
    arg("--count", type=int, metavar="N", help="stop after N events"),
    arg("--timeout", dest="wait", type=float, metavar="SECONDS",
        help="stop after this many seconds"),
    arg("--timestamp", action="store_true", help="prefix each event with the time"),
    arg("--list", action="store_true", help="list the event names and exit"),
)
async def event(ctx: Context, args: Any) -> Text | None:
    if args.list:
        return Text("\n".join(EVENT_NAMES), list(EVENT_NAMES))
    conn = ctx.conn
    register = getattr(conn, "domainEventRegisterAny", None)
    if register is None:
        raise LibvirtError.fromCode(
            VIR_ERR_NO_SUPPORT, VIR_FROM_NONE,
            "this version of the virtd client cannot receive events yet "
            "(Connection.domainEventRegisterAny is missing)")
    dom = await lookupDomain(ctx, args.domain) if args.domain else None
    if args.all:
        eventIDs = list(range(len(EVENT_NAMES)))
    else:
        eventIDs = [EVENT_NAMES.index(args.event or "lifecycle")]
    limit = None if args.loop else (args.count or 1)
    if args.loop and args.count:
        limit = args.count
    printer = _Printer(ctx, limit, args.timestamp)
    await conn.registerCloseCallback(printer.lost, None)
    callbackIDs = []
    for eventID in eventIDs:
        callbackIDs.append(await register(dom, eventID, printer, eventID))
    timer = None
    if args.wait is not None:
        timer = ctx.reactor.callLater(args.wait, printer.finish)
    try:
        await printer.finished
    finally:
        if timer is not None and timer.active():
            timer.cancel()
    deregister = getattr(conn, "domainEventDeregisterAny", None)
    if deregister is not None:
        for callbackID in callbackIDs:
            await deregister(callbackID)
    if ctx.asJSON:
        return None
    return Text(f"events received: {printer.received}")
