"""
Tests for the client's domain statistics (C{getAllDomainStats},
C{domainListGetStats}) through virtd's daemon core and libvirt's test
driver, in memory. That the results equal libvirt-python's against a real
libvirtd is shown by the C{domainRead} scenario of
L{tests.test_client_interop}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from virtd.client.domain import Domain
from virtd.errors import VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN, LibvirtError
from virtd.testing import MemoryVirtd

VIR_DOMAIN_STATS_STATE = 1
VIR_DOMAIN_RUNNING = 1
VIR_DOMAIN_PAUSED = 3


class DomainStatsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.memory = MemoryVirtd.forTest(self)
        self.conn = self.successResultOf(self.memory.connect())
        self.dom = self.successResultOf(self.conn.lookupByName("test"))

    def test_all(self) -> None:
        """
        One record per domain: a usable L{Domain} of this connection and
        the statistics as a dict, which follow the domain's state.
        """
        [(dom, stats)] = self.successResultOf(self.conn.getAllDomainStats())
        self.assertIsInstance(dom, Domain)
        self.assertEqual(dom.name(), "test")
        self.assertIs(dom._conn, self.conn)
        self.assertEqual(stats["state.state"], VIR_DOMAIN_RUNNING)
        self.successResultOf(dom.suspend())
        [(_, stats)] = self.successResultOf(
            self.conn.getAllDomainStats(VIR_DOMAIN_STATS_STATE))
        self.assertEqual(stats["state.state"], VIR_DOMAIN_PAUSED)

    def test_list(self) -> None:
        """
        Statistics of the domains asked for.
        """
        records = self.successResultOf(
            self.conn.domainListGetStats([self.dom], VIR_DOMAIN_STATS_STATE))
        self.assertEqual([(d.name(), sorted(s)) for d, s in records],
                         [("test", ["state.reason", "state.state"])])

    def test_listEmpty(self) -> None:
        """
        An empty list fails as libvirt's C{virDomainListGetStats} does,
        without a call.
        """
        [session] = self.memory.sessions
        calls = session.calls
        error = self.failureResultOf(self.conn.domainListGetStats([]),
                                     LibvirtError).value
        self.assertEqual(session.calls, calls)
        self.assertEqual(
            (error.get_error_code(), error.get_error_domain(),
             error.get_error_message()),
            (VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN,
             "invalid argument: doms array in virDomainListGetStats must "
             "contain at least one domain"))

    def test_listSeveralConnections(self) -> None:
        """
        Domains of two connections are refused, as by libvirt.
        """
        other = self.successResultOf(self.memory.connect())
        otherDom = self.successResultOf(other.lookupByName("test"))
        error = self.failureResultOf(
            self.conn.domainListGetStats([self.dom, otherDom]),
            LibvirtError).value
        self.assertEqual(error.get_error_code(), VIR_ERR_INVALID_ARG)
        self.assertEqual(error.get_error_domain(), VIR_FROM_DOMAIN)
        self.assertIn("must belong to a single connection",
                      error.get_error_message())

    def test_listAskedOfTheDomainsConnection(self) -> None:
        """
        As in libvirt, the domains' own connection answers, whichever
        connection the method was called on.
        """
        other = self.successResultOf(self.memory.connect())
        otherDom = self.successResultOf(other.lookupByName("test"))
        [(dom, _)] = self.successResultOf(
            self.conn.domainListGetStats([otherDom]))
        self.assertIs(dom._conn, other)

    def test_listNotDomains(self) -> None:
        """
        Anything but L{Domain} handles is a programming error.
        """
        self.failureResultOf(self.conn.domainListGetStats(["test"]),
                             TypeError)
