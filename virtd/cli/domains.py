"""
Domain commands: list, dominfo, start, destroy, shutdown, define,
undefine, dumpxml.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from virtd.cli.output import Fields, Table, Text
from virtd.cli.registry import Context, UsageError, arg, command
from virtd.errors import VIR_ERR_NO_DOMAIN, LibvirtError

__all__ = ["STATE_NAMES", "lookupDomain"]

#: How virsh names C{virDomainState} values.
STATE_NAMES = {
    0: "no state", 1: "running", 2: "idle", 3: "paused", 4: "in shutdown",
    5: "shut off", 6: "crashed", 7: "pmsuspended",
}

VIR_CONNECT_LIST_DOMAINS_ACTIVE = 1
VIR_CONNECT_LIST_DOMAINS_INACTIVE = 2
VIR_DOMAIN_XML_SECURE = 1
VIR_DOMAIN_XML_INACTIVE = 2
#: libvirt's "no limit" for memory sizes (VIR_DOMAIN_MEMORY_PARAM_UNLIMITED).
MEMORY_UNLIMITED = 9007199254740991

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")

DOMAIN = arg("domain", metavar="DOMAIN", help="domain name, id or UUID")


async def lookupDomain(ctx: Context, text: str) -> Any:
    """
    Find a domain as virsh does: by id when C{text} is a number, by UUID
    when it looks like one, and by name otherwise (or when those fail).

    @raise LibvirtError: C{VIR_ERR_NO_DOMAIN} if nothing matches.
    """
    conn, t = ctx.conn, ctx.timeout
    if text.isdigit() or _UUID.match(text):
        try:
            if text.isdigit():
                return await conn.lookupByID(int(text), timeout=t)
            return await conn.lookupByUUIDString(text, timeout=t)
        except LibvirtError as e:
            if e.get_error_code() != VIR_ERR_NO_DOMAIN:
                raise
    return await conn.lookupByName(text, timeout=t)


def _sortKey(record: dict[str, Any]) -> tuple:
    # virsh lists running domains by id, then inactive ones by name.
    if record["id"] is None:
        return (1, 0, record["name"])
    return (0, record["id"], record["name"])


@command("list", "list domains (running ones; --all adds inactive ones)",
         arg("--all", action="store_true", help="include inactive domains"))
async def listDomains(ctx: Context, args: Any) -> Table:
    flags = VIR_CONNECT_LIST_DOMAINS_ACTIVE
    if args.all:
        flags |= VIR_CONNECT_LIST_DOMAINS_INACTIVE
    records = []
    for dom in await ctx.conn.listAllDomains(flags, timeout=ctx.timeout):
        state = (await dom.state(timeout=ctx.timeout))[0]
        records.append({
            "id": dom.ID() if dom.ID() >= 0 else None,
            "name": dom.name(),
            "state": STATE_NAMES.get(state, "no state"),
            "uuid": dom.UUIDString(),
        })
    records.sort(key=_sortKey)
    return Table([("Id", "id"), ("Name", "name"), ("State", "state")], records)


@command("dominfo", "basic information about a domain", DOMAIN)
async def dominfo(ctx: Context, args: Any) -> Fields:
    t = ctx.timeout
    dom = await lookupDomain(ctx, args.domain)
    state, maxMem, memory, nrVirtCpu, cpuTime = await dom.info(timeout=t)
    osType = await dom.OSType(timeout=t)
    persistent = await dom.isPersistent(timeout=t)
    autostart = await dom.autostart(timeout=t)
    managed = await dom.hasManagedSaveImage(timeout=t)

    info = Fields()
    info.add("Id", "id", dom.ID() if dom.ID() >= 0 else None)
    info.add("Name", "name", dom.name())
    info.add("UUID", "uuid", dom.UUIDString())
    info.add("OS Type", "os_type", osType)
    info.add("State", "state", STATE_NAMES.get(state, "no state"))
    info.add("CPU(s)", "cpus", nrVirtCpu)
    if cpuTime:
        info.add("CPU time", "cpu_time_ns", cpuTime, f"{cpuTime / 1e9:.1f}s")
    if maxMem == MEMORY_UNLIMITED:
        info.add("Max memory", "max_memory_kib", None, "no limit")
    else:
        info.add("Max memory", "max_memory_kib", maxMem, f"{maxMem} KiB")
    info.add("Used memory", "used_memory_kib", memory, f"{memory} KiB")
    info.add("Persistent", "persistent", bool(persistent))
    info.add("Autostart", "autostart", bool(autostart),
             "enable" if autostart else "disable")
    info.add("Managed save", "managed_save", bool(managed))
    return info


def _done(dom: Any, action: str, message: str) -> Text:
    return Text(message, {"domain": dom.name(), "uuid": dom.UUIDString(),
                          "result": action})


@command("start", "start an inactive (defined) domain", DOMAIN)
async def start(ctx: Context, args: Any) -> Text:
    dom = await lookupDomain(ctx, args.domain)
    await dom.create(timeout=ctx.timeout)
    return _done(dom, "started", f"Domain '{dom.name()}' started")


@command("destroy", "stop a running domain at once (like pulling the plug)",
         DOMAIN)
async def destroy(ctx: Context, args: Any) -> Text:
    dom = await lookupDomain(ctx, args.domain)
    await dom.destroy(timeout=ctx.timeout)
    return _done(dom, "destroyed", f"Domain '{dom.name()}' destroyed")


@command("shutdown", "ask a running domain to shut down", DOMAIN)
async def shutdown(ctx: Context, args: Any) -> Text:
    dom = await lookupDomain(ctx, args.domain)
    await dom.shutdown(timeout=ctx.timeout)
    return _done(dom, "shutdown", f"Domain '{dom.name()}' is being shutdown")


@command("define", "define (but do not start) a domain from an XML file",
         arg("file", metavar="FILE", help="domain XML; '-' reads stdin"))
async def define(ctx: Context, args: Any) -> Text:
    xml = _readFile(args.file)
    dom = await ctx.conn.defineXML(xml, timeout=ctx.timeout)
    return _done(dom, "defined",
                 f"Domain '{dom.name()}' defined from {args.file}")


@command("undefine", "remove an inactive domain's definition "
         "(a running one becomes transient)", DOMAIN)
async def undefine(ctx: Context, args: Any) -> Text:
    dom = await lookupDomain(ctx, args.domain)
    await dom.undefine(timeout=ctx.timeout)
    return _done(dom, "undefined", f"Domain '{dom.name()}' has been undefined")


@command("dumpxml", "a domain's XML description", DOMAIN,
         arg("--inactive", action="store_true",
             help="the configuration the next boot will use"),
         arg("--security-info", action="store_true",
             help="include security-sensitive information"))
async def dumpxml(ctx: Context, args: Any) -> Text:
    flags = 0
    if args.inactive:
        flags |= VIR_DOMAIN_XML_INACTIVE
    if args.security_info:
        flags |= VIR_DOMAIN_XML_SECURE
    dom = await lookupDomain(ctx, args.domain)
    xml = await dom.XMLDesc(flags, timeout=ctx.timeout)
    return Text(xml, {"domain": dom.name(), "xml": xml})


def _readFile(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
