"""
The ssh family of transports: the far side runs C{nc -U <socket>} (or
C{virt-ssh-helper}) and the RPC stream rides on its stdin and stdout.

  - libvirt URIs C{driver+ssh://...} run the system C{ssh} binary with the
    argument vector libvirt 9.0 builds (so the user's ssh config applies):
    C{ssh [-p PORT] [-l USER] [-i KEYFILE] -T -e none [-o BatchMode=yes]
    [-o StrictHostKeyChecking=no] -- HOST '<remote command>'};
    C{command=} names another binary used in place of C{ssh}.
  - C{remote:ssh:host} names use Twisted conch in-process, unless
    C{command=} names an external program (spawned as above).
  - C{+libssh} and C{+libssh2} URIs use conch, like libvirt's in-process
    clients (default user C{root}).

conch authentication: the C{keyfile=} key, else C{~/.ssh/id_ed25519},
C{id_ecdsa}, C{id_rsa}, C{id_dsa}, C{identity} (unencrypted ones); the agent
at C{$SSH_AUTH_SOCK}; C{sshauth=} restricts to a comma list of C{agent},
C{privkey} (C{password} and C{keyboard-interactive} need a prompt and are
not offered). Host keys are checked against C{known_hosts=} or
C{~/.ssh/known_hosts} (OpenSSH format, C{[host]:port} entries for other
ports); an unknown key is refused unless C{no_verify=1} (accepted, not
saved) or C{known_hosts_verify=auto} (accepted and saved) or C{ignore}
(nothing checked). A changed key is always refused except with C{ignore}.

The far side's stderr (e.g. C{nc: invalid option -- 'U'}) ends up in the
L{LibvirtError} the connection's C{connectionLost} receives.
"""

from __future__ import annotations

import getpass
import os
import shlex
from typing import Any

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IProtocolFactory, IStreamClientEndpoint
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from zope.interface import implementer

from virtd.errors import (
    VIR_ERR_AUTH_FAILED,
    VIR_ERR_SSH,
    VIR_ERR_SYSTEM_ERROR,
    VIR_FROM_LIBSSH,
    VIR_FROM_RPC,
    VIR_FROM_SSH,
    LibvirtError,
)
from virtd.transports import SpawnedProcessEndpoint, describeFailure
from virtd.uri import ConnectionName, isUserSession, socketPath

__all__ = [
    "sshEndpoint",
    "sshArgv",
    "remoteCommand",
    "sshEnvironment",
    "ConchEndpoint",
    "DEFAULT_KEY_NAMES",
]

_log = Logger()

DEFAULT_KEY_NAMES = ("id_ed25519", "id_ecdsa", "id_rsa", "id_dsa", "identity")

# What libvirt 9.0 lets through to the ssh process (plus the basics every
# command gets); everything else in our environment is withheld.
_SSH_ENV_PASS = (
    "PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "LD_PRELOAD", "LD_LIBRARY_PATH",
    "XDG_RUNTIME_DIR", "KRB5CCNAME", "SSH_AUTH_SOCK", "SSH_ASKPASS",
    "OPENSSL_CONF", "DISPLAY", "XAUTHORITY", "GPG_TTY",
)


def _proxyMode(name: ConnectionName) -> str:
    if "proxy" in name.params:
        return name.params["proxy"]
    if name.syntax == "remote" or "socket" in name.params:
        return "netcat"
    if isUserSession(name, os.geteuid()):
        return "native"
    return "auto"


def remoteCommand(name: ConnectionName, readonly: bool = False) -> str:
    """
    The command line run on the far host, as one string for its login
    shell: C{sh -c '<script>'}.

    The netcat script checks whether C{nc -q} wants an argument (then it
    passes C{-q0}, so nc quits when we close), then runs C{nc -U <socket>};
    the native one runs C{virt-ssh-helper [-r] <name>}; auto uses the helper
    when the far side has it and netcat otherwise (libvirt's choice rules:
    C{proxy=} wins, a C{socket=} or a C{remote:} name means netcat).

    @param name: the parsed name.
    @param readonly: whether to use the read-only socket / helper flag.
    @return: the command string.
    """
    nc = shlex.quote(name.params.get("netcat") or "nc")
    sock = shlex.quote(socketPath(name, readonly))
    netcat = (
        f"if {nc} -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; "
        f"then ARG=-q0; else ARG=; fi; {nc} $ARG -U {sock}"
    )
    helper = "virt-ssh-helper " + ("-r " if readonly else "") + shlex.quote(
        name.remoteName or "")
    mode = _proxyMode(name)
    if mode == "netcat":
        script = netcat
    elif mode == "native":
        script = helper
    else:
        script = (
            "which virt-ssh-helper >/dev/null 2>&1; "
            f"if test $? = 0; then {helper}; else {netcat}; fi"
        )
    return "sh -c " + shlex.quote(script)


