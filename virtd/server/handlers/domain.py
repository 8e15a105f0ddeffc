"""
Domain procedures: lookup, lifecycle, definition, devices, and the simple
getters and setters of a domain's state and configuration.

Typed parameters, vCPU maps and statistics live in L{domainstats}.
"""

from __future__ import annotations

from typing import Any

from virtd.server.handlers import convert
from virtd.server.handlers.registry import (
    VOID,
    asInt,
    call,
    handler,
    wrap,
)

DOM = wrap(convert.makeDom)

# -- lookup and definition ---------------------------------------------------

call("DOMAIN_LOOKUP_BY_NAME", "lookupByName", args=("name",), ret=DOM)
call("DOMAIN_LOOKUP_BY_UUID", "lookupByUUID", args=("uuid",), ret=DOM)
call("DOMAIN_LOOKUP_BY_ID", "lookupByID", args=("id",), ret=DOM)
call("DOMAIN_DEFINE_XML", "defineXML", args=("xml",), ret=DOM)
call("DOMAIN_DEFINE_XML_FLAGS", "defineXMLFlags", args=("xml", "flags"),
     ret=DOM)
call("DOMAIN_CREATE_XML", "createXML", args=("xml_desc", "flags"), ret=DOM)
call("DOMAIN_UNDEFINE", "undefine", on="dom", ret=VOID)
call("DOMAIN_UNDEFINE_FLAGS", "undefineFlags", on="dom", args=("flags",),
     ret=VOID)
call("DOMAIN_RENAME", "rename", on="dom", args=("new_name", "flags"))

# -- lifecycle -----------------------------------------------------------------

call("DOMAIN_CREATE", "create", on="dom", ret=VOID)


@handler("DOMAIN_CREATE_WITH_FLAGS")
def createWithFlags(ctx: Any, args: Any) -> tuple:
    # The reply carries the handle again so the client learns the new id.
    dom = convert.domainOf(ctx, args.dom)
    dom.createWithFlags(args.flags)
    return (convert.makeDom(dom),)


# The *_WITH_FILES calls come here only without descriptors: the
# dispatcher refuses them when a client passes some (virtd drops them).


@handler("DOMAIN_CREATE_XML_WITH_FILES")
def createXMLWithFiles(ctx: Any, args: Any) -> tuple:
    return (convert.makeDom(
        ctx.conn.createXMLWithFiles(args.xml_desc, [], args.flags)),)


@handler("DOMAIN_CREATE_WITH_FILES")
def createWithFiles(ctx: Any, args: Any) -> tuple:
    dom = convert.domainOf(ctx, args.dom)
    dom.createWithFiles([], args.flags)
    return (convert.makeDom(dom),)


call("DOMAIN_DESTROY", "destroy", on="dom", ret=VOID)
call("DOMAIN_DESTROY_FLAGS", "destroyFlags", on="dom", args=("flags",),
     ret=VOID)
call("DOMAIN_SHUTDOWN", "shutdown", on="dom", ret=VOID)
call("DOMAIN_SHUTDOWN_FLAGS", "shutdownFlags", on="dom", args=("flags",),
     ret=VOID)
call("DOMAIN_REBOOT", "reboot", on="dom", args=("flags",), ret=VOID)
call("DOMAIN_RESET", "reset", on="dom", args=("flags",), ret=VOID)
call("DOMAIN_SUSPEND", "suspend", on="dom", ret=VOID)
call("DOMAIN_RESUME", "resume", on="dom", ret=VOID)
call("DOMAIN_PM_SUSPEND_FOR_DURATION", "pMSuspendForDuration", on="dom",
     args=("target", "duration", "flags"), ret=VOID)
call("DOMAIN_PM_WAKEUP", "pMWakeup", on="dom", args=("flags",), ret=VOID)
call("DOMAIN_INJECT_NMI", "injectNMI", on="dom", args=("flags",), ret=VOID)
call("DOMAIN_SEND_PROCESS_SIGNAL", "sendProcessSignal", on="dom",
     args=("pid_value", "signum", "flags"), ret=VOID)


