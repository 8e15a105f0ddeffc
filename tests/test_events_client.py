"""
Events end to end with virtd's own client: the same operations give the
same events from a real libvirtd and from our daemon; local fan-out; a
failing callback is logged and the connection lives on; only the client
that registered gets events.
"""

from __future__ import annotations

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from tests.support import RealLibvirtd
from tests.test_server_fixture import InProcessVirtd, inThread
from virtd import connect
from virtd.errors import LibvirtError

LIFECYCLE, REBOOT, METADATA = 0, 1, 23
NS = "http://virtd.example/events"


def sleep(seconds: float) -> defer.Deferred:
    return task.deferLater(reactor, seconds, lambda: None)


async def waitFor(predicate, seconds: float = 10.0) -> None:
    deadline = reactor.seconds() + seconds
    while not predicate() and reactor.seconds() < deadline:
        await sleep(0.02)


def setMetadata(uri: str, calls: list[tuple]) -> None:
    """
    Thread: set metadata of C{test} through libvirt-python (virtd's client
    has no setMetadata).
    """
    import libvirt

    conn = libvirt.open(uri)
    try:
        dom = conn.lookupByName("test")
        for args in calls:
            dom.setMetadata(*args)
    finally:
        conn.close()


class Recorder:
    """
    Callbacks with libvirt-python's signatures that record what they get.
    """

    def __init__(self) -> None:
        self.seen: list[tuple] = []

    def domain(self, conn, dom, *rest):
        *values, opaque = rest
        self.seen.append((opaque, dom.name(), *values))

    def obj(self, conn, obj, *rest):
        *values, opaque = rest
        self.seen.append((opaque, obj.name(), *values))


class ClientEventTests(unittest.TestCase):
    timeout = 120

    async def scenario(self, uri: str) -> list[tuple]:
        rec = Recorder()
        listener = await connect(uri)
        actor = await connect(uri)
        try:
            test = await listener.lookupByName("test")
            ids = [
                await listener.domainEventRegisterAny(
                    None, LIFECYCLE, rec.domain, "lifecycle"),
                await listener.domainEventRegisterAny(
                    None, REBOOT, rec.domain, "reboot"),
                await listener.domainEventRegisterAny(
                    test, METADATA, rec.domain, "metadata"),
                await listener.networkEventRegisterAny(
                    None, 0, rec.obj, "network"),
                await listener.storagePoolEventRegisterAny(
                    None, 0, rec.obj, "pool"),
                await listener.storagePoolEventRegisterAny(
                    None, 1, rec.obj, "refresh"),
            ]
            dom = await actor.lookupByName("test")
            await dom.suspend()
            await dom.resume()
            await dom.destroy()
            await dom.create()
            await inThread(setMetadata, uri, [(2, "<a/>", "x", NS, 0),
                                              (0, "described", None, None, 0)])
            net = await actor.networkLookupByName("default")
            await net.destroy()
            await net.create()
            pool = await actor.storagePoolLookupByName("default-pool")
            await pool.refresh(0)
            await pool.destroy()
            await pool.create(0)
            await waitFor(lambda: len(rec.seen) >= 11)
            await sleep(0.2)
            # Each returns nothing, as libvirt-python's do.
            self.assertEqual(
                [await listener.domainEventDeregisterAny(ids[0]),
                 await listener.domainEventDeregisterAny(ids[1]),
                 await listener.domainEventDeregisterAny(ids[2]),
                 await listener.networkEventDeregisterAny(ids[3]),
                 await listener.storagePoolEventDeregisterAny(ids[4]),
                 await listener.storagePoolEventDeregisterAny(ids[5])],
                [None] * 6)
            # Nothing arrives after deregistering.
            count = len(rec.seen)
            await dom.suspend()
            await dom.resume()
            await sleep(0.2)
            self.assertEqual(len(rec.seen), count)
        finally:
            await actor.close()
            await listener.close()
        return rec.seen

    def test_sameEventsAsLibvirtd(self) -> defer.Deferred:
        """
        Lifecycle, metadata-change, network and pool events reach our
        client alike from libvirtd and from our daemon.
        """
        async def check() -> None:
            real = RealLibvirtd.forTest(self, tcp=False)
            ours = await InProcessVirtd.forTest(self)
            mine = await self.scenario(ours.uri("unix"))
            theirs = await self.scenario(real.uri("unix"))
            self.assertEqual(mine, theirs)
            self.assertEqual(mine, [
                ("lifecycle", "test", 3, 0), ("lifecycle", "test", 4, 0),
                ("lifecycle", "test", 5, 1), ("lifecycle", "test", 2, 0),
                ("metadata", "test", 2, NS), ("metadata", "test", 0, None),
                ("network", "default", 3, 0), ("network", "default", 2, 0),
                ("refresh", "default-pool"),
                ("pool", "default-pool", 3, 0), ("pool", "default-pool", 2, 0),
            ])

        return defer.Deferred.fromCoroutine(check())


