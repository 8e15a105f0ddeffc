"""
The wire side of event registration, with a raw RPC peer: the legacy
procedures old clients use (wire facts 6.4) answer as libvirtd answers them,
and a client that registers and stops reading is dropped instead of making
the daemon hold its events without bound.
"""

from __future__ import annotations

from twisted.internet import defer, reactor, task
from twisted.internet.endpoints import UNIXClientEndpoint, connectProtocol
from twisted.logger import globalLogPublisher
from twisted.trial import unittest

from tests.support import RealLibvirtd
from tests.test_server_fixture import InProcessVirtd
from virtd.errors import LibvirtError
from virtd.protocol import remote
from virtd.rpc.peer import RPCPeer
from virtd.server import events as serverEvents

P = remote.BY_NAME


def sleep(seconds: float) -> defer.Deferred:
    return task.deferLater(reactor, seconds, lambda: None)


async def openPeer(sock: str) -> tuple[RPCPeer, list]:
    """
    A raw RPC peer with an open C{test:///default} connection, recording
    the events it receives as C{(proc, decoded message)}.
    """
    peer = RPCPeer(reactor)
    await connectProtocol(UNIXClientEndpoint(reactor, sock), peer)
    received: list = []
    peer.eventHandler = lambda h, p: received.append(
        (h.proc, remote.PROCEDURES[h.proc].ret.decode(p)))
    await peer.call(P["CONNECT_OPEN"], ("test:///default", 0))
    return peer, received


class LegacyRegistrationTests(unittest.TestCase):
    timeout = 60

    async def exchange(self, sock: str) -> tuple[list, list]:
        peer, received = await openPeer(sock)
        answers: list = []

        async def call(name: str, args: tuple | None = None) -> None:
            try:
                answers.append((name, args, await peer.call(P[name], args)))
            except LibvirtError as e:
                answers.append((name, args, e.err[:3]))

        await call("CONNECT_DOMAIN_EVENT_REGISTER")
        await call("CONNECT_DOMAIN_EVENT_REGISTER_ANY", (23,))
        await call("CONNECT_DOMAIN_EVENT_REGISTER_ANY", (0,))
        await call("CONNECT_DOMAIN_EVENT_REGISTER_ANY", (99,))
        await call("CONNECT_DOMAIN_EVENT_REGISTER_ANY", (1,))
        dom = (await peer.call(P["DOMAIN_LOOKUP_BY_NAME"], ("test",))).dom
        await peer.call(P["DOMAIN_SUSPEND"], (dom,))
        await peer.call(P["DOMAIN_RESUME"], (dom,))
        for _ in range(100):
            if len(received) >= 2:
                break
            await sleep(0.02)
        await sleep(0.2)
        await call("CONNECT_DOMAIN_EVENT_DEREGISTER")
        await call("CONNECT_DOMAIN_EVENT_DEREGISTER")
        await call("CONNECT_DOMAIN_EVENT_DEREGISTER_ANY", (1,))
        await call("CONNECT_DOMAIN_EVENT_DEREGISTER_ANY", (1,))
        await call("CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY", (7,))
        await peer.call(P["CONNECT_CLOSE"])
        return answers, received

    def test_sameAsLibvirtd(self) -> defer.Deferred:
        """
        105/106/167/168 answer as libvirtd's do, and events come as the
        legacy C{DOMAIN_EVENT_LIFECYCLE} (107) without a callback ID.
        """
        async def check() -> None:
            real = RealLibvirtd.forTest(self, tcp=False)
            ours = await InProcessVirtd.forTest(self)
            mine = await self.exchange(ours.sock)
            theirs = await self.exchange(real.sock)
            self.assertEqual(mine, theirs)
            answers, received = mine
            self.assertEqual([proc for proc, _ in received], [107, 107])
            self.assertEqual([(m.event, m.detail) for _, m in received],
                             [(3, 0), (4, 0)])
            self.assertEqual(answers[1][2][:2], (1, 7))  # 23 has no legacy form
            self.assertEqual(answers[2][2][:2], (8, 0))  # already tracked

        return defer.Deferred.fromCoroutine(check())


class SlowConsumerTests(unittest.TestCase):
    timeout = 60

    def test_droppedWhenNotReading(self) -> defer.Deferred:
        """
        A client that registers and stops reading is disconnected once its
        unread output passes the cap, and the log says why.
        """
        self.patch(serverEvents, "MAX_EVENT_BACKLOG", 64 * 1024)
        logged: list[str] = []

        def observe(event: dict) -> None:
            text = event.get("log_format") or ""
            if "stopped reading" in text:
                logged.append(text)

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)

        async def check() -> None:
            daemon = await InProcessVirtd.forTest(self)
            sessions = daemon.service.dispatcher.sessions
            slow, _ = await openPeer(daemon.sock)
            await slow.call(P["CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY"],
                            (23, None))
            slow.transport.pauseProducing()  # never reads again
            lost = slow.whenLost()
            actor, _ = await openPeer(daemon.sock)
            dom = (await actor.call(P["DOMAIN_LOOKUP_BY_NAME"], ("test",))).dom
            uri = "http://virtd.example/" + "a" * 60000
            for _ in range(200):
                if len(sessions) == 1:
                    break
                await actor.call(P["DOMAIN_SET_METADATA"],
                                 (dom, 2, "<a/>", "x", uri, 0))
                await sleep(0.01)
            self.assertEqual(len(sessions), 1, "the slow client is still "
                             "connected")
            self.assertEqual(len(logged), 1)
            # Once it reads again, it finds itself disconnected.
            slow.transport.resumeProducing()
            reasons: list = []
            await lost.addBoth(reasons.append)
            self.assertEqual(len(reasons), 1)
            # The daemon keeps serving the client that reads.
            await actor.call(P["DOMAIN_SUSPEND"], (dom,))
            await actor.call(P["DOMAIN_RESUME"], (dom,))
            await actor.call(P["CONNECT_CLOSE"])

        return defer.Deferred.fromCoroutine(check())
