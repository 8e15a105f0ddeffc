"""
L{MemoryVirtd}: the real daemon core (dispatcher, sessions, read-only
checks, handlers) and the real client, joined in memory.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.testing import MemoryReactorClock
from zope.interface import implementer

from virtd.server.backend import IBackend
from virtd.server.config import ServerConfig
from virtd.server.service import RPCServerFactory, VirtdService
from virtd.server.session import ListenerInfo
from virtd.testing.fake import FAKE_HANDLERS, FakeBackend
from virtd.testing.memory import InlineWorkerPool, Loopback, Pump

__all__ = ["MemoryVirtd"]


@implementer(IStreamClientEndpoint)
class _MemoryEndpoint:
    """
    A client endpoint whose C{connect} joins the protocol to a new session
    of a L{MemoryVirtd}, as if it had connected to one of its sockets.
    """

    def __init__(self, daemon: MemoryVirtd, listener: ListenerInfo) -> None:
        self.daemon = daemon
        self.listener = listener

    def connect(self, factory: Any) -> Deferred:
        daemon = self.daemon
        if not daemon.running:
            return fail(ConnectionRefusedError("the MemoryVirtd is stopped"))
        serverFactory = RPCServerFactory(daemon.service, self.listener)
        server = serverFactory.buildProtocol(None)
        if server is None:
            return fail(ConnectionRefusedError(
                "the MemoryVirtd is at its max-clients limit"))
        client = factory.buildProtocol(None)
        link = Loopback(daemon.pump, client, server)
        daemon.pump.links.append(link)
        link.start()
        daemon.pump.poke()
        return succeed(client)


class MemoryVirtd:
    """
    An in-memory virtd and the clients connected to it, for unit tests: no
    sockets, no threads, no running reactor.

    The daemon side is virtd's own (L{VirtdService}'s dispatcher, sessions,
    read-only enforcement, handlers); the client side is L{virtd.connect}'s
    L{virtd.client.Connection}. Between them bytes go through
    L{StringTransport}s, and the daemon's worker pools are replaced with
    L{InlineWorkerPool}s that run each libvirt call on the test's thread.

    By default everything moves at once: a call's Deferred has fired by the
    time the method returns, so a
    L{SynchronousTestCase<twisted.trial.unittest.SynchronousTestCase>} can
    write::

        memory = MemoryVirtd.forTest(self)
        conn = self.successResultOf(memory.connect())
        dom = self.successResultOf(conn.lookupByName("test"))
        self.assertEqual(self.successResultOf(dom.info())[0], 1)

    With C{autoFlush=False} nothing moves until L{flush}, which lets a test
    look at a call while it is in flight (cancel it, or let a timeout fire
    with L{advance}).

    Events: the libvirt backend delivers events through libvirt's event
    loop, which needs a running reactor (see L{virtd.eventloop}); the
    in-memory daemon has none, so test event code against a daemon on real
    sockets.

    @ivar clock: the L{MemoryReactorClock} both sides use for timeouts and
        keepalive; move time with L{advance}.
    @ivar service: the L{VirtdService} (started, listening nowhere).
    @ivar backend: the L{IBackend} sessions open their connections with.
    @ivar config: the L{ServerConfig}.
    @ivar pump: the L{Pump} moving bytes and running jobs.
    """

    def __init__(self, backend: str | IBackend = "libvirt",
                 uri: str | None = None, config: ServerConfig | None = None,
                 handlers: dict | None = None, autoFlush: bool = True,
                 clock: MemoryReactorClock | None = None) -> None:
        """
        Start the daemon.

        @param backend: C{"libvirt"} (libvirt-python, by default on
            C{test:///default}), C{"fake"} (a L{FakeBackend}, no libvirt
            needed) or any L{IBackend} provider.
        @param uri: the hypervisor a client gets by default (C{--uri});
            default C{test:///default}.
        @param config: daemon settings (read-only rules, C{allowURIs},
            C{maxClientRequests}, keepalive...); it must name no listener.
        @param handlers: procedure name -> handler; default virtd's own for
            libvirt, L{FAKE_HANDLERS} for a L{FakeBackend}.
        @param autoFlush: move bytes and run calls as soon as they are sent.
        @param clock: the clock to use; a new L{MemoryReactorClock} by
            default.
        @raise ValueError: C{config} names a listener, or C{backend} is an
            unknown name.
        """
        if config is None:
            config = ServerConfig()
        if config.anyListener():
            raise ValueError("MemoryVirtd listens nowhere: give it a "
                             "ServerConfig without unix/tcp/tls/listen "
                             "settings")
        if uri is not None:
            from dataclasses import replace

            config = replace(config, uri=uri)
        if backend == "libvirt":
            from virtd.server.backend import LibvirtBackend

            backend = LibvirtBackend()
        elif backend == "fake":
            backend = FakeBackend()
        elif isinstance(backend, str):
            raise ValueError(f"unknown backend {backend!r}: use 'libvirt', "
                             f"'fake' or an IBackend provider")
        if handlers is None and isinstance(backend, FakeBackend):
            handlers = FAKE_HANDLERS
        self.clock = clock if clock is not None else MemoryReactorClock()
        self.config = config
        self.backend = backend
        self.pump = Pump(auto=autoFlush)
        self.service = VirtdService(config, reactor=self.clock,
                                    backend=backend, handlers=handlers)
        self.service.startService()
        dispatcher = self.service.dispatcher
        dispatcher.usePools(
            InlineWorkerPool(self.pump, "worker", config.workers),
            InlineWorkerPool(self.pump, "prio", config.prioWorkers))
        self.pump.pools += [dispatcher.normal, dispatcher.priority]
        self.running = True

    @classmethod
    def forTest(cls, testCase: Any, **kwargs: Any) -> MemoryVirtd:
        """
        Start one and stop it when C{testCase} ends.

        @param kwargs: as for L{MemoryVirtd}.
        """
        daemon = cls(**kwargs)
        testCase.addCleanup(daemon.stop)
        return daemon

    @property
    def hypervisor(self) -> Any:
        """
        The L{virtd.testing.fake.FakeHypervisor} of a fake backend.

        @raise AttributeError: the backend is not a L{FakeBackend}.
        """
        return self.backend.hypervisor

    @property
    def sessions(self) -> set:
        """
        The daemon's connected clients (L{ClientSession}s).
        """
        return self.service.dispatcher.sessions

    def connect(self, name: str | None = None, readonly: bool = False,
                keepalive: tuple[float, int] | None = None) -> Deferred:
        """
        Open a client connection, exactly as L{virtd.connect} does after
        its transport is up (same handshake, same L{Connection}).

        @param name: the URI the client asks for; by default the daemon's
            C{uri} (C{test:///default}).
        @param readonly: connect as to the daemon's read-only socket: the
            session is read-only whatever the client asks, and the client
            opens read-only.
        @param keepalive: the client's C{(interval, count)}, or C{None}
            (the default) for no client PINGs.
        @return: a Deferred firing with the L{virtd.client.Connection}
            (already fired, with C{autoFlush}).
        """
        from virtd import uri as urimod
        from virtd.client.connect import _Opener

        parsed = urimod.parse(name or self.config.uri)
        listener = ListenerInfo("memory", readonly,
                                "memory-ro" if readonly else "memory")
        opener = _Opener(self.clock, parsed, readonly, keepalive)
        d = Deferred.fromCoroutine(opener.run(_MemoryEndpoint(self, listener)))
        self.pump.poke()
        return d

    def flush(self) -> bool:
        """
        Deliver everything sent so far, run every call it starts, and
        everything that follows from those, until nothing moves.

        @return: whether anything happened.
        """
        return self.pump.flush()

    def advance(self, seconds: float) -> None:
        """
        Move the clock (timeouts, keepalive), then L{flush}.
        """
        self.clock.advance(seconds)
        self.pump.flush()

    def dropClients(self) -> None:
        """
        Close every client's connection from the daemon's side, as a
        daemon that goes away would (clients see a lost connection and their
        close callbacks run).
        """
        for link in list(self.pump.links):
            link.serverTransport.loseConnection()
        self.pump.flush()

    def stop(self) -> None:
        """
        Disconnect every client and stop the daemon (idempotent).
        """
        if not self.running:
            return
        self.running = False
        self.dropClients()
        self.pump.flush()
        self.service.stopService()
        self.pump.flush()
