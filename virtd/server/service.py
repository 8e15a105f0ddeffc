"""
The daemon as a Twisted service: its listeners (unix read-write and
read-only, TCP, TLS, any endpoint string), the factory that gives every
client an L{RPCPeer} and a L{ClientSession}, the client limit, and an
orderly stop.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, gatherResults, maybeDeferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from virtd.server.backend import IBackend, LibvirtBackend
from virtd.server.config import ServerConfig
from virtd.server.dispatch import Dispatcher
from virtd.server.session import ClientSession, ListenerInfo, ServerPeer

__all__ = ["RPCServerFactory", "StartupError", "VirtdService",
           "prepareUnixSocket"]

log = Logger(namespace="virtd.server")


class StartupError(Exception):
    """
    The daemon cannot start: the message says what to change.
    """


def prepareUnixSocket(path: str) -> None:
    """
    Make C{path} ready to bind: create its directory, remove a stale socket
    left by a dead daemon.

    @raise StartupError: something is listening there already, or the path
        is not a socket, or the directory cannot be made.
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
    except OSError as e:
        raise StartupError(f"cannot create the socket directory {directory}: "
                           f"{e.strerror}") from None
    if len(os.fsencode(path)) > 107:
        raise StartupError(f"unix socket path {path} is longer than 107 bytes; "
                           f"choose a shorter one")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise StartupError(f"{path} exists and is not a socket; remove it or "
                           f"choose another path")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        log.info("removing stale socket {path} left by a daemon that is gone",
                 path=path)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    except OSError as e:
        if e.errno in (errno.ECONNREFUSED, errno.ENOENT):
            os.unlink(path)
            return
        raise StartupError(f"cannot tell whether another daemon uses {path}: "
                           f"{e.strerror}") from None
    finally:
        probe.close()
    raise StartupError(f"another daemon is already listening on {path}; stop "
                       f"it or choose another path")


class RPCServerFactory(Factory):
    """
    Builds the daemon's end of each client connection on one listener.
    """

    noisy = False

    def logPrefix(self) -> str:
        return "virtd"

    def __init__(self, service: VirtdService, listener: ListenerInfo) -> None:
        self.service = service
        self.listener = listener

    def buildProtocol(self, addr: Any) -> ServerPeer | None:
        service = self.service
        dispatcher = service.dispatcher
        if len(dispatcher.sessions) >= service.config.maxClients:
            # Accepting pauses at the limit; this is a straggler accepted in
            # the same batch.
            return None
        peer = ServerPeer(service.reactor, isServer=True, framing="auto",
                          frameTimeout=service.config.frameTimeout)
        session = ClientSession(dispatcher, peer, self.listener)
        session.limits.authTimeout = service.config.authTimeout
        peer.session = session
        peer.factory = self
        return peer


