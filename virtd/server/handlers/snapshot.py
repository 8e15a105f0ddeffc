"""
Domain snapshot and checkpoint procedures.
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

REMOTE_DOMAIN_SNAPSHOT_LIST_MAX = 16384

SNAP = wrap(convert.makeSnap)
CHECKPOINT = wrap(convert.makeCheckpoint)

# -- snapshots ---------------------------------------------------------------------

call("DOMAIN_SNAPSHOT_CREATE_XML", "snapshotCreateXML", on="dom",
     args=("xml_desc", "flags"), ret=SNAP)
call("DOMAIN_LIST_ALL_SNAPSHOTS", "listAllSnapshots", on="dom",
     args=("flags",), ret=listAll(convert.makeSnap))
call("DOMAIN_SNAPSHOT_NUM", "snapshotNum", on="dom", args=("flags",))
call("DOMAIN_SNAPSHOT_LIST_NAMES", "snapshotListNames", on="dom",
     args=("flags",), ret=limited("maxnames", REMOTE_DOMAIN_SNAPSHOT_LIST_MAX,
                                  "REMOTE_DOMAIN_SNAPSHOT_LIST_MAX"))
call("DOMAIN_SNAPSHOT_LOOKUP_BY_NAME", "snapshotLookupByName", on="dom",
     args=("name", "flags"), ret=SNAP)
call("DOMAIN_SNAPSHOT_CURRENT", "snapshotCurrent", on="dom", args=("flags",),
     ret=SNAP)
call("DOMAIN_HAS_CURRENT_SNAPSHOT", "hasCurrentSnapshot", on="dom",
     args=("flags",), ret=asInt)
call("DOMAIN_SNAPSHOT_GET_XML_DESC", "getXMLDesc", on="snap", args=("flags",))
call("DOMAIN_SNAPSHOT_DELETE", "delete", on="snap", args=("flags",), ret=VOID)
call("DOMAIN_SNAPSHOT_GET_PARENT", "getParent", on="snap", args=("flags",),
     ret=SNAP)
call("DOMAIN_SNAPSHOT_NUM_CHILDREN", "numChildren", on="snap",
     args=("flags",))
call("DOMAIN_SNAPSHOT_LIST_CHILDREN_NAMES", "listChildrenNames", on="snap",
     args=("flags",), ret=limited("maxnames", REMOTE_DOMAIN_SNAPSHOT_LIST_MAX,
                                  "REMOTE_DOMAIN_SNAPSHOT_LIST_MAX"))
call("DOMAIN_SNAPSHOT_LIST_ALL_CHILDREN", "listAllChildren", on="snapshot",
     args=("flags",), ret=listAll(convert.makeSnap))
call("DOMAIN_SNAPSHOT_IS_CURRENT", "isCurrent", on="snap", args=("flags",),
     ret=asInt)
call("DOMAIN_SNAPSHOT_HAS_METADATA", "hasMetadata", on="snap",
     args=("flags",), ret=asInt)


@handler("DOMAIN_REVERT_TO_SNAPSHOT")
def revertToSnapshot(ctx: Any, args: Any) -> None:
    snap = convert.snapshot(ctx.conn, args.snap)
    snap.getDomain().revertToSnapshot(snap, args.flags)


# -- checkpoints ---------------------------------------------------------------------

call("DOMAIN_CHECKPOINT_CREATE_XML", "checkpointCreateXML", on="dom",
     args=("xml_desc", "flags"), ret=CHECKPOINT)
call("DOMAIN_LIST_ALL_CHECKPOINTS", "listAllCheckpoints", on="dom",
     args=("flags",), ret=listAll(convert.makeCheckpoint))
call("DOMAIN_CHECKPOINT_LOOKUP_BY_NAME", "checkpointLookupByName", on="dom",
     args=("name", "flags"), ret=CHECKPOINT)
call("DOMAIN_CHECKPOINT_GET_XML_DESC", "getXMLDesc", on="checkpoint",
     args=("flags",))
call("DOMAIN_CHECKPOINT_GET_PARENT", "getParent", on="checkpoint",
     args=("flags",), ret=CHECKPOINT)
call("DOMAIN_CHECKPOINT_LIST_ALL_CHILDREN", "listAllChildren",
     on="checkpoint", args=("flags",), ret=listAll(convert.makeCheckpoint))
call("DOMAIN_CHECKPOINT_DELETE", "delete", on="checkpoint", args=("flags",),
     ret=VOID)
