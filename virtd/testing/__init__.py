"""
Helpers for unit-testing code that uses virtd's client, in the spirit of
C{treq.testing}: an in-memory daemon and connected clients, with no
sockets, no threads and no running reactor.

    from twisted.trial.unittest import SynchronousTestCase
    from virtd.testing import MemoryVirtd

    class MyTests(SynchronousTestCase):
        def test_info(self):
            memory = MemoryVirtd.forTest(self)            # test:///default
            conn = self.successResultOf(memory.connect())
            dom = self.successResultOf(conn.lookupByName("test"))
            state = self.successResultOf(dom.info())[0]

L{MemoryVirtd} runs virtd's real daemon core with libvirt-python's test
driver (C{backend="libvirt"}, the default) or, where libvirt-python is not
installed, a small L{FakeBackend} (C{backend="fake"}) that knows domains,
their state and the connection's identity.
"""

from virtd.testing.daemon import MemoryVirtd
from virtd.testing.fake import (
    FAKE_HANDLERS,
    FakeBackend,
    FakeDomain,
    FakeHypervisor,
)
from virtd.testing.memory import InlineWorkerPool, Loopback, Pump

__all__ = [
    "FAKE_HANDLERS", "FakeBackend", "FakeDomain", "FakeHypervisor",
    "InlineWorkerPool", "Loopback", "MemoryVirtd", "Pump",
]
