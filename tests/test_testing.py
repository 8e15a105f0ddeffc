"""
L{virtd.testing}: the in-memory daemon, used the way a virtd user would in
their own unit tests (a L{SynchronousTestCase}, no reactor, no sockets).
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from virtd.errors import (
    VIR_ERR_NO_DOMAIN,
    VIR_ERR_NO_SUPPORT,
    VIR_ERR_OPERATION_DENIED,
    VIR_ERR_OPERATION_INVALID,
    VIR_ERR_OPERATION_TIMEOUT,
    LibvirtError,
)
from virtd.server.config import ServerConfig
from virtd.testing import FakeBackend, FakeDomain, FakeHypervisor, MemoryVirtd

VIR_DOMAIN_RUNNING = 1
VIR_DOMAIN_PAUSED = 3
VIR_DOMAIN_SHUTOFF = 5


# -- the "application code" a user would test --------------------------------

async def pauseAll(conn) -> list[str]:
    """
    Suspend every running domain; return their names.
    """
    paused = []
    for dom in await conn.listAllDomains():
        state, _reason = await dom.state()
        if state == VIR_DOMAIN_RUNNING:
            await dom.suspend()
            paused.append(dom.name())
    return paused


def summary(conn) -> Deferred:
    """
    C{{name: (state, memory KiB)}} of every domain.
    """
    async def run() -> dict:
        result = {}
        for dom in await conn.listAllDomains():
            info = await dom.info()
            result[dom.name()] = (info[0], info[2])
        return result

    return Deferred.fromCoroutine(run())


class LibvirtBackendTests(SynchronousTestCase):
    """
    The default backend: libvirt-python's C{test:///default}, every call
    answered before the method returns.
    """

    def setUp(self) -> None:
        self.memory = MemoryVirtd.forTest(self)
        self.conn = self.successResultOf(self.memory.connect())

    def test_userCode(self) -> None:
        """
        Application code runs against the test driver synchronously.
        """
        paused = self.successResultOf(
            Deferred.fromCoroutine(pauseAll(self.conn)))
        self.assertEqual(paused, ["test"])
        self.assertEqual(self.successResultOf(summary(self.conn)),
                         {"test": (VIR_DOMAIN_PAUSED, 2097152)})
        dom = self.successResultOf(self.conn.lookupByName("test"))
        self.successResultOf(dom.resume())
        # running, reason 5: unpaused
        self.assertEqual(self.successResultOf(dom.state()),
                         [VIR_DOMAIN_RUNNING, 5])

    def test_identity(self) -> None:
        """
        The connection is the test driver's, opened through the daemon.
        """
        self.assertEqual(self.successResultOf(self.conn.getType()), "TEST")
        self.assertEqual(self.successResultOf(self.conn.getURI()),
                         "test:///default")
        self.assertEqual(len(self.memory.sessions), 1)

    def test_errors(self) -> None:
        """
        libvirt's errors arrive as L{LibvirtError} with libvirt's code.
        """
        failure = self.failureResultOf(self.conn.lookupByName("nope"),
                                       LibvirtError)
        self.assertEqual(failure.value.get_error_code(), VIR_ERR_NO_DOMAIN)

    def test_readonly(self) -> None:
        """
        A read-only client may look but not change, as on the read-only
        socket.
        """
        ro = self.successResultOf(self.memory.connect(readonly=True))
        dom = self.successResultOf(ro.lookupByName("test"))
        self.assertEqual(self.successResultOf(dom.info())[0],
                         VIR_DOMAIN_RUNNING)
        failure = self.failureResultOf(dom.suspend(), LibvirtError)
        self.assertEqual(failure.value.get_error_code(),
                         VIR_ERR_OPERATION_DENIED)

    def test_close(self) -> None:
        """
        Closing the client ends its session in the daemon.
        """
        self.successResultOf(self.conn.close())
        self.assertEqual(self.conn.isAlive(), 0)
        self.assertEqual(self.memory.sessions, set())

    def test_dropClients(self) -> None:
        """
        When the daemon drops its clients, their close callbacks run and
        calls fail with a clear error.
        """
        reasons = []
        self.successResultOf(self.conn.registerCloseCallback(
            lambda conn, reason, opaque: reasons.append((reason, opaque)), "x"))
        self.memory.dropClients()
        self.assertEqual(reasons, [(1, "x")])  # EOF, as over a unix socket
        failure = self.failureResultOf(self.conn.getHostname(), LibvirtError)
        self.assertIn("client socket is closed", str(failure.value))

    def test_stopped(self) -> None:
        """
        A stopped daemon refuses new clients.
        """
        self.memory.stop()
        self.failureResultOf(self.memory.connect())


class ManualFlushTests(SynchronousTestCase):
    """
    With C{autoFlush=False} a test sees calls in flight.
    """

    def setUp(self) -> None:
        self.memory = MemoryVirtd.forTest(self, autoFlush=False)
        d = self.memory.connect()
        self.assertNoResult(d)
        self.memory.flush()
        self.conn = self.successResultOf(d)

    def test_inFlight(self) -> None:
        """
        A call is answered at the next flush.
        """
        d = self.conn.getHostname()
        self.assertNoResult(d)
        self.assertTrue(self.memory.flush())
        self.assertIsInstance(self.successResultOf(d), str)

    def test_timeout(self) -> None:
        """
        The clock is the memory daemon's: a call's timeout fires when the
        test moves time, and the late reply is dropped.
        """
        d = self.conn.getHostname(timeout=5)
        self.memory.advance(5)
        failure = self.failureResultOf(d, LibvirtError)
        self.assertEqual(failure.value.get_error_code(),
                         VIR_ERR_OPERATION_TIMEOUT)
        self.assertTrue(self.conn.isAlive())

    def test_cancel(self) -> None:
        """
        Cancelling a call in flight forgets it.
        """
        d = self.conn.listAllDomains()
        d.cancel()
        self.memory.flush()
        self.failureResultOf(d)
        self.assertTrue(self.conn.isAlive())

    def test_manyInFlight(self) -> None:
        """
        More calls than C{maxClientRequests} in flight all complete: the
        daemon pauses reading and resumes, as on a socket.
        """
        calls = [self.conn.getHostname() for _ in range(12)]
        self.memory.flush()
        self.assertEqual(len({self.successResultOf(d) for d in calls}), 1)


class FakeBackendTests(SynchronousTestCase):
    """
    C{backend="fake"}: no libvirt-python involved on either side.
    """

    def setUp(self) -> None:
        self.hv = FakeHypervisor([
            FakeDomain("web", memory=524288),
            FakeDomain("db", state=VIR_DOMAIN_SHUTOFF),
        ], hostname="host1")
        self.memory = MemoryVirtd.forTest(self, backend=FakeBackend(self.hv))
        self.conn = self.successResultOf(self.memory.connect())

    def test_lookups(self) -> None:
        """
        Lists, lookups, info and the host's identity come from the
        L{FakeHypervisor}.
        """
        self.assertEqual(self.successResultOf(self.conn.getHostname()), "host1")
        doms = self.successResultOf(self.conn.listAllDomains())
        self.assertEqual([(d.name(), d.ID()) for d in doms],
                         [("web", 1), ("db", -1)])
        self.assertEqual(self.successResultOf(summary(self.conn)),
                         {"web": (VIR_DOMAIN_RUNNING, 524288),
                          "db": (VIR_DOMAIN_SHUTOFF, 1048576)})
        active = self.successResultOf(self.conn.listAllDomains(1))
        self.assertEqual([d.name() for d in active], ["web"])

    def test_lifecycle(self) -> None:
        """
        Suspend, resume, create and destroy change the fake's state, which
        the test can inspect directly.
        """
        paused = self.successResultOf(
            Deferred.fromCoroutine(pauseAll(self.conn)))
        self.assertEqual(paused, ["web"])
        self.assertEqual(self.hv.domains[0].state, VIR_DOMAIN_PAUSED)
        db = self.successResultOf(self.conn.lookupByName("db"))
        self.successResultOf(db.create())
        self.assertEqual(self.hv.domains[1].id, 2)
        failure = self.failureResultOf(db.create(), LibvirtError)
        self.assertEqual(failure.value.get_error_code(),
                         VIR_ERR_OPERATION_INVALID)
        self.assertIn(("DOMAIN_CREATE", (("db", self.hv.domains[1].rawUUID(),
                                          -1),)),
                      [(n, tuple(a)) for n, a in self.hv.calls])

    def test_errors(self) -> None:
        """
        Unknown domains fail as with libvirt; procedures the fake lacks
        answer "not supported".
        """
        failure = self.failureResultOf(self.conn.lookupByName("x"),
                                       LibvirtError)
        self.assertEqual(failure.value.get_error_code(), VIR_ERR_NO_DOMAIN)
        failure = self.failureResultOf(self.conn.getCapabilities(),
                                       LibvirtError)
        self.assertEqual(failure.value.get_error_code(), VIR_ERR_NO_SUPPORT)

    def test_sharedHost(self) -> None:
        """
        Every client sees the same fake host, like clients of one daemon.
        """
        other = self.successResultOf(self.memory.connect())
        web = self.successResultOf(other.lookupByName("web"))
        self.successResultOf(web.suspend())
        dom = self.successResultOf(self.conn.lookupByName("web"))
        self.assertEqual(self.successResultOf(dom.state())[0],
                         VIR_DOMAIN_PAUSED)

    def test_allowURI(self) -> None:
        """
        The daemon's URI policy applies, as configured.
        """
        memory = MemoryVirtd.forTest(
            self, backend="fake", config=ServerConfig(allowURIs=["test:///*"]))
        self.successResultOf(memory.connect("test:///default"))
        failure = self.failureResultOf(memory.connect("fake:///other"),
                                       LibvirtError)
        self.assertEqual(failure.value.get_error_code(),
                         VIR_ERR_OPERATION_DENIED)

    def test_noListeners(self) -> None:
        """
        A configuration naming a socket is refused: nothing listens.
        """
        self.assertRaises(ValueError, MemoryVirtd,
                          config=ServerConfig(unix="/tmp/x"))
