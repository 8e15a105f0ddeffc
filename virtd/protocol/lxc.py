"""
libvirt's LXC program (0x00068000, version 1; wire facts section 2): one
procedure, C{DOMAIN_OPEN_NAMESPACE}, whose reply carries file descriptors
(C{REPLY_WITH_FDS}, UNIX sockets only) and no XDR body. Layout from
C{src/remote/lxc_protocol.x}.
"""

from virtd.protocol.message import LXC_PROGRAM as PROGRAM
from virtd.protocol.procedures import Procedure, ProcedureTable
from virtd.protocol.types import Dom
from virtd.xdr import UInt

__all__ = ["PROGRAM", "VERSION", "PROCEDURES", "BY_NAME"]

VERSION = 1

_table = ProcedureTable("lxc", PROGRAM, VERSION)

LXC_PROC_DOMAIN_OPEN_NAMESPACE = _table.call(
    1, "DOMAIN_OPEN_NAMESPACE", priority="low", readonly="no",
    args=[("dom", Dom), ("flags", UInt)],
)

#: number -> L{Procedure}
PROCEDURES: dict[int, Procedure] = _table.procedures
#: name (without C{LXC_PROC_}) -> L{Procedure}
BY_NAME: dict[str, Procedure] = _table.byName
