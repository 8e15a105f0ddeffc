"""
libvirt-python against both daemons (issue 3, "must show"): the same
operations through C{libvirt.open('test+unix:///default?socket=...')} give
the same results against a real libvirtd 9.0.0 (test driver) and against
our daemon (L{InProcessVirtd}).

Each scenario runs through libvirt-python twice, once per daemon, each run
in a thread on its own connection; the test driver's state starts afresh for
every connection, so both runs see the same objects. Results are normalised
by L{tests.test_client_scenario} (handles become tuples naming the object,
errors become C{('error', code, domain, message)}, CPU times and snapshot
creation times are blanked) and compared step by step.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial import unittest

from tests import test_client_interop as interop
from tests.support import RealLibvirtd
from tests.test_client_scenario import Step, noCpuTime, runLibvirtPython, sortedList
from tests.test_server_fixture import InProcessVirtd


def anyOrder(step: Step) -> Step:
    """
    Lists of objects come out of libvirt's hash tables, whose order depends
    on a hash seed each process picks at random; compare them as sets
    (sorted).
    """
    if "list" not in step.label.lower():
        return step
    norm = step.norm

    def sortedNorm(value: Any) -> Any:
        return sortedList(norm(value) if norm is not None else value)

    return Step(step.label, step.call, step.save, sortedNorm)


async def run(uri: str, steps: list[Step]) -> list[tuple[str, str]]:
    """
    L{runLibvirtPython} with the URI we dialled blanked out: libvirt-python's
    C{getURI()} answers it locally, and socket paths and ports differ
    between the two daemons.
    """
    results = await runLibvirtPython(uri, steps)
    return [(label, value.replace(uri, "<uri>")) for label, value in results]


class BothDaemonsMixin:
    """
    Run one libvirt-python scenario against the real libvirtd and against
    ours, and compare.

    @ivar real: the L{RealLibvirtd}.
    @ivar ours: the L{InProcessVirtd}.
    """

    transport = "unix"
    readonly = False
    realOptions: dict[str, Any] = {"tcp": False}
    ourOptions: dict[str, Any] = {}

    def setUp(self) -> Deferred:
        self.real = RealLibvirtd.forTest(self, **self.realOptions)
        d = InProcessVirtd.forTest(self, **self.ourOptions)

        def started(daemon: InProcessVirtd) -> None:
            self.ours = daemon

        return d.addCallback(started)

    def uriFor(self, daemon: Any) -> str:
        if self.transport == "unix":
            return daemon.uri("unix", readonly=self.readonly)
        return daemon.uri(self.transport)

    async def compare(self, steps: list[Step]) -> list[tuple[str, str]]:
        """
        Run C{steps} through libvirt-python against both daemons and assert
        that every step gives the same normalised result.

        @return: the real libvirtd's results, for further checks.
        """
        steps = [anyOrder(step) for step in steps]
        theirs = await run(self.uriFor(self.real), steps)
        ours = await run(self.uriFor(self.ours), steps)
        self.assertEqual([label for label, _ in ours],
                         [label for label, _ in theirs])
        for (label, mine), (_, reference) in zip(ours, theirs, strict=True):
            self.assertEqual(mine, reference,
                             f"step {label!r} differs: virtd gave {mine}, "
                             f"libvirtd gave {reference}")
        return theirs

    def run_(self, steps: list[Step]) -> Deferred:
        return Deferred.fromCoroutine(self.compare(steps))


class UnixTests(BothDaemonsMixin, unittest.TestCase):
    """
    The read-write unix socket: every scenario of the client interop tests.
    """

    def test_host(self) -> Deferred:
        return self.run_(interop.hostSteps())

    def test_domainRead(self) -> Deferred:
        return self.run_(interop.domainReadSteps())

    def test_domainWrite(self) -> Deferred:
        """
        define/start/destroy/undefine, setMemory, vcpus, scheduler
        parameters, snapshots: the same results and the same refusals.
        """
        return self.run_(interop.domainWriteSteps())

    def test_networks(self) -> Deferred:
        return self.run_(interop.networkSteps())

    def test_storage(self) -> Deferred:
        return self.run_(interop.storageSteps())

    def test_interfacesAndDevices(self) -> Deferred:
        return self.run_(interop.interfaceAndDeviceSteps())

    async def _sanity(self) -> None:
        theirs = dict(await self.compare(SHORT))
        # The comparison is only worth something if the scenario did work.
        self.assertIn("'test'", theirs["lookupByName"])
        self.assertEqual(theirs["suspend"], "0")
        self.assertEqual(theirs["state"], "[3, 1]")
        self.assertTrue(theirs["lookup missing"].startswith("('error', 42, "))

    def test_scenarioDoesWork(self) -> Deferred:
        """
        The short scenario really finds the domain, suspends it and gets
        "domain not found" for a missing one (so equal results are not
        equal failures).
        """
        return Deferred.fromCoroutine(self._sanity())


SHORT = [
    Step("getHostname", lambda c: c.conn.getHostname()),
    Step("getType", lambda c: c.conn.getType()),
    Step("getURI", lambda c: c.conn.getURI()),
    Step("isSecure", lambda c: c.conn.isSecure()),
    Step("isEncrypted", lambda c: c.conn.isEncrypted()),
    Step("getInfo", lambda c: c.conn.getInfo()),
    Step("listAllDomains", lambda c: c.conn.listAllDomains(0)),
    Step("listAllNetworks", lambda c: c.conn.listAllNetworks(0)),
    Step("listAllStoragePools", lambda c: c.conn.listAllStoragePools(0)),
    Step("lookupByName", lambda c: c.conn.lookupByName("test"), "dom"),
    Step("info", lambda c: c.dom.info(), norm=noCpuTime),
    Step("schedulerParameters", lambda c: c.dom.schedulerParameters()),
    Step("suspend", lambda c: c.dom.suspend()),
    Step("state", lambda c: c.dom.state(0)),
    Step("lookup missing", lambda c: c.conn.lookupByName("nope")),
    Step("defineXML", lambda c: c.conn.defineXML(interop.NEW_DOMAIN), "new"),
    Step("new create", lambda c: c.new.create()),
    Step("listAllDomains after", lambda c: c.conn.listAllDomains(0)),
]


class TCPTests(BothDaemonsMixin, unittest.TestCase):
    """
    Plain TCP on 127.0.0.1 (not secure, not encrypted on both).
    """

    transport = "tcp"
    realOptions = {"tcp": True}
    ourOptions = {"tcp": True}

    def test_short(self) -> Deferred:
        return self.run_(SHORT)


class TLSTests(BothDaemonsMixin, unittest.TestCase):
    """
    TLS with certificates made by the test (each daemon its own CA).
    """

    transport = "tls"
    realOptions = {"tcp": False, "tls": True}
    ourOptions = {"tls": True}

    def test_short(self) -> Deferred:
        return self.run_(SHORT)


WRITES = [
    Step("suspend refused", lambda c: c.dom.suspend()),
    Step("setMemory refused", lambda c: c.dom.setMemory(1048576)),
    Step("setAutostart refused", lambda c: c.dom.setAutostart(1)),
    Step("destroy refused", lambda c: c.dom.destroy()),
    Step("snapshotCreateXML refused",
         lambda c: c.dom.snapshotCreateXML(interop.SNAPSHOT, 0)),
    Step("defineXML refused", lambda c: c.conn.defineXML(interop.NEW_DOMAIN)),
    Step("networkDefineXML refused",
         lambda c: c.conn.networkDefineXML(interop.NEW_NETWORK)),
    Step("net.destroy refused", lambda c: c.net.destroy()),
    Step("pool.createXML refused",
         lambda c: c.pool.createXML(interop.NEW_VOLUME, 0)),
    Step("state unchanged", lambda c: c.dom.state(0)),
]


class UnixReadOnlyTests(BothDaemonsMixin, unittest.TestCase):
    """
    The read-only socket: reads pass, writes fail with the same error code,
    domain and message on both daemons.
    """

    readonly = True

    async def _readOnly(self) -> None:
        steps = [
            *interop.hostSteps()[:6],
            Step("lookupByName", lambda c: c.conn.lookupByName("test"), "dom"),
            Step("info", lambda c: c.dom.info(), norm=noCpuTime),
            Step("state before", lambda c: c.dom.state(0)),
            Step("XMLDesc", lambda c: c.dom.XMLDesc(0)),
            Step("networkLookupByName",
                 lambda c: c.conn.networkLookupByName("default"), "net"),
            Step("storagePoolLookupByName",
                 lambda c: c.conn.storagePoolLookupByName("default-pool"),
                 "pool"),
            Step("pool.listVolumes", lambda c: c.pool.listVolumes()),
            *WRITES,
        ]
        theirs = dict(await self.compare(steps))
        for step in WRITES[:-1]:
            # VIR_ERR_OPERATION_DENIED: "read only access prevents ...".
            self.assertTrue(theirs[step.label].startswith("('error', 29, "),
                            f"{step.label}: {theirs[step.label]}")
        self.assertEqual(theirs["state unchanged"], theirs["state before"])
        self.assertTrue(theirs["state before"].startswith("[1, "))  # running

    def test_readAndRefusedWrites(self) -> Deferred:
        return Deferred.fromCoroutine(self._readOnly())
