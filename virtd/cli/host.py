"""
Host and object-list commands: net-list, pool-list, vol-list,
capabilities, hostname, version, uri.
"""

from __future__ import annotations

from typing import Any

from virtd.cli.output import Fields, Table, Text
from virtd.cli.registry import Context, arg, command

__all__ = ["versionString"]

VIR_CONNECT_LIST_INACTIVE = 1  # same bit for networks and storage pools
VIR_CONNECT_LIST_ACTIVE = 2

ALL = arg("--all", action="store_true", help="include inactive ones")


def versionString(number: int) -> str:
    """
    libvirt's C{major * 1000000 + minor * 1000 + release} as C{"9.0.0"}.
    """
    return f"{number // 1000000}.{number // 1000 % 1000}.{number % 1000}"


def _listFlags(args: Any) -> int:
    if args.all:
        return VIR_CONNECT_LIST_ACTIVE | VIR_CONNECT_LIST_INACTIVE
    return VIR_CONNECT_LIST_ACTIVE


@command("net-list", "list virtual networks (active ones; --all adds "
         "inactive ones)", ALL)
async def netList(ctx: Context, args: Any) -> Table:
    t = ctx.timeout
    records = []
    for net in await ctx.conn.listAllNetworks(_listFlags(args), timeout=t):
        records.append({
            "name": net.name(),
            "state": "active" if await net.isActive(timeout=t) else "inactive",
            "autostart": bool(await net.autostart(timeout=t)),
            "persistent": bool(await net.isPersistent(timeout=t)),
            "uuid": net.UUIDString(),
        })
    records.sort(key=lambda r: r["name"])
    return Table([("Name", "name"), ("State", "state"),
                  ("Autostart", "autostart"), ("Persistent", "persistent")],
                 records)


@command("pool-list", "list storage pools (active ones; --all adds "
         "inactive ones)", ALL)
async def poolList(ctx: Context, args: Any) -> Table:
    t = ctx.timeout
    records = []
    for pool in await ctx.conn.listAllStoragePools(_listFlags(args), timeout=t):
        records.append({
            "name": pool.name(),
            "state": "active" if await pool.isActive(timeout=t) else "inactive",
            "autostart": bool(await pool.autostart(timeout=t)),
            "uuid": pool.UUIDString(),
        })
    records.sort(key=lambda r: r["name"])
    return Table([("Name", "name"), ("State", "state"),
                  ("Autostart", "autostart")], records)


@command("vol-list", "list the volumes of a storage pool",
         arg("pool", metavar="POOL", help="storage pool name"))
async def volList(ctx: Context, args: Any) -> Table:
    t = ctx.timeout
    pool = await ctx.conn.storagePoolLookupByName(args.pool, timeout=t)
    records = []
    for vol in await pool.listAllVolumes(timeout=t):
        records.append({"name": vol.name(), "path": await vol.path(timeout=t),
                        "key": vol.key()})
    records.sort(key=lambda r: r["name"])
    return Table([("Name", "name"), ("Path", "path")], records)


@command("capabilities", "the host's capabilities (XML)")
async def capabilities(ctx: Context, args: Any) -> Text:
    xml = await ctx.conn.getCapabilities(timeout=ctx.timeout)
    return Text(xml, {"xml": xml})


@command("hostname", "the host name of the daemon's machine")
async def hostname(ctx: Context, args: Any) -> Text:
    name = await ctx.conn.getHostname(timeout=ctx.timeout)
    return Text(name, {"hostname": name})


@command("version", "versions of this client, the daemon's libvirt and "
         "the hypervisor")
async def version(ctx: Context, args: Any) -> Fields:
    t = ctx.timeout
    library = await ctx.conn.getLibVersion(timeout=t)
    hvType = await ctx.conn.getType(timeout=t)
    hvVersion = await ctx.conn.getVersion(timeout=t)
    info = Fields()
    info.add("Client", "client", _clientVersion(), f"virtd {_clientVersion()}")
    info.add("Daemon library", "library", versionString(library),
             f"libvirt {versionString(library)}")
    info.add("Hypervisor", "hypervisor",
             {"type": hvType, "version": versionString(hvVersion)},
             f"{hvType} {versionString(hvVersion)}")
    return info


@command("uri", "the URI of the connection")
async def uri(ctx: Context, args: Any) -> Text:
    value = await ctx.conn.getURI(timeout=ctx.timeout)
    return Text(value, {"uri": value})


def _clientVersion() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distributionVersion

    try:
        return distributionVersion("virtd")
    except PackageNotFoundError:
        return "unknown"
