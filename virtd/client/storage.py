"""
L{StoragePool} and L{StorageVol} handles (libvirt-python's
C{virStoragePool} / C{virStorageVol}), and L{StorageMethods}, the
connection's storage methods.
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
from virtd.client.handle import Handle

__all__ = ["StoragePool", "StorageVol", "StorageMethods"]


def _pool(conn: Any, value: Any) -> StoragePool:
    return StoragePool(conn._connection(), value.pool)


def _vol(owner: Any, value: Any) -> StorageVol:
    return StorageVol(owner._connection(), value.vol)


class StoragePool(Handle):
    """
    A storage pool. C{name()}, C{UUID()}, C{UUIDString()} and C{connect()}
    are local; the rest return Deferreds.
    """

    __slots__ = ()

    def name(self) -> str:
        return self._ref.name

    def UUID(self) -> bytes:
        return self._ref.uuid

    def UUIDString(self) -> str:
        return uuidString(self._ref.uuid)

    info = rpc("STORAGE_POOL_GET_INFO",
               ret=lambda p, r: [r.state, r.capacity, r.allocation,
                                 r.available],
               doc="C{[state, capacity, allocation, available]} in bytes.")
    XMLDesc = rpc("STORAGE_POOL_GET_XML_DESC", "flags=0")
    create = rpc("STORAGE_POOL_CREATE", "flags=0")
    build = rpc("STORAGE_POOL_BUILD", "flags=0")
    destroy = rpc("STORAGE_POOL_DESTROY")
    delete = rpc("STORAGE_POOL_DELETE", "flags=0")
    undefine = rpc("STORAGE_POOL_UNDEFINE")
    refresh = rpc("STORAGE_POOL_REFRESH", "flags=0")
    autostart = rpc("STORAGE_POOL_GET_AUTOSTART")
    setAutostart = rpc("STORAGE_POOL_SET_AUTOSTART", "autostart")
    isActive = rpc("STORAGE_POOL_IS_ACTIVE")
    isPersistent = rpc("STORAGE_POOL_IS_PERSISTENT")
    numOfVolumes = rpc("STORAGE_POOL_NUM_OF_VOLUMES")
    listVolumes = counted("STORAGE_POOL_NUM_OF_VOLUMES",
                          "STORAGE_POOL_LIST_VOLUMES")
    listAllVolumes = rpc(
        "STORAGE_POOL_LIST_ALL_VOLUMES", 1, "flags=0",
        ret=lambda p, r: [StorageVol(p._conn, v) for v in r.vols])
    storageVolLookupByName = rpc("STORAGE_VOL_LOOKUP_BY_NAME", "name",
                                 ret=_vol)
    createXML = rpc("STORAGE_VOL_CREATE_XML", "xmlDesc", "flags=0", ret=_vol)

    def createXMLFrom(self, xmlDesc: str, clonevol: StorageVol,
                      flags: int = 0, *, timeout: float | None = None) -> Any:
        """
        Create a volume in this pool as a copy of C{clonevol}.
        """
        return self._conn._call(
            "STORAGE_VOL_CREATE_XML_FROM",
            (self._ref, xmlDesc, clonevol._ref, flags),
            timeout).addCallback(lambda r: _vol(self, r))

    def __repr__(self) -> str:
        return f"<StoragePool {self.name()!r} uuid={self.UUIDString()}>"


class StorageVol(Handle):
    """
    A storage volume. C{name()}, C{key()} and C{connect()} are local; the
    rest return Deferreds.
    """

    __slots__ = ()

    def name(self) -> str:
        return self._ref.name

    def key(self) -> str:
        return self._ref.key

    info = rpc("STORAGE_VOL_GET_INFO",
               ret=lambda v, r: [r.type, r.capacity, r.allocation],
               doc="C{[type, capacity, allocation]} in bytes.")
    infoFlags = rpc("STORAGE_VOL_GET_INFO_FLAGS", "flags=0",
                    ret=lambda v, r: [r.type, r.capacity, r.allocation])
    XMLDesc = rpc("STORAGE_VOL_GET_XML_DESC", "flags=0")
    path = rpc("STORAGE_VOL_GET_PATH")
    delete = rpc("STORAGE_VOL_DELETE", "flags=0")
    wipe = rpc("STORAGE_VOL_WIPE", "flags=0")
    wipePattern = rpc("STORAGE_VOL_WIPE_PATTERN", "algorithm", "flags=0")
    resize = rpc("STORAGE_VOL_RESIZE", "capacity", "flags=0")
    storagePoolLookupByVolume = rpc("STORAGE_POOL_LOOKUP_BY_VOLUME",
                                    ret=_pool)

    def __repr__(self) -> str:
        return f"<StorageVol {self.name()!r} in pool {self._ref.pool!r}>"


class StorageMethods:
    """
    The storage methods of L{virtd.client.connection.Connection}.
    """

    listAllStoragePools = rpc(
        "CONNECT_LIST_ALL_STORAGE_POOLS", 1, "flags=0", handle=False,
        ret=lambda c, r: [StoragePool(c, p) for p in r.pools])
    numOfStoragePools = rpc("CONNECT_NUM_OF_STORAGE_POOLS", handle=False)
    numOfDefinedStoragePools = rpc("CONNECT_NUM_OF_DEFINED_STORAGE_POOLS",
                                   handle=False)
    listStoragePools = counted("CONNECT_NUM_OF_STORAGE_POOLS",
                               "CONNECT_LIST_STORAGE_POOLS", handle=False)
    listDefinedStoragePools = counted("CONNECT_NUM_OF_DEFINED_STORAGE_POOLS",
                                      "CONNECT_LIST_DEFINED_STORAGE_POOLS",
                                      handle=False)
    storagePoolLookupByName = rpc("STORAGE_POOL_LOOKUP_BY_NAME", "name",
                                  handle=False, ret=_pool)
    storagePoolLookupByUUID = rpc(
        "STORAGE_POOL_LOOKUP_BY_UUID", "uuid", handle=False, ret=_pool,
        convert={"uuid": fromUUID("virStoragePoolLookupByUUID")})
    storagePoolLookupByUUIDString = rpc(
        "STORAGE_POOL_LOOKUP_BY_UUID", "uuidstr", handle=False, ret=_pool,
        convert={"uuidstr": fromUUIDString(
            "virStoragePoolLookupByUUIDString")})
    storagePoolLookupByTargetPath = rpc(
        "STORAGE_POOL_LOOKUP_BY_TARGET_PATH", "path", handle=False, ret=_pool)
    storagePoolDefineXML = rpc("STORAGE_POOL_DEFINE_XML", "xml", "flags=0",
                               handle=False, ret=_pool)
    storagePoolCreateXML = rpc("STORAGE_POOL_CREATE_XML", "xmlDesc",
                               "flags=0", handle=False, ret=_pool)
    storageVolLookupByKey = rpc("STORAGE_VOL_LOOKUP_BY_KEY", "key",
                                handle=False, ret=_vol)
    storageVolLookupByPath = rpc("STORAGE_VOL_LOOKUP_BY_PATH", "path",
                                 handle=False, ret=_vol)
