"""
Unit tests of a small application function, run against virtd.testing's
in-memory daemon: no sockets, no threads, no running reactor.
"""

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from virtd.testing import FakeBackend, FakeDomain, FakeHypervisor, MemoryVirtd


def inventory(conn) -> Deferred:
    """
    The code under test: C{{name: "running" | "paused" | "off"}}.
    """
    names = {1: "running", 3: "paused", 5: "off"}

    async def run():
        result = {}
        for dom in await conn.listAllDomains():
            state, _reason = await dom.state()
            result[dom.name()] = names.get(state, "other")
        return result

    return Deferred.fromCoroutine(run())


class InventoryTests(SynchronousTestCase):
    def test_testDriver(self):
        """
        Against libvirt's test driver (libvirt-python on the daemon side).
        """
        memory = MemoryVirtd.forTest(self)
        conn = self.successResultOf(memory.connect())
        dom = self.successResultOf(conn.lookupByName("test"))
        self.successResultOf(dom.suspend())
        self.assertEqual(self.successResultOf(inventory(conn)),
                         {"test": "paused"})

    def test_fake(self):
        """
        Against a fake host: no libvirt-python needed.
        """
        host = FakeHypervisor([FakeDomain("web"),
                               FakeDomain("db", state=5)])
        memory = MemoryVirtd.forTest(self, backend=FakeBackend(host))
        conn = self.successResultOf(memory.connect())
        self.assertEqual(self.successResultOf(inventory(conn)),
                         {"web": "running", "db": "off"})