def sshArgv(name: ConnectionName, readonly: bool = False) -> list[str]:
    """
    The argument vector for the external ssh program, shaped as libvirt 9.0
    shapes it (C{argv[0]} is C{command=} or C{ssh}).

    @param name: a parsed ssh name.
    @param readonly: whether the far side should use the read-only socket.
    @return: the argument vector.
    """
    argv = [name.params.get("command") or "ssh"]
    if name.portGiven:
        argv += ["-p", str(name.port)]
    if name.user:
        argv += ["-l", name.user]
    if name.params.get("keyfile"):
        argv += ["-i", name.params["keyfile"]]
    argv += ["-T", "-e", "none"]
    if name.flag("no_tty"):
        argv += ["-o", "BatchMode=yes"]
    if name.flag("no_verify"):
        argv += ["-o", "StrictHostKeyChecking=no"]
    argv += ["--", name.host or "localhost", remoteCommand(name, readonly)]
    return argv


def sshEnvironment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """
    The environment the ssh process gets: libvirt's pass-through list and
    C{LC_ALL=C}.

    @param environ: our environment (default C{os.environ}).
    @return: the child's environment.
    """
    env = os.environ if environ is None else environ
    out = {k: env[k] for k in _SSH_ENV_PASS if k in env}
    out["LC_ALL"] = "C"
    return out


def sshEndpoint(reactor: Any, name: ConnectionName, readonly: bool = False, *,
                timeout: float = 30) -> IStreamClientEndpoint:
    """
    The endpoint for an ssh-family name (see the module docstring for which
    names spawn a program and which use conch).

    @param reactor: the reactor.
    @param name: a parsed name with transport ssh, libssh or libssh2.
    @param readonly: whether the far side should use the read-only socket.
    @param timeout: seconds allowed for the conch connection and login.
    @return: the endpoint.
    """
    external = name.transport == "ssh" and (
        name.syntax == "uri" or bool(name.params.get("command")))
    if external:
        argv = sshArgv(name, readonly)
        return SpawnedProcessEndpoint(
            reactor, argv[0], argv, env=sshEnvironment(),
            description=f"ssh command '{shlex.join(argv[:-1])} ...'",
        )
    return ConchEndpoint(reactor, name, readonly, timeout=timeout)


# ---------------------------------------------------------------------------
# conch


def _sshError(message: str, name: ConnectionName, code: int = VIR_ERR_SSH) -> LibvirtError:
    domain = VIR_FROM_LIBSSH if name.transport != "ssh" else VIR_FROM_SSH
    return LibvirtError(message, code=code, domain=domain)


class _StderrProtocol(ProtocolWrapper):
    """
    Sits between the conch channel and the user's protocol: keeps the far
    side's stderr and turns an unexpected end into a L{LibvirtError}.
    """

    stderrLimit = 16384

    def __init__(self, factory: WrappingFactory, wrapped: Any) -> None:
        super().__init__(factory, wrapped)
        self._stderr = bytearray()
        self._closing = False

    def makeConnection(self, transport: Any) -> None:
        # The conch channel hands extended data (stderr) to extReceived,
        # which by default only logs it; take it over for this channel.
        transport.extReceived = self._extReceived
        super().makeConnection(transport)

    def _extReceived(self, dataType: int, data: bytes) -> None:
        self._stderr += data
        if len(self._stderr) > self.stderrLimit:
            del self._stderr[: len(self._stderr) - self.stderrLimit]
        _log.debug("remote stderr: {data!r}", data=data)

    def loseConnection(self) -> None:
        self._closing = True
        super().loseConnection()

    def abortConnection(self) -> None:
        self._closing = True
        transport = self.transport
        conn = getattr(transport, "conn", None)
        if conn is not None and conn.transport is not None:
            conn.transport.transport.abortConnection()
        else:
            transport.loseConnection()

    def connectionLost(self, reason: Failure) -> None:
        from twisted.internet.error import ConnectionDone, ProcessTerminated

        stderr = bytes(self._stderr).decode("utf-8", "replace").strip()
        desc = self.factory.description
        if not self._closing and reason.check(ProcessTerminated):
            exc = reason.value
            if exc.exitCode is not None:
                how = f"exited with status {exc.exitCode}"
            else:
                how = f"was killed by signal {exc.signal}"
            message = f"Cannot recv data: {desc} {how}"
            message += f": {stderr}" if stderr else " without an error message"
            err = LibvirtError(message, code=VIR_ERR_SYSTEM_ERROR, domain=VIR_FROM_RPC)
            err.stderr = stderr  # type: ignore[attr-defined]
            reason = Failure(err)
        elif reason.check(ConnectionDone) and stderr:
            reason.value.stderr = stderr  # type: ignore[attr-defined]
        super().connectionLost(reason)


