"""
virtd's client against a real libvirtd 9.0.0 (test driver): every operation
gives what libvirt-python gives against the same daemon.

Each scenario runs twice on one daemon, first through libvirt-python (in a
thread), then through virtd; the test driver's state starts afresh when the
last connection to it closes, so both runs see the same objects.
"""

from __future__ import annotations

import os
import shlex
import stat
import uuid as uuidlib

from twisted.internet.defer import Deferred
from twisted.trial import unittest

from tests.support import PrivateSshd, RealLibvirtd, removeTree, shortTempDir
from tests.test_client_scenario import (
    Step,
    noCpuTime,
    noTimes,
    noVcpuTimes,
    runLibvirtPython,
    runVirtd,
    shapeOnly,
    sortedList,
    waitForFreshState,
)

TEST_UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"

# VIR_DOMAIN_STATS_* and VIR_CONNECT_GET_ALL_DOMAINS_STATS_*
STATS_STATE = 1
STATS_CPU_TOTAL = 2
ONLY_INACTIVE = 2
ENFORCE_STATS = 0x80000000

NEW_DOMAIN = """<domain type='test'>
  <name>extra</name>
  <uuid>1b3c7b6e-8a25-4a5e-9f3a-0b1c2d3e4f50</uuid>
  <memory unit='KiB'>131072</memory>
  <vcpu>1</vcpu>
  <os><type arch='i686'>hvm</type></os>
</domain>"""

NEW_NETWORK = """<network>
  <name>extranet</name>
  <uuid>2c4d8c7f-9b36-4b6f-8a4b-1c2d3e4f5a61</uuid>
  <bridge name='virbr9'/>
  <ip address='192.168.99.1' netmask='255.255.255.0'/>
</network>"""

NEW_POOL = """<pool type='dir'>
  <name>extrapool</name>
  <uuid>3d5e9d80-ac47-4c70-9b5c-2d3e4f5a6b72</uuid>
  <target><path>/extra-pool</path></target>
</pool>"""

NEW_VOLUME = """<volume>
  <name>disk1.img</name>
  <capacity unit='bytes'>1048576</capacity>
</volume>"""

SNAPSHOT = "<domainsnapshot><name>s1</name></domainsnapshot>"


def hostSteps() -> list[Step]:
    return [
        Step("getHostname", lambda c: c.conn.getHostname()),
        Step("getType", lambda c: c.conn.getType()),
        Step("getVersion", lambda c: c.conn.getVersion()),
        Step("getLibVersion", lambda c: c.conn.getLibVersion()),
        Step("getURI", lambda c: c.conn.getURI()),
        Step("getCapabilities", lambda c: c.conn.getCapabilities()),
        Step("getInfo", lambda c: c.conn.getInfo()),
        Step("getSysinfo", lambda c: c.conn.getSysinfo(0)),
        Step("getMaxVcpus", lambda c: c.conn.getMaxVcpus(None)),
        Step("getFreeMemory", lambda c: c.conn.getFreeMemory()),
        Step("getCellsFreeMemory", lambda c: c.conn.getCellsFreeMemory(0, 2)),
        Step("getCPUMap", lambda c: c.conn.getCPUMap(0)),
        Step("isAlive", lambda c: c.conn.isAlive()),
        Step("isSecure", lambda c: c.conn.isSecure()),
        Step("isEncrypted", lambda c: c.conn.isEncrypted()),
    ]


