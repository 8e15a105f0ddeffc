"""
Host interface procedures.
"""

from __future__ import annotations

from virtd.server.handlers import convert
from virtd.server.handlers.registry import VOID, asInt, call, limited, listAll, wrap

REMOTE_INTERFACE_LIST_MAX = 16384

IFACE = wrap(convert.makeIface)
_NAMES = limited("maxnames", REMOTE_INTERFACE_LIST_MAX,
                 "REMOTE_INTERFACE_LIST_MAX")

call("CONNECT_LIST_ALL_INTERFACES", "listAllInterfaces", args=("flags",),
     ret=listAll(convert.makeIface))
call("CONNECT_NUM_OF_INTERFACES", "numOfInterfaces")
call("CONNECT_LIST_INTERFACES", "listInterfaces", ret=_NAMES)
call("CONNECT_NUM_OF_DEFINED_INTERFACES", "numOfDefinedInterfaces")
call("CONNECT_LIST_DEFINED_INTERFACES", "listDefinedInterfaces", ret=_NAMES)

call("INTERFACE_LOOKUP_BY_NAME", "interfaceLookupByName", args=("name",),
     ret=IFACE)
call("INTERFACE_LOOKUP_BY_MAC_STRING", "interfaceLookupByMACString",
     args=("mac",), ret=IFACE)
call("INTERFACE_DEFINE_XML", "interfaceDefineXML", args=("xml", "flags"),
     ret=IFACE)
call("INTERFACE_GET_XML_DESC", "XMLDesc", on="iface", args=("flags",))
call("INTERFACE_UNDEFINE", "undefine", on="iface", ret=VOID)
call("INTERFACE_CREATE", "create", on="iface", args=("flags",), ret=VOID)
call("INTERFACE_DESTROY", "destroy", on="iface", args=("flags",), ret=VOID)
call("INTERFACE_IS_ACTIVE", "isActive", on="iface", ret=asInt)

call("INTERFACE_CHANGE_BEGIN", "changeBegin", args=("flags",), ret=VOID)
call("INTERFACE_CHANGE_COMMIT", "changeCommit", args=("flags",), ret=VOID)
call("INTERFACE_CHANGE_ROLLBACK", "changeRollback", args=("flags",), ret=VOID)