class VirtdService(Service):
    """
    The whole daemon.

    @ivar config: the L{ServerConfig}.
    @ivar dispatcher: the L{Dispatcher}, once started.
    @ivar ports: C{(ListenerInfo, IListeningPort)} pairs, once listening.
    @ivar whenListening: a Deferred that fires with C{ports} once every
        listener is up (or fails with the first error).
    """

    name = "virtd"

    def __init__(self, config: ServerConfig, reactor: Any = None,
                 backend: IBackend | None = None,
                 handlers: dict | None = None) -> None:
        """
        Check what can be checked before starting (live unix sockets, the
        TLS files) so that a mistake stops twistd with a clear message.

        @raise StartupError: the configuration cannot work.
        """
        if reactor is None:
            from twisted.internet import reactor
        self.config = config
        self.reactor = reactor
        self.backend = backend
        self.handlers = handlers
        self.dispatcher: Dispatcher | None = None
        self.ports: list[tuple[ListenerInfo, Any]] = []
        self.whenListening: Deferred = Deferred()
        self._acceptPaused = False
        self._tlsContext: Any = None
        for path in (config.unix, config.unixRO):
            if path:
                self._checkLive(path)
        if config.tlsPort is not None:
            self._tlsContext = self._loadTLS()

    @staticmethod
    def _checkLive(path: str) -> None:
        if os.path.exists(path):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            probe.settimeout(1)
            try:
                probe.connect(path)
            except OSError:
                return
            finally:
                probe.close()
            raise StartupError(f"another daemon is already listening on "
                               f"{path}; stop it or choose another path")

    def _loadTLS(self) -> Any:
        from virtd.errors import LibvirtError
        from virtd.tls import serverSSLContext

        if self.config.pkiPath:
            # The same check as 'python -m virtd.pki --check': an expired or
            # mismatched file is named now, not at the first client.
            from virtd.pki import checkLayout

            roles, problems = checkLayout(self.config.pkiPath)
            if "server" not in roles:
                problems = problems or [f"{self.config.pkiPath}: no servercert.pem"]
            if problems:
                raise StartupError(
                    f"--pki-path {self.config.pkiPath} is not usable: "
                    + "; ".join(problems)
                    + " (check it with 'python -m virtd.pki --check DIR', "
                    "create one with 'python -m virtd.pki init DIR')")

        try:
            context = serverSSLContext(self.config.pkiPath)
        except LibvirtError as e:
            where = (f"--pki-path {self.config.pkiPath}" if self.config.pkiPath
                     else "libvirt's system PKI layout (/etc/pki/...)")
            raise StartupError(f"cannot set up TLS from {where}: {e}; create "
                               f"the files with 'python -m virtd.pki init' or "
                               f"point --pki-path at them") from None
        return context

    # -- starting ------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        config = self.config
        if self.backend is None:
            self.backend = LibvirtBackend()
            self._installEventLoop()
        self.dispatcher = Dispatcher(self.reactor, config, self.backend,
                                     self.handlers)
        self.dispatcher.onClientCountChanged = self._clientCountChanged
        listening: list[Deferred] = []
        try:
            if config.unix:
                listening.append(self._listenUnix(config.unix, config.unixMode,
                                                  False))
            if config.unixRO:
                listening.append(self._listenUnix(config.unixRO,
                                                  config.unixROMode, True))
            if config.tcpPort is not None:
                listening.append(self._listenTCP(config.tcpPort))
            if config.tlsPort is not None:
                listening.append(self._listenTLS(config.tlsPort))
        except Exception as e:
            self.whenListening.errback(e)
            raise
        for description in config.listen:
            listening.append(self._listenEndpoint(description, False))
        for description in config.listenRO:
            listening.append(self._listenEndpoint(description, True))
        gatherResults(listening, consumeErrors=True).addCallbacks(
            lambda _: self.whenListening.callback(self.ports),
            lambda f: self._listenFailed(f))

    def _installEventLoop(self) -> None:
        """
        libvirt delivers events (and runs keepalive for remote hypervisor
        URIs) only with an event loop: use the reactor.
        """
        try:
            from virtd import eventloop

            eventloop.install(self.reactor)
        except Exception:
            log.failure("cannot install libvirt's event loop on the reactor; "
                        "clients will get no events")

    def _listenFailed(self, failure: Any) -> None:
        err = getattr(failure.value, "subFailure", failure)
        log.failure("virtd could not start a listener", failure=err)
        self.whenListening.errback(err)

    def _added(self, info: ListenerInfo, port: Any, extra: str = "") -> Any:
        self.ports.append((info, port))
        log.info("virtd listening on {where}{ro}{extra}",
                 where=info.description,
                 ro=" (read-only)" if info.readonly else "", extra=extra)
        return port

    def _listenUnix(self, path: str, mode: int, readonly: bool) -> Deferred:
        try:
            prepareUnixSocket(path)
        except StartupError:
            raise
        info = ListenerInfo("unix", readonly, f"unix:{path}")
        port = self.reactor.listenUNIX(path, RPCServerFactory(self, info),
                                       backlog=self.config.backlog, mode=mode,
                                       wantPID=False)
        # listenUNIX applies the mode with chmod after bind; make sure.
        os.chmod(path, mode)
        return maybeDeferred(self._added, info, port, f", mode {mode:04o}")

    def _listenTCP(self, portNumber: int) -> Deferred:
        info = ListenerInfo("tcp", False, "")
        port = self.reactor.listenTCP(portNumber, RPCServerFactory(self, info),
                                      backlog=self.config.backlog,
                                      interface=self.config.listenAddr)
        host = port.getHost()
        info.description = f"tcp:{host.host}:{host.port}"
        return maybeDeferred(self._added, info, port)

    def _listenTLS(self, portNumber: int) -> Deferred:
        from virtd.tls import ConfirmingServerFactory, TLSServerFactory

        info = ListenerInfo("tls", False, "")
        factory = ConfirmingServerFactory(
            RPCServerFactory(self, info), allowedDNs=self.config.allowedDNs,
            handshakeTimeout=self.config.tlsHandshakeTimeout,
            reactor=self.reactor)
        port = self.reactor.listenTCP(portNumber,
                                      TLSServerFactory(factory, self._tlsContext),
                                      backlog=self.config.backlog,
                                      interface=self.config.listenAddr)
        host = port.getHost()
        info.description = f"tls:{host.host}:{host.port}"
        return maybeDeferred(self._added, info, port)

    def _listenEndpoint(self, description: str, readonly: bool) -> Deferred:
        info = ListenerInfo("endpoint", readonly, description)
        try:
            endpoint = serverFromString(self.reactor, description)
        except IndexError:
            # Twisted's systemd parser indexes the passed descriptors.
            return _failed(StartupError(
                f"no socket was passed for the endpoint {description!r}: "
                f"systemd (or systemd-socket-activate) must pass one at that "
                f"index/name (LISTEN_FDS, LISTEN_FDNAMES)"))
        except (ValueError, TypeError, KeyError) as e:
            return _failed(StartupError(
                f"cannot understand the endpoint {description!r}: {e}; see "
                f"'Twisted endpoint strings' (e.g. tcp:16509:interface="
                f"127.0.0.1, unix:/path, systemd:domain=UNIX:index=0)"))
        d = endpoint.listen(RPCServerFactory(self, info))
        d.addCallback(lambda port: self._added(info, port))
        return d

    # -- the client limit --------------------------------------------------

    def _clientCountChanged(self, count: int) -> None:
        limit = self.config.maxClients
        if count >= limit and not self._acceptPaused:
            self._acceptPaused = True
            log.warn("{count} clients connected, the --max-clients limit: "
                     "not accepting more until one leaves", count=count)
            for _, port in self.ports:
                stop = getattr(port, "stopReading", None)
                if stop is not None:
                    stop()
        elif count < limit and self._acceptPaused:
            self._acceptPaused = False
            log.info("accepting clients again ({count} connected)",
                     count=count)
            for _, port in self.ports:
                start = getattr(port, "startReading", None)
                if start is not None:
                    start()

    # -- stopping ------------------------------------------------------------

    def stopService(self) -> Deferred:
        """
        Stop listening, drop the clients, let in-flight calls finish within
        the grace period, stop the worker pools.
        """
        super().stopService()
        stopping = [maybeDeferred(port.stopListening)
                    for _, port in self.ports]
        self.ports = []
        if self.dispatcher is not None:
            stopping.append(self.dispatcher.stop(self.config.shutdownGrace))
        return gatherResults(stopping, consumeErrors=True).addCallback(
            lambda _: log.info("virtd stopped"))


def _failed(e: Exception) -> Deferred:
    from twisted.internet.defer import fail

    return fail(e)
