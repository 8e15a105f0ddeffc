"""
Turn a parsed connection name into a Twisted client endpoint.

L{endpointFor} picks, per transport:

  - unix: C{UNIXClientEndpoint} on L{virtd.uri.socketPath};
  - tcp: C{HostnameEndpoint} (IPv4 and IPv6);
  - tls: L{virtd.tls.TLSClientEndpoint} (PKI files, server name check,
    the confirmation byte);
  - ssh, libssh, libssh2: L{virtd.ssh.sshEndpoint} (the system C{ssh} or
    conch in-process);
  - ext: L{SpawnedProcessEndpoint} running C{command=}.

Every endpoint's C{connect()} fails with a L{LibvirtError} saying what could
not be reached and why. For process-based transports the program's stderr is
kept (bounded) and, when the program ends the connection with an error, the
protocol's C{connectionLost} receives a L{LibvirtError} carrying that text:
the RPC layer should fail pending calls with C{reason.value} when it is a
L{LibvirtError}.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

from twisted.internet import error as ierror
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.endpoints import HostnameEndpoint, UNIXClientEndpoint
from twisted.internet.interfaces import (
    IAddress,
    IProtocolFactory,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from virtd.errors import (
    VIR_ERR_INVALID_ARG,
    VIR_ERR_SYSTEM_ERROR,
    VIR_FROM_REMOTE,
    VIR_FROM_RPC,
    LibvirtError,
)
from virtd.uri import ConnectionName, socketPath

__all__ = [
    "endpointFor",
    "SpawnedProcessEndpoint",
    "ProcessAddress",
    "describeFailure",
]

_log = Logger()


def describeFailure(reason: Failure | BaseException) -> str:
    """
    A short human text for a connection failure (e.g. C{"Connection
    refused"}), without Twisted's class-name boilerplate.

    @param reason: the failure or exception.
    @return: the text.
    """
    exc = reason.value if isinstance(reason, Failure) else reason
    if isinstance(exc, LibvirtError):
        return exc.get_error_message() or str(exc)
    if isinstance(exc, ierror.ConnectError):
        if exc.osError:
            return os.strerror(exc.osError)
        doc = (exc.__doc__ or "").strip().rstrip(".")
        detail = exc.args[0] if exc.args and exc.args[0] else ""
        text = doc or type(exc).__name__
        if detail and str(detail) not in text:
            text = f"{text} ({detail})"
        return text
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _systemError(message: str) -> LibvirtError:
    return LibvirtError(message, code=VIR_ERR_SYSTEM_ERROR, domain=VIR_FROM_RPC)


@implementer(IStreamClientEndpoint)
class _ExplainingEndpoint:
    """
    Wrap an endpoint so a failed connect becomes a L{LibvirtError} whose
    message starts with C{what} and ends with C{hint}.
    """

    def __init__(self, wrapped: IStreamClientEndpoint, what: str, hint: str = "") -> None:
        self._wrapped = wrapped
        self._what = what
        self._hint = hint

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[Any]:
        def explain(reason: Failure) -> Failure:
            if reason.check(LibvirtError):
                return reason
            from twisted.internet.defer import CancelledError
            if reason.check(CancelledError):
                return reason
            message = f"{self._what}: {describeFailure(reason)}"
            if self._hint:
                message += f"; {self._hint}"
            return Failure(_systemError(message))

        return self._wrapped.connect(protocolFactory).addErrback(explain)


def endpointFor(reactor: Any, name: ConnectionName, readonly: bool = False, *,
                timeout: float = 30) -> IStreamClientEndpoint:
    """
    Make the endpoint that reaches the daemon a name points at.

    @param reactor: the reactor (needs C{IReactorTCP}, C{IReactorUNIX},
        C{IReactorProcess}, C{IReactorTime} as the transport requires).
    @param name: from L{virtd.uri.parse}.
    @param readonly: use the read-only socket (unix, and the ssh family's
        default remote socket).
    @param timeout: seconds allowed to establish the connection (for tls
        including the handshake and the confirmation byte).
    @return: an endpoint; its C{connect()} fires with the protocol once the
        byte stream is ready for RPC, or fails with a L{LibvirtError}.
    @raise LibvirtError: for a name the transport cannot use.
    """
    transport = name.transport
    if transport == "unix":
        path = socketPath(name, readonly)
        return _ExplainingEndpoint(
            UNIXClientEndpoint(reactor, path, timeout=timeout),
            f"Failed to connect socket to '{path}'",
            "is the daemon running and listening there? (socket= picks another path)",
        )
    if transport == "tcp":
        return _ExplainingEndpoint(
            HostnameEndpoint(reactor, name.host, name.port, timeout=timeout),
            f"unable to connect to server at '{_hostPort(name)}'",
            "is the daemon listening for tcp there (listen_tcp, tcp_port)?",
        )
    if transport == "tls":
        from virtd.tls import TLSClientEndpoint

        return TLSClientEndpoint(reactor, name, timeout=timeout)
    if transport in ("ssh", "libssh", "libssh2"):
        from virtd.ssh import sshEndpoint

        return sshEndpoint(reactor, name, readonly, timeout=timeout)
    if transport == "ext":
        command = name.params.get("command")
        if not command:
            raise LibvirtError(
                "the ext transport needs command=/path/to/program",
                code=VIR_ERR_INVALID_ARG, domain=VIR_FROM_REMOTE,
            )
        # libvirt runs the program without arguments and with our environment.
        return SpawnedProcessEndpoint(reactor, command, [command], env=None,
                                      description=f"ext command {command!r}")
    raise LibvirtError(f"unknown transport {transport!r}",
                       code=VIR_ERR_INVALID_ARG, domain=VIR_FROM_REMOTE)


def _hostPort(name: ConnectionName) -> str:
    host = f"[{name.host}]" if name.host and ":" in name.host else name.host
    return f"{host}:{name.port}"


# ---------------------------------------------------------------------------
# Process-based transports


@implementer(IAddress)
class ProcessAddress:
    """
    The "peer" of a spawned-program connection.

    @ivar argv: the program and its arguments.
    """

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = tuple(argv)

    def __repr__(self) -> str:
        return f"ProcessAddress({shlex.join(self.argv)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProcessAddress) and other.argv == self.argv

    def __hash__(self) -> int:
        return hash(self.argv)


class _ProcessTransport:
    """
    The C{ITransport} the wrapped protocol sees: writes go to the program's
    stdin; closing closes stdin and, after a grace period, kills it.
    """

    disconnecting = False

    def __init__(self, process: Any, bridge: _ProcessBridge) -> None:
        self._process = process
        self._bridge = bridge

    def write(self, data: bytes) -> None:
        self._process.write(data)

    def writeSequence(self, data: Sequence[bytes]) -> None:
        self._process.writeSequence(data)

    def loseConnection(self) -> None:
        if self.disconnecting:
            return
        self.disconnecting = True
        self._bridge.closing()
        self._process.closeStdin()

    def abortConnection(self) -> None:
        self.disconnecting = True
        self._bridge.closing()
        self._bridge.signal("KILL")
        self._process.loseConnection()

    def getPeer(self) -> ProcessAddress:
        return self._bridge.address

    def getHost(self) -> ProcessAddress:
        return self._bridge.address

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self._process.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self._process.unregisterProducer()

    def pauseProducing(self) -> None:
        self._process.pauseProducing()

    def resumeProducing(self) -> None:
        self._process.resumeProducing()

    def stopProducing(self) -> None:
        self.loseConnection()

    @property
    def pid(self) -> int | None:
        return self._process.pid


class _ProcessBridge(ProcessProtocol):
    def __init__(self, endpoint: SpawnedProcessEndpoint, factory: IProtocolFactory) -> None:
        self._endpoint = endpoint
        self._factory = factory
        self.address = ProcessAddress(endpoint.argv)
        self.protocol: Any = None
        self._stderr = bytearray()
        self._closing = False
        self._timers: list[Any] = []
        self._ended = False

    def connectionMade(self) -> None:
        self.protocol = self._factory.buildProtocol(self.address)
        if self.protocol is None:
            self.closing()
            self.transport.loseConnection()
            return
        self.protocol.makeConnection(_ProcessTransport(self.transport, self))

    def closing(self) -> None:
        if self._closing or self._ended:
            return
        self._closing = True
        clock = self._endpoint.reactor
        grace = self._endpoint.closeGrace
        self._timers = [
            clock.callLater(grace, self.signal, "TERM"),
            clock.callLater(grace * 2, self.signal, "KILL"),
        ]

    def signal(self, name: str) -> None:
        try:
            self.transport.signalProcess(name)
        except (ierror.ProcessExitedAlready, OSError):
            pass

    def outReceived(self, data: bytes) -> None:
        if self.protocol is not None:
            self.protocol.dataReceived(data)

    def errReceived(self, data: bytes) -> None:
        self._stderr += data
        limit = self._endpoint.stderrLimit
        if len(self._stderr) > limit:
            del self._stderr[: len(self._stderr) - limit]
        _log.debug("{program} stderr: {data!r}", program=self._endpoint.description,
                   data=data)

    @property
    def stderrText(self) -> str:
        return bytes(self._stderr).decode("utf-8", "replace").strip()

    def processEnded(self, reason: Failure) -> None:
        self._ended = True
        for timer in self._timers:
            if timer.active():
                timer.cancel()
        if self.protocol is None:
            return
        self.protocol.connectionLost(self._explain(reason))

    def _explain(self, reason: Failure) -> Failure:
        stderr = self.stderrText
        if self._closing or reason.check(ierror.ProcessDone):
            done = ierror.ConnectionDone(
                f"{self._endpoint.description} ended" + (f": {stderr}" if stderr else "")
            )
            done.stderr = stderr  # type: ignore[attr-defined]
            return Failure(done)
        exc = reason.value
        if getattr(exc, "exitCode", None) is not None:
            how = f"exited with status {exc.exitCode}"
        elif getattr(exc, "signal", None) is not None:
            how = f"was killed by signal {exc.signal}"
        else:
            how = "ended"
        message = f"Cannot recv data: {self._endpoint.description} {how}"
        message += f": {stderr}" if stderr else " without an error message"
        err = _systemError(message)
        err.stderr = stderr  # type: ignore[attr-defined]
        return Failure(err)


@implementer(IStreamClientEndpoint)
class SpawnedProcessEndpoint:
    """
    Run a program and speak to it over its stdin and stdout.

    Its stderr is kept (the last C{stderrLimit} bytes). When the program
    ends while the connection is in use, the protocol's C{connectionLost}
    gets a L{LibvirtError} (C{VIR_ERR_SYSTEM_ERROR}, C{VIR_FROM_RPC}) whose
    message holds the exit status and that stderr text; when we closed the
    connection, or the program exited with status 0, it gets
    C{ConnectionDone}. The exception has a C{stderr} attribute either way.

    @ivar argv: the program and its arguments.
    @ivar description: how messages name the program.
    """

    def __init__(self, reactor: Any, executable: str, args: Sequence[str], *,
                 env: Mapping[str, str] | None = None, path: str | None = None,
                 description: str | None = None, stderrLimit: int = 16384,
                 closeGrace: float = 3.0) -> None:
        """
        @param reactor: an C{IReactorProcess} and C{IReactorTime}.
        @param executable: the program (looked up in C{$PATH} when it has
            no slash).
        @param args: the argument vector, C{args[0]} being the program name.
        @param env: the environment; C{None} inherits ours.
        @param path: the working directory, or C{None} for ours.
        @param description: how error messages name the program.
        @param stderrLimit: how many bytes of stderr to keep.
        @param closeGrace: seconds between closing stdin and C{SIGTERM}
            (and again until C{SIGKILL}) when we close the connection.
        """
        self.reactor = reactor
        self.executable = executable
        self.argv = list(args)
        self.env = None if env is None else dict(env)
        self.path = path
        self.description = description or f"command {shlex.join(self.argv)!r}"
        self.stderrLimit = stderrLimit
        self.closeGrace = closeGrace

    def _resolve(self) -> str:
        if "/" in self.executable:
            if not os.path.exists(self.executable):
                raise _systemError(
                    f"cannot run {self.description}: {self.executable} does not exist"
                )
            if not os.access(self.executable, os.X_OK):
                raise _systemError(
                    f"cannot run {self.description}: {self.executable} is not executable"
                )
            return self.executable
        found = shutil.which(
            self.executable,
            path=(self.env if self.env is not None else os.environ).get("PATH"),
        )
        if found is None:
            raise _systemError(
                f"cannot run {self.description}: {self.executable!r} is not in PATH"
            )
        return found

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[Any]:
        """
        Spawn the program.

        @return: a Deferred firing with the protocol at once (the program
            is running), or failing with a L{LibvirtError} when it cannot be
            started.
        """
        try:
            executable = self._resolve()
            bridge = _ProcessBridge(self, protocolFactory)
            self.reactor.spawnProcess(bridge, executable, self.argv, env=self.env,
                                      path=self.path)
        except LibvirtError as e:
            return fail(e)
        except OSError as e:
            return fail(_systemError(f"cannot run {self.description}: {e.strerror or e}"))
        if bridge.protocol is None:
            return fail(_systemError(f"the protocol factory refused {self.description}"))
        return succeed(bridge.protocol)
