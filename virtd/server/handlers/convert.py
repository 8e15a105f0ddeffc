"""
Conversions between libvirt-python and the wire: errors, object handles in
both directions, typed parameters, CPU maps and C character arrays.

Handles are resolved the way libvirtd's drivers resolve them (wire facts
section 3.2): domains by UUID, networks, storage pools, interfaces and node
devices by name, volumes by (pool, name), snapshots and checkpoints by
(domain, name), secrets and network filters by UUID.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import libvirt

from virtd.errors import (
    VIR_ERR_INTERNAL_ERROR,
    VIR_ERR_NO_DOMAIN,
    VIR_ERR_RPC,
    VIR_FROM_RPC,
    LibvirtError,
)
from virtd.protocol.types import (
    VIR_TYPED_PARAM_BOOLEAN,
    VIR_TYPED_PARAM_DOUBLE,
    VIR_TYPED_PARAM_INT,
    VIR_TYPED_PARAM_LLONG,
    VIR_TYPED_PARAM_STRING,
    VIR_TYPED_PARAM_UINT,
    VIR_TYPED_PARAM_ULLONG,
)

#: C{VIR_TYPED_PARAM_STRING_OKAY}: the caller accepts string parameters.
VIR_TYPED_PARAM_STRING_OKAY = 4


# -- errors -----------------------------------------------------------------

def fromLibvirtError(e: libvirt.libvirtError) -> LibvirtError:
    """
    The L{LibvirtError} carrying everything C{e} knows: code, domain,
    message, level, str1-3 and int1-2, so the client sees what libvirtd
    would have sent.

    @param e: an error raised by libvirt-python.
    """
    err = getattr(e, "err", None)
    if not err:
        # Raised by libvirt-python itself without a libvirt error behind it.
        return LibvirtError(str(e), VIR_ERR_INTERNAL_ERROR)
    code, domain, message, level, str1, str2, str3, int1, int2 = err[:9]
    return LibvirtError(message, code, domain, level, str1, str2, str3,
                        int1, int2)


def asCStrings(value: Any) -> Any:
    """
    The arguments as libvirt's C library sees them: a string ends at its
    first NUL, and bytes that are not UTF-8 (kept by the codec as lone
    surrogates) become U+FFFD, since libvirt-python cannot pass them.

    libvirtd answers such a name with the driver's "not found" error; the
    dispatcher retries a handler that libvirt-python refused with these.
    """
    if isinstance(value, str):
        if "\0" in value:
            value = value.split("\0", 1)[0]
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "surrogateescape").decode(
                "utf-8", "replace")
        return value
    if isinstance(value, tuple):
        items = [asCStrings(v) for v in value]
        return value._make(items) if hasattr(value, "_make") else tuple(items)
    if isinstance(value, list):
        return [asCStrings(v) for v in value]
    return value


def checked(result: Any) -> Any:
    """
    Some libvirt-python wrappers answer C{None} instead of raising when the
    C call failed; turn that back into the libvirt error behind it.

    @raise libvirt.libvirtError: C{result} is C{None} and libvirt has an
        error recorded for this thread.
    """
    if result is None and libvirt.virGetLastError() is not None:
        raise libvirt.libvirtError("libvirt call failed")
    return result


def rpcError(detail: str) -> LibvirtError:
    """
    An argument the daemon refuses before calling the driver (a count over
    the protocol's limit), worded as libvirtd's generated dispatchers do.
    """
    return LibvirtError.fromCode(VIR_ERR_RPC, VIR_FROM_RPC, detail)


def checkMax(value: int, limit: int, what: str) -> None:
    """
    @raise LibvirtError: C{value} is above the protocol limit C{limit}; C{what}
        reads like libvirtd's C{"maxnames > REMOTE_DOMAIN_LIST_MAX"}.
    """
    if value > limit:
        raise rpcError(what)


# -- wire handle -> libvirt object ------------------------------------------

def domain(conn: libvirt.virConnect, handle: Any) -> libvirt.virDomain:
    """
    The domain named by a C{remote_nonnull_domain}, found by UUID as
    hypervisor drivers do.

    @raise LibvirtError: no domain has that UUID; worded as the driver words
        a stale handle ("no domain with matching uuid '...' (name)").
    """
    try:
        return conn.lookupByUUID(bytes(handle.uuid))
    except libvirt.libvirtError as e:
        if e.get_error_code() != VIR_ERR_NO_DOMAIN:
            raise
        detail = "no domain with matching uuid '%s' (%s)" % (
            uuidlib.UUID(bytes=bytes(handle.uuid)), handle.name)
        raise LibvirtError.fromCode(VIR_ERR_NO_DOMAIN, e.get_error_domain(),
                                    detail) from None


#: Domain handles a session keeps at most (see L{domainOf}); past this it
#: starts afresh. The wire's name and id are part of the key and a client
#: may vary them at will, so this bounds what one connection can make the
#: daemon hold (some 30 KiB), not only how many domains it walks.
DOMAIN_HANDLES_MAX = 64

_NO_CACHE: dict = {}


def domainOf(ctx: Any, handle: Any) -> libvirt.virDomain:
    """
    L{domain} for a handler's C{ctx}, made once per session and wire handle
    (name, UUID, id) when C{ctx} keeps C{domains} (a L{ClientSession} does).

    libvirtd turns a wire handle into a C{virDomainPtr} without asking the
    driver, which then finds the domain by UUID inside each call;
    libvirt-python makes a C{virDomain} only by a lookup, a driver call.
    The handle kept holds no hypervisor state: a domain undefined since gets
    the driver's own "no domain with matching uuid" error from the call, as
    from libvirtd. A C{virDomain} keeps its connection open in libvirt, so
    the session drops its handles before closing it.

    @type ctx: L{virtd.server.session.ClientSession}
    """
    cache = getattr(ctx, "domains", _NO_CACHE)
    if cache is _NO_CACHE:
        return domain(ctx.conn, handle)
    if cache is None:
        # Made here, in a worker, so an idle session costs no dict.
        cache = ctx.domains = {}
    key = (handle.name, handle.uuid, handle.id)
    dom = cache.get(key)
    if dom is None:
        dom = domain(ctx.conn, handle)
        if len(cache) >= DOMAIN_HANDLES_MAX:
            cache.clear()
        cache[key] = dom
    return dom


def network(conn: libvirt.virConnect, handle: Any) -> libvirt.virNetwork:
    """
    The network named by a C{remote_nonnull_network} (by name).
    """
    return conn.networkLookupByName(handle.name)


def pool(conn: libvirt.virConnect, handle: Any) -> libvirt.virStoragePool:
    """
    The storage pool named by a C{remote_nonnull_storage_pool} (by name).
    """
    return conn.storagePoolLookupByName(handle.name)


def volume(conn: libvirt.virConnect, handle: Any) -> libvirt.virStorageVol:
    """
    The volume named by a C{remote_nonnull_storage_vol}: by name inside its
    pool, as the storage drivers resolve it.
    """
    return conn.storagePoolLookupByName(handle.pool).storageVolLookupByName(
        handle.name)


def interface(conn: libvirt.virConnect, handle: Any) -> libvirt.virInterface:
    """
    The host interface named by a C{remote_nonnull_interface} (by name).
    """
    return conn.interfaceLookupByName(handle.name)


def nodeDevice(conn: libvirt.virConnect, name: str) -> libvirt.virNodeDevice:
    """
    The node device called C{name} (node-device procedures carry the bare
    name rather than a handle struct).
    """
    if not isinstance(name, str):
        name = name.name
    return conn.nodeDeviceLookupByName(name)


def secret(conn: libvirt.virConnect, handle: Any) -> libvirt.virSecret:
    """
    The secret named by a C{remote_nonnull_secret} (by UUID).
    """
    return conn.secretLookupByUUID(bytes(handle.uuid))


def nwfilter(conn: libvirt.virConnect, handle: Any) -> libvirt.virNWFilter:
    """
    The network filter named by a C{remote_nonnull_nwfilter} (by UUID).
    """
    return conn.nwfilterLookupByUUID(bytes(handle.uuid))


def nwfilterBinding(conn: libvirt.virConnect,
                    handle: Any) -> libvirt.virNWFilterBinding:
    """
    The filter binding of a C{remote_nonnull_nwfilter_binding} (by port).
    """
    return conn.nwfilterBindingLookupByPortDev(handle.portdev)


def snapshot(conn: libvirt.virConnect,
             handle: Any) -> libvirt.virDomainSnapshot:
    """
    The snapshot named by a C{remote_nonnull_domain_snapshot}.
    """
    return domain(conn, handle.dom).snapshotLookupByName(handle.name, 0)


def checkpoint(conn: libvirt.virConnect,
               handle: Any) -> libvirt.virDomainCheckpoint:
    """
    The checkpoint named by a C{remote_nonnull_domain_checkpoint}.
    """
    return domain(conn, handle.dom).checkpointLookupByName(handle.name, 0)


def networkPort(conn: libvirt.virConnect,
                handle: Any) -> libvirt.virNetworkPort:
    """
    The port named by a C{remote_nonnull_network_port}.
    """
    return network(conn, handle.net).portLookupByUUID(bytes(handle.uuid))


# -- libvirt object -> wire handle ------------------------------------------

def makeDom(d: libvirt.virDomain) -> tuple:
    """
    C{remote_nonnull_domain} for C{d}: name, raw UUID, id (-1 when inactive).
    """
    return (d.name(), d.UUID(), d.ID())


def makeNet(n: libvirt.virNetwork) -> tuple:
    return (n.name(), n.UUID())


def makePool(p: libvirt.virStoragePool) -> tuple:
    return (p.name(), p.UUID())


def makeVol(v: libvirt.virStorageVol, poolName: str | None = None) -> tuple:
    """
    C{remote_nonnull_storage_vol}; C{poolName} saves a driver call when the
    caller already knows the pool.
    """
    if poolName is None:
        poolName = v.storagePoolLookupByVolume().name()
    return (poolName, v.name(), v.key())


def makeIface(i: libvirt.virInterface) -> tuple:
    return (i.name(), i.MACString())


def makeNodeDev(d: libvirt.virNodeDevice) -> tuple:
    return (d.name(),)


def makeSecret(s: libvirt.virSecret) -> tuple:
    return (s.UUID(), s.usageType(), s.usageID())


def makeNWFilter(f: libvirt.virNWFilter) -> tuple:
    return (f.name(), f.UUID())


def makeNWFBinding(b: libvirt.virNWFilterBinding) -> tuple:
    return (b.portDev(), b.filterName())


def makeSnap(s: libvirt.virDomainSnapshot) -> tuple:
    return (s.getName(), makeDom(s.getDomain()))


def makeCheckpoint(c: libvirt.virDomainCheckpoint) -> tuple:
    return (c.getName(), makeDom(c.getDomain()))


def makeNetPort(p: libvirt.virNetworkPort) -> tuple:
    return (makeNet(p.getNetwork()), p.UUID())


# -- C character arrays and CPU maps -----------------------------------------

def cChars(text: str, terminate: bool = True) -> list[int]:
    """
    A string as libvirt's C{char<N>} arrays carry it: one signed int per
    byte, with the C terminator when C{terminate} (libvirtd sends it).
    """
    data = text.encode("utf-8", "surrogateescape")
    if terminate:
        data += b"\0"
    return [b - 256 if b > 127 else b for b in data]


def cCharsFixed(text: str, size: int) -> list[int]:
    """
    A string in a fixed C{char[size]} field, NUL padded (and truncated so a
    terminator always fits, as C{virStrcpy} would).
    """
    chars = cChars(text, terminate=False)[:size - 1]
    return chars + [0] * (size - len(chars))


def cpuMap(bits: Iterable[bool], maplen: int) -> bytes:
    """
    Pack per-CPU booleans (libvirt-python's form) into libvirt's bitmap:
    CPU n is bit n % 8 of byte n // 8; the result is exactly C{maplen} bytes.
    """
    out = bytearray(maplen)
    for n, on in enumerate(bits):
        if on and n // 8 < maplen:
            out[n // 8] |= 1 << (n % 8)
    return bytes(out)


def cpuMapLen(ncpus: int) -> int:
    """
    C{VIR_CPU_MAPLEN}: bytes needed for C{ncpus} bits.
    """
    return (ncpus + 7) // 8


# -- typed parameters ---------------------------------------------------------

I, UI, L, UL, D, B, S = (VIR_TYPED_PARAM_INT, VIR_TYPED_PARAM_UINT,  # noqa: E741
                         VIR_TYPED_PARAM_LLONG, VIR_TYPED_PARAM_ULLONG,
                         VIR_TYPED_PARAM_DOUBLE, VIR_TYPED_PARAM_BOOLEAN,
                         VIR_TYPED_PARAM_STRING)

#: The wire type of each typed parameter libvirt documents (libvirt-domain.h
#: and friends), because libvirt-python hands them over as a plain dict.
#: Exact names first; L{_PATTERNS} covers the indexed families.
PARAM_TYPES: dict[str, int] = {
    # scheduler (VIR_DOMAIN_SCHEDULER_*)
    "cpu_shares": UL, "global_period": UL, "global_quota": L,
    "vcpu_period": UL, "vcpu_quota": L, "emulator_period": UL,
    "emulator_quota": L, "iothread_period": UL, "iothread_quota": L,
    "weight": UI, "cap": UI, "reservation": L, "limit": L, "shares": I,
    # memory tuning (VIR_DOMAIN_MEMORY_*), node memory (VIR_NODE_MEMORY_*)
    "hard_limit": UL, "soft_limit": UL, "min_guarantee": UL,
    "swap_hard_limit": UL,
    "shm_pages_to_scan": UI, "shm_sleep_millisecs": UI, "shm_pages_shared": UL,
    "shm_pages_sharing": UL, "shm_pages_unshared": UL,
    "shm_pages_volatile": UL, "shm_full_scans": UL,
    "shm_merge_across_nodes": UI,
    # blkio (VIR_DOMAIN_BLKIO_*)
    "device_weight": S, "device_read_iops_sec": S,
    "device_write_iops_sec": S, "device_read_bytes_sec": S,
    "device_write_bytes_sec": S,
    # NUMA (VIR_DOMAIN_NUMA_*)
    "numa_nodeset": S, "numa_mode": I,
    # interface bandwidth (VIR_DOMAIN_BANDWIDTH_*)
    "inbound.average": UI, "inbound.peak": UI, "inbound.burst": UI,
    "inbound.floor": UI, "outbound.average": UI, "outbound.peak": UI,
    "outbound.burst": UI,
    # block I/O tuning (VIR_DOMAIN_BLOCK_IOTUNE_*); the rest are ULLONG
    "group_name": S,
    # block stats (VIR_DOMAIN_BLOCK_STATS_*)
    "rd_bytes": L, "rd_operations": L, "rd_total_times": L,
    "wr_bytes": L, "wr_operations": L, "wr_total_times": L,
    "flush_operations": L, "flush_total_times": L, "errs": L,
    # CPU stats (VIR_DOMAIN_CPU_STATS_*)
    "cpu_time": UL, "user_time": UL, "system_time": UL, "vcpu_time": UL,
    # job stats (VIR_DOMAIN_JOB_*)
    "operation": I, "success": B, "errmsg": S, "auto_converge_throttle": I,
    "time_elapsed": UL, "time_elapsed_net": UL, "time_remaining": UL,
    "downtime": UL, "downtime_net": UL, "setup_time": UL,
    "data_total": UL, "data_processed": UL, "data_remaining": UL,
    "memory_total": UL, "memory_processed": UL, "memory_remaining": UL,
    "memory_constant": UL, "memory_normal": UL, "memory_normal_bytes": UL,
    "memory_bps": UL, "memory_dirty_rate": UL, "memory_page_size": UL,
    "memory_iteration": UL, "memory_postcopy_requests": UL,
    "disk_total": UL, "disk_processed": UL, "disk_remaining": UL,
    "disk_bps": UL, "compression_cache": UL, "compression_bytes": UL,
    "compression_pages": UL, "compression_cache_misses": UL,
    "compression_overflow": UL, "disk_temp_used": UL, "disk_temp_total": UL,
    # launch security, SEV
    "sev-measurement": S, "sev-api-major": UI, "sev-api-minor": UI,
    "sev-build-id": UI, "sev-policy": UI, "pdh": S, "cert-chain": S,
    "cbitpos": UI, "reduced-phys-bits": UI, "max-guests": UI,
    "max-es-guests": UI, "cpu0-id": S,
    # guest vcpus
    "vcpus": S, "online": S, "offlinable": S,
    # domain stats: state, cpu, balloon, vcpu/net/block/iothread counts
    "state.state": I, "state.reason": I,
    "cpu.time": UL, "cpu.user": UL, "cpu.system": UL,
    "cpu.cache.monitor.count": UI,
    "vcpu.current": UI, "vcpu.maximum": UI,
    "net.count": UI, "block.count": UI, "iothread.count": UI,
    "memory.bandwidth.monitor.count": UI, "dirtyrate.calc_status": I,
    "dirtyrate.calc_start_time": L, "dirtyrate.calc_period": I,
    "dirtyrate.megabytes_per_second": L, "dirtyrate.calc_mode": S,
    "vm.count": UI,
}

_PATTERNS: list[tuple[re.Pattern, int]] = [(re.compile(p), t) for p, t in [
    (r"^(total|read|write)_(bytes|iops)_sec(_max(_length)?)?$", UL),
    (r"^size_iops_sec$", UL),
    (r"^balloon\.", UL),
    (r"^cpu\.haltpoll\.", UL),
    (r"^vcpu\.\d+\.state$", I),
    (r"^vcpu\.\d+\.halted$", B),
    (r"^vcpu\.\d+\.", UL),
    (r"^net\.\d+\.name$", S),
    (r"^net\.\d+\.", UL),
    (r"^block\.\d+\.(name|path)$", S),
    (r"^block\.\d+\.backingIndex$", UI),
    (r"^block\.\d+\.", UL),
    (r"^iothread\.\d+\.poll-(grow|shrink)$", UI),
    (r"^iothread\.\d+\.", UL),
    (r"^perf\.", UL),
    (r"^cpu\.cache\.monitor\.\d+\.(name|vcpus)$", S),
    (r"^cpu\.cache\.monitor\.\d+\.", UI),
    (r"^memory\.bandwidth\.monitor\.\d+\.(name|vcpus)$", S),
    (r"^memory\.bandwidth\.monitor\.\d+\.", UI),
    (r"^dirtyrate\.", L),
    (r"^disk_", UL), (r"^memory_", UL),
]]


def paramType(field: str, value: Any) -> int:
    """
    The libvirt type of typed parameter C{field}: from the tables when
    libvirt documents the field, else from the Python value (bool, str and
    float are unambiguous; other integers go as LLONG when negative, else
    ULLONG).
    """
    if isinstance(value, bool):
        return B
    if isinstance(value, str):
        return S
    if isinstance(value, float):
        return D
    known = PARAM_TYPES.get(field)
    if known is not None and known not in (B, S):
        return known
    for pattern, kind in _PATTERNS:
        if pattern.search(field) and kind not in (B, S):
            return kind
    return L if value < 0 else UL


def toTypedParams(params: Mapping[str, Any] | Iterable[tuple[str, Any]],
                  flags: int = VIR_TYPED_PARAM_STRING_OKAY,
                  limit: int | None = None) -> list[tuple]:
    """
    libvirt-python's typed-parameter dict as the wire's list of
    C{(field, (type, value))}, in the dict's (the driver's) order.

    @param flags: the caller's flags; without C{VIR_TYPED_PARAM_STRING_OKAY}
        string parameters are left out, as libvirtd's serialiser does.
    @param limit: the protocol's maximum; more parameters is an error.
    @raise LibvirtError: more than C{limit} parameters.
    """
    items = params.items() if isinstance(params, Mapping) else params
    out = []
    for field, value in items:
        kind = paramType(field, value)
        if kind == S and not flags & VIR_TYPED_PARAM_STRING_OKAY:
            continue
        if kind == B:
            value = 1 if value else 0
        out.append((field, (kind, value)))
    if limit is not None and len(out) > limit:
        raise rpcError("too many parameters: %d > %d" % (len(out), limit))
    return out


def fromTypedParams(params: Sequence[tuple]) -> dict[str, Any]:
    """
    The wire's typed parameters as the dict libvirt-python's setters take
    (libvirt-python re-types each value from the driver's current set).
    """
    out: dict[str, Any] = {}
    for field, (kind, value) in params:
        out[field] = bool(value) if kind == B else value
    return out
