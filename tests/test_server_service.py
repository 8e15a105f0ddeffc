"""
The daemon end to end, in-process (makeService + startService on trial's
real reactor), against the real clients: virsh and libvirt-python over
unix, the read-only unix socket, TCP and TLS, compared with a real
libvirtd 9.0.0 serving the test driver.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import sys

from twisted.internet import defer, reactor, task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from tests.support import RealLibvirtd, removeTree, runVirshDeferred, shortTempDir
from tests.test_server_fixture import InProcessVirtd, inThread, normalise
from virtd.server.config import ServerConfig
from virtd.server.service import StartupError, VirtdService, prepareUnixSocket
from virtd.server.session import peerIdentity

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pythonInfo(uri: str) -> tuple:
    """
    libvirt-python, as a user would write it: open, look up, info, close.
    """
    import libvirt

    conn = libvirt.open(uri)
    try:
        dom = conn.lookupByName("test")
        return (conn.getType(), dom.name(), dom.UUIDString(), dom.info(),
                dom.state(), [d.name() for d in conn.listAllDomains()])
    finally:
        conn.close()


class _Both:
    """
    Mixin: our daemon and a real libvirtd side by side.
    """

    ours: InProcessVirtd
    real: RealLibvirtd

    @defer.inlineCallbacks
    def compareVirsh(self, commands: str, transport: str = "unix",
                     readonly: bool = False, ourURI: str | None = None,
                     realURI: str | None = None):
        """
        Run the same virsh commands against both daemons and check that
        the exit status, stdout and stderr match once normalised.
        """
        ourURI = ourURI or self.ours.uri(transport, readonly)
        realURI = realURI or self.real.uri(transport, readonly)
        mine = yield runVirshDeferred(ourURI, commands, readonly=readonly)
        theirs = yield runVirshDeferred(realURI, commands, readonly=readonly)
        ours = [(re.escape(ourURI), "<uri>")]
        real = [(re.escape(realURI), "<uri>")]
        self.assertEqual(
            (mine[0], normalise(mine[1], ours), normalise(mine[2], ours)),
            (theirs[0], normalise(theirs[1], real), normalise(theirs[2], real)),
            f"virsh {commands!r} differs ({ourURI} vs {realURI})")
        return mine


class UnixTests(_Both, unittest.TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        self.real = RealLibvirtd.forTest(self, tcp=True)
        self.ours = yield InProcessVirtd.forTest(self, tcp=True)

    @defer.inlineCallbacks
    def test_listAll(self):
        rc, out, err = yield self.compareVirsh("list --all")
        self.assertEqual(rc, 0, err)
        self.assertIn(" 1    test   running", out)

    @defer.inlineCallbacks
    def test_socketModes(self):
        self.assertEqual(os.stat(self.ours.sock).st_mode & 0o777, 0o770)
        self.assertEqual(os.stat(self.ours.sockRO).st_mode & 0o777, 0o777)
        yield defer.succeed(None)

    @defer.inlineCallbacks
    def test_dominfoScenario(self):
        yield self.compareVirsh("dominfo test; domstate test; suspend test; "
                                "domstate test; resume test; uri; hostname")

    @defer.inlineCallbacks
    def test_readonlySocket(self):
        """
        virsh -r on the read-only socket: reads pass, writes fail with
        libvirt's error (refused by the client library itself).
        """
        rc, out, err = yield self.compareVirsh("list --all; dominfo test",
                                               readonly=True)
        self.assertEqual(rc, 0, err)
        rc, out, err = yield self.compareVirsh("destroy test", readonly=True)
        self.assertNotEqual(rc, 0)
        self.assertIn("read only access prevents virDomainDestroy", err)

    @defer.inlineCallbacks
    def test_readonlySocketEnforcedByDaemon(self):
        """
        Without -r the client library does not know the socket is
        read-only: the daemon itself refuses, with libvirtd's error.
        """
        ourURI = self.ours.uri("unix", readonly=True)
        realURI = self.real.uri("unix", readonly=True)
        rc, out, err = yield self.compareVirsh(
            "domstate test; destroy test; domstate test; net-destroy default",
            ourURI=ourURI, realURI=realURI)
        self.assertIn("error: operation forbidden: read only access prevents "
                      "virDomainDestroy", err)
        self.assertIn("virNetworkDestroy", err)

    @defer.inlineCallbacks
    def test_tcp(self):
        rc, out, err = yield self.compareVirsh(
            "dominfo test; net-list --all; pool-list --all", transport="tcp")
        self.assertEqual(rc, 0, err)

    @defer.inlineCallbacks
    def test_libvirtPython(self):
        mine = yield inThread(pythonInfo, self.ours.uri("unix"))
        theirs = yield inThread(pythonInfo, self.real.uri("unix"))
        # info() = [state, maxMem, memory, nrVirtCpu, cpuTime]: cpuTime
        # advances by itself.
        self.assertEqual(mine[3][:4], theirs[3][:4])
        self.assertEqual(mine[:3] + mine[4:], theirs[:3] + theirs[4:])

    @defer.inlineCallbacks
    def test_libvirtPythonTCPReadOnly(self):
        import libvirt

        def readonly(uri):
            conn = libvirt.openReadOnly(uri)
            try:
                dom = conn.lookupByName("test")
                try:
                    dom.destroy()
                except libvirt.libvirtError as e:
                    return (dom.info()[:4], e.get_error_code(),
                            e.get_error_domain(), str(e))
                return "destroy was allowed"
            finally:
                conn.close()

        mine = yield inThread(readonly, self.ours.uri("tcp"))
        theirs = yield inThread(readonly, self.real.uri("tcp"))
        self.assertEqual(mine, theirs)

    @defer.inlineCallbacks
    def test_clientsCounted(self):
        dispatcher = self.ours.service.dispatcher
        self.assertEqual(len(dispatcher.sessions), 0)
        yield inThread(pythonInfo, self.ours.uri("unix"))
        # The daemon sees the client's EOF a reactor turn or so after the
        # client thread returns: wait for it, briefly.
        from twisted.internet import reactor, task

        for _ in range(100):
            if not dispatcher.sessions:
                break
            yield task.deferLater(reactor, 0.01, lambda: None)
        self.assertEqual(len(dispatcher.sessions), 0)


class EndpointTests(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def test_listenEndpointStrings(self):
        """
        --listen and --listen-ro take any Twisted endpoint string.
        """
        ours = yield InProcessVirtd.forTest(self, extraArgs=[
            "--listen", "tcp:0:interface=127.0.0.1",
            "--listen-ro", "tcp:0:interface=127.0.0.1"])
        ports = {info.readonly: port.getHost().port
                 for info, port in ours.service.ports
                 if info.kind == "endpoint"}
        rc, out, err = yield runVirshDeferred(
            f"test+tcp://127.0.0.1:{ports[False]}/default", "destroy test")
        self.assertEqual(rc, 0, err)
        rc, out, err = yield runVirshDeferred(
            f"test+tcp://127.0.0.1:{ports[True]}/default",
            "domstate test; destroy test")
        self.assertIn("running", out)
        self.assertIn("read only access prevents virDomainDestroy", err)

    def test_badEndpoint(self):
        service = VirtdService(ServerConfig(listen=["nonsense:1"]))
        service.startService()
        self.addCleanup(service.stopService)
        f = self.failureResultOf(service.whenListening, StartupError)
        self.assertIn("nonsense:1", str(f.value))
        self.flushLoggedErrors(StartupError)


class TLSTests(_Both, unittest.TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        self.real = RealLibvirtd.forTest(self, tcp=False, tls=True)
        self.ours = yield InProcessVirtd.forTest(
            self, tls=True, allowedDNs=["C=GB,O=virtd,CN=client*"])

    @defer.inlineCallbacks
    def test_virsh(self):
        rc, out, err = yield self.compareVirsh("list --all; net-list --all",
                                               transport="tls")
        self.assertEqual(rc, 0, err)

    @defer.inlineCallbacks
    def test_identityLogged(self):
        """
        A TLS client is logged with its certificate's DN, once when it
        opens a connection and again when it leaves.
        """
        import libvirt
        from twisted.logger import globalLogPublisher

        events: list[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)

        def identities() -> list[str]:
            return [e["identity"] for e in events
                    if e.get("log_format", "").startswith("client ")]

        conn = yield inThread(libvirt.open, self.ours.uri("tls"))
        yield inThread(conn.close)
        for _ in range(100):  # the daemon sees the hang-up a little later
            if len(identities()) == 2:
                break
            yield task.deferLater(reactor, 0.05, lambda: None)
        self.assertEqual(len(identities()), 2, identities())
        for identity in identities():
            self.assertRegex(identity, r"^127\.0\.0\.1:\d+ dn=C=GB,O=virtd,CN=client1$")

    @defer.inlineCallbacks
    def test_manyCallsInFlight(self):
        """
        Eight libvirt-python threads on one TLS connection (more than the
        five calls a client may have running at once), their replies sent
        through the TLS layer by worker threads: every call is answered.
        """
        import threading

        import libvirt

        conn = yield inThread(libvirt.open, self.ours.uri("tls"))
        self.addCleanup(inThread, conn.close)
        dom = yield inThread(conn.lookupByName, "test")
        results: list[list[int]] = []
        lock = threading.Lock()

        def calls() -> None:
            for _ in range(100):
                info = dom.info()
                with lock:
                    results.append(info)

        def run() -> None:
            threads = [threading.Thread(target=calls) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)

        yield inThread(run)
        self.assertEqual(len(results), 800)
        self.assertEqual({r[0] for r in results}, {libvirt.VIR_DOMAIN_RUNNING})

    def tryHandshake(self, certDir: str | None) -> bytes:
        """
        A raw TLS client: handshake (with the certificate in C{certDir} if
        given), then read what the server sends first.
        """
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(os.path.join(self.ours.pki.clientDir,
                                               "cacert.pem"))
        if certDir is not None:
            ctx.load_cert_chain(os.path.join(certDir, "clientcert.pem"),
                                os.path.join(certDir, "clientkey.pem"))
        raw = socket.create_connection(("127.0.0.1", self.ours.tlsPort), 5)
        try:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.settimeout(5)
                return s.recv(1)
        except (ssl.SSLError, OSError) as e:
            return repr(e).encode()
        finally:
            raw.close()

    @defer.inlineCallbacks
    def test_refusals(self):
        """
        No client certificate, one from another CA, and a DN not on the
        allowlist are each refused without a confirmation byte, while an
        already connected client keeps being served.
        """
        import libvirt

        from virtd.pki import initPKI, loadCA, writeClientLayout

        conn = yield inThread(libvirt.open, self.ours.uri("tls"))
        # close() waits for the daemon, which runs on this reactor.
        self.addCleanup(inThread, conn.close)
        other = initPKI(os.path.join(self.ours.directory, "otherpki"))
        intruder = os.path.join(self.ours.directory, "intruder")
        writeClientLayout(intruder, loadCA(self.ours.pki.caDir),
                          dn="C=GB,O=virtd,CN=intruder")

        good = yield inThread(self.tryHandshake, self.ours.pki.clientDir)
        self.assertEqual(good, b"\x01")
        for certDir in (None, other.clientDir, intruder):
            got = yield inThread(self.tryHandshake, certDir)
            self.assertNotEqual(got, b"\x01", certDir)
            info = yield inThread(lambda: conn.lookupByName("test").info())
            self.assertEqual(info[0], 1)
        for certDir in (other.clientDir, intruder):
            rc, out, err = yield runVirshDeferred(
                self.ours.uri("tls", pkipath=certDir), "list")
            self.assertNotEqual(rc, 0)
        # The same refusals from the real libvirtd, for comparison.
        rc, out, err = yield runVirshDeferred(
            self.real.uri("tls").split("?")[0] + "?pkipath=" + other.clientDir,
            "list")
        self.assertNotEqual(rc, 0)
        self.assertTrue(conn.isAlive())


class StartupTests(unittest.TestCase):
    def setUp(self):
        self.directory = shortTempDir("vdt")
        self.addCleanup(removeTree, self.directory)

    def test_staleSocketReplaced(self):
        path = os.path.join(self.directory, "sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.close()  # bound, never listened: what a dead daemon leaves
        prepareUnixSocket(path)
        self.assertFalse(os.path.exists(path))

    def test_liveSocketRefused(self):
        path = os.path.join(self.directory, "sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.listen(1)
        self.addCleanup(s.close)
        with self.assertRaises(StartupError) as cm:
            VirtdService(ServerConfig(unix=path))
        self.assertIn("already listening", str(cm.exception))

    def test_notASocket(self):
        path = os.path.join(self.directory, "file")
        open(path, "w").close()
        with self.assertRaises(StartupError) as cm:
            prepareUnixSocket(path)
        self.assertIn("not a socket", str(cm.exception))

    def test_defaultSocketsAvoidLibvirt(self):
        config = ServerConfig().withDefaults()
        self.assertTrue(config.unix.endswith("virtd-sock"))
        self.assertNotIn("/libvirt/", config.unix)

    def test_badPKI(self):
        with self.assertRaises(StartupError) as cm:
            VirtdService(ServerConfig(tlsPort=0, pkiPath=self.directory))
        self.assertIn("--pki-path", str(cm.exception))

    def test_pkiCheckedAtStartup(self):
        """
        The daemon runs the PKI helper's check: a server key that does not
        belong to its certificate stops it with the problem named.
        """
        from virtd.pki import initPKI

        layout = initPKI(os.path.join(self.directory, "pki"))
        server = layout.serverDir
        # The client's key is a valid key, just not the server's.
        with open(os.path.join(layout.clientDir, "clientkey.pem"), "rb") as f:
            other = f.read()
        with open(os.path.join(server, "serverkey.pem"), "wb") as f:
            f.write(other)
        with self.assertRaises(StartupError) as cm:
            VirtdService(ServerConfig(tlsPort=0, pkiPath=server))
        message = str(cm.exception)
        self.assertIn("serverkey.pem", message)
        self.assertIn("python -m virtd.pki --check", message)


class TwistdTests(unittest.TestCase):
    """
    The real twistd command line.
    """

    def twistd(self, *args: str, timeout: float = 30):
        env = dict(os.environ, PYTHONPATH=ROOT)
        return subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "twistd"), *args],
            capture_output=True, text=True, timeout=timeout, env=env,
            cwd=self.mktemp_dir())

    def mktemp_dir(self) -> str:
        d = self.mktemp()
        os.makedirs(d)
        return d

    def test_help(self):
        result = self.twistd("-n", "virtd", "--help")
        self.assertEqual(result.returncode, 0, result.stderr)
        for option in ("--unix=", "--unix-ro=", "--unix-mode=", "--tls-port=",
                       "--tcp-port=", "--listen-addr=", "--pki-path=",
                       "--allowed-dn=", "--listen=", "--uri=", "--allow-uri=",
                       "--workers=", "--prio-workers=", "--max-clients=",
                       "--max-client-requests=", "--keepalive-interval=",
                       "--keepalive-count="):
            self.assertIn(option, result.stdout)
        self.assertIn("[default: 5000]", result.stdout)

    def test_liveSocketStopsTwistd(self):
        directory = shortTempDir("vdt")
        self.addCleanup(removeTree, directory)
        path = os.path.join(directory, "sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.listen(1)
        self.addCleanup(s.close)
        result = self.twistd("-n", "--pidfile=", "virtd", "--unix", path)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(f"another daemon is already listening on {path}",
                      result.stderr + result.stdout)

    def start(self, *args: str, tac: bool = False
              ) -> tuple[subprocess.Popen, str, str]:
        """
        Start C{twistd -n virtd} on a unix socket pair, or C{twistd -ny
        tac/virtd.tac} with its run directory, and wait until it listens.

        @param args: more C{virtd} options.
        @param tac: run the tac file instead of the plugin.
        @return: the process, the read-write socket and the log's path.
        """
        from tests.support._util import canConnectUNIX, waitFor

        directory = shortTempDir("vdt")
        self.addCleanup(removeTree, directory)
        sock = os.path.join(directory, "virtd-sock")
        logPath = os.path.join(directory, "log")
        env = dict(os.environ, PYTHONPATH=ROOT, VIRTD_RUN_DIR=directory)
        if tac:
            service = ["-y", os.path.join(ROOT, "tac", "virtd.tac")]
        else:
            service = ["virtd", "--unix", sock, "--unix-ro", sock + "-ro"]
        proc = subprocess.Popen(
            [os.path.join(os.path.dirname(sys.executable), "twistd"), "-n",
             "--pidfile=", "--logfile", logPath, *service, *args],
            env=env, cwd=directory)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.terminate)
        self.assertTrue(waitFor(lambda: canConnectUNIX(sock), 20,
                                lambda: proc.poll() is None))
        return proc, sock, logPath

    def listThenStop(self, proc: subprocess.Popen, sock: str,
                     logPath: str) -> str:
        """
        Check that virsh lists the test domain through the daemon, stop
        the daemon, and return its log.
        """
        out = subprocess.run(
            ["virsh", "-c", f"test+unix:///default?socket={sock}", "list",
             "--name"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.split(), ["test"])
        proc.terminate()
        proc.wait(20)
        with open(logPath) as f:
            return f.read()

    def test_runs(self):
        """
        C{twistd -n virtd} (what C{make run} runs) serves virsh, on the
        daemon's own reactor.
        """
        proc, sock, logPath = self.start()
        out = subprocess.run(
            ["virsh", "-c", f"test+unix:///default?socket={sock}", "list",
             "--all"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("test", out.stdout)
        proc.terminate()
        status = proc.wait(20)
        with open(logPath) as f:
            log = f.read()
        # twistd re-raises the signal it stopped on, after a clean stop.
        self.assertIn(status, (0, -15), log)
        self.assertIn("virtd stopped", log)
        self.assertIn("reactor class: virtd.server.reactor.DaemonReactor.",
                      log)
        self.assertRegex(log, r"client unix pid=\d+ uid=\d+ gid=\d+ via "
                              r"unix:\S+ opened test:///default\n")
        self.assertIn("client disconnected: unix pid=", log)
        # virsh ends with CONNECT_CLOSE: an orderly end, logged as one.
        self.assertIn("calls (closed after the client's CONNECT_CLOSE)", log)
        self.assertFalse(os.path.exists(sock))

    def test_twistedReactor(self):
        """
        C{--twisted-reactor} leaves twistd's default reactor in place, and
        the daemon serves on it.
        """
        log = self.listThenStop(*self.start("--twisted-reactor"))
        self.assertIn(
            "reactor class: twisted.internet.epollreactor.EPollReactor.", log)

    def test_tac(self):
        """
        C{twistd -ny tac/virtd.tac} serves virsh on the daemon's reactor,
        with its sockets in C{$VIRTD_RUN_DIR}.
        """
        log = self.listThenStop(*self.start(tac=True))
        self.assertIn("reactor class: virtd.server.reactor.DaemonReactor.",
                      log)


class PeerIdentityTests(unittest.SynchronousTestCase):
    """
    L{peerIdentity} names a client for the log lines.
    """

    def transport(self, certificateCalls: list) -> StringTransport:
        t = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.7", 40000))
        t.getPeerCertificate = lambda: certificateCalls.append(1)  # type: ignore[attr-defined]
        return t

    def test_dnFromTLSLayer(self):
        """
        A DN the TLS layer already worked out is used as it is: the
        certificate is not read again.
        """
        calls: list = []
        got = peerIdentity(self.transport(calls), "C=GB,O=virtd,CN=client1")
        self.assertEqual(got, "192.0.2.7:40000 dn=C=GB,O=virtd,CN=client1")
        self.assertEqual(calls, [])

    def test_noCertificate(self):
        """
        Without a DN or a certificate, the address alone.
        """
        calls: list = []
        self.assertEqual(peerIdentity(self.transport(calls)), "192.0.2.7:40000")
        self.assertEqual(calls, [1])