def domainReadSteps() -> list[Step]:
    return [
        Step("listAllDomains", lambda c: c.conn.listAllDomains(0)),
        Step("listDomainsID", lambda c: c.conn.listDomainsID()),
        Step("listDefinedDomains", lambda c: c.conn.listDefinedDomains()),
        Step("numOfDomains", lambda c: c.conn.numOfDomains()),
        Step("numOfDefinedDomains", lambda c: c.conn.numOfDefinedDomains()),
        Step("lookupByName", lambda c: c.conn.lookupByName("test"), "dom"),
        Step("lookupByID", lambda c: c.conn.lookupByID(1)),
        Step("lookupByUUIDString",
             lambda c: c.conn.lookupByUUIDString(TEST_UUID)),
        Step("lookupByUUID",
             lambda c: c.conn.lookupByUUID(uuidlib.UUID(TEST_UUID).bytes)),
        Step("lookupByUUIDString, other spellings",
             lambda c: c.conn.lookupByUUIDString(
                 " " + TEST_UUID.replace("-", "")[:4] + "-"
                 + TEST_UUID.replace("-", "")[4:] + "\n")),
        Step("lookupByUUIDString malformed",
             lambda c: c.conn.lookupByUUIDString("zz")),
        Step("lookupByName missing", lambda c: c.conn.lookupByName("nope")),
        Step("getAllDomainStats", lambda c: c.conn.getAllDomainStats()),
        Step("getAllDomainStats state, inactive only",
             lambda c: c.conn.getAllDomainStats(STATS_STATE, ONLY_INACTIVE)),
        Step("getAllDomainStats enforced, unsupported",
             lambda c: c.conn.getAllDomainStats(STATS_CPU_TOTAL,
                                                ENFORCE_STATS)),
        Step("domainListGetStats",
             lambda c: c.conn.domainListGetStats([c.dom], STATS_STATE)),
        Step("domainListGetStats none", lambda c: c.conn.domainListGetStats([])),
        Step("local accessors", lambda c: (c.dom.name(), c.dom.ID(),
                                           c.dom.UUID(), c.dom.UUIDString())),
        Step("info", lambda c: c.dom.info(), norm=noCpuTime),
        Step("state", lambda c: c.dom.state(0)),
        Step("XMLDesc", lambda c: c.dom.XMLDesc(0)),
        Step("OSType", lambda c: c.dom.OSType()),
        Step("isActive", lambda c: c.dom.isActive()),
        Step("isPersistent", lambda c: c.dom.isPersistent()),
        Step("isUpdated", lambda c: c.dom.isUpdated()),
        Step("hostname", lambda c: c.dom.hostname(0)),
        Step("autostart", lambda c: c.dom.autostart()),
        Step("hasManagedSaveImage", lambda c: c.dom.hasManagedSaveImage(0)),
        Step("blockInfo", lambda c: c.dom.blockInfo("vda", 0)),
        Step("blockStats", lambda c: c.dom.blockStats("vda"),
             norm=shapeOnly),
        Step("interfaceStats", lambda c: c.dom.interfaceStats("testnet0"),
             norm=shapeOnly),
        Step("maxMemory", lambda c: c.dom.maxMemory()),
        Step("vcpusFlags", lambda c: c.dom.vcpusFlags(0)),
        Step("maxVcpus", lambda c: c.dom.maxVcpus()),
        Step("vcpus", lambda c: c.dom.vcpus(), norm=noVcpuTimes),
        Step("schedulerType", lambda c: c.dom.schedulerType()),
        Step("schedulerParameters", lambda c: c.dom.schedulerParameters()),
        Step("schedulerParametersFlags",
             lambda c: c.dom.schedulerParametersFlags(0)),
        Step("memoryStats", lambda c: c.dom.memoryStats()),
        Step("memoryParameters", lambda c: c.dom.memoryParameters(0)),
        Step("blkioParameters", lambda c: c.dom.blkioParameters(0)),
        Step("numaParameters", lambda c: c.dom.numaParameters(0)),
    ]


