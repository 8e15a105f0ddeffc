"""
Real programs receiving events through our daemon: C{virsh event} and
libvirt-python with L{virtd.eventloop} (no default event loop, no extra
thread), each compared with what they get from a real libvirtd.
"""

from __future__ import annotations

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from tests.support import RealLibvirtd, runVirshDeferred
from tests.test_server_fixture import InProcessVirtd, inThread
from virtd import connect


def sleep(seconds: float) -> defer.Deferred:
    return task.deferLater(reactor, seconds, lambda: None)


class VirshEventTests(unittest.TestCase):
    timeout = 120

    async def virshEvents(self, uri: str) -> str:
        # virsh keeps its connection open (and so the test driver's state)
        # while another session suspends, resumes, destroys and starts.
        running = runVirshDeferred(
            uri, ["event", "--all", "--loop", "--timeout", "4"], timeout=30)
        await sleep(1.5)
        actor = await connect(uri)
        try:
            dom = await actor.lookupByName("test")
            for step in (dom.suspend, dom.resume, dom.destroy, dom.create):
                await step()
                await sleep(0.1)
        finally:
            await actor.close()
        rc, out, err = await running
        self.assertEqual(rc, 0, err)
        return out

    def test_virshEventAll(self) -> defer.Deferred:
        """
        C{virsh event --all --loop --timeout 4} prints the same lines from
        our daemon as from libvirtd.
        """
        async def check() -> None:
            real = RealLibvirtd.forTest(self, tcp=False)
            ours = await InProcessVirtd.forTest(self)
            mine = await self.virshEvents(ours.uri("unix"))
            theirs = await self.virshEvents(real.uri("unix"))
            self.assertEqual(mine, theirs)
            self.assertIn(
                "event 'lifecycle' for domain 'test': Suspended Paused\n"
                "event 'lifecycle' for domain 'test': Resumed Unpaused\n"
                "event 'lifecycle' for domain 'test': Stopped Destroyed\n"
                "event 'lifecycle' for domain 'test': Started Booted\n",
                mine)
            self.assertIn("events received: 4", mine)

        return defer.Deferred.fromCoroutine(check())


class LibvirtPythonEventTests(unittest.TestCase):
    timeout = 120

    async def scenario(self, uri: str) -> list[tuple]:
        import libvirt

        from virtd import eventloop

        eventloop.install(reactor)
        seen: list[tuple] = []

        def record(conn, dom, *rest):
            *values, opaque = rest
            seen.append((opaque, dom.name(), *values))

        def legacy(conn, dom, event, detail, opaque):
            seen.append(("legacy", dom.name(), event, detail))

        conn = await inThread(libvirt.open, uri)

        def register():
            # Every domain event ID libvirt 9.0 has, plus the legacy API.
            ids = [conn.domainEventRegisterAny(None, i, record, i)
                   for i in range(27)]  # VIR_DOMAIN_EVENT_ID_LAST in 9.0
            conn.domainEventRegister(legacy, None)
            return ids

        ids = await inThread(register)

        def operate():
            dom = conn.lookupByName("test")
            dom.suspend()
            dom.resume()
            dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_TITLE, "T", None,
                            None, 0)
            dom.destroy()
            dom.create()

        await inThread(operate)
        for _ in range(200):
            if len(seen) >= 9:
                break
            await sleep(0.02)
        await sleep(0.2)

        def cleanup():
            for i in ids:
                conn.domainEventDeregisterAny(i)
            conn.domainEventDeregister(legacy)
            conn.close()

        await inThread(cleanup)
        return seen

    def test_allDomainEventsSameAsLibvirtd(self) -> defer.Deferred:
        """
        libvirt-python on the reactor's event loop registers every domain
        event ID with our daemon as with libvirtd and gets the same events.
        """
        async def check() -> None:
            real = RealLibvirtd.forTest(self, tcp=False)
            ours = await InProcessVirtd.forTest(self)
            mine = await self.scenario(ours.uri("unix"))
            theirs = await self.scenario(real.uri("unix"))
            self.assertEqual(mine, theirs)
            self.assertEqual(sorted(mine, key=repr), sorted([
                (0, "test", 3, 0), ("legacy", "test", 3, 0),
                (0, "test", 4, 0), ("legacy", "test", 4, 0),
                (23, "test", 1, None),
                (0, "test", 5, 1), ("legacy", "test", 5, 1),
                (0, "test", 2, 0), ("legacy", "test", 2, 0)], key=repr))

        return defer.Deferred.fromCoroutine(check())
