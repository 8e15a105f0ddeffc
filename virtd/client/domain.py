"""
L{Domain}: a domain handle with libvirt-python's C{virDomain} methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.internet.defer import Deferred, fail

from virtd.client.calls import (
    bitsToBools,
    counted,
    dictToTypedParams,
    noFiles,
    rpc,
    typedParamsToDict,
    uuidString,
)
from virtd.client.handle import Handle, deferred
from virtd.client.snapshot import DomainSnapshot, _snapshot, _snapshots
from virtd.errors import VIR_ERR_INVALID_ARG, VIR_FROM_NONE, LibvirtError

__all__ = ["Domain", "MEMORY_STAT_NAMES"]

#: libvirt-python's keys for C{virDomainMemoryStatTags}, by tag.
MEMORY_STAT_NAMES = {
    0: "swap_in", 1: "swap_out", 2: "major_fault", 3: "minor_fault",
    4: "unused", 5: "available", 6: "actual", 7: "rss", 8: "usable",
    9: "last_update", 10: "disk_caches", 11: "hugetlb_pgalloc",
    12: "hugetlb_pgfail",
}
#: C{VIR_DOMAIN_MEMORY_STAT_NR} in libvirt 9.0 (what libvirt-python asks for).
VIR_DOMAIN_MEMORY_STAT_NR = 13
#: Added to the flags of typed-parameter getters when the server has
#: feature 9 (C{VIR_DRV_FEATURE_TYPED_PARAM_STRING}), as libvirt does.
VIR_TYPED_PARAM_STRING_OKAY = 4
FEATURE_TYPED_PARAM_STRING = 9


def _state(dom: Domain, r: Any) -> list:
    return [r.state, r.reason]


def _info(dom: Domain, r: Any) -> list:
    return [r.state, r.maxMem, r.memory, r.nrVirtCpu, r.cpuTime]


def _stopped(dom: Domain, r: Any) -> int:
    # libvirt's client marks the handle inactive after a successful destroy.
    dom._setID(-1)
    return 0


def _restarted(dom: Domain, r: Any) -> int:
    dom._setID(r.dom.id)
    return 0


def _memoryStats(dom: Domain, r: Any) -> dict[str, int]:
    return {MEMORY_STAT_NAMES[s.tag]: s.val for s in r.stats
            if s.tag in MEMORY_STAT_NAMES}


class Domain(Handle):
    """
    A domain. C{name()}, C{ID()}, C{UUID()}, C{UUIDString()} and
    C{connect()} are local; every other method returns a L{Deferred} firing
    with what libvirt-python returns, and takes a keyword-only C{timeout}.
    """

    __slots__ = ()

    # -- local accessors ---------------------------------------------------

    def name(self) -> str:
        return self._ref.name

    def ID(self) -> int:
        """
        The running domain's id, C{-1} when inactive (as last seen).
        """
        return self._ref.id

    def UUID(self) -> bytes:
        return self._ref.uuid

    def UUIDString(self) -> str:
        return uuidString(self._ref.uuid)

    def _setID(self, domainID: int) -> None:
        self._ref = self._ref._replace(id=domainID)

    # -- state -------------------------------------------------------------

    info = rpc("DOMAIN_GET_INFO", ret=_info,
               doc="C{[state, maxMem KiB, memory KiB, nrVirtCpu, cpuTime ns]}.")
    state = rpc("DOMAIN_GET_STATE", "flags=0", ret=_state,
                doc="C{[state, reason]}.")
    XMLDesc = rpc("DOMAIN_GET_XML_DESC", "flags=0")
    OSType = rpc("DOMAIN_GET_OS_TYPE")
    isActive = rpc("DOMAIN_IS_ACTIVE")
    isPersistent = rpc("DOMAIN_IS_PERSISTENT")
    isUpdated = rpc("DOMAIN_IS_UPDATED")
    hostname = rpc("DOMAIN_GET_HOSTNAME", "flags=0")
    autostart = rpc("DOMAIN_GET_AUTOSTART")
    setAutostart = rpc("DOMAIN_SET_AUTOSTART", "autostart")
    hasManagedSaveImage = rpc("DOMAIN_HAS_MANAGED_SAVE_IMAGE", "flags=0")
    blockInfo = rpc(
        "DOMAIN_GET_BLOCK_INFO", "path", "flags=0",
        ret=lambda d, r: [r.capacity, r.allocation, r.physical],
        doc="C{[capacity, allocation, physical]} of a disk.")
    blockStats = rpc(
        "DOMAIN_BLOCK_STATS", "path", ret=lambda d, r: tuple(r),
        doc="C{(rd_req, rd_bytes, wr_req, wr_bytes, errs)}.")
    interfaceStats = rpc(
        "DOMAIN_INTERFACE_STATS", "path", ret=lambda d, r: tuple(r),
        doc="C{(rx_bytes, rx_packets, rx_errs, rx_drop, tx_bytes, "
            "tx_packets, tx_errs, tx_drop)}.")

    # -- lifecycle ---------------------------------------------------------

    @deferred
    async def create(self, *, timeout: float | None = None) -> int:
        """
        Start the domain, then look it up again to learn its new id (what
        libvirt's client does, since DOMAIN_CREATE returns nothing).
        """
        await self._conn._call("DOMAIN_CREATE", (self._ref,), timeout)
        found = await self._conn._call("DOMAIN_LOOKUP_BY_UUID",
                                       (self._ref.uuid,), timeout)
        self._setID(found.dom.id)
        return 0

    createWithFlags = rpc("DOMAIN_CREATE_WITH_FLAGS", "flags=0",
                          ret=_restarted)
    _createWithFiles = rpc("DOMAIN_CREATE_WITH_FILES", "flags=0",
                           ret=_restarted)

    def createWithFiles(self, files: list, flags: int = 0, *,
                        timeout: float | None = None) -> Deferred:
        """
        C{createWithFlags} for libvirt-python's C{createWithFiles}; C{files}
        must be empty (see L{virtd.client.calls.noFiles}).
        """
        if files:
            return fail(noFiles("createWithFiles"))
        return self._createWithFiles(flags, timeout=timeout)

    destroy = rpc("DOMAIN_DESTROY", ret=_stopped)
    destroyFlags = rpc("DOMAIN_DESTROY_FLAGS", "flags=0", ret=_stopped)
    shutdown = rpc("DOMAIN_SHUTDOWN")
    shutdownFlags = rpc("DOMAIN_SHUTDOWN_FLAGS", "flags=0")
    reboot = rpc("DOMAIN_REBOOT", "flags=0")
    reset = rpc("DOMAIN_RESET", "flags=0")
    suspend = rpc("DOMAIN_SUSPEND")
    resume = rpc("DOMAIN_RESUME")
    undefine = rpc("DOMAIN_UNDEFINE")
    undefineFlags = rpc("DOMAIN_UNDEFINE_FLAGS", "flags=0")
    managedSave = rpc("DOMAIN_MANAGED_SAVE", "flags=0")
    managedSaveRemove = rpc("DOMAIN_MANAGED_SAVE_REMOVE", "flags=0")

    # -- devices -----------------------------------------------------------

    attachDevice = rpc("DOMAIN_ATTACH_DEVICE", "xml")
    attachDeviceFlags = rpc("DOMAIN_ATTACH_DEVICE_FLAGS", "xml", "flags=0")
    detachDevice = rpc("DOMAIN_DETACH_DEVICE", "xml")
    detachDeviceFlags = rpc("DOMAIN_DETACH_DEVICE_FLAGS", "xml", "flags=0")
    updateDeviceFlags = rpc("DOMAIN_UPDATE_DEVICE_FLAGS", "xml", "flags=0")

    # -- memory and vcpus --------------------------------------------------

    maxMemory = rpc("DOMAIN_GET_MAX_MEMORY")
    setMemory = rpc("DOMAIN_SET_MEMORY", "memory")
    setMemoryFlags = rpc("DOMAIN_SET_MEMORY_FLAGS", "memory", "flags=0")
    setMaxMemory = rpc("DOMAIN_SET_MAX_MEMORY", "memory")
    setMemoryStatsPeriod = rpc("DOMAIN_SET_MEMORY_STATS_PERIOD", "period",
                               "flags=0")
    memoryStats = rpc("DOMAIN_MEMORY_STATS", VIR_DOMAIN_MEMORY_STAT_NR, 0,
                      ret=_memoryStats,
                      doc="C{{name: value}} as libvirt-python's "
                          "C{memoryStats()}.")
    setVcpus = rpc("DOMAIN_SET_VCPUS", "nvcpus")
    setVcpusFlags = rpc("DOMAIN_SET_VCPUS_FLAGS", "nvcpus", "flags=0")
    vcpusFlags = rpc("DOMAIN_GET_VCPUS_FLAGS", "flags=0")
    maxVcpus = rpc("DOMAIN_GET_MAX_VCPUS")

    @deferred
    async def vcpus(self, *, timeout: float | None = None) -> tuple:
        """
        C{([(number, state, cpuTime, cpu), ...], [(usable bools per host
        CPU), ...])} as libvirt-python: the host CPU count from
        NODE_GET_CPU_MAP, the vCPU count from DOMAIN_GET_INFO, then
        DOMAIN_GET_VCPUS.
        """
        call = self._conn._call
        cpus = (await call("NODE_GET_CPU_MAP", (0, 0, 0), timeout)).ret
        nvcpus = (await call("DOMAIN_GET_INFO", (self._ref,),
                             timeout)).nrVirtCpu
        maplen = (cpus + 7) // 8
        r = await call("DOMAIN_GET_VCPUS", (self._ref, nvcpus, maplen),
                       timeout)
        info = [(v.number, v.state, v.cpu_time, v.cpu) for v in r.info]
        maps = [bitsToBools(r.cpumaps, cpus, i * maplen)
                for i in range(nvcpus)]
        return (info, maps)

    # -- typed parameters --------------------------------------------------

    schedulerType = rpc("DOMAIN_GET_SCHEDULER_TYPE",
                        ret=lambda d, r: (r.type, r.nparams),
                        doc="C{(type, nparams)}.")

    async def _stringOkay(self, flags: int, timeout: float | None) -> int:
        supported = await self._conn._feature(FEATURE_TYPED_PARAM_STRING,
                                              timeout)
        return flags | VIR_TYPED_PARAM_STRING_OKAY if supported else flags

    async def _schedulerParams(self, flags: int | None,
                               timeout: float | None) -> list:
        call = self._conn._call
        nparams = (await call("DOMAIN_GET_SCHEDULER_TYPE", (self._ref,),
                              timeout)).nparams
        if not nparams:
            return []
        if flags is None:
            r = await call("DOMAIN_GET_SCHEDULER_PARAMETERS",
                           (self._ref, nparams), timeout)
        else:
            flags = await self._stringOkay(flags, timeout)
            r = await call("DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS",
                           (self._ref, nparams, flags), timeout)
        return r.params

    @deferred
    async def schedulerParameters(self, *, timeout: float | None = None
                                  ) -> dict[str, Any]:
        """
        The scheduler's parameters as C{{field: value}}.
        """
        return typedParamsToDict(await self._schedulerParams(None, timeout))

    @deferred
    async def schedulerParametersFlags(self, flags: int = 0, *,
                                       timeout: float | None = None
                                       ) -> dict[str, Any]:
        """
        The scheduler's parameters as C{{field: value}}, with C{flags}.
        """
        return typedParamsToDict(await self._schedulerParams(flags, timeout))

    async def _setScheduler(self, params: Mapping[str, Any],
                            flags: int | None, timeout: float | None) -> int:
        current = await self._schedulerParams(flags, timeout)
        if not current:
            raise LibvirtError.fromCode(
                VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                f"domain {self.name()!r} has no settable scheduler "
                "parameters")
        types = {p.field: p.value[0] for p in current}
        wire = dictToTypedParams(params, types)
        if flags is None:
            await self._conn._call("DOMAIN_SET_SCHEDULER_PARAMETERS",
                                   (self._ref, wire), timeout)
        else:
            await self._conn._call("DOMAIN_SET_SCHEDULER_PARAMETERS_FLAGS",
                                   (self._ref, wire, flags), timeout)
        return 0

    @deferred
    async def setSchedulerParameters(self, params: Mapping[str, Any], *,
                                     timeout: float | None = None) -> int:
        """
        Change scheduler parameters; each value's type is the one the
        server reports for that field, as libvirt-python does.
        """
        return await self._setScheduler(params, None, timeout)

    @deferred
    async def setSchedulerParametersFlags(self, params: Mapping[str, Any],
                                          flags: int = 0, *,
                                          timeout: float | None = None) -> int:
        return await self._setScheduler(params, flags, timeout)

    async def _countedParams(self, procName: str, flags: int,
                             timeout: float | None) -> dict[str, Any]:
        # libvirt-python asks for the count first, then for that many.
        call = self._conn._call
        wireFlags = await self._stringOkay(flags, timeout)
        n = (await call(procName, (self._ref, 0, wireFlags), timeout)).nparams
        if not n:
            return {}
        wireFlags = await self._stringOkay(flags, timeout)
        r = await call(procName, (self._ref, n, wireFlags), timeout)
        return typedParamsToDict(r.params)

    @deferred
    async def memoryParameters(self, flags: int = 0, *,
                               timeout: float | None = None) -> dict:
        return await self._countedParams("DOMAIN_GET_MEMORY_PARAMETERS",
                                         flags, timeout)

    @deferred
    async def blkioParameters(self, flags: int = 0, *,
                              timeout: float | None = None) -> dict:
        return await self._countedParams("DOMAIN_GET_BLKIO_PARAMETERS",
                                         flags, timeout)

    @deferred
    async def numaParameters(self, flags: int = 0, *,
                             timeout: float | None = None) -> dict:
        return await self._countedParams("DOMAIN_GET_NUMA_PARAMETERS",
                                         flags, timeout)

    # -- snapshots ---------------------------------------------------------

    snapshotCreateXML = rpc("DOMAIN_SNAPSHOT_CREATE_XML", "xmlDesc",
                            "flags=0", ret=_snapshot)
    snapshotLookupByName = rpc("DOMAIN_SNAPSHOT_LOOKUP_BY_NAME", "name",
                               "flags=0", ret=_snapshot)
    snapshotCurrent = rpc("DOMAIN_SNAPSHOT_CURRENT", "flags=0", ret=_snapshot)
    hasCurrentSnapshot = rpc("DOMAIN_HAS_CURRENT_SNAPSHOT", "flags=0")
    snapshotNum = rpc("DOMAIN_SNAPSHOT_NUM", "flags=0")
    listAllSnapshots = rpc("DOMAIN_LIST_ALL_SNAPSHOTS", 1, "flags=0",
                           ret=_snapshots)

    snapshotListNames = counted("DOMAIN_SNAPSHOT_NUM",
                                "DOMAIN_SNAPSHOT_LIST_NAMES", "flags=0")

    def revertToSnapshot(self, snap: DomainSnapshot, flags: int = 0, *,
                         timeout: float | None = None) -> Deferred:
        """
        Revert the domain to C{snap}.
        """
        return self._conn._call("DOMAIN_REVERT_TO_SNAPSHOT",
                                (snap._wireRef()[0], flags),
                                timeout).addCallback(lambda _: 0)

    def __repr__(self) -> str:
        return (f"<Domain {self.name()!r} id={self.ID()} "
                f"uuid={self.UUIDString()}>")
