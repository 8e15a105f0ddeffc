"""
Events through the daemon (wire facts 6.2): a libvirt-python client
registers domain, network and pool lifecycle callbacks; the same operations
produce the same events from our daemon as from a real libvirtd.
"""

from __future__ import annotations

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from tests.support import RealLibvirtd
from tests.test_server_fixture import InProcessVirtd, inThread


class EventTests(unittest.TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        self.real = RealLibvirtd.forTest(self, tcp=False)
        self.ours = yield InProcessVirtd.forTest(self)

    @defer.inlineCallbacks
    def scenario(self, uri: str):
        import libvirt

        from virtd import eventloop

        eventloop.install(reactor)  # the client's callbacks run here too
        seen = []
        conn = yield inThread(libvirt.open, uri)

        def domainEvent(conn, dom, event, detail, opaque):
            seen.append(("domain", dom.name(), event, detail))

        def rebootEvent(conn, dom, opaque):
            seen.append(("reboot", dom.name()))

        def networkEvent(conn, net, event, detail, opaque):
            seen.append(("network", net.name(), event, detail))

        def poolEvent(conn, pool, event, detail, opaque):
            seen.append(("pool", pool.name(), event, detail))

        ids = yield inThread(lambda: [
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, domainEvent, None),
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_REBOOT, rebootEvent, None),
            conn.networkEventRegisterAny(
                None, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE, networkEvent,
                None),
            conn.storagePoolEventRegisterAny(
                None, libvirt.VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE, poolEvent,
                None)])

        def operate():
            dom = conn.lookupByName("test")
            dom.suspend()
            dom.resume()
            dom.destroy()
            dom.create()
            net = conn.networkLookupByName("default")
            net.destroy()
            net.create()
            pool = conn.storagePoolLookupByName("default-pool")
            pool.destroy()
            pool.create()

        yield inThread(operate)
        for _ in range(100):
            if len(seen) >= 8:
                break
            yield task.deferLater(reactor, 0.05, lambda: None)
        yield task.deferLater(reactor, 0.2, lambda: None)

        def cleanup():
            conn.domainEventDeregisterAny(ids[0])
            conn.domainEventDeregisterAny(ids[1])
            conn.networkEventDeregisterAny(ids[2])
            conn.storagePoolEventDeregisterAny(ids[3])
            conn.close()

        yield inThread(cleanup)
        return seen

    @defer.inlineCallbacks
    def test_sameEventsAsLibvirtd(self):
        mine = yield self.scenario(self.ours.uri("unix"))
        theirs = yield self.scenario(self.real.uri("unix"))
        self.assertEqual(len(mine), 8, mine)
        self.assertEqual(mine, theirs)
