"""
L{NodeDevice}: a host device handle (libvirt-python's C{virNodeDevice}),
and L{NodeDeviceMethods}, the connection's node-device methods.
"""

from __future__ import annotations

from typing import Any

from virtd.client.calls import counted, rpc
from virtd.client.handle import Handle

__all__ = ["NodeDevice", "NodeDeviceMethods"]


def _dev(conn: Any, value: Any) -> NodeDevice:
    return NodeDevice(conn, value.dev)


class NodeDevice(Handle):
    """
    A host device. C{name()} and C{connect()} are local; the rest return
    Deferreds. (Node-device procedures name the device by its name alone.)
    """

    __slots__ = ()

    def name(self) -> str:
        return self._ref.name

    def _wireRef(self) -> tuple:
        return (self._ref.name,)

    XMLDesc = rpc("NODE_DEVICE_GET_XML_DESC", "flags=0")
    parent = rpc("NODE_DEVICE_GET_PARENT",
                 doc="The parent device's name, or C{None}.")
    numOfCaps = rpc("NODE_DEVICE_NUM_OF_CAPS")
    listCaps = counted("NODE_DEVICE_NUM_OF_CAPS", "NODE_DEVICE_LIST_CAPS")
    destroy = rpc("NODE_DEVICE_DESTROY")
    create = rpc("NODE_DEVICE_CREATE", "flags=0")
    undefine = rpc("NODE_DEVICE_UNDEFINE", "flags=0")
    isActive = rpc("NODE_DEVICE_IS_ACTIVE")
    isPersistent = rpc("NODE_DEVICE_IS_PERSISTENT")
    autostart = rpc("NODE_DEVICE_GET_AUTOSTART")
    setAutostart = rpc("NODE_DEVICE_SET_AUTOSTART", "autostart")

    def __repr__(self) -> str:
        return f"<NodeDevice {self.name()!r}>"


class NodeDeviceMethods:
    """
    The node-device methods of L{virtd.client.connection.Connection}.
    """

    listAllDevices = rpc(
        "CONNECT_LIST_ALL_NODE_DEVICES", 1, "flags=0", handle=False,
        ret=lambda c, r: [NodeDevice(c, d) for d in r.devices])
    numOfDevices = rpc("NODE_NUM_OF_DEVICES", "cap=None", "flags=0",
                       handle=False)
    listDevices = counted("NODE_NUM_OF_DEVICES", "NODE_LIST_DEVICES",
                          "cap=None", "flags=0", handle=False)
    nodeDeviceLookupByName = rpc("NODE_DEVICE_LOOKUP_BY_NAME", "name",
                                 handle=False, ret=_dev)
    nodeDeviceCreateXML = rpc("NODE_DEVICE_CREATE_XML", "xmlDesc", "flags=0",
                              handle=False, ret=_dev)
    nodeDeviceDefineXML = rpc("NODE_DEVICE_DEFINE_XML", "xmlDesc", "flags=0",
                              handle=False, ret=_dev)
