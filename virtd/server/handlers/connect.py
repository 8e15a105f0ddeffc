"""
Host-level procedures: hypervisor identity, capabilities, node information,
CPU models and the domain lists of the connection.

Daemon-level procedures (AUTH_*, CONNECT_OPEN/CLOSE, SUPPORTS_FEATURE, close
callbacks, CONNECT_GET_URI, CONNECT_IS_SECURE, event registration) belong to
the server core, not here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

import libvirt

from virtd.errors import VIR_ERR_INVALID_ARG, VIR_FROM_NONE, LibvirtError
from virtd.server.handlers import convert
from virtd.server.handlers.registry import (
    VOID,
    call,
    handler,
    limited,
    listAll,
)

REMOTE_DOMAIN_LIST_MAX = 16384
REMOTE_NODE_MAX_CELLS = 1024
REMOTE_NODE_CPU_STATS_MAX = 16
REMOTE_NODE_MEMORY_STATS_MAX = 16
REMOTE_NODE_MEMORY_PARAMETERS_MAX = 64
REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX = 262144
REMOTE_CONNECT_CPU_MODELS_MAX = 8192
REMOTE_NODE_SEV_INFO_MAX = 64

# -- identity and capabilities ----------------------------------------------

call("CONNECT_GET_TYPE", "getType")
call("CONNECT_GET_VERSION", "getVersion")
call("CONNECT_GET_LIB_VERSION", "getLibVersion")
call("CONNECT_GET_HOSTNAME", "getHostname")
call("CONNECT_GET_CAPABILITIES", "getCapabilities")
call("CONNECT_GET_SYSINFO", "getSysinfo", args=("flags",))
call("CONNECT_GET_MAX_VCPUS", "getMaxVcpus", args=("type",))
call("CONNECT_GET_DOMAIN_CAPABILITIES", "getDomainCapabilities",
     args=("emulatorbin", "arch", "machine", "virttype", "flags"))
call("CONNECT_GET_STORAGE_POOL_CAPABILITIES", "getStoragePoolCapabilities",
     args=("flags",))
call("CONNECT_COMPARE_CPU", "compareCPU", args=("xml", "flags"))
call("CONNECT_BASELINE_CPU", "baselineCPU", args=("xmlCPUs", "flags"))
call("CONNECT_COMPARE_HYPERVISOR_CPU", "compareHypervisorCPU",
     args=("emulator", "arch", "machine", "virttype", "xmlCPU", "flags"))
call("CONNECT_BASELINE_HYPERVISOR_CPU", "baselineHypervisorCPU",
     args=("emulator", "arch", "machine", "virttype", "xmlCPUs", "flags"))
call("CONNECT_DOMAIN_XML_FROM_NATIVE", "domainXMLFromNative",
     args=("nativeFormat", "nativeConfig", "flags"))
call("CONNECT_DOMAIN_XML_TO_NATIVE", "domainXMLToNative",
     args=("nativeFormat", "domainXml", "flags"))
call("CONNECT_FIND_STORAGE_POOL_SOURCES", "findStoragePoolSources",
     args=("type", "srcSpec", "flags"))


@handler("CONNECT_GET_CPU_MODEL_NAMES")
def getCPUModelNames(ctx: Any, args: Any) -> tuple:
    models = ctx.conn.getCPUModelNames(args.arch, args.flags)
    if len(models) > REMOTE_CONNECT_CPU_MODELS_MAX:
        raise convert.rpcError("Too many CPU models '%d' for limit '%d'"
                               % (len(models), REMOTE_CONNECT_CPU_MODELS_MAX))
    return (models if args.need_results else [], len(models))


# -- node ---------------------------------------------------------------------

class _NodeInfo(ctypes.Structure):
    _fields_ = [("model", ctypes.c_char * 32), ("memory", ctypes.c_ulong),
                ("cpus", ctypes.c_uint), ("mhz", ctypes.c_uint),
                ("nodes", ctypes.c_uint), ("sockets", ctypes.c_uint),
                ("cores", ctypes.c_uint), ("threads", ctypes.c_uint)]


_capsulePointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsulePointer.restype = ctypes.c_void_p
_capsulePointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_virNodeGetInfo = None


def _nodeGetInfo(conn: libvirt.virConnect) -> tuple:
    """
    C{virNodeGetInfo} called directly: libvirt-python reports memory in MiB
    (rounded down) but the wire carries KiB, so we read the C struct.
    Falls back to libvirt-python when the C library cannot be reached.
    """
    global _virNodeGetInfo
    if _virNodeGetInfo is None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("virt")
                              or "libvirt.so.0")
            f = lib.virNodeGetInfo
            f.restype = ctypes.c_int
            f.argtypes = [ctypes.c_void_p, ctypes.POINTER(_NodeInfo)]
            _virNodeGetInfo = f
        except (OSError, AttributeError):
            _virNodeGetInfo = False
    if _virNodeGetInfo:
        info = _NodeInfo()
        if _virNodeGetInfo(_capsulePointer(conn._o, b"virConnectPtr"),
                           ctypes.byref(info)) < 0:
            raise libvirt.libvirtError("virNodeGetInfo() failed")
        model = info.model.decode("utf-8", "surrogateescape")
        return (model, info.memory, info.cpus, info.mhz, info.nodes,
                info.sockets, info.cores, info.threads)
    model, mib, *rest = conn.getInfo()
    return (model, mib << 10, *rest)


@handler("NODE_GET_INFO")
def nodeGetInfo(ctx: Any, args: Any) -> tuple:
    model, memory, cpus, mhz, nodes, sockets, cores, threads = \
        _nodeGetInfo(ctx.conn)
    return (convert.cCharsFixed(model, 32), memory, cpus, mhz, nodes,
            sockets, cores, threads)


call("NODE_GET_FREE_MEMORY", "getFreeMemory")


@handler("NODE_GET_CELLS_FREE_MEMORY")
def nodeGetCellsFreeMemory(ctx: Any, args: Any) -> tuple:
    convert.checkMax(args.maxcells, REMOTE_NODE_MAX_CELLS,
                     "maxCells > REMOTE_NODE_MAX_CELLS")
    return (ctx.conn.getCellsFreeMemory(args.startCell, args.maxcells),)


@handler("NODE_GET_SECURITY_MODEL")
def nodeGetSecurityModel(ctx: Any, args: Any) -> tuple:
    model, doi = ctx.conn.getSecurityModel()
    return (convert.cChars(model or ""), convert.cChars(doi or ""))


@handler("NODE_GET_CPU_MAP")
def nodeGetCPUMap(ctx: Any, args: Any) -> tuple:
    ncpus, bits, online = ctx.conn.getCPUMap(args.flags)
    cpumap = convert.cpuMap(bits, convert.cpuMapLen(ncpus)) \
        if args.need_map else b""
    return (cpumap, online if args.need_online else 0, ncpus)


def _stats(stats: dict, nparams: int) -> tuple:
    """
    (field, value) stats: just the count when the caller asks with 0.
    """
    if nparams == 0:
        return ([], len(stats))
    return (list(stats.items())[:nparams], 0)


@handler("NODE_GET_CPU_STATS")
def nodeGetCPUStats(ctx: Any, args: Any) -> tuple:
    convert.checkMax(args.nparams, REMOTE_NODE_CPU_STATS_MAX,
                     "nparams too large")
    return _stats(ctx.conn.getCPUStats(args.cpuNum, args.flags), args.nparams)


@handler("NODE_GET_MEMORY_STATS")
def nodeGetMemoryStats(ctx: Any, args: Any) -> tuple:
    convert.checkMax(args.nparams, REMOTE_NODE_MEMORY_STATS_MAX,
                     "nparams too large")
    return _stats(ctx.conn.getMemoryStats(args.cellNum, args.flags),
                  args.nparams)


def typedGetter(nparams: int, flags: int, params: dict, limit: int) -> tuple:
    """
    The C{(params, nparams)} ret of the typed-parameter getters: with
    C{nparams} 0 the caller only wants the count; otherwise at most
    C{nparams} parameters, typed as libvirt types them (and C{nparams} 0 in
    the reply, as libvirtd leaves it).
    """
    if nparams == 0:
        return ([], len(params))
    tp = convert.toTypedParams(list(params.items())[:nparams], flags, limit)
    return (tp, 0)


@handler("NODE_GET_MEMORY_PARAMETERS")
def nodeGetMemoryParameters(ctx: Any, args: Any) -> tuple:
    convert.checkMax(args.nparams, REMOTE_NODE_MEMORY_PARAMETERS_MAX,
                     "nparams too large")
    return typedGetter(args.nparams, args.flags,
                       ctx.conn.getMemoryParameters(args.flags),
                       REMOTE_NODE_MEMORY_PARAMETERS_MAX)


@handler("NODE_SET_MEMORY_PARAMETERS")
def nodeSetMemoryParameters(ctx: Any, args: Any) -> None:
    if not args.params:
        return  # libvirt-python refuses an empty dict; nothing to set
    ctx.conn.setMemoryParameters(convert.fromTypedParams(args.params),
                                 args.flags)


@handler("NODE_GET_SEV_INFO")
def nodeGetSEVInfo(ctx: Any, args: Any) -> tuple:
    return typedGetter(args.nparams or REMOTE_NODE_SEV_INFO_MAX, args.flags,
                       ctx.conn.getSEVInfo(args.flags),
                       REMOTE_NODE_SEV_INFO_MAX)


@handler("NODE_GET_FREE_PAGES")
def nodeGetFreePages(ctx: Any, args: Any) -> tuple:
    for what, value in (("pages", len(args.pages)),
                        ("cellCount", args.cellCount)):
        if not value:
            # The public API's own argument check, which libvirt-python
            # pre-empts with a Python exception.
            raise LibvirtError.fromCode(
                VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                "%s in virNodeGetFreePages must not be zero" % what)
    cells = ctx.conn.getFreePages(list(args.pages), args.startCell,
                                  args.cellCount, args.flags)
    counts = []
    for cell in sorted(cells):
        counts.extend(cells[cell].get(p, 0) for p in args.pages)
    return (counts,)


call("NODE_SUSPEND_FOR_DURATION", "suspendForDuration",
     args=("target", "duration", "flags"), ret=VOID)

# -- domain lists -------------------------------------------------------------

call("CONNECT_LIST_ALL_DOMAINS", "listAllDomains", args=("flags",),
     ret=listAll(convert.makeDom))
call("CONNECT_NUM_OF_DOMAINS", "numOfDomains")
call("CONNECT_LIST_DOMAINS", "listDomainsID",
     ret=limited("maxids", REMOTE_DOMAIN_LIST_MAX, "REMOTE_DOMAIN_LIST_MAX"))
call("CONNECT_NUM_OF_DEFINED_DOMAINS", "numOfDefinedDomains")
call("CONNECT_LIST_DEFINED_DOMAINS", "listDefinedDomains",
     ret=limited("maxnames", REMOTE_DOMAIN_LIST_MAX,
                 "REMOTE_DOMAIN_LIST_MAX"))


@handler("CONNECT_GET_ALL_DOMAIN_STATS")
def getAllDomainStats(ctx: Any, args: Any) -> tuple:
    if args.doms:
        doms = [convert.domainOf(ctx, d) for d in args.doms]
        records = ctx.conn.domainListGetStats(doms, args.stats, args.flags)
    else:
        records = ctx.conn.getAllDomainStats(args.stats, args.flags)
    return ([(convert.makeDom(d), convert.toTypedParams(
        params, convert.VIR_TYPED_PARAM_STRING_OKAY,
        REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX)) for d, params in records],)