@handler("DOMAIN_SEND_KEY")
def sendKey(ctx: Any, args: Any) -> None:
    dom = convert.domainOf(ctx, args.dom)
    dom.sendKey(args.codeset, args.holdtime, list(args.keycodes),
                len(args.keycodes), args.flags)


# -- save / restore / dump -----------------------------------------------------

call("DOMAIN_MANAGED_SAVE", "managedSave", on="dom", args=("flags",),
     ret=VOID)
call("DOMAIN_HAS_MANAGED_SAVE_IMAGE", "hasManagedSaveImage", on="dom",
     args=("flags",), ret=asInt)
call("DOMAIN_MANAGED_SAVE_REMOVE", "managedSaveRemove", on="dom",
     args=("flags",), ret=VOID)
call("DOMAIN_MANAGED_SAVE_GET_XML_DESC", "managedSaveGetXMLDesc", on="dom",
     args=("flags",))
call("DOMAIN_MANAGED_SAVE_DEFINE_XML", "managedSaveDefineXML", on="dom",
     args=("dxml", "flags"), ret=VOID)
call("DOMAIN_SAVE", "save", on="dom", args=("to",), ret=VOID)
call("DOMAIN_SAVE_FLAGS", "saveFlags", on="dom", args=("to", "dxml", "flags"),
     ret=VOID)
call("DOMAIN_RESTORE", "restore", args=("from_",), ret=VOID)
call("DOMAIN_RESTORE_FLAGS", "restoreFlags", args=("from_", "dxml", "flags"),
     ret=VOID)
call("DOMAIN_SAVE_IMAGE_GET_XML_DESC", "saveImageGetXMLDesc",
     args=("file", "flags"))
call("DOMAIN_SAVE_IMAGE_DEFINE_XML", "saveImageDefineXML",
     args=("file", "dxml", "flags"), ret=VOID)
call("DOMAIN_CORE_DUMP", "coreDump", on="dom", args=("to", "flags"),
     ret=VOID)
call("DOMAIN_CORE_DUMP_WITH_FORMAT", "coreDumpWithFormat", on="dom",
     args=("to", "dumpformat", "flags"), ret=VOID)

# -- simple state and configuration -------------------------------------------

call("DOMAIN_GET_INFO", "info", on="dom", ret=lambda r, a: tuple(r))
call("DOMAIN_GET_STATE", "state", on="dom", args=("flags",),
     ret=lambda r, a: tuple(r))
call("DOMAIN_GET_XML_DESC", "XMLDesc", on="dom", args=("flags",))
call("DOMAIN_GET_OS_TYPE", "OSType", on="dom")
call("DOMAIN_GET_AUTOSTART", "autostart", on="dom", ret=asInt)
call("DOMAIN_SET_AUTOSTART", "setAutostart", on="dom", args=("autostart",),
     ret=VOID)
call("DOMAIN_IS_ACTIVE", "isActive", on="dom", ret=asInt)
call("DOMAIN_IS_PERSISTENT", "isPersistent", on="dom", ret=asInt)
call("DOMAIN_IS_UPDATED", "isUpdated", on="dom", ret=asInt)
call("DOMAIN_GET_HOSTNAME", "hostname", on="dom", args=("flags",))
call("DOMAIN_GET_MESSAGES", "messages", on="dom", args=("flags",),
     ret=lambda r, a: (list(r),))
call("DOMAIN_GET_CONTROL_INFO", "controlInfo", on="dom", args=("flags",),
     ret=lambda r, a: tuple(r))
call("DOMAIN_GET_JOB_INFO", "jobInfo", on="dom", ret=lambda r, a: tuple(r))
call("DOMAIN_ABORT_JOB", "abortJob", on="dom", ret=VOID)
call("DOMAIN_ABORT_JOB_FLAGS", "abortJobFlags", on="dom", args=("flags",),
     ret=VOID)
