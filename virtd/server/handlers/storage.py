"""
Storage pool and volume procedures (upload/download streams excepted).
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
    wrap,
)

REMOTE_STORAGE_POOL_LIST_MAX = 16384
REMOTE_STORAGE_VOL_LIST_MAX = 16384

POOL = wrap(convert.makePool)
VOL = wrap(convert.makeVol)
_POOLS = limited("maxnames", REMOTE_STORAGE_POOL_LIST_MAX,
                 "REMOTE_STORAGE_POOL_LIST_MAX")

# -- pools ----------------------------------------------------------------------------


@handler("CONNECT_LIST_ALL_STORAGE_POOLS")
def listAllStoragePools(ctx: Any, args: Any) -> tuple:
    pools = ctx.conn.listAllStoragePools(args.flags)
    if not args.need_results:
        return ([], len(pools))
    return ([convert.makePool(p) for p in pools], len(pools))


call("CONNECT_NUM_OF_STORAGE_POOLS", "numOfStoragePools")
call("CONNECT_LIST_STORAGE_POOLS", "listStoragePools", ret=_POOLS)
call("CONNECT_NUM_OF_DEFINED_STORAGE_POOLS", "numOfDefinedStoragePools")
call("CONNECT_LIST_DEFINED_STORAGE_POOLS", "listDefinedStoragePools",
     ret=_POOLS)

call("STORAGE_POOL_LOOKUP_BY_NAME", "storagePoolLookupByName",
     args=("name",), ret=POOL)
call("STORAGE_POOL_LOOKUP_BY_UUID", "storagePoolLookupByUUID",
     args=("uuid",), ret=POOL)
call("STORAGE_POOL_LOOKUP_BY_VOLUME", "storagePoolLookupByVolume", on="vol",
     ret=POOL)
call("STORAGE_POOL_LOOKUP_BY_TARGET_PATH", "storagePoolLookupByTargetPath",
     args=("path",), ret=POOL)
call("STORAGE_POOL_DEFINE_XML", "storagePoolDefineXML", args=("xml", "flags"),
     ret=POOL)
call("STORAGE_POOL_CREATE_XML", "storagePoolCreateXML", args=("xml", "flags"),
     ret=POOL)

call("STORAGE_POOL_CREATE", "create", on="pool", args=("flags",), ret=VOID)
call("STORAGE_POOL_BUILD", "build", on="pool", args=("flags",), ret=VOID)
call("STORAGE_POOL_DESTROY", "destroy", on="pool", ret=VOID)
call("STORAGE_POOL_DELETE", "delete", on="pool", args=("flags",), ret=VOID)
call("STORAGE_POOL_UNDEFINE", "undefine", on="pool", ret=VOID)
call("STORAGE_POOL_REFRESH", "refresh", on="pool", args=("flags",), ret=VOID)
call("STORAGE_POOL_GET_INFO", "info", on="pool", ret=lambda r, a: tuple(r))
call("STORAGE_POOL_GET_XML_DESC", "XMLDesc", on="pool", args=("flags",))
call("STORAGE_POOL_GET_AUTOSTART", "autostart", on="pool", ret=asInt)
call("STORAGE_POOL_SET_AUTOSTART", "setAutostart", on="pool",
     args=("autostart",), ret=VOID)
call("STORAGE_POOL_IS_ACTIVE", "isActive", on="pool", ret=asInt)
call("STORAGE_POOL_IS_PERSISTENT", "isPersistent", on="pool", ret=asInt)

# -- volumes ----------------------------------------------------------------------------


@handler("STORAGE_POOL_LIST_ALL_VOLUMES")
def listAllVolumes(ctx: Any, args: Any) -> tuple:
    vols = convert.pool(ctx.conn, args.pool).listAllVolumes(args.flags)
    if not args.need_results:
        return ([], len(vols))
    return ([convert.makeVol(v, args.pool.name) for v in vols], len(vols))


call("STORAGE_POOL_NUM_OF_VOLUMES", "numOfVolumes", on="pool")
call("STORAGE_POOL_LIST_VOLUMES", "listVolumes", on="pool",
     ret=limited("maxnames", REMOTE_STORAGE_VOL_LIST_MAX,
                 "REMOTE_STORAGE_VOL_LIST_MAX"))


def _inPool(name: str, method: str, args: tuple[str, ...]) -> None:
    """
    A call on a pool that answers a volume of that pool.
    """
    @handler(name)
    def run(ctx: Any, a: Any) -> tuple:
        values = [convert.volume(ctx.conn, a.clonevol) if f == "clonevol"
                  else getattr(a, f) for f in args]
        vol = getattr(convert.pool(ctx.conn, a.pool), method)(*values)
        return (convert.makeVol(vol, a.pool.name),)


_inPool("STORAGE_VOL_LOOKUP_BY_NAME", "storageVolLookupByName", ("name",))
_inPool("STORAGE_VOL_CREATE_XML", "createXML", ("xml", "flags"))
_inPool("STORAGE_VOL_CREATE_XML_FROM", "createXMLFrom",
        ("xml", "clonevol", "flags"))
call("STORAGE_VOL_LOOKUP_BY_KEY", "storageVolLookupByKey", args=("key",),
     ret=VOL)
call("STORAGE_VOL_LOOKUP_BY_PATH", "storageVolLookupByPath", args=("path",),
     ret=VOL)

call("STORAGE_VOL_DELETE", "delete", on="vol", args=("flags",), ret=VOID)
call("STORAGE_VOL_WIPE", "wipe", on="vol", args=("flags",), ret=VOID)
call("STORAGE_VOL_WIPE_PATTERN", "wipePattern", on="vol",
     args=("algorithm", "flags"), ret=VOID)
call("STORAGE_VOL_RESIZE", "resize", on="vol", args=("capacity", "flags"),
     ret=VOID)
call("STORAGE_VOL_GET_INFO", "info", on="vol", ret=lambda r, a: tuple(r))
call("STORAGE_VOL_GET_INFO_FLAGS", "infoFlags", on="vol", args=("flags",),
     ret=lambda r, a: tuple(r))
call("STORAGE_VOL_GET_XML_DESC", "XMLDesc", on="vol", args=("flags",))
call("STORAGE_VOL_GET_PATH", "path", on="vol")
