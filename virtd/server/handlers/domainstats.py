"""
Domain procedures whose results need reshaping: typed parameters (kept in
libvirt's types on the wire), vCPU and CPU maps, and statistics.
"""

from __future__ import annotations

from typing import Any

import libvirt

from virtd.errors import VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC, LibvirtError
from virtd.server.handlers import convert
from virtd.server.handlers.registry import VOID, Handler, call, handler

REMOTE_VCPUINFO_MAX = 16384
REMOTE_CPUMAPS_MAX = 8388608
REMOTE_DOMAIN_SCHEDULER_PARAMETERS_MAX = 16
REMOTE_DOMAIN_MEMORY_PARAMETERS_MAX = 16
REMOTE_DOMAIN_BLKIO_PARAMETERS_MAX = 16
REMOTE_DOMAIN_NUMA_PARAMETERS_MAX = 16
REMOTE_DOMAIN_INTERFACE_PARAMETERS_MAX = 16
REMOTE_DOMAIN_BLOCK_IO_TUNE_PARAMETERS_MAX = 32
REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX = 16
REMOTE_DOMAIN_PERF_EVENTS_MAX = 64
REMOTE_DOMAIN_JOB_STATS_MAX = 64
REMOTE_DOMAIN_GUEST_VCPU_PARAMS_MAX = 64
REMOTE_DOMAIN_GUEST_INFO_PARAMS_MAX = 2048
REMOTE_DOMAIN_LAUNCH_SECURITY_INFO_PARAMS_MAX = 64
REMOTE_NODE_CPU_STATS_MAX = 16
REMOTE_DOMAIN_GET_CPU_STATS_NCPUS_MAX = 128
REMOTE_DOMAIN_GET_CPU_STATS_MAX = 2048
REMOTE_DOMAIN_MEMORY_STATS_MAX = 1024
REMOTE_DOMAIN_DISK_ERRORS_MAX = 256

#: C{virDomainMemoryStatTags}: libvirt-python names -> wire tags.
MEMORY_STAT_TAGS = {
    "swap_in": 0, "swap_out": 1, "major_fault": 2, "minor_fault": 3,
    "unused": 4, "available": 5, "actual": 6, "rss": 7, "usable": 8,
    "last_update": 9, "disk_caches": 10, "hugetlb_pgalloc": 11,
    "hugetlb_pgfail": 12,
}

# -- typed-parameter getters and setters ---------------------------------------


def typedGetter(name: str, method: str, args: tuple[str, ...], limit: int,
                withCount: bool = True, withFlags: bool = True) -> Handler:
    """
    Declare a typed-parameter getter: C{method(*args)} on the domain returns
    libvirt-python's dict; the reply keeps libvirt's types, honours the
    C{nparams} capacity (0 asks only for the count, the only case where the
    reply's C{nparams} is set) and the caller's
    C{VIR_TYPED_PARAM_STRING_OKAY}.

    @param withCount: the ret struct ends with C{nparams}.
    @param withFlags: the args carry C{flags} (the legacy scheduler call
        does not, so strings are never sent to it).
    """
    @handler(name)
    def get(ctx: Any, a: Any) -> tuple:
        nparams = getattr(a, "nparams", None)
        if nparams is not None:
            convert.checkMax(nparams, limit, "nparams too large")
        dom = convert.domainOf(ctx, a.dom)
        params = convert.checked(
            getattr(dom, method)(*[getattr(a, f) for f in args])) or {}
        flags = a.flags if withFlags else 0
        items = list(params.items())
        if nparams is not None:
            if nparams == 0 and withCount:
                return ([], len(items))
            items = items[:nparams]
        tp = convert.toTypedParams(items, flags, limit)
        # libvirtd fills in nparams only when it was asked for the count.
        return (tp, 0) if withCount else (tp,)
    get.__name__ = "handle_" + name
    return get


def typedSetter(name: str, method: str, args: tuple[str, ...]) -> Handler:
    """
    Declare a typed-parameter setter: the wire's C{params} becomes the dict
    libvirt-python takes, the other C{args} pass through in order.
    """
    @handler(name)
    def set_(ctx: Any, a: Any) -> None:
        dom = convert.domainOf(ctx, a.dom)
        if not a.params:
            # libvirt-python refuses an empty dict; setting nothing is a
            # no-op for the drivers once the domain was found.
            return
        values = [convert.fromTypedParams(a.params) if f == "params"
                  else getattr(a, f) for f in args]
        getattr(dom, method)(*values)
    set_.__name__ = "handle_" + name
    return set_