def domainWriteSteps() -> list[Step]:
    return [
        Step("lookupByName", lambda c: c.conn.lookupByName("test"), "dom"),
        Step("suspend", lambda c: c.dom.suspend()),
        Step("state suspended", lambda c: c.dom.state(0)),
        Step("suspend again", lambda c: c.dom.suspend()),
        Step("resume", lambda c: c.dom.resume()),
        Step("setAutostart", lambda c: c.dom.setAutostart(1)),
        Step("autostart set", lambda c: c.dom.autostart()),
        Step("setMemory", lambda c: c.dom.setMemory(1048576)),
        Step("setMemoryFlags", lambda c: c.dom.setMemoryFlags(1048576, 0)),
        Step("info after setMemory", lambda c: c.dom.info(), norm=noCpuTime),
        Step("setMaxMemory (refused live)",
             lambda c: c.dom.setMaxMemory(4194304)),
        Step("setVcpus", lambda c: c.dom.setVcpus(1)),
        Step("vcpusFlags after", lambda c: c.dom.vcpusFlags(0)),
        Step("setVcpusFlags", lambda c: c.dom.setVcpusFlags(2, 0)),
        Step("setSchedulerParameters",
             lambda c: c.dom.setSchedulerParameters({"weight": 70})),
        Step("schedulerParameters after",
             lambda c: c.dom.schedulerParameters()),
        Step("setMemoryStatsPeriod",
             lambda c: c.dom.setMemoryStatsPeriod(5, 0)),
        Step("reboot", lambda c: c.dom.reboot(0)),
        Step("snapshotCreateXML", lambda c: c.dom.snapshotCreateXML(
            SNAPSHOT, 0), "snap"),
        Step("snapshotNum", lambda c: c.dom.snapshotNum(0)),
        Step("snapshotListNames", lambda c: c.dom.snapshotListNames(0)),
        Step("listAllSnapshots", lambda c: c.dom.listAllSnapshots(0)),
        Step("snapshotLookupByName",
             lambda c: c.dom.snapshotLookupByName("s1", 0)),
        Step("snapshotCurrent", lambda c: c.dom.snapshotCurrent(0)),
        Step("hasCurrentSnapshot", lambda c: c.dom.hasCurrentSnapshot(0)),
        Step("snap.getName", lambda c: c.snap.getName()),
        Step("snap.getXMLDesc", lambda c: c.snap.getXMLDesc(0), norm=noTimes),
        Step("snap.getParent", lambda c: c.snap.getParent(0)),
        Step("snap.isCurrent", lambda c: c.snap.isCurrent(0)),
        Step("snap.hasMetadata", lambda c: c.snap.hasMetadata(0)),
        Step("snap.numChildren", lambda c: c.snap.numChildren(0)),
        Step("snap.listChildrenNames", lambda c: c.snap.listChildrenNames(0)),
        Step("snap.listAllChildren", lambda c: c.snap.listAllChildren(0)),
        Step("revertToSnapshot", lambda c: c.dom.revertToSnapshot(c.snap, 0)),
        Step("snap.delete", lambda c: c.snap.delete(0)),
        Step("snapshotNum after", lambda c: c.dom.snapshotNum(0)),
        Step("destroy", lambda c: c.dom.destroy()),
        Step("ID after destroy", lambda c: c.dom.ID()),
        Step("state destroyed", lambda c: c.dom.state(0)),
        Step("create", lambda c: c.dom.create()),
        Step("ID after create", lambda c: c.dom.ID()),
        Step("destroyFlags", lambda c: c.dom.destroyFlags(0)),
        Step("createWithFlags", lambda c: c.dom.createWithFlags(0)),
        Step("ID after createWithFlags", lambda c: c.dom.ID()),
        Step("destroy before createWithFiles", lambda c: c.dom.destroy()),
        Step("createWithFiles, no files",
             lambda c: c.dom.createWithFiles([], 0)),
        Step("ID after createWithFiles", lambda c: c.dom.ID()),
        Step("shutdown", lambda c: c.dom.shutdown()),
        Step("state shut off", lambda c: c.dom.state(0)),
        Step("listDefinedDomains", lambda c: c.conn.listDefinedDomains()),
        Step("undefine", lambda c: c.dom.undefine()),
        Step("lookup undefined", lambda c: c.conn.lookupByName("test")),
        Step("defineXML", lambda c: c.conn.defineXML(NEW_DOMAIN), "new"),
        Step("new isActive", lambda c: c.new.isActive()),
        Step("new create", lambda c: c.new.create()),
        Step("new info", lambda c: c.new.info(), norm=noCpuTime),
        Step("new destroy", lambda c: c.new.destroy()),
        Step("new undefineFlags", lambda c: c.new.undefineFlags(0)),
        Step("createXMLWithFiles, no files",
             lambda c: c.conn.createXMLWithFiles(NEW_DOMAIN, [], 0), "made"),
        Step("made info", lambda c: c.made.info(), norm=noCpuTime),
        Step("made destroy", lambda c: c.made.destroy()),
        Step("defineXMLFlags", lambda c: c.conn.defineXMLFlags(NEW_DOMAIN, 0)),
        Step("createXML (name taken)",
             lambda c: c.conn.createXML(NEW_DOMAIN, 0)),
        Step("listAllDomains", lambda c: c.conn.listAllDomains(0)),
    ]


