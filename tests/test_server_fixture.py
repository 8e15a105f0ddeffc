"""
L{InProcessVirtd}: our daemon started in the test's own process and
reactor (what C{twistd -n virtd} runs: L{makeService} then
C{startService}), on real sockets in a short directory under C{/tmp}.

(No tests here; the module is shared by tests/test_server_*.py and
tests/test_virsh_compare.py.)
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from twisted.internet import defer, reactor, threads

from tests.support import removeTree, shortTempDir
from virtd.server.options import Options
from virtd.server.tap import makeService

__all__ = ["InProcessVirtd", "freshDefault", "isInitialState", "normalise",
           "inThread"]


class InProcessVirtd:
    """
    Our daemon, in-process.

    @ivar directory: its private directory (sockets, PKI).
    @ivar sock: the read-write unix socket.
    @ivar sockRO: the read-only unix socket.
    @ivar tcpPort: the TCP port (when started with C{tcp=True}).
    @ivar tlsPort: the TLS port (when started with C{tls=True}).
    @ivar pki: the L{virtd.pki.PKILayout} (when started with C{tls=True}).
    @ivar service: the running L{VirtdService}.
    """

    def __init__(self, tcp: bool = False, tls: bool = False,
                 allowedDNs: list[str] | None = None,
                 extraArgs: list[str] | None = None) -> None:
        self.directory = shortTempDir("vdd")
        self.sock = os.path.join(self.directory, "virtd-sock")
        self.sockRO = os.path.join(self.directory, "virtd-sock-ro")
        self.tcp = tcp
        self.tls = tls
        self.allowedDNs = allowedDNs
        self.extraArgs = list(extraArgs or [])
        self.tcpPort: int | None = None
        self.tlsPort: int | None = None
        self.pki: Any = None
        self.service: Any = None

    @classmethod
    def forTest(cls, testCase: Any, **kwargs: Any) -> defer.Deferred:
        """
        Start one; stop it when the test ends.

        @return: a Deferred firing with the started L{InProcessVirtd}.
        """
        daemon = cls(**kwargs)
        testCase.addCleanup(daemon.stop)
        return daemon.start().addCallback(lambda _: daemon)

    def argv(self) -> list[str]:
        argv = ["--unix", self.sock, "--unix-ro", self.sockRO,
                "--listen-addr", "127.0.0.1"]
        if self.tcp:
            argv += ["--tcp-port", "0"]
        if self.tls:
            from virtd.pki import initPKI

            self.pki = initPKI(os.path.join(self.directory, "pki"))
            argv += ["--tls-port", "0", "--pki-path", self.pki.serverDir]
        for dn in self.allowedDNs or ():
            argv += ["--allowed-dn", dn]
        return argv + self.extraArgs

    def start(self) -> defer.Deferred:
        return freshDefault().addCallback(lambda _: self.startService())

    def startService(self) -> defer.Deferred:
        options = Options()
        options.parseOptions(self.argv())
        self.service = makeService(options)
        self.service.startService()
        return self.service.whenListening.addCallback(self._listening)

    def _listening(self, ports: list) -> InProcessVirtd:
        for info, port in ports:
            if info.kind == "tcp":
                self.tcpPort = port.getHost().port
            elif info.kind == "tls":
                self.tlsPort = port.getHost().port
        return self

    def stop(self) -> defer.Deferred:
        d = defer.succeed(None)
        if self.service is not None and self.service.running:
            d = defer.maybeDeferred(self.service.stopService)
        return d.addBoth(lambda r: (removeTree(self.directory), r)[1])

    def uri(self, transport: str = "unix", readonly: bool = False,
            pkipath: str | None = None) -> str:
        """
        A libvirt URI reaching this daemon, like L{RealLibvirtd.uri}.
        """
        if transport == "unix":
            return ("test+unix:///default?socket="
                    + quote(self.sockRO if readonly else self.sock))
        if transport == "tcp":
            return f"test+tcp://127.0.0.1:{self.tcpPort}/default"
        if transport == "tls":
            return (f"test+tls://127.0.0.1:{self.tlsPort}/default?pkipath="
                    + quote(pkipath or self.pki.clientDir))
        raise ValueError(f"unknown transport {transport!r}")


def isInitialState(conn: Any) -> bool:
    """
    Whether the libvirt connection C{conn} to C{test:///default} sees the
    driver's initial state (what the scenarios change: domains, their
    state and snapshots, networks).
    """
    test = conn.lookupByName("test")
    return (conn.numOfDomains() == 1 and conn.numOfDefinedDomains() == 0
            and test.state(0)[0] == 1 and test.snapshotNum(0) == 0
            and conn.numOfNetworks() == 1 and conn.numOfDefinedNetworks() == 0)


def _defaultIsFresh() -> bool:
    import libvirt

    conn = libvirt.open("test:///default")
    try:
        return isInitialState(conn)
    finally:
        conn.close()


@defer.inlineCallbacks
def freshDefault(timeout: float = 10.0):
    """
    Wait until C{test:///default} opened in this process starts from the
    driver's initial state, i.e. no connection a previous test made is
    still open (the driver keeps its state while any is). Collects garbage
    first (a connection held by a reference cycle), then polls while a
    stopped daemon's workers close their connections; after C{timeout}
    seconds it gives up, and the test shows the state it was left.
    """
    import gc
    import time

    from twisted.internet.task import deferLater

    gc.collect()
    deadline = time.monotonic() + timeout
    while not _defaultIsFresh() and time.monotonic() < deadline:
        gc.collect()
        yield deferLater(reactor, 0.02, lambda: None)


def inThread(f: Any, *args: Any, **kwargs: Any) -> defer.Deferred:
    """
    Run a blocking client (libvirt-python, virsh) off the reactor thread, so
    the in-process daemon keeps serving.
    """
    return threads.deferToThreadPool(reactor, reactor.getThreadPool(), f,
                                     *args, **kwargs)


_VOLATILE = [
    # CPU time advances by itself.
    (r"(CPU time:\s+)\S+", r"\1<cpu-time>"),
    (r"(<cpuTime>|cpu\.time[=:]\s*)\d+", r"\1<n>"),
    (r"(VCPU:\s+\d+\s+CPU:\s+\d+\s+State:\s+\S+\s+CPU time:\s+)\S+",
     r"\1<cpu-time>"),
]


def normalise(text: str, extra: list[tuple[str, str]] | None = None) -> str:
    """
    Blank out what changes by itself between runs (CPU time) and the
    addresses that differ between the two daemons.
    """
    import re

    for pattern, repl in _VOLATILE + (extra or []):
        text = re.sub(pattern, repl, text)
    return text
