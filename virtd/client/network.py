"""
L{Network}: a virtual network handle (libvirt-python's C{virNetwork}), and
L{NetworkMethods}, the connection's network methods.
"""

from __future__ import annotations

from typing import Any

from virtd.client.calls import (
    counted,
    fromUUID,
    fromUUIDString,
    rpc,
    uuidString,
)
from virtd.client.handle import Handle, deferred

__all__ = ["Network", "NetworkMethods"]

#: VIR_DRV_FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER
FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER = 16


def _network(conn: Any, value: Any) -> Network:
    return Network(conn, value.net)


class Network(Handle):
    """
    A virtual network. C{name()}, C{UUID()}, C{UUIDString()} and
    C{connect()} are local; the rest return Deferreds.
    """

    __slots__ = ()

    def name(self) -> str:
        return self._ref.name

    def UUID(self) -> bytes:
        return self._ref.uuid

    def UUIDString(self) -> str:
        return uuidString(self._ref.uuid)

    XMLDesc = rpc("NETWORK_GET_XML_DESC", "flags=0")
    create = rpc("NETWORK_CREATE")
    destroy = rpc("NETWORK_DESTROY")
    undefine = rpc("NETWORK_UNDEFINE")
    isActive = rpc("NETWORK_IS_ACTIVE")
    isPersistent = rpc("NETWORK_IS_PERSISTENT")
    autostart = rpc("NETWORK_GET_AUTOSTART")
    setAutostart = rpc("NETWORK_SET_AUTOSTART", "autostart")
    bridgeName = rpc("NETWORK_GET_BRIDGE_NAME")

    @deferred
    async def update(self, command: int, section: int, parentIndex: int,
                     xml: str, flags: int = 0, *,
                     timeout: float | None = None) -> int:
        """
        Change part of the network's definition. As libvirt's client, the
        C{command} and C{section} values are swapped on the wire for a
        server that does not claim feature 16 (an old ordering bug).
        """
        correct = await self._conn._feature(
            FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER, timeout)
        if not correct:
            command, section = section, command
        await self._conn._call(
            "NETWORK_UPDATE",
            (self._ref, command, section, parentIndex, xml, flags), timeout)
        return 0

    def __repr__(self) -> str:
        return f"<Network {self.name()!r} uuid={self.UUIDString()}>"


class NetworkMethods:
    """
    The network methods of L{virtd.client.connection.Connection}.
    """

    listAllNetworks = rpc(
        "CONNECT_LIST_ALL_NETWORKS", 1, "flags=0", handle=False,
        ret=lambda c, r: [Network(c, n) for n in r.nets])
    numOfNetworks = rpc("CONNECT_NUM_OF_NETWORKS", handle=False)
    numOfDefinedNetworks = rpc("CONNECT_NUM_OF_DEFINED_NETWORKS",
                               handle=False)
    listNetworks = counted("CONNECT_NUM_OF_NETWORKS", "CONNECT_LIST_NETWORKS",
                           handle=False)
    listDefinedNetworks = counted("CONNECT_NUM_OF_DEFINED_NETWORKS",
                                  "CONNECT_LIST_DEFINED_NETWORKS",
                                  handle=False)
    networkLookupByName = rpc("NETWORK_LOOKUP_BY_NAME", "name", handle=False,
                              ret=_network)
    networkLookupByUUID = rpc(
        "NETWORK_LOOKUP_BY_UUID", "uuid", handle=False, ret=_network,
        convert={"uuid": fromUUID("virNetworkLookupByUUID")})
    networkLookupByUUIDString = rpc(
        "NETWORK_LOOKUP_BY_UUID", "uuidstr", handle=False, ret=_network,
        convert={"uuidstr": fromUUIDString("virNetworkLookupByUUIDString")})
    networkDefineXML = rpc("NETWORK_DEFINE_XML", "xml", handle=False,
                           ret=_network)
    networkDefineXMLFlags = rpc("NETWORK_DEFINE_XML_FLAGS", "xml", "flags=0",
                                handle=False, ret=_network)
    networkCreateXML = rpc("NETWORK_CREATE_XML", "xmlDesc", handle=False,
                           ret=_network)
    networkCreateXMLFlags = rpc("NETWORK_CREATE_XML_FLAGS", "xmlDesc",
                                "flags=0", handle=False, ret=_network)