def networkSteps() -> list[Step]:
    return [
        Step("listAllNetworks", lambda c: c.conn.listAllNetworks(0)),
        Step("listNetworks", lambda c: c.conn.listNetworks()),
        Step("listDefinedNetworks", lambda c: c.conn.listDefinedNetworks()),
        Step("numOfNetworks", lambda c: c.conn.numOfNetworks()),
        Step("numOfDefinedNetworks", lambda c: c.conn.numOfDefinedNetworks()),
        Step("networkLookupByName",
             lambda c: c.conn.networkLookupByName("default"), "net"),
        Step("networkLookupByUUIDString",
             lambda c: c.conn.networkLookupByUUIDString(c.net.UUIDString())),
        Step("networkLookupByUUID",
             lambda c: c.conn.networkLookupByUUID(c.net.UUID())),
        Step("networkLookupByUUIDString malformed",
             lambda c: c.conn.networkLookupByUUIDString("zz")),
        Step("network missing", lambda c: c.conn.networkLookupByName("x")),
        Step("net.XMLDesc", lambda c: c.net.XMLDesc(0)),
        Step("net.bridgeName", lambda c: c.net.bridgeName()),
        Step("net.isActive", lambda c: c.net.isActive()),
        Step("net.isPersistent", lambda c: c.net.isPersistent()),
        Step("net.autostart", lambda c: c.net.autostart()),
        Step("net.setAutostart", lambda c: c.net.setAutostart(1)),
        Step("net.autostart after", lambda c: c.net.autostart()),
        Step("net.destroy", lambda c: c.net.destroy()),
        Step("net.isActive after", lambda c: c.net.isActive()),
        Step("net.create", lambda c: c.net.create()),
        Step("networkDefineXML",
             lambda c: c.conn.networkDefineXML(NEW_NETWORK), "new"),
        Step("new.isActive", lambda c: c.new.isActive()),
        Step("new.create", lambda c: c.new.create()),
        Step("new.update (unsupported)", lambda c: c.new.update(
            1, 4, -1, "<range start='192.168.99.2' end='192.168.99.9'/>", 0)),
        Step("new.destroy", lambda c: c.new.destroy()),
        Step("new.undefine", lambda c: c.new.undefine()),
        Step("networkCreateXML",
             lambda c: c.conn.networkCreateXML(NEW_NETWORK)),
        Step("listAllNetworks after", lambda c: c.conn.listAllNetworks(0)),
    ]


def storageSteps() -> list[Step]:
    return [
        Step("listAllStoragePools", lambda c: c.conn.listAllStoragePools(0)),
        Step("listStoragePools", lambda c: c.conn.listStoragePools()),
        Step("listDefinedStoragePools",
             lambda c: c.conn.listDefinedStoragePools()),
        Step("numOfStoragePools", lambda c: c.conn.numOfStoragePools()),
        Step("storagePoolLookupByName",
             lambda c: c.conn.storagePoolLookupByName("default-pool"),
             "pool"),
        Step("storagePoolLookupByUUIDString",
             lambda c: c.conn.storagePoolLookupByUUIDString(
                 c.pool.UUIDString())),
        Step("storagePoolLookupByUUIDString malformed",
             lambda c: c.conn.storagePoolLookupByUUIDString("zz")),
        Step("pool.info", lambda c: c.pool.info()),
        Step("pool.XMLDesc", lambda c: c.pool.XMLDesc(0)),
        Step("pool.isActive", lambda c: c.pool.isActive()),
        Step("pool.isPersistent", lambda c: c.pool.isPersistent()),
        Step("pool.autostart", lambda c: c.pool.autostart()),
        Step("pool.numOfVolumes", lambda c: c.pool.numOfVolumes()),
        Step("pool.listVolumes", lambda c: c.pool.listVolumes()),
        Step("pool.createXML", lambda c: c.pool.createXML(NEW_VOLUME, 0),
             "vol"),
        Step("pool.listVolumes after", lambda c: c.pool.listVolumes()),
        Step("pool.listAllVolumes", lambda c: c.pool.listAllVolumes(0)),
        Step("storageVolLookupByName",
             lambda c: c.pool.storageVolLookupByName("disk1.img")),
        Step("vol.info", lambda c: c.vol.info()),
        Step("vol.XMLDesc", lambda c: c.vol.XMLDesc(0)),
        Step("vol.path", lambda c: c.vol.path()),
        Step("vol.key", lambda c: c.vol.key()),
        Step("storageVolLookupByPath",
             lambda c: c.conn.storageVolLookupByPath(
                 "/default-pool/disk1.img")),
        Step("storageVolLookupByKey",
             lambda c: c.conn.storageVolLookupByKey(c.vol.key())),
        Step("vol.storagePoolLookupByVolume",
             lambda c: c.vol.storagePoolLookupByVolume()),
        Step("vol.resize", lambda c: c.vol.resize(2097152, 0)),
        Step("vol.wipe", lambda c: c.vol.wipe(0)),
        Step("vol.delete", lambda c: c.vol.delete(0)),
        Step("pool.refresh", lambda c: c.pool.refresh(0)),
        Step("storagePoolDefineXML",
             lambda c: c.conn.storagePoolDefineXML(NEW_POOL, 0), "newpool"),
        Step("newpool.create", lambda c: c.newpool.create(0)),
        Step("newpool.info", lambda c: c.newpool.info()),
        Step("newpool.setAutostart", lambda c: c.newpool.setAutostart(1)),
        Step("newpool.destroy", lambda c: c.newpool.destroy()),
        Step("newpool.undefine", lambda c: c.newpool.undefine()),
    ]