class _StderrFactory(WrappingFactory):
    protocol = _StderrProtocol

    def __init__(self, wrapped: IProtocolFactory, description: str) -> None:
        super().__init__(wrapped)
        self.description = description


def _loadKeys(name: ConnectionName, methods: list[str]) -> tuple[list[Any], list[str]]:
    from twisted.conch.ssh.keys import BadKeyError, EncryptedKeyError, Key

    keys: list[Any] = []
    used: list[str] = []
    if "privkey" not in methods:
        return keys, used
    keyfile = name.params.get("keyfile")
    if keyfile:
        try:
            keys.append(Key.fromFile(keyfile))
        except EncryptedKeyError:
            raise _sshError(
                f"the key {keyfile} is protected by a passphrase, which virtd cannot "
                f"ask for: load it into ssh-agent (ssh-add {keyfile}) and drop keyfile=",
                name, VIR_ERR_AUTH_FAILED) from None
        except (OSError, BadKeyError, ValueError) as e:
            raise _sshError(f"cannot read the ssh key {keyfile}: {e}", name,
                            VIR_ERR_AUTH_FAILED) from None
        return keys, [keyfile]
    sshDir = os.path.expanduser("~/.ssh")
    for base in DEFAULT_KEY_NAMES:
        path = os.path.join(sshDir, base)
        if not os.path.exists(path):
            continue
        try:
            keys.append(Key.fromFile(path))
            used.append(path)
        except (OSError, BadKeyError, EncryptedKeyError, ValueError) as e:
            _log.info("skipping ssh key {path}: {error}", path=path, error=e)
    return keys, used


class _NoUI:
    """
    conch's prompt hook: virtd never asks; policy is decided up front.
    """

    def prompt(self, text: str) -> Deferred[bool]:
        from twisted.internet.defer import succeed
        return succeed(False)

    def warn(self, text: str) -> None:
        _log.warn("{text}", text=text)


class UnknownHostKey(Exception):
    """
    The server's host key is not in the known_hosts file.
    """


def _hostKeyPolicy(path: str, port: int, policy: str, acceptNew: bool) -> Any:
    from twisted.conch.client.knownhosts import KnownHostsFile
    from twisted.internet.defer import fail, succeed
    from twisted.python.filepath import FilePath

    class HostKeyPolicy(KnownHostsFile):
        def verifyHostKey(self, ui: Any, hostname: bytes, ip: bytes, key: Any) -> Deferred[bool]:
            if policy == "ignore":
                return succeed(True)
            names = [hostname, ip]
            if port != 22:
                names = [b"[%s]:%d" % (n, port) for n in names]
            try:
                for candidate in names:
                    if self.hasHostKey(candidate, key):
                        return succeed(True)
            except Exception:
                return fail()
            if policy == "auto":
                for candidate in names:
                    self.addHostKey(candidate, key)
                try:
                    self.save()
                except OSError as e:
                    _log.warn("cannot save {path}: {e}", path=path, e=e)
                return succeed(True)
            if acceptNew:
                return succeed(True)
            return fail(UnknownHostKey(names[0].decode("ascii", "replace")))

    return HostKeyPolicy.fromPath(FilePath(path))


