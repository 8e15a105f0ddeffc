"""
A real C{/usr/sbin/libvirtd} with only libvirt's built-in test driver,
isolated in a temporary directory, for interop tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any
from urllib.parse import quote

from tests.support._util import (
    canConnectUNIX,
    checkSocketPath,
    freePort,
    isListeningTCP,
    logTail,
    removeTree,
    shortTempDir,
    spawnDaemon,
    waitFor,
)

LIBVIRTD = "/usr/sbin/libvirtd"


class LibvirtdError(RuntimeError):
    """
    libvirtd could not be started; the message holds its log's tail.
    """


class RealLibvirtd:
    """
    A private libvirtd serving the test driver (C{test:///default}: one
    running domain C{test}, network C{default}, pool C{default-pool}).

    Everything lives in L{directory}: config, pid file, log, sockets, PKI.
    The QEMU and other driver modules are kept out by pointing
    C{LIBVIRT_DRIVER_DIR} at an empty directory, so several instances can run
    side by side without touching C{/run/libvirt} sockets.

    Typical use in a trial test::

        daemon = RealLibvirtd.forTest(self, tls=True)
        rc, out, err = runVirsh(daemon.uri("tls"), "list --all")

    or by hand: C{d = RealLibvirtd(); d.start(); self.addCleanup(d.stop)}.

    @ivar directory: the private directory (short, under C{/tmp}).
    @ivar sock: the read-write unix socket path.
    @ivar sockRO: the read-only unix socket path.
    @ivar sockAdmin: the admin unix socket path.
    @ivar tcpPort: the plain TCP port on 127.0.0.1, or L{None} if disabled.
    @ivar tlsPort: the TLS port on 127.0.0.1, or L{None} if disabled.
    @ivar serverPki: the server pkipath libvirtd uses (TLS only).
    @ivar clientPki: a client pkipath the server accepts (TLS only; L{None}
        if you passed your own C{serverPki} without a C{clientPki}).
    @ivar caDir: the CA directory (C{cacert.pem}, C{cakey.pem}) when the PKI
        was generated here, else L{None}; use it to issue more client
        certificates with L{virtd.pki.loadCA}.
    @ivar configFile: the generated C{libvirtd.conf}.
    @ivar logFile: libvirtd's log (warnings and errors).
    @ivar outputFile: libvirtd's stdout and stderr.
    @ivar process: the L{subprocess.Popen}, once started; its C{pid} is
        libvirtd's own.

    libvirtd gets SIGTERM if the process that started it dies without
    stopping it (see L{tests.support._util.spawnDaemon}).
    """

    startTimeout = 30.0
    stopTimeout = 10.0

    def __init__(
        self,
        directory: str | None = None,
        tcp: bool = True,
        tls: bool = False,
        serverPki: str | None = None,
        clientPki: str | None = None,
        allowedDNs: list[str] | None = None,
        tcpPort: int | None = None,
        tlsPort: int | None = None,
        extraConfig: dict[str, Any] | None = None,
    ) -> None:
        """
        @param directory: where to put everything; default: a new
            L{shortTempDir}, removed again by L{stop}.
        @param tcp: listen for plain TCP (C{auth_tcp = "none"}).
        @param tls: listen for TLS (C{auth_tls = "none"}, client
            certificates required).
        @param serverPki: an existing server pkipath for TLS; default: a
            fresh PKI from L{virtd.pki.initPKI} under C{directory/pki}.
        @param clientPki: the client pkipath to put in L{uri}C{("tls")}.
        @param allowedDNs: libvirtd's C{tls_allowed_dn_list}, e.g.
            C{["C=GB,O=virtd,CN=client1"]}; default: any client certificate
            signed by the CA.
        @param tcpPort: a fixed TCP port; default: a free one.
        @param tlsPort: a fixed TLS port; default: a free one.
        @param extraConfig: more C{libvirtd.conf} settings (str, int, bool
            or list of str values), e.g. C{{"max_clients": 5}}.
        """
        self._ownsDirectory = directory is None
        # Absolute paths: libvirtd runs in its own directory, and the test's
        # cwd (trial's _trial_temp) is not where relative paths were meant.
        self.directory = os.path.abspath(directory) if directory else shortTempDir("vdl")
        self.tcp = tcp
        self.tls = tls
        self._fixedPorts = tcpPort is not None or tlsPort is not None
        self.tcpPort = (tcpPort or freePort()) if tcp else None
        self.tlsPort = (tlsPort or freePort()) if tls else None
        self.allowedDNs = allowedDNs
        self.extraConfig = dict(extraConfig or {})

        runDir = os.path.join(self.directory, "run")
        self.sock = checkSocketPath(os.path.join(runDir, "libvirt-sock"))
        self.sockRO = checkSocketPath(os.path.join(runDir, "libvirt-sock-ro"))
        self.sockAdmin = checkSocketPath(os.path.join(runDir, "libvirt-admin-sock"))
        self.configFile = os.path.join(self.directory, "libvirtd.conf")
        self.pidFile = os.path.join(self.directory, "libvirtd.pid")
        self.logFile = os.path.join(self.directory, "libvirtd.log")
        self.outputFile = os.path.join(self.directory, "libvirtd.out")
        self.serverPki = os.path.abspath(serverPki) if serverPki else None
        self.clientPki = os.path.abspath(clientPki) if clientPki else None
        self.caDir: str | None = None
        self.process: subprocess.Popen[bytes] | None = None

    # -- lifecycle --------------------------------------------------------

    @classmethod
    def forTest(cls, testCase: Any, **kwargs: Any) -> RealLibvirtd:
        """
        Start a daemon and stop it when the test ends.

        @param testCase: a trial test case (anything with C{addCleanup}).
        @param kwargs: passed to the constructor.
        @return: the started daemon.
        """
        daemon = cls(**kwargs)
        testCase.addCleanup(daemon.stop)
        daemon.start()
        return daemon

    def start(self) -> None:
        """
        Start libvirtd and return once every socket it was asked to listen
        on accepts connections.

        @raise LibvirtdError: if it exits or is not ready within
            L{startTimeout} seconds; the message holds the log's tail.
        """
        if self.process is not None:
            raise LibvirtdError(f"libvirtd in {self.directory} was already started")
        os.makedirs(os.path.join(self.directory, "run"), exist_ok=True)
        if self.tls:
            self._preparePki()
        for attempt in range(3):
            self._spawn()
            if self._waitReady():
                return
            output = logTail(self.outputFile) + "\n" + logTail(self.logFile)
            self._terminate()
            if self._fixedPorts or "in use" not in output or attempt == 2:
                break
            # Somebody took one of our "free" ports meanwhile: pick again.
            self.tcpPort = freePort() if self.tcp else None
            self.tlsPort = freePort() if self.tls else None
        raise LibvirtdError(
            f"libvirtd did not start in {self.directory} "
            f"(exit status {self.process.returncode if self.process else None}; "
            f"waited up to {self.startTimeout:g}s for {', '.join(self._endpoints())})\n"
            f"--- {self.outputFile} ---\n{logTail(self.outputFile)}\n"
            f"--- {self.logFile} ---\n{logTail(self.logFile)}"
        )

    def stop(self) -> None:
        """
        Stop libvirtd (SIGTERM, then SIGKILL after L{stopTimeout} seconds),
        wait for it, and remove L{directory} if this object created it.
        Safe to call more than once.
        """
        self._terminate()
        if self._ownsDirectory:
            removeTree(self.directory)

    def __enter__(self) -> RealLibvirtd:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """
        Whether the libvirtd process is alive.
        """
        return self.process is not None and self.process.poll() is None

    # -- addresses --------------------------------------------------------

    def uri(
        self, transport: str = "unix", readonly: bool = False, host: str = "127.0.0.1"
    ) -> str:
        """
        Build a libvirt URI that reaches this daemon's test driver.

        @param transport: C{"unix"}, C{"tcp"} or C{"tls"}.
        @param readonly: for C{"unix"}, use the read-only socket (C{virsh}
            also needs C{-r}; see L{runVirsh}).
        @param host: for C{"tcp"}/C{"tls"}, the host to dial (the generated
            server certificate covers C{127.0.0.1} and C{localhost}).
        @return: e.g. C{test+unix:///default?socket=/tmp/vdl.../libvirt-sock}.
        @raise ValueError: for an unknown or disabled transport.
        """
        if transport == "unix":
            return f"test+unix:///default?socket={quote(self.sockRO if readonly else self.sock)}"
        if transport == "tcp":
            if self.tcpPort is None:
                raise ValueError("this libvirtd was created with tcp=False")
            return f"test+tcp://{host}:{self.tcpPort}/default"
        if transport == "tls":
            if self.tlsPort is None:
                raise ValueError("this libvirtd was created with tls=False")
            if self.clientPki is None:
                raise ValueError("no client pkipath: pass clientPki= to RealLibvirtd")
            return f"test+tls://{host}:{self.tlsPort}/default?pkipath={quote(self.clientPki)}"
        raise ValueError(f"unknown transport {transport!r}: use 'unix', 'tcp' or 'tls'")

    # -- internals --------------------------------------------------------

    def _preparePki(self) -> None:
        if self.serverPki is not None:
            return
        from virtd.pki import initPKI

        layout = initPKI(
            os.path.join(self.directory, "pki"),
            serverNames=["localhost"],
            serverIPs=["127.0.0.1"],
        )
        self.caDir = layout.caDir
        self.serverPki = layout.serverDir
        if self.clientPki is None:
            self.clientPki = layout.clientDir

    def _config(self) -> str:
        settings: dict[str, Any] = {
            "listen_tcp": int(self.tcp),
            "listen_tls": int(self.tls),
            "listen_addr": "127.0.0.1",
            "unix_sock_dir": os.path.join(self.directory, "run"),
            "unix_sock_ro_perms": "0777",
            "unix_sock_rw_perms": "0700",
            "auth_unix_ro": "none",
            "auth_unix_rw": "none",
            "auth_tcp": "none",
            "auth_tls": "none",
            "log_outputs": f"3:file:{self.logFile}",
        }
        if self.tcp:
            settings["tcp_port"] = str(self.tcpPort)
        if self.tls:
            assert self.serverPki is not None
            settings["tls_port"] = str(self.tlsPort)
            settings["ca_file"] = os.path.join(self.serverPki, "cacert.pem")
            settings["cert_file"] = os.path.join(self.serverPki, "servercert.pem")
            settings["key_file"] = os.path.join(self.serverPki, "serverkey.pem")
            if self.allowedDNs is not None:
                settings["tls_allowed_dn_list"] = list(self.allowedDNs)
        settings.update(self.extraConfig)
        return "".join(f"{k} = {_confValue(v)}\n" for k, v in settings.items())

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("LIBVIRT_DEFAULT_URI", "LIBVIRT_LOG_OUTPUTS", "LIBVIRT_LOG_FILTERS"):
            env.pop(name, None)
        drivers = os.path.join(self.directory, "drivers")
        home = os.path.join(self.directory, "home")
        for d in (drivers, home):
            os.makedirs(d, exist_ok=True)
        env.update(
            LIBVIRT_DRIVER_DIR=drivers,
            HOME=home,
            XDG_RUNTIME_DIR=os.path.join(self.directory, "run"),
            XDG_CONFIG_HOME=os.path.join(home, ".config"),
            XDG_CACHE_HOME=os.path.join(home, ".cache"),
            LC_ALL="C",
        )
        return env

    def _spawn(self) -> None:
        with open(self.configFile, "w") as f:
            f.write(self._config())
        argv = [LIBVIRTD, "--config", self.configFile, "--pid-file", self.pidFile]
        if self.tcp or self.tls:
            argv.insert(1, "--listen")
        with open(self.outputFile, "ab") as out:
            # spawnDaemon: libvirtd dies with this process even when it is
            # SIGKILLed and never runs its cleanups. argv[0] is libvirtd
            # itself (no wrapper), so the signal reaches the real daemon.
            self.process = spawnDaemon(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._environment(),
                cwd=self.directory,
                start_new_session=True,
            )

    def _endpoints(self) -> list[str]:
        names = [self.sock, self.sockRO]
        names += [f"127.0.0.1:{p}" for p in (self.tcpPort, self.tlsPort) if p]
        return names

    def _ready(self) -> bool:
        if not (canConnectUNIX(self.sock) and canConnectUNIX(self.sockRO)):
            return False
        pid = self.process.pid if self.process is not None else None
        return all(isListeningTCP(p, pid)
                   for p in (self.tcpPort, self.tlsPort) if p)

    def _waitReady(self) -> bool:
        return waitFor(self._ready, self.startTimeout, lambda: self.running)

    def _terminate(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(self.stopTimeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _confValue(value: Any) -> str:
    """
    Format a value in libvirt's config file syntax.
    """
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_confValue(str(v)) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