typedGetter("DOMAIN_GET_SCHEDULER_PARAMETERS", "schedulerParameters", (),
            REMOTE_DOMAIN_SCHEDULER_PARAMETERS_MAX, withCount=False,
            withFlags=False)
typedGetter("DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS",
            "schedulerParametersFlags", ("flags",),
            REMOTE_DOMAIN_SCHEDULER_PARAMETERS_MAX, withCount=False)
typedGetter("DOMAIN_GET_MEMORY_PARAMETERS", "memoryParameters", ("flags",),
            REMOTE_DOMAIN_MEMORY_PARAMETERS_MAX)
typedGetter("DOMAIN_GET_BLKIO_PARAMETERS", "blkioParameters", ("flags",),
            REMOTE_DOMAIN_BLKIO_PARAMETERS_MAX)
typedGetter("DOMAIN_GET_NUMA_PARAMETERS", "numaParameters", ("flags",),
            REMOTE_DOMAIN_NUMA_PARAMETERS_MAX)
typedGetter("DOMAIN_GET_INTERFACE_PARAMETERS", "interfaceParameters",
            ("device", "flags"), REMOTE_DOMAIN_INTERFACE_PARAMETERS_MAX)
typedGetter("DOMAIN_GET_BLOCK_IO_TUNE", "blockIoTune", ("disk", "flags"),
            REMOTE_DOMAIN_BLOCK_IO_TUNE_PARAMETERS_MAX)
typedGetter("DOMAIN_BLOCK_STATS_FLAGS", "blockStatsFlags", ("path", "flags"),
            REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX)
typedGetter("DOMAIN_GET_PERF_EVENTS", "perfEvents", ("flags",),
            REMOTE_DOMAIN_PERF_EVENTS_MAX, withCount=False)
typedGetter("DOMAIN_GET_GUEST_VCPUS", "guestVcpus", ("flags",),
            REMOTE_DOMAIN_GUEST_VCPU_PARAMS_MAX, withCount=False)
typedGetter("DOMAIN_GET_GUEST_INFO", "guestInfo", ("types", "flags"),
            REMOTE_DOMAIN_GUEST_INFO_PARAMS_MAX, withCount=False)
typedGetter("DOMAIN_GET_LAUNCH_SECURITY_INFO", "launchSecurityInfo",
            ("flags",), REMOTE_DOMAIN_LAUNCH_SECURITY_INFO_PARAMS_MAX,
            withCount=False)

typedSetter("DOMAIN_SET_SCHEDULER_PARAMETERS", "setSchedulerParameters",
            ("params",))
typedSetter("DOMAIN_SET_SCHEDULER_PARAMETERS_FLAGS",
            "setSchedulerParametersFlags", ("params", "flags"))
typedSetter("DOMAIN_SET_MEMORY_PARAMETERS", "setMemoryParameters",
            ("params", "flags"))
typedSetter("DOMAIN_SET_BLKIO_PARAMETERS", "setBlkioParameters",
            ("params", "flags"))
typedSetter("DOMAIN_SET_NUMA_PARAMETERS", "setNumaParameters",
            ("params", "flags"))
typedSetter("DOMAIN_SET_INTERFACE_PARAMETERS", "setInterfaceParameters",
            ("device", "params", "flags"))
typedSetter("DOMAIN_SET_BLOCK_IO_TUNE", "setBlockIoTune",
            ("disk", "params", "flags"))
typedSetter("DOMAIN_SET_PERF_EVENTS", "setPerfEvents", ("params", "flags"))
typedSetter("DOMAIN_SET_IOTHREAD_PARAMS", "setIOThreadParams",
            ("iothread_id", "params", "flags"))
typedSetter("DOMAIN_SET_LAUNCH_SECURITY_STATE", "setLaunchSecurityState",
            ("params", "flags"))

call("DOMAIN_GET_SCHEDULER_TYPE", "schedulerType", on="dom",
     ret=lambda r, a: tuple(r))