@implementer(IStreamClientEndpoint)
class ConchEndpoint:
    """
    Log in with Twisted conch and run L{remoteCommand} on the far host.

    C{connect()} fires with the protocol once the command runs, or fails
    with a L{LibvirtError} naming what to fix (host key, authentication,
    connection).
    """

    def __init__(self, reactor: Any, name: ConnectionName, readonly: bool = False, *,
                 timeout: float = 30) -> None:
        self.reactor = reactor
        self.name = name
        self.readonly = readonly
        self.timeout = timeout
        default = "root" if name.transport in ("libssh", "libssh2") else getpass.getuser()
        self.username = name.user or default
        self.command = remoteCommand(name, readonly)
        self.knownHostsPath = name.params.get("known_hosts") or os.path.expanduser(
            "~/.ssh/known_hosts")

    def _where(self) -> str:
        host = self.name.host or "localhost"
        host = f"[{host}]" if ":" in host else host
        return f"{self.username}@{host}:{self.name.port or 22}"

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[Any]:
        from twisted.internet.defer import fail

        try:
            endpoint, tried = self._endpoint()
        except LibvirtError as e:
            return fail(e)
        factory = _StderrFactory(protocolFactory, f"remote command on {self._where()}")
        d = endpoint.connect(factory)
        d.addTimeout(self.timeout, self.reactor)
        d.addCallback(lambda wrapper: wrapper.wrappedProtocol)
        d.addErrback(self._explain, tried)
        return d

    def _endpoint(self) -> tuple[Any, list[str]]:
        from twisted.conch.endpoints import SSHCommandClientEndpoint
        from twisted.internet.endpoints import UNIXClientEndpoint

        methods = [m.strip() for m in
                   (self.name.params.get("sshauth") or "agent,privkey").split(",")]
        keys, tried = _loadKeys(self.name, methods)
        agent = None
        sock = os.environ.get("SSH_AUTH_SOCK")
        if "agent" in methods and sock:
            agent = UNIXClientEndpoint(self.reactor, sock)
            tried = ["the ssh agent"] + tried
        knownHosts = _hostKeyPolicy(
            self.knownHostsPath, self.name.port or 22,
            self.name.params.get("known_hosts_verify", "normal"),
            acceptNew=self.name.flag("no_verify"))
        endpoint = SSHCommandClientEndpoint.newConnection(
            self.reactor, self.command.encode("utf-8"), self.username.encode("utf-8"),
            (self.name.host or "localhost").encode("idna"), self.name.port or 22,
            keys=keys or None, agentEndpoint=agent, knownHosts=knownHosts, ui=_NoUI())
        return endpoint, tried

    def _explain(self, reason: Failure, tried: list[str]) -> Failure:
        from twisted.conch.endpoints import AuthenticationFailed
        from twisted.conch.error import ConchError, HostKeyChanged
        from twisted.internet import error as ierror

        if reason.check(LibvirtError):
            return reason
        where = self._where()
        name = self.name
        if reason.check(UnknownHostKey):
            entry = reason.value.args[0]
            port = name.port or 22
            scan = f"ssh-keyscan {'-p %d ' % port if port != 22 else ''}{name.host}"
            err = _sshError(
                f"the host key of {where} is not in {self.knownHostsPath} (looked for "
                f"'{entry}'): add it ({scan} >> {self.knownHostsPath}), point "
                f"known_hosts= at a file that has it, or accept it with no_verify=1",
                name)
        elif reason.check(HostKeyChanged):
            exc = reason.value
            line = f" line {exc.lineno}" if exc.lineno else ""
            err = _sshError(
                f"the host key of {where} does NOT match the one in "
                f"{exc.path.path if exc.path else self.knownHostsPath}{line}: someone may "
                f"be intercepting the connection; if the server was reinstalled, remove "
                f"the old key (ssh-keygen -R {name.host})", name)
        elif reason.check(AuthenticationFailed) or (
                reason.check(ConchError) and "auth" in str(reason.value).lower()):
            what = ", ".join(tried) if tried else "no keys and no agent"
            err = _sshError(
                f"ssh authentication to {where} failed (tried {what}): give keyfile= "
                f"with a key listed in the server's authorized_keys, or load one into "
                f"ssh-agent", name, VIR_ERR_AUTH_FAILED)
        elif reason.check(CancelledError, ierror.TimeoutError):
            err = _sshError(
                f"no ssh session with {where} within {self.timeout:g} s", name)
        elif reason.check(ConchError):
            err = _sshError(
                f"the ssh server {where} refused to run the remote command: "
                f"{reason.value}", name)
        else:
            err = LibvirtError(
                f"unable to connect to ssh server at {where}: {describeFailure(reason)}",
                code=VIR_ERR_SYSTEM_ERROR, domain=VIR_FROM_RPC)
        return Failure(err)
