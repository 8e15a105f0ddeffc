"""
L{Interface}: a host interface handle (libvirt-python's C{virInterface}),
and L{InterfaceMethods}, the connection's interface methods.
"""

from __future__ import annotations

from typing import Any

from virtd.client.calls import counted, rpc
from virtd.client.handle import Handle

__all__ = ["Interface", "InterfaceMethods"]


def _iface(conn: Any, value: Any) -> Interface:
    return Interface(conn, value.iface)


class Interface(Handle):
    """
    A host network interface. C{name()}, C{MACString()} and C{connect()}
    are local; the rest return Deferreds.
    """

    __slots__ = ()

    def name(self) -> str:
        return self._ref.name

    def MACString(self) -> str:
        return self._ref.mac

    XMLDesc = rpc("INTERFACE_GET_XML_DESC", "flags=0")
    isActive = rpc("INTERFACE_IS_ACTIVE")
    create = rpc("INTERFACE_CREATE", "flags=0")
    destroy = rpc("INTERFACE_DESTROY", "flags=0")
    undefine = rpc("INTERFACE_UNDEFINE")

    def __repr__(self) -> str:
        return f"<Interface {self.name()!r} mac={self.MACString()}>"


class InterfaceMethods:
    """
    The interface methods of L{virtd.client.connection.Connection}.
    """

    listAllInterfaces = rpc(
        "CONNECT_LIST_ALL_INTERFACES", 1, "flags=0", handle=False,
        ret=lambda c, r: [Interface(c, i) for i in r.ifaces])
    numOfInterfaces = rpc("CONNECT_NUM_OF_INTERFACES", handle=False)
    numOfDefinedInterfaces = rpc("CONNECT_NUM_OF_DEFINED_INTERFACES",
                                 handle=False)
    listInterfaces = counted("CONNECT_NUM_OF_INTERFACES",
                             "CONNECT_LIST_INTERFACES", handle=False)
    listDefinedInterfaces = counted("CONNECT_NUM_OF_DEFINED_INTERFACES",
                                    "CONNECT_LIST_DEFINED_INTERFACES",
                                    handle=False)
    interfaceLookupByName = rpc("INTERFACE_LOOKUP_BY_NAME", "name",
                                handle=False, ret=_iface)
    interfaceLookupByMACString = rpc("INTERFACE_LOOKUP_BY_MAC_STRING",
                                     "macstr", handle=False, ret=_iface)
    interfaceDefineXML = rpc("INTERFACE_DEFINE_XML", "xml", "flags=0",
                             handle=False, ret=_iface)
    interfaceChangeBegin = rpc("INTERFACE_CHANGE_BEGIN", "flags=0",
                               handle=False)
    interfaceChangeCommit = rpc("INTERFACE_CHANGE_COMMIT", "flags=0",
                                handle=False)
    interfaceChangeRollback = rpc("INTERFACE_CHANGE_ROLLBACK", "flags=0",
                                  handle=False)