call("DOMAIN_GET_METADATA", "metadata", on="dom",
     args=("type", "uri", "flags"))
call("DOMAIN_SET_METADATA", "setMetadata", on="dom",
     args=("type", "metadata", "key", "uri", "flags"), ret=VOID)
call("DOMAIN_SET_LIFECYCLE_ACTION", "setLifecycleAction", on="dom",
     args=("type", "action", "flags"), ret=VOID)

# memory and vCPU counts
call("DOMAIN_GET_MAX_MEMORY", "maxMemory", on="dom")
call("DOMAIN_SET_MAX_MEMORY", "setMaxMemory", on="dom", args=("memory",),
     ret=VOID)
call("DOMAIN_SET_MEMORY", "setMemory", on="dom", args=("memory",), ret=VOID)
call("DOMAIN_SET_MEMORY_FLAGS", "setMemoryFlags", on="dom",
     args=("memory", "flags"), ret=VOID)
call("DOMAIN_SET_MEMORY_STATS_PERIOD", "setMemoryStatsPeriod", on="dom",
     args=("period", "flags"), ret=VOID)
call("DOMAIN_GET_MAX_VCPUS", "maxVcpus", on="dom")
call("DOMAIN_SET_VCPUS", "setVcpus", on="dom", args=("nvcpus",), ret=VOID)
call("DOMAIN_SET_VCPUS_FLAGS", "setVcpusFlags", on="dom",
     args=("nvcpus", "flags"), ret=VOID)
call("DOMAIN_GET_VCPUS_FLAGS", "vcpusFlags", on="dom", args=("flags",))
call("DOMAIN_SET_VCPU", "setVcpu", on="dom", args=("cpumap", "state", "flags"),
     ret=VOID)
call("DOMAIN_SET_GUEST_VCPUS", "setGuestVcpus", on="dom",
     args=("cpumap", "state", "flags"), ret=VOID)

# -- devices -------------------------------------------------------------------

call("DOMAIN_ATTACH_DEVICE", "attachDevice", on="dom", args=("xml",),
     ret=VOID)
call("DOMAIN_ATTACH_DEVICE_FLAGS", "attachDeviceFlags", on="dom",
     args=("xml", "flags"), ret=VOID)
call("DOMAIN_DETACH_DEVICE", "detachDevice", on="dom", args=("xml",),
     ret=VOID)
call("DOMAIN_DETACH_DEVICE_FLAGS", "detachDeviceFlags", on="dom",
     args=("xml", "flags"), ret=VOID)
call("DOMAIN_UPDATE_DEVICE_FLAGS", "updateDeviceFlags", on="dom",
     args=("xml", "flags"), ret=VOID)
call("DOMAIN_DETACH_DEVICE_ALIAS", "detachDeviceAlias", on="dom",
     args=("alias", "flags"), ret=VOID)

# -- block devices and jobs -----------------------------------------------------

call("DOMAIN_BLOCK_RESIZE", "blockResize", on="dom",
     args=("disk", "size", "flags"), ret=VOID)
call("DOMAIN_BLOCK_PEEK", "blockPeek", on="dom",
     args=("path", "offset", "size", "flags"))
call("DOMAIN_MEMORY_PEEK", "memoryPeek", on="dom",
     args=("offset", "size", "flags"))
call("DOMAIN_BLOCK_JOB_ABORT", "blockJobAbort", on="dom",
     args=("path", "flags"), ret=VOID)
call("DOMAIN_BLOCK_JOB_SET_SPEED", "blockJobSetSpeed", on="dom",
     args=("path", "bandwidth", "flags"), ret=VOID)
call("DOMAIN_BLOCK_PULL", "blockPull", on="dom",
     args=("path", "bandwidth", "flags"), ret=VOID)
call("DOMAIN_BLOCK_REBASE", "blockRebase", on="dom",
     args=("path", "base", "bandwidth", "flags"), ret=VOID)
