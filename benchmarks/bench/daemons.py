"""
The two daemons under test, started the same way on the same kinds of
sockets: a private C{libvirtd} (L{tests.support.RealLibvirtd}) and a private
C{twistd -n virtd} (L{VirtdDaemon}), both serving C{test:///default} with
libvirtd's default limits (20 workers, 5 priority workers, 5 requests in
flight per client, keepalive 5 s x 5).

Also the C{/proc} readers the cases use: a process's CPU time and RSS.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from tests.support import RealLibvirtd, freePort, removeTree, shortTempDir
from tests.support._util import canConnectUNIX, isListeningTCP, logTail, waitFor

__all__ = [
    "DaemonError",
    "DaemonPair",
    "VirtdDaemon",
    "cpuSeconds",
    "raiseFileLimit",
    "rssBytes",
]

REPO = Path(__file__).resolve().parents[2]
_TICK = os.sysconf("SC_CLK_TCK")


class DaemonError(RuntimeError):
    """
    A daemon could not be started; the message says which and holds its
    log's tail.
    """


def cpuSeconds(pid: int) -> float:
    """
    @param pid: a live process.
    @return: the user + system CPU time of all its threads, in seconds.
    @raise OSError: if the process is gone.
    """
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # The command name is in parentheses and may hold spaces: split after it.
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def rssBytes(pid: int) -> int:
    """
    @param pid: a live process.
    @return: its resident set size (C{VmRSS}) in bytes.
    @raise OSError: if the process is gone.
    @raise ValueError: if C{/proc/PID/status} has no C{VmRSS} line.
    """
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise ValueError(f"no VmRSS in /proc/{pid}/status")


def raiseFileLimit() -> int:
    """
    Raise this process's soft C{RLIMIT_NOFILE} to its hard limit; children
    (both daemons, the load generators) inherit it.

    @return: the new soft limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class VirtdDaemon:
    """
    A private C{twistd -n virtd} on a unix socket, optionally plain TCP and
    TLS on 127.0.0.1, mirroring L{RealLibvirtd}'s interface (C{start},
    C{stop}, C{uri}, C{process}).

    @ivar directory: where the sockets and the log live.
    @ivar sock: the read-write unix socket.
    @ivar tcpPort: the plain TCP port, or L{None}.
    @ivar tlsPort: the TLS port, or L{None}.
    @ivar clientPki: the client pkipath put in L{uri}C{("tls")}.
    """

    startTimeout = 30.0
    stopTimeout = 10.0

    def __init__(
        self,
        tcp: bool = True,
        tls: bool = False,
        pkiPath: str | None = None,
        clientPki: str | None = None,
        maxClients: int = 5000,
        extraArgs: tuple[str, ...] = (),
        source: str | None = None,
    ) -> None:
        """
        @param tcp: listen for plain TCP.
        @param tls: listen for TLS; needs C{pkiPath}.
        @param pkiPath: a libvirt server pkipath (C{cacert.pem},
            C{servercert.pem}, C{serverkey.pem}).
        @param clientPki: the client pkipath for L{uri}C{("tls")}.
        @param maxClients: C{--max-clients}.
        @param extraArgs: more C{twistd virtd} options.
        @param source: the source tree to run virtd from (default: this
            one), e.g. a C{git worktree} of another commit for an A/B.
        """
        if tls and not pkiPath:
            raise ValueError("VirtdDaemon(tls=True) needs pkiPath")
        self.directory = shortTempDir("vdb")
        self.sock = os.path.join(self.directory, "virtd-sock")
        self.sockRO = os.path.join(self.directory, "virtd-sock-ro")
        self.logFile = os.path.join(self.directory, "twistd.log")
        self.tcpPort = freePort() if tcp else None
        self.tlsPort = freePort() if tls else None
        self.pkiPath = pkiPath
        self.clientPki = clientPki
        self.maxClients = maxClients
        self.extraArgs = tuple(extraArgs)
        self.source = str(source or REPO)
        self.process: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        """
        @return: the command line that starts the daemon.
        """
        twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
        argv = [twistd, "-n", "--pidfile=", "virtd",
                "--unix", self.sock, "--unix-ro", self.sockRO,
                "--listen-addr", "127.0.0.1",
                "--max-clients", str(self.maxClients)]
        if self.tcpPort:
            argv += ["--tcp-port", str(self.tcpPort)]
        if self.tlsPort:
            argv += ["--tls-port", str(self.tlsPort), "--pki-path", str(self.pkiPath)]
        return argv + list(self.extraArgs)

    @property
    def running(self) -> bool:
        """
        Whether the daemon process is alive.
        """
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """
        Start the daemon and wait until every listener accepts.

        @raise DaemonError: if it exits or is not ready in time.
        """
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (self.source, env.get("PYTHONPATH")) if p)
        with open(self.logFile, "ab") as log:
            self.process = subprocess.Popen(
                self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, cwd=self.source, env=env,
                start_new_session=True)

        def ready() -> bool:
            if not canConnectUNIX(self.sock):
                return False
            return all(isListeningTCP(p) for p in (self.tcpPort, self.tlsPort) if p)

        if not waitFor(ready, self.startTimeout, lambda: self.running):
            status = self.process.poll()
            self.stop(removeFiles=False)
            raise DaemonError(
                f"twistd -n virtd did not start (exit status {status}; "
                f"command: {' '.join(self.argv())}); check that "
                f"'twistd -n virtd --help' works. Log {self.logFile}:\n"
                f"{logTail(self.logFile)}")

    def stop(self, removeFiles: bool = True) -> None:
        """
        Stop the daemon (SIGTERM, then SIGKILL) and remove its directory.
        Safe to call more than once.

        @param removeFiles: remove L{directory} too.
        """
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(self.stopTimeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if removeFiles:
            removeTree(self.directory)

    def uri(self, transport: str = "unix") -> str:
        """
        @param transport: C{"unix"}, C{"tcp"} or C{"tls"}.
        @return: a libvirt URI reaching this daemon's C{test:///default}.
        @raise ValueError: for a transport this daemon does not serve.
        """
        if transport == "unix":
            return f"test+unix:///default?socket={quote(self.sock)}"
        if transport == "tcp" and self.tcpPort:
            return f"test+tcp://127.0.0.1:{self.tcpPort}/default"
        if transport == "tls" and self.tlsPort and self.clientPki:
            return (f"test+tls://127.0.0.1:{self.tlsPort}/default"
                    f"?pkipath={quote(self.clientPki)}")
        raise ValueError(f"this virtd does not serve {transport!r}")


def _libvirtdLimits(maxClients: int) -> dict[str, int]:
    # max_anonymous_clients must not exceed max_clients.
    return {"max_clients": maxClients, "max_anonymous_clients": maxClients}


class DaemonPair:
    """
    Both daemons, on unix sockets and optionally TCP and TLS; the TLS
    listeners share one PKI (generated by L{RealLibvirtd}), so one client
    pkipath reaches both.

    If virtd cannot start, L{oursError} says why and L{ours} is L{None}:
    the reference side is still measured.

    @ivar theirs: the L{RealLibvirtd}.
    @ivar ours: the L{VirtdDaemon}, or L{None}.
    @ivar oursError: why C{ours} is L{None}, else L{None}.
    """

    def __init__(self, tcp: bool = True, tls: bool = True, maxClients: int = 5000,
                 startOurs: bool = True, virtdArgs: tuple[str, ...] = ()) -> None:
        """
        @param tcp: plain TCP listeners on both.
        @param tls: TLS listeners on both.
        @param maxClients: the client limit of both daemons.
        @param startOurs: start virtd too (C{False} for the client cases,
            which only need the reference daemon).
        @param virtdArgs: extra C{twistd virtd} options.
        """
        self.tcp, self.tls, self.maxClients = tcp, tls, maxClients
        self.virtdArgs = tuple(virtdArgs)
        self.startOurs = startOurs
        self.theirs: RealLibvirtd | None = None
        self.ours: VirtdDaemon | None = None
        self.oursError: str | None = None

    def start(self) -> DaemonPair:
        """
        Start libvirtd (its failure is fatal), then virtd (its failure is
        recorded in L{oursError}).

        @return: C{self}.
        """
        theirs = RealLibvirtd(tcp=self.tcp, tls=self.tls,
                              extraConfig=_libvirtdLimits(self.maxClients))
        theirs.start()
        self.theirs = theirs
        if not self.startOurs:
            return self
        ours = VirtdDaemon(tcp=self.tcp, tls=self.tls, pkiPath=theirs.serverPki,
                           clientPki=theirs.clientPki, maxClients=self.maxClients,
                           extraArgs=self.virtdArgs)
        try:
            ours.start()
        except DaemonError as e:
            self.oursError = str(e)
            ours.stop()
        else:
            self.ours = ours
        return self

    def stop(self) -> None:
        """
        Stop both daemons.
        """
        if self.ours is not None:
            self.ours.stop()
            self.ours = None
        if self.theirs is not None:
            self.theirs.stop()
            self.theirs = None

    def __enter__(self) -> DaemonPair:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
