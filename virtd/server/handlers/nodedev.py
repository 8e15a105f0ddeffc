"""
Node device procedures (they carry the device's bare name, not a struct).
"""

from __future__ import annotations

from typing import Any

from virtd.server.handlers import convert
from virtd.server.handlers.registry import VOID, asInt, call, handler, limited, listAll, wrap

REMOTE_NODE_DEVICE_LIST_MAX = 65536
REMOTE_NODE_DEVICE_CAPS_LIST_MAX = 65536

DEV = wrap(convert.makeNodeDev)

call("CONNECT_LIST_ALL_NODE_DEVICES", "listAllDevices", args=("flags",),
     ret=listAll(convert.makeNodeDev))
call("NODE_NUM_OF_DEVICES", "numOfDevices", args=("cap", "flags"))
call("NODE_LIST_DEVICES", "listDevices", args=("cap", "flags"),
     ret=limited("maxnames", REMOTE_NODE_DEVICE_LIST_MAX,
                 "REMOTE_NODE_DEVICE_LIST_MAX"))
call("NODE_DEVICE_LOOKUP_BY_NAME", "nodeDeviceLookupByName", args=("name",),
     ret=DEV)
call("NODE_DEVICE_LOOKUP_SCSI_HOST_BY_WWN", "nodeDeviceLookupSCSIHostByWWN",
     args=("wwnn", "wwpn", "flags"), ret=DEV)
call("NODE_DEVICE_CREATE_XML", "nodeDeviceCreateXML",
     args=("xml_desc", "flags"), ret=DEV)
call("NODE_DEVICE_DEFINE_XML", "nodeDeviceDefineXML",
     args=("xml_desc", "flags"), ret=DEV)

call("NODE_DEVICE_GET_XML_DESC", "XMLDesc", on="nodedev", args=("flags",))


@handler("NODE_DEVICE_GET_PARENT")
def nodeDeviceGetParent(ctx: Any, a: Any) -> tuple:
    # libvirtd sends a null parent name when the driver has none, ignoring
    # the driver's "no parent" error, so this one is not checked().
    return (convert.nodeDevice(ctx.conn, a.name).parent(),)


call("NODE_DEVICE_NUM_OF_CAPS", "numOfCaps", on="nodedev")
call("NODE_DEVICE_LIST_CAPS", "listCaps", on="nodedev",
     ret=limited("maxnames", REMOTE_NODE_DEVICE_CAPS_LIST_MAX,
                 "REMOTE_NODE_DEVICE_CAPS_LIST_MAX"))
call("NODE_DEVICE_DETTACH", "dettach", on="nodedev", ret=VOID)
call("NODE_DEVICE_DETACH_FLAGS", "detachFlags", on="nodedev",
     args=("driverName", "flags"), ret=VOID)
call("NODE_DEVICE_RE_ATTACH", "reAttach", on="nodedev", ret=VOID)
call("NODE_DEVICE_RESET", "reset", on="nodedev", ret=VOID)
call("NODE_DEVICE_DESTROY", "destroy", on="nodedev", ret=VOID)
call("NODE_DEVICE_UNDEFINE", "undefine", on="nodedev", args=("flags",),
     ret=VOID)
call("NODE_DEVICE_CREATE", "create", on="nodedev", args=("flags",), ret=VOID)
call("NODE_DEVICE_GET_AUTOSTART", "autostart", on="nodedev", ret=asInt)
call("NODE_DEVICE_SET_AUTOSTART", "setAutostart", on="nodedev",
     args=("autostart",), ret=VOID)
call("NODE_DEVICE_IS_PERSISTENT", "isPersistent", on="nodedev", ret=asInt)
call("NODE_DEVICE_IS_ACTIVE", "isActive", on="nodedev", ret=asInt)