@handler("DOMAIN_GET_JOB_STATS")
def getJobStats(ctx: Any, args: Any) -> tuple:
    # libvirt-python folds the job type into the dict as "type".
    stats = dict(convert.domainOf(ctx, args.dom).jobStats(args.flags))
    kind = stats.pop("type", 0)
    return (kind, convert.toTypedParams(stats, convert.VIR_TYPED_PARAM_STRING_OKAY,
                                        REMOTE_DOMAIN_JOB_STATS_MAX))


@handler("DOMAIN_GET_CPU_STATS")
def getCPUStats(ctx: Any, args: Any) -> tuple:
    convert.checkMax(args.nparams, REMOTE_NODE_CPU_STATS_MAX,
                     "nparams too large")
    convert.checkMax(args.ncpus, REMOTE_DOMAIN_GET_CPU_STATS_NCPUS_MAX,
                     "ncpus too large")
    dom = convert.domainOf(ctx, args.dom)
    if args.start_cpu == -1:
        perCpu = dom.getCPUStats(True, args.flags)
    else:
        allCpus = dom.getCPUStats(False, args.flags)
        if args.nparams == 0 and args.ncpus == 0:
            return ([], len(allCpus))
        perCpu = allCpus[args.start_cpu:args.start_cpu + args.ncpus]
    count = max((len(s) for s in perCpu), default=0)
    if args.nparams == 0:
        return ([], count)
    params = []
    for stats in perCpu:
        params.extend(convert.toTypedParams(
            list(stats.items())[:args.nparams], args.flags))
    if len(params) > REMOTE_DOMAIN_GET_CPU_STATS_MAX:
        raise convert.rpcError("too many parameters")
    return (params, min(count, args.nparams))


# -- vCPUs and CPU maps ------------------------------------------------------------