def interfaceAndDeviceSteps() -> list[Step]:
    return [
        Step("listAllInterfaces", lambda c: c.conn.listAllInterfaces(0)),
        Step("listInterfaces", lambda c: c.conn.listInterfaces()),
        Step("listDefinedInterfaces",
             lambda c: c.conn.listDefinedInterfaces()),
        Step("numOfInterfaces", lambda c: c.conn.numOfInterfaces()),
        Step("interfaceLookupByName",
             lambda c: c.conn.interfaceLookupByName("eth1"), "iface"),
        Step("interfaceLookupByMACString",
             lambda c: c.conn.interfaceLookupByMACString(
                 "aa:bb:cc:dd:ee:ff")),
        Step("iface.XMLDesc", lambda c: c.iface.XMLDesc(0)),
        Step("iface.isActive", lambda c: c.iface.isActive()),
        Step("listAllDevices", lambda c: c.conn.listAllDevices(0),
             norm=sortedList),
        Step("listDevices", lambda c: c.conn.listDevices(None, 0),
             norm=sortedList),
        Step("numOfDevices", lambda c: c.conn.numOfDevices(None, 0)),
        Step("nodeDeviceLookupByName",
             lambda c: c.conn.nodeDeviceLookupByName("scsi_host1"), "dev"),
        Step("dev.XMLDesc", lambda c: c.dev.XMLDesc(0)),
        Step("dev.parent", lambda c: c.dev.parent()),
        Step("dev.numOfCaps", lambda c: c.dev.numOfCaps()),
        Step("dev.listCaps", lambda c: c.dev.listCaps()),
        Step("lookup root device",
             lambda c: c.conn.nodeDeviceLookupByName("computer"), "root"),
        Step("root.parent", lambda c: c.root.parent()),
    ]


class SameAsLibvirtPythonMixin:
    """
    Compare whole scenarios step by step.
    """

    transport = "unix"

    def uriFor(self, daemon: RealLibvirtd) -> str:
        return daemon.uri(self.transport)

    async def compare(self, steps: list[Step], **connectArgs) -> None:
        uri = self.uriFor(self.daemon)
        theirs = await runLibvirtPython(uri, steps)
        await waitForFreshState(uri)
        ours = await runVirtd(uri, steps, **connectArgs)
        self.assertEqual([label for label, _ in ours],
                         [label for label, _ in theirs])
        for (label, mine), (_, reference) in zip(ours, theirs, strict=True):
            self.assertEqual(mine, reference, f"step {label!r} differs")


class UnixTests(SameAsLibvirtPythonMixin, unittest.TestCase):
    """
    Over the unix socket.
    """

    def setUp(self):
        self.daemon = RealLibvirtd.forTest(self, tcp=False)

    def test_host(self):
        return Deferred.fromCoroutine(self.compare(hostSteps()))

    def test_domainRead(self):
        return Deferred.fromCoroutine(self.compare(domainReadSteps()))

    def test_domainWrite(self):
        return Deferred.fromCoroutine(self.compare(domainWriteSteps()))

    def test_networks(self):
        return Deferred.fromCoroutine(self.compare(networkSteps()))

    def test_storage(self):
        return Deferred.fromCoroutine(self.compare(storageSteps()))

    def test_interfacesAndDevices(self):
        return Deferred.fromCoroutine(
            self.compare(interfaceAndDeviceSteps()))


