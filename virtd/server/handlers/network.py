"""
Virtual network and network port procedures.
"""

from __future__ import annotations

from typing import Any

from virtd.server.handlers import convert
from virtd.server.handlers.registry import (
    VOID,
    asInt,
    call,
    handler,
    limited,
    listAll,
    wrap,
)

REMOTE_NETWORK_LIST_MAX = 16384
REMOTE_NETWORK_DHCP_LEASES_MAX = 65536
REMOTE_NETWORK_PORT_PARAMETERS_MAX = 16

NET = wrap(convert.makeNet)
PORT = wrap(convert.makeNetPort)
_NAMES = limited("maxnames", REMOTE_NETWORK_LIST_MAX, "REMOTE_NETWORK_LIST_MAX")

call("CONNECT_LIST_ALL_NETWORKS", "listAllNetworks", args=("flags",),
     ret=listAll(convert.makeNet))
call("CONNECT_NUM_OF_NETWORKS", "numOfNetworks")
call("CONNECT_LIST_NETWORKS", "listNetworks", ret=_NAMES)
call("CONNECT_NUM_OF_DEFINED_NETWORKS", "numOfDefinedNetworks")
call("CONNECT_LIST_DEFINED_NETWORKS", "listDefinedNetworks", ret=_NAMES)

call("NETWORK_LOOKUP_BY_NAME", "networkLookupByName", args=("name",),
     ret=NET)
call("NETWORK_LOOKUP_BY_UUID", "networkLookupByUUID", args=("uuid",),
     ret=NET)
call("NETWORK_DEFINE_XML", "networkDefineXML", args=("xml",), ret=NET)
call("NETWORK_DEFINE_XML_FLAGS", "networkDefineXMLFlags",
     args=("xml", "flags"), ret=NET)
call("NETWORK_CREATE_XML", "networkCreateXML", args=("xml",), ret=NET)
call("NETWORK_CREATE_XML_FLAGS", "networkCreateXMLFlags",
     args=("xml", "flags"), ret=NET)

call("NETWORK_CREATE", "create", on="net", ret=VOID)
call("NETWORK_DESTROY", "destroy", on="net", ret=VOID)
call("NETWORK_UNDEFINE", "undefine", on="net", ret=VOID)
call("NETWORK_GET_XML_DESC", "XMLDesc", on="net", args=("flags",))
call("NETWORK_IS_ACTIVE", "isActive", on="net", ret=asInt)
call("NETWORK_IS_PERSISTENT", "isPersistent", on="net", ret=asInt)
call("NETWORK_GET_AUTOSTART", "autostart", on="net", ret=asInt)
call("NETWORK_SET_AUTOSTART", "setAutostart", on="net", args=("autostart",),
     ret=VOID)
call("NETWORK_GET_BRIDGE_NAME", "bridgeName", on="net")
call("NETWORK_UPDATE", "update", on="net",
     args=("command", "section", "parentIndex", "xml", "flags"), ret=VOID)


@handler("NETWORK_GET_DHCP_LEASES")
def getDHCPLeases(ctx: Any, args: Any) -> tuple:
    leases = convert.network(ctx.conn, args.net).DHCPLeases(args.mac,
                                                            args.flags)
    if len(leases) > REMOTE_NETWORK_DHCP_LEASES_MAX:
        raise convert.rpcError("Number of leases is %d, which exceeds max "
                               "limit: %d" % (len(leases),
                                              REMOTE_NETWORK_DHCP_LEASES_MAX))
    if not args.need_results:
        return ([], len(leases))
    out = [(le["iface"], le["expirytime"], le["type"], le.get("mac"),
            le.get("iaid"), le["ipaddr"], le["prefix"], le.get("hostname"),
            le.get("clientid")) for le in leases]
    return (out, len(out))


# -- ports ----------------------------------------------------------------------------

call("NETWORK_LIST_ALL_PORTS", "listAllPorts", on="network", args=("flags",),
     ret=listAll(convert.makeNetPort))
call("NETWORK_PORT_LOOKUP_BY_UUID", "portLookupByUUID", on="network",
     args=("uuid",), ret=PORT)
call("NETWORK_PORT_CREATE_XML", "portCreateXML", on="network",
     args=("xml", "flags"), ret=PORT)
call("NETWORK_PORT_GET_XML_DESC", "XMLDesc", on="port", args=("flags",))
call("NETWORK_PORT_DELETE", "delete", on="port", args=("flags",), ret=VOID)


@handler("NETWORK_PORT_GET_PARAMETERS")
def portGetParameters(ctx: Any, args: Any) -> tuple:
    convert.checkMax(args.nparams, REMOTE_NETWORK_PORT_PARAMETERS_MAX,
                     "nparams too large")
    params = convert.networkPort(ctx.conn, args.port).getParameters(
        args.flags)
    if args.nparams == 0:
        return ([], len(params))
    tp = convert.toTypedParams(list(params.items())[:args.nparams],
                               args.flags, REMOTE_NETWORK_PORT_PARAMETERS_MAX)
    return (tp, 0)


@handler("NETWORK_PORT_SET_PARAMETERS")
def portSetParameters(ctx: Any, args: Any) -> None:
    convert.networkPort(ctx.conn, args.port).setParameters(
        convert.fromTypedParams(args.params), args.flags)