class FanOutTests(unittest.TestCase):
    timeout = 60

    def setUp(self) -> defer.Deferred:
        d = InProcessVirtd.forTest(self)

        def started(daemon):
            self.daemon = daemon
        return d.addCallback(started)

    def registry(self):
        # Every session's event registrations in our daemon.
        return [s.events for s in self.daemon.service.dispatcher.sessions]

    def test_localFanOutAndBadCallback(self) -> defer.Deferred:
        """
        Two local callbacks of one key share one server registration;
        removing one keeps the other; a callback that raises is logged and
        the others still run.
        """
        async def check() -> None:
            conn = await connect(self.daemon.uri())
            self.addCleanup(conn.close)
            rec = Recorder()

            def broken(conn, dom, event, detail, opaque):
                raise RuntimeError("callback bug")

            a = await conn.domainEventRegisterAny(None, 0, rec.domain, "a")
            b = await conn.domainEventRegisterAny(None, 0, broken, None)
            c = await conn.domainEventRegisterAny(None, 0, rec.domain, "c")
            self.assertEqual(len({a, b, c}), 3)
            sessions = self.registry()
            self.assertEqual([len(s) for s in sessions], [1])
            dom = await conn.lookupByName("test")
            await dom.suspend()
            await waitFor(lambda: len(rec.seen) >= 2)
            self.assertEqual(rec.seen, [("a", "test", 3, 0),
                                        ("c", "test", 3, 0)])
            errors = self.flushLoggedErrors(RuntimeError)
            self.assertEqual(len(errors), 1)
            await conn.domainEventDeregisterAny(a)
            await conn.domainEventDeregisterAny(b)
            await dom.resume()
            await waitFor(lambda: len(rec.seen) >= 3)
            self.assertEqual(rec.seen[2:], [("c", "test", 4, 0)])
            self.assertEqual([len(s) for s in self.registry()], [1])
            await conn.domainEventDeregisterAny(c)
            await waitFor(lambda: self.registry() == [{}])
            self.assertEqual(self.registry(), [{}])
            try:
                await conn.domainEventDeregisterAny(c)
            except LibvirtError as e:
                self.assertEqual(e.get_error_code(), 8)  # INVALID_ARG
            else:
                self.fail("deregistering twice succeeded")

        return defer.Deferred.fromCoroutine(check())

    def test_onlyTheRegisteringClient(self) -> defer.Deferred:
        """
        Events go to the client that registered for them, not to another
        client of the same daemon, and not for other domains when a domain
        was named.
        """
        async def check() -> None:
            one = await connect(self.daemon.uri())
            two = await connect(self.daemon.uri())
            self.addCleanup(one.close)
            self.addCleanup(two.close)
            frames: list = []
            original = two.peer.eventHandler

            def spy(header, payload):
                frames.append(header.proc)
                original(header, payload)

            two.peer.eventHandler = spy
            rec = Recorder()
            dom = await one.lookupByName("test")
            await one.domainEventRegisterAny(dom, 0, rec.domain, "one")
            await two.networkEventRegisterAny(None, 0, rec.obj, "two")
            other = await one.defineXML(
                "<domain type='test'><name>evother</name>"
                "<memory>65536</memory><os><type>hvm</type></os></domain>")
            await other.create()
            await other.destroy()
            await other.undefine()
            await dom.suspend()
            await dom.resume()
            await waitFor(lambda: len(rec.seen) >= 2)
            await sleep(0.2)
            self.assertEqual(rec.seen, [("one", "test", 3, 0),
                                        ("one", "test", 4, 0)])
            self.assertEqual(frames, [])

        return defer.Deferred.fromCoroutine(check())

    def test_abruptDisconnectLeavesNothing(self) -> defer.Deferred:
        """
        A client that registers and drops its connection without
        deregistering leaves no registration in the daemon; events fired
        afterwards go nowhere and raise nothing.
        """
        async def check() -> None:
            gone = await connect(self.daemon.uri())
            actor = await connect(self.daemon.uri())
            self.addCleanup(actor.close)
            for eventID in (0, 1, 23):
                await gone.domainEventRegisterAny(None, eventID,
                                                  lambda *a: None, None)
            await gone.networkEventRegisterAny(None, 0, lambda *a: None, None)
            self.assertEqual(sorted(len(s) for s in self.registry()), [0, 4])
            gone.peer.transport.abortConnection()
            await waitFor(lambda: len(self.daemon.service.dispatcher.sessions)
                          == 1)
            await sleep(0.2)  # the worker closes the libvirt connection
            self.assertEqual(self.registry(), [{}])
            dom = await actor.lookupByName("test")
            await dom.suspend()
            await dom.resume()
            await inThread(setMetadata, self.daemon.uri(),
                           [(0, "after", None, None, 0)])
            net = await actor.networkLookupByName("default")
            await net.destroy()
            await net.create()
            await sleep(0.3)
            self.assertEqual(self.registry(), [{}])

        return defer.Deferred.fromCoroutine(check())
