"""
libvirt's KEEPALIVE program (wire facts section 2.1): PING and PONG, both
sent as MESSAGE with status OK, serial 0 and an empty payload (a 28-byte
frame). Whoever receives a PING answers with a PONG at once.
"""

from virtd.protocol.message import KEEPALIVE_PROGRAM as PROGRAM
from virtd.protocol.message import KEEPALIVE_PROTOCOL_VERSION as VERSION
from virtd.protocol.procedures import Procedure, ProcedureTable

__all__ = ["PROGRAM", "VERSION", "PROC_PING", "PROC_PONG", "PROCEDURES", "BY_NAME"]

_table = ProcedureTable("virkeepalive", PROGRAM, VERSION)

PROC_PING = _table.event(1, "PING")
PROC_PONG = _table.event(2, "PONG")

#: number -> L{Procedure}
PROCEDURES: dict[int, Procedure] = _table.procedures
#: name -> L{Procedure}
BY_NAME: dict[str, Procedure] = _table.byName