class UnixReadOnlyTests(SameAsLibvirtPythonMixin, unittest.TestCase):
    """
    The read-only socket: reads pass, writes fail with the same error.
    """

    def setUp(self):
        self.daemon = RealLibvirtd.forTest(self, tcp=False)

    def uriFor(self, daemon):
        return daemon.uri("unix", readonly=True)

    def test_readAndRefusedWrites(self):
        steps = hostSteps()[:4] + [
            Step("lookupByName", lambda c: c.conn.lookupByName("test"), "dom"),
            Step("info", lambda c: c.dom.info(), norm=noCpuTime),
            Step("suspend refused", lambda c: c.dom.suspend()),
            Step("defineXML refused", lambda c: c.conn.defineXML(NEW_DOMAIN)),
        ]
        return Deferred.fromCoroutine(self.compare(steps))


SMALL = [
    Step("getHostname", lambda c: c.conn.getHostname()),
    Step("getURI", lambda c: c.conn.getURI()),
    Step("isSecure", lambda c: c.conn.isSecure()),
    Step("isEncrypted", lambda c: c.conn.isEncrypted()),
    Step("listAllDomains", lambda c: c.conn.listAllDomains(0)),
    Step("lookupByName", lambda c: c.conn.lookupByName("test"), "dom"),
    Step("info", lambda c: c.dom.info(), norm=noCpuTime),
    Step("suspend", lambda c: c.dom.suspend()),
    Step("state", lambda c: c.dom.state(0)),
    Step("lookup missing", lambda c: c.conn.lookupByName("nope")),
]


class TCPTests(SameAsLibvirtPythonMixin, unittest.TestCase):
    transport = "tcp"

    def setUp(self):
        self.daemon = RealLibvirtd.forTest(self, tcp=True)

    def test_small(self):
        return Deferred.fromCoroutine(self.compare(SMALL))


class TLSTests(SameAsLibvirtPythonMixin, unittest.TestCase):
    transport = "tls"

    def setUp(self):
        self.daemon = RealLibvirtd.forTest(self, tcp=False, tls=True)

    def test_small(self):
        return Deferred.fromCoroutine(self.compare(SMALL))


class ExtTests(SameAsLibvirtPythonMixin, unittest.TestCase):
    """
    The ext transport, with a program that bridges to the unix socket.
    """

    def setUp(self):
        self.daemon = RealLibvirtd.forTest(self, tcp=False)
        directory = shortTempDir("vdx")
        self.addCleanup(removeTree, directory)
        self.bridge = os.path.join(directory, "bridge")
        with open(self.bridge, "w") as f:
            f.write(f"#!/bin/sh\nexec nc -U {shlex.quote(self.daemon.sock)}\n")
        os.chmod(self.bridge, stat.S_IRWXU)

    def uriFor(self, daemon):
        return f"test+ext:///default?command={self.bridge}"

    def test_small(self):
        return Deferred.fromCoroutine(self.compare(SMALL))


class SSHTests(SameAsLibvirtPythonMixin, unittest.TestCase):
    """
    ssh through the system ssh binary (C{command=} wrapper that knows the
    private sshd's host key).
    """

    def setUp(self):
        self.daemon = RealLibvirtd.forTest(self, tcp=False)
        self.sshd = PrivateSshd.forTest(self)

    def uriFor(self, daemon):
        return self.sshd.libvirtURI(daemon.sock)

    def test_small(self):
        return Deferred.fromCoroutine(self.compare(SMALL))


class LibSSH2Tests(SameAsLibvirtPythonMixin, unittest.TestCase):
    """
    +libssh2 (conch in-process for virtd, libssh2 for libvirt-python).
    """

    def setUp(self):
        self.daemon = RealLibvirtd.forTest(self, tcp=False)
        self.sshd = PrivateSshd.forTest(self)

    def uriFor(self, daemon):
        from urllib.parse import quote

        return (f"test+libssh2://root@127.0.0.1:{self.sshd.port}/default"
                f"?socket={quote(daemon.sock)}&sshauth=privkey"
                f"&keyfile={quote(self.sshd.keyfile)}"
                f"&known_hosts={quote(self.sshd.knownHostsFile)}")

    def test_small(self):
        return Deferred.fromCoroutine(self.compare(SMALL))