call("DOMAIN_BLOCK_COMMIT", "blockCommit", on="dom",
     args=("disk", "base", "top", "bandwidth", "flags"), ret=VOID)
call("DOMAIN_SET_BLOCK_THRESHOLD", "setBlockThreshold", on="dom",
     args=("dev", "threshold", "flags"), ret=VOID)


@handler("DOMAIN_GET_BLOCK_JOB_INFO")
def getBlockJobInfo(ctx: Any, args: Any) -> tuple:
    info = convert.domainOf(ctx, args.dom).blockJobInfo(args.path,
                                                        args.flags)
    if not info:
        return (0, 0, 0, 0, 0)
    return (1, info["type"], info["bandwidth"], info["cur"], info["end"])


# -- guest agent ---------------------------------------------------------------

call("DOMAIN_FSTRIM", "fSTrim", on="dom",
     args=("mountPoint", "minimum", "flags"), ret=VOID)
call("DOMAIN_FSFREEZE", "fsFreeze", on="dom", args=("mountpoints", "flags"))
call("DOMAIN_FSTHAW", "fsThaw", on="dom", args=("mountpoints", "flags"))
call("DOMAIN_SET_USER_PASSWORD", "setUserPassword", on="dom",
     args=("user", "password", "flags"), ret=VOID)
call("DOMAIN_AGENT_SET_RESPONSE_TIMEOUT", "agentSetResponseTimeout",
     on="dom", args=("timeout", "flags"))
call("DOMAIN_AUTHORIZED_SSH_KEYS_GET", "authorizedSSHKeysGet", on="dom",
     args=("user", "flags"), ret=lambda r, a: (list(r),))
call("DOMAIN_AUTHORIZED_SSH_KEYS_SET", "authorizedSSHKeysSet", on="dom",
     args=("user", "keys", "flags"), ret=VOID)


@handler("DOMAIN_GET_TIME")
def getTime(ctx: Any, args: Any) -> tuple:
    t = convert.domainOf(ctx, args.dom).getTime(args.flags)
    return (t["seconds"], t["nseconds"])


@handler("DOMAIN_SET_TIME")
def setTime(ctx: Any, args: Any) -> None:
    convert.domainOf(ctx, args.dom).setTime(
        {"seconds": args.seconds, "nseconds": args.nseconds}, args.flags)


# -- migration tunables ----------------------------------------------------------

call("DOMAIN_MIGRATE_GET_MAX_SPEED", "migrateGetMaxSpeed", on="dom",
     args=("flags",))
call("DOMAIN_MIGRATE_SET_MAX_SPEED", "migrateSetMaxSpeed", on="dom",
     args=("bandwidth", "flags"), ret=VOID)
call("DOMAIN_MIGRATE_GET_MAX_DOWNTIME", "migrateGetMaxDowntime", on="dom",
     args=("flags",))
call("DOMAIN_MIGRATE_SET_MAX_DOWNTIME", "migrateSetMaxDowntime", on="dom",
     args=("downtime", "flags"), ret=VOID)
call("DOMAIN_MIGRATE_GET_COMPRESSION_CACHE", "migrateGetCompressionCache",
     on="dom", args=("flags",))
call("DOMAIN_MIGRATE_SET_COMPRESSION_CACHE", "migrateSetCompressionCache",
     on="dom", args=("cacheSize", "flags"), ret=VOID)
call("DOMAIN_MIGRATE_START_POST_COPY", "migrateStartPostCopy", on="dom",
     args=("flags",), ret=VOID)
call("DOMAIN_START_DIRTY_RATE_CALC", "startDirtyRateCalc", on="dom",
     args=("seconds", "flags"), ret=VOID)

# -- backup -----------------------------------------------------------------------

call("DOMAIN_BACKUP_BEGIN", "backupBegin", on="dom",
     args=("backup_xml", "checkpoint_xml", "flags"), ret=VOID)
call("DOMAIN_BACKUP_GET_XML_DESC", "backupGetXMLDesc", on="dom",
     args=("flags",))
