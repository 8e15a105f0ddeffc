"""
libvirt's QEMU program (0x20008087, version 1): the qemu-specific APIs that
libvirt clients register on every connection (wire facts section 2). Field
layouts are those of C{src/remote/qemu_protocol.x} (9.0.0 has procedures
1 to 7); the read-only classes are not in the fact sheet: the command and
attach calls are refused on read-only connections, event registration is
not.
"""

from virtd.protocol.message import QEMU_PROGRAM as PROGRAM
from virtd.protocol.procedures import Procedure, ProcedureTable
from virtd.protocol.types import Dom, NonnullString, OptString
from virtd.xdr import Hyper, Int, Optional, UInt

__all__ = ["PROGRAM", "VERSION", "PROCEDURES", "BY_NAME"]

VERSION = 1

_table = ProcedureTable("qemu", PROGRAM, VERSION)
_call = _table.call
_event = _table.event

QEMU_PROC_DOMAIN_MONITOR_COMMAND = _call(
    1, "DOMAIN_MONITOR_COMMAND", priority="low", readonly="no",
    args=[("dom", Dom), ("cmd", NonnullString), ("flags", UInt)],
    ret=[("result", NonnullString)],
)
QEMU_PROC_DOMAIN_ATTACH = _call(
    2, "DOMAIN_ATTACH", priority="low", readonly="no",
    args=[("pid_value", UInt), ("flags", UInt)],
    ret=[("dom", Dom)],
)
QEMU_PROC_DOMAIN_AGENT_COMMAND = _call(
    3, "DOMAIN_AGENT_COMMAND", priority="low", readonly="no",
    args=[("dom", Dom), ("cmd", NonnullString), ("timeout", Int), ("flags", UInt)],
    ret=[("result", OptString)],
)
QEMU_PROC_CONNECT_DOMAIN_MONITOR_EVENT_REGISTER = _call(
    4, "CONNECT_DOMAIN_MONITOR_EVENT_REGISTER", priority="high", readonly="yes",
    args=[("dom", Optional(Dom)), ("event", OptString), ("flags", UInt)],
    ret=[("callbackID", Int)],
)
QEMU_PROC_CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER = _call(
    5, "CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER", priority="high", readonly="yes",
    args=[("callbackID", Int)],
)
QEMU_PROC_DOMAIN_MONITOR_EVENT = _event(
    6, "DOMAIN_MONITOR_EVENT",
    body=[("callbackID", Int), ("dom", Dom), ("event", NonnullString),
          ("seconds", Hyper), ("micros", UInt), ("details", OptString)],
)
QEMU_PROC_DOMAIN_MONITOR_COMMAND_WITH_FILES = _call(
    7, "DOMAIN_MONITOR_COMMAND_WITH_FILES", priority="low", readonly="no",
    args=[("dom", Dom), ("cmd", NonnullString), ("flags", UInt)],
    ret=[("result", NonnullString)],
)

#: number -> L{Procedure}
PROCEDURES: dict[int, Procedure] = _table.procedures
#: name (without C{QEMU_PROC_}) -> L{Procedure}
BY_NAME: dict[str, Procedure] = _table.byName
