"""
virtd's client beyond what tests/test_client_interop.py covers (issue 4,
"must show"):

  - the conch path: a C{remote:ssh:} name (Twisted conch in-process, the
    far side running C{nc -U} to a real libvirtd's socket through a private
    sshd) gives what libvirt-python gives over ssh to the same daemon;
  - C{framing=record}: against our daemon (which detects RFC 5531 record
    marking) the client works and gives what the default framing gives;
  - the client's scenarios against our daemon (L{InProcessVirtd}) over
    unix give what libvirt-python gives against the same daemon.

Scenarios come from L{tests.test_client_interop}; results are normalised
and compared step by step as there.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial import unittest

from tests import test_client_interop as interop
from tests.support import PrivateSshd, RealLibvirtd
from tests.test_client_scenario import (
    Step,
    noCpuTime,
    runLibvirtPython,
    runVirtd,
    waitForFreshState,
)
from tests.test_server_fixture import InProcessVirtd
from virtd.ssh import ConchEndpoint
from virtd.transports import endpointFor
from virtd.uri import parse

# A short scenario that still reads, writes and fails once. getURI is left
# out: both clients answer it locally with the name they were given, and the
# names differ by construction (they are checked on their own below).
SHORT = [
    Step("getHostname", lambda c: c.conn.getHostname()),
    Step("getType", lambda c: c.conn.getType()),
    Step("getLibVersion", lambda c: c.conn.getLibVersion()),
    Step("isSecure", lambda c: c.conn.isSecure()),
    Step("isEncrypted", lambda c: c.conn.isEncrypted()),
    Step("getInfo", lambda c: c.conn.getInfo()),
    Step("listAllDomains", lambda c: c.conn.listAllDomains(0)),
    Step("lookupByName", lambda c: c.conn.lookupByName("test"), "dom"),
    Step("info", lambda c: c.dom.info(), norm=noCpuTime),
    Step("XMLDesc", lambda c: c.dom.XMLDesc(0)),
    Step("schedulerParameters", lambda c: c.dom.schedulerParameters()),
    Step("suspend", lambda c: c.dom.suspend()),
    Step("state", lambda c: c.dom.state(0)),
    Step("suspend again", lambda c: c.dom.suspend()),
    Step("networkLookupByName",
         lambda c: c.conn.networkLookupByName("default")),
    Step("storagePoolLookupByName",
         lambda c: c.conn.storagePoolLookupByName("default-pool"), "pool"),
    Step("pool.listVolumes", lambda c: c.pool.listVolumes()),
    Step("lookup missing", lambda c: c.conn.lookupByName("nope")),
]


class CompareMixin:
    def assertSameResults(self, mine: list[tuple[str, str]],
                          reference: list[tuple[str, str]],
                          what: str) -> None:
        """
        Assert that two runs of one scenario gave the same results, naming
        the first step that differs.
        """
        self.assertEqual([label for label, _ in mine],
                         [label for label, _ in reference])
        for (label, a), (_, b) in zip(mine, reference, strict=True):
            self.assertEqual(a, b, f"step {label!r} differs ({what}): "
                                   f"{a} != {b}")

    def assertScenarioWorked(self, results: list[tuple[str, str]]) -> None:
        """
        Equal results must not be equal failures: the short scenario found
        the domain, suspended it, and got "domain not found" for a missing
        one.
        """
        got = dict(results)
        self.assertIn("'test'", got["lookupByName"])
        self.assertEqual(got["suspend"], "0")
        self.assertEqual(got["state"], "[3, 1]")
        # The test driver refuses to suspend a paused domain (code 1).
        self.assertTrue(got["suspend again"].startswith("('error', 1, "),
                        got["suspend again"])
        self.assertTrue(got["lookup missing"].startswith("('error', 42, "),
                        got["lookup missing"])


class ConchTests(CompareMixin, unittest.TestCase):
    """
    A C{remote:ssh:} name goes through conch in-process; the private sshd
    runs C{nc -U} to a real libvirtd's socket.
    """

    timeout = 60

    def setUp(self) -> None:
        self.daemon = RealLibvirtd.forTest(self, tcp=False)
        self.sshd = PrivateSshd.forTest(self)

    def conchName(self) -> str:
        s = self.sshd
        return (f"remote:ssh:{s.user}@127.0.0.1:{s.port} "
                f"name=test:///default socket={quote(self.daemon.sock)} "
                f"keyfile={quote(s.keyfile)} "
                f"known_hosts={quote(s.knownHostsFile)}")

    async def _compare(self) -> None:
        name = self.conchName()
        # Really the conch path, not the system ssh binary.
        self.assertIsInstance(endpointFor(reactor, parse(name)), ConchEndpoint)

        reference = await runLibvirtPython(
            self.sshd.libvirtURI(self.daemon.sock), SHORT)
        await waitForFreshState(self.daemon.uri("unix"))
        steps = [*SHORT, Step("getURI", lambda c: c.conn.getURI())]
        mine = await runVirtd(name, steps)
        self.assertEqual(mine[-1], ("getURI", repr(name)))
        self.assertSameResults(mine[:-1], reference,
                               "conch vs libvirt-python over ssh")
        self.assertScenarioWorked(reference)
        # ssh is trusted but libvirt does not count it as encrypting.
        self.assertEqual(dict(reference)["isSecure"], "1")
        self.assertEqual(dict(reference)["isEncrypted"], "0")

    def test_sameAsLibvirtPython(self) -> Deferred:
        return Deferred.fromCoroutine(self._compare())


def recordURI(daemon: InProcessVirtd) -> str:
    return daemon.uri("unix") + "&framing=record"


class RecordFramingTests(CompareMixin, unittest.TestCase):
    """
    C{framing=record} against our daemon, which picks the framing from the
    first word a client sends.
    """

    def setUp(self) -> Deferred:
        d = InProcessVirtd.forTest(self)

        def started(daemon: InProcessVirtd) -> None:
            self.daemon = daemon

        return d.addCallback(started)

    def framingProbe(self) -> Step:
        """
        A step reporting the framing in use at both ends: the client's peer
        and every session the daemon holds.
        """
        dispatcher = self.daemon.service.dispatcher

        def probe(c: Any) -> tuple[str, list[str]]:
            return (c.conn.peer.framing,
                    sorted(s.peer.framing for s in dispatcher.sessions))

        return Step("framing", probe)

    async def _compare(self, recordName: str) -> None:
        steps = [self.framingProbe(), *SHORT]
        record = await runVirtd(recordName, steps)
        await waitForFreshState(self.daemon.uri("unix"))
        default = await runVirtd(self.daemon.uri("unix"), steps)
        await waitForFreshState(self.daemon.uri("unix"))
        reference = await runLibvirtPython(self.daemon.uri("unix"), SHORT)

        self.assertEqual(record[0], ("framing", repr(("record", ["record"]))))
        self.assertEqual(default[0], ("framing", repr(("length", ["length"]))))
        self.assertSameResults(record[1:], default[1:],
                               "record marking vs libvirt framing")
        self.assertSameResults(record[1:], reference,
                               "record marking vs libvirt-python")
        self.assertScenarioWorked(record[1:])

    def test_uriParameter(self) -> Deferred:
        """
        C{framing=record} as a libvirt URI parameter.
        """
        return Deferred.fromCoroutine(self._compare(recordURI(self.daemon)))

    def test_seedVariable(self) -> Deferred:
        """
        C{framing=record} as a variable of a C{remote:unix:} name.
        """
        name = (f"remote:unix:{quote(self.daemon.sock)} name=test:///default "
                f"framing=record")
        return Deferred.fromCoroutine(self._compare(name))

    async def _domainWrite(self) -> None:
        # A longer scenario (snapshots, define/undefine, typed parameters)
        # with record marking, against libvirt-python on the same daemon.
        steps = interop.domainWriteSteps()
        record = await runVirtd(recordURI(self.daemon), steps)
        await waitForFreshState(self.daemon.uri("unix"))
        reference = await runLibvirtPython(self.daemon.uri("unix"), steps)
        self.assertSameResults(record, reference,
                               "record marking vs libvirt-python")

    def test_domainWrite(self) -> Deferred:
        return Deferred.fromCoroutine(self._domainWrite())


class OurDaemonMixin(interop.SameAsLibvirtPythonMixin):
    """
    L{interop.SameAsLibvirtPythonMixin} with our daemon in place of the real
    libvirtd: the client and libvirt-python, one after the other, against
    the same L{InProcessVirtd}.
    """

    daemonOptions: dict[str, Any] = {}

    def setUp(self) -> Deferred:
        d = InProcessVirtd.forTest(self, **self.daemonOptions)

        def started(daemon: InProcessVirtd) -> None:
            self.daemon = daemon

        return d.addCallback(started)


class OurDaemonUnixTests(OurDaemonMixin, unittest.TestCase):
    """
    Every scenario the client runs against the real libvirtd, over unix
    against our daemon.
    """

    def test_host(self) -> Deferred:
        return Deferred.fromCoroutine(self.compare(interop.hostSteps()))

    def test_domainRead(self) -> Deferred:
        return Deferred.fromCoroutine(self.compare(interop.domainReadSteps()))

    def test_domainWrite(self) -> Deferred:
        return Deferred.fromCoroutine(self.compare(interop.domainWriteSteps()))

    def test_networks(self) -> Deferred:
        return Deferred.fromCoroutine(self.compare(interop.networkSteps()))

    def test_storage(self) -> Deferred:
        return Deferred.fromCoroutine(self.compare(interop.storageSteps()))

    def test_interfacesAndDevices(self) -> Deferred:
        return Deferred.fromCoroutine(
            self.compare(interop.interfaceAndDeviceSteps()))


class OurDaemonReadOnlyTests(OurDaemonMixin, unittest.TestCase):
    """
    Our read-only socket: reads pass, writes fail with the same error for
    the client as for libvirt-python.
    """

    def uriFor(self, daemon: InProcessVirtd) -> str:
        return daemon.uri("unix", readonly=True)

    def test_readAndRefusedWrites(self) -> Deferred:
        steps = [
            *interop.hostSteps()[:4],
            Step("lookupByName", lambda c: c.conn.lookupByName("test"), "dom"),
            Step("info", lambda c: c.dom.info(), norm=noCpuTime),
            Step("suspend refused", lambda c: c.dom.suspend()),
            Step("setMemory refused", lambda c: c.dom.setMemory(1048576)),
            Step("defineXML refused",
                 lambda c: c.conn.defineXML(interop.NEW_DOMAIN)),
        ]
        return Deferred.fromCoroutine(self.compare(steps))


class OurDaemonTCPTests(OurDaemonMixin, unittest.TestCase):
    """
    The short scenario over our daemon's TCP listener.
    """

    transport = "tcp"
    daemonOptions = {"tcp": True}

    def test_small(self) -> Deferred:
        return Deferred.fromCoroutine(self.compare(interop.SMALL))


class BothDaemonsTests(CompareMixin, unittest.TestCase):
    """
    The client itself against the real libvirtd and against ours: the same
    results, including where libvirt-python would hide a difference (it
    turns both an error and a null string from C{virNodeDeviceGetParent}
    into C{None}).
    """

    def setUp(self) -> Deferred:
        self.real = RealLibvirtd.forTest(self, tcp=False)
        d = InProcessVirtd.forTest(self)

        def started(daemon: InProcessVirtd) -> None:
            self.ours = daemon

        return d.addCallback(started)

    async def _compare(self, steps: list[Step]) -> list[tuple[str, str]]:
        reference = await runVirtd(self.real.uri("unix"), steps)
        mine = await runVirtd(self.ours.uri("unix"), steps)
        self.assertSameResults(mine, reference, "virtd vs libvirtd")
        return reference

    async def _short(self) -> None:
        self.assertScenarioWorked(await self._compare(SHORT))

    def test_short(self) -> Deferred:
        return Deferred.fromCoroutine(self._short())

    async def _parent(self) -> None:
        reference = dict(await self._compare([
            Step("lookup child", lambda c: c.conn.nodeDeviceLookupByName(
                "scsi_host1"), "dev"),
            Step("child parent", lambda c: c.dev.parent()),
            Step("lookup root", lambda c: c.conn.nodeDeviceLookupByName(
                "computer"), "root"),
            Step("root parent", lambda c: c.root.parent()),
        ]))
        # libvirtd answers a device without parent with a null name.
        self.assertEqual(reference["root parent"], "None")
        self.assertEqual(reference["child parent"], "'computer'")

    def test_nodeDeviceWithoutParent(self) -> Deferred:
        """
        NODE_DEVICE_GET_PARENT for the root device: libvirtd replies with a
        null parent name (its dispatcher ignores the driver's "no parent"
        error), not with an error.
        """
        return Deferred.fromCoroutine(self._parent())