def _bits(cpumap: bytes) -> tuple[bool, ...]:
    """
    A wire CPU bitmap as the tuple of booleans libvirt-python takes.
    """
    bits = [bool(cpumap[n // 8] >> (n % 8) & 1)
            for n in range(len(cpumap) * 8)]
    while bits and not bits[-1]:
        bits.pop()
    return tuple(bits) or (False,)


@handler("DOMAIN_GET_VCPUS")
def getVcpus(ctx: Any, args: Any) -> tuple:
    dom = convert.domainOf(ctx, args.dom)
    if args.maxinfo > REMOTE_VCPUINFO_MAX:
        raise LibvirtError.fromCode(
            VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC,
            "maxinfo > REMOTE_VCPUINFO_MAX")
    if args.maxinfo * args.maplen > REMOTE_CPUMAPS_MAX:
        raise LibvirtError.fromCode(
            VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC,
            "maxinfo * maplen > REMOTE_CPUMAPS_MAX")
    info, maps = dom.vcpus()
    info = [tuple(i) for i in info[:args.maxinfo]]
    cpumaps = b"".join(convert.cpuMap(m, args.maplen)
                       for m in maps[:args.maxinfo])
    # libvirtd always sends maxinfo * maplen bytes, zeroes past the end.
    cpumaps += bytes(args.maxinfo * args.maplen - len(cpumaps))
    return (info, cpumaps)


@handler("DOMAIN_GET_VCPU_PIN_INFO")
def getVcpuPinInfo(ctx: Any, args: Any) -> tuple:
    maps = convert.domainOf(ctx, args.dom).vcpuPinInfo(args.flags)
    maps = maps[:args.ncpumaps]
    cpumaps = b"".join(convert.cpuMap(m, args.maplen) for m in maps)
    cpumaps += bytes(args.ncpumaps * args.maplen - len(cpumaps))
    return (cpumaps, len(maps))


@handler("DOMAIN_GET_EMULATOR_PIN_INFO")
def getEmulatorPinInfo(ctx: Any, args: Any) -> tuple:
    bits = convert.domainOf(ctx, args.dom).emulatorPinInfo(args.flags)
    return (convert.cpuMap(bits, args.maplen), 1)


def _pin(name: str, method: str, args: tuple[str, ...]) -> None:
    @handler(name)
    def pin(ctx: Any, a: Any) -> None:
        dom = convert.domainOf(ctx, a.dom)
        getattr(dom, method)(*[_bits(a.cpumap) if f == "cpumap"
                               else getattr(a, f) for f in args])


_pin("DOMAIN_PIN_VCPU", "pinVcpu", ("vcpu", "cpumap"))
_pin("DOMAIN_PIN_VCPU_FLAGS", "pinVcpuFlags", ("vcpu", "cpumap", "flags"))
_pin("DOMAIN_PIN_EMULATOR", "pinEmulator", ("cpumap", "flags"))
_pin("DOMAIN_PIN_IOTHREAD", "pinIOThread", ("iothreads_id", "cpumap", "flags"))
call("DOMAIN_ADD_IOTHREAD", "addIOThread", on="dom",
     args=("iothread_id", "flags"), ret=VOID)
call("DOMAIN_DEL_IOTHREAD", "delIOThread", on="dom",
     args=("iothread_id", "flags"), ret=VOID)


@handler("DOMAIN_GET_IOTHREAD_INFO")
def getIOThreadInfo(ctx: Any, args: Any) -> tuple:
    threads = convert.domainOf(ctx, args.dom).ioThreadInfo(args.flags)
    info = [(tid, convert.cpuMap(bits, convert.cpuMapLen(len(bits))))
            for tid, bits in threads]
    return (info, len(info))


# -- statistics and other structured results ---------------------------------------

call("DOMAIN_BLOCK_STATS", "blockStats", on="dom", args=("path",),
     ret=lambda r, a: tuple(r))
call("DOMAIN_INTERFACE_STATS", "interfaceStats", on="dom", args=("device",),
     ret=lambda r, a: tuple(r))
# libvirt-python answers [capacity, allocation, physical]; the wire's order
# is allocation, capacity, physical.
call("DOMAIN_GET_BLOCK_INFO", "blockInfo", on="dom", args=("path", "flags"),
     ret=lambda r, a: (r[1], r[0], r[2]))


@handler("DOMAIN_MEMORY_STATS")
def memoryStats(ctx: Any, args: Any) -> tuple:
    convert.checkMax(args.maxStats, REMOTE_DOMAIN_MEMORY_STATS_MAX,
                     "maxStats > REMOTE_DOMAIN_MEMORY_STATS_MAX")
    stats = convert.domainOf(ctx, args.dom).memoryStats()
    tagged = [(MEMORY_STAT_TAGS[k], v) for k, v in stats.items()
              if k in MEMORY_STAT_TAGS]
    return (tagged[:args.maxStats],)


@handler("DOMAIN_GET_SECURITY_LABEL")
def getSecurityLabel(ctx: Any, args: Any) -> tuple:
    label, enforcing = convert.domainOf(ctx, args.dom).securityLabel()
    return (convert.cChars(label or ""), int(enforcing))


@handler("DOMAIN_GET_SECURITY_LABEL_LIST")
def getSecurityLabelList(ctx: Any, args: Any) -> tuple:
    dom = convert.domainOf(ctx, args.dom)
    try:
        labels = dom.securityLabelList()
    except libvirt.libvirtError:
        # libvirtd answers a failure here with an empty list and -1, not
        # with an error.
        return ([], -1)
    out = [(convert.cChars(label or ""), int(enforcing))
           for label, enforcing in labels]
    return (out, len(out))


@handler("DOMAIN_GET_DISK_ERRORS")
def getDiskErrors(ctx: Any, args: Any) -> tuple:
    convert.checkMax(args.maxerrors, REMOTE_DOMAIN_DISK_ERRORS_MAX,
                     "maxerrors too large")
    errors = convert.domainOf(ctx, args.dom).diskErrors(args.flags)
    if args.maxerrors == 0:
        return ([], len(errors))
    out = list(errors.items())[:args.maxerrors]
    return (out, len(out))


@handler("DOMAIN_GET_FSINFO")
def getFSInfo(ctx: Any, args: Any) -> tuple:
    info = convert.domainOf(ctx, args.dom).fsInfo(args.flags)
    out = [(mp, name, fstype, list(aliases))
           for mp, name, fstype, aliases in info]
    return (out, len(out))


@handler("DOMAIN_INTERFACE_ADDRESSES")
def interfaceAddresses(ctx: Any, args: Any) -> tuple:
    ifaces = convert.domainOf(ctx, args.dom).interfaceAddresses(
        args.source, args.flags)
    out = []
    for name, iface in ifaces.items():
        addrs = [(a["type"], a["addr"], a["prefix"])
                 for a in iface.get("addrs") or []]
        out.append((name, iface.get("hwaddr"), addrs))
    return (out,)

