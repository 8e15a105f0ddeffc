"""
Tests for the interop fixtures in L{tests.support}: each one really starts,
really serves, and cleans up after itself.
"""

from __future__ import annotations

import os
import socket
import subprocess

from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.support import (
    LibvirtdError,
    PrivateSshd,
    RealLibvirtd,
    VirshTimeout,
    freePort,
    removeTree,
    runVirsh,
    runVirshDeferred,
    shortTempDir,
    virshArgv,
)
from tests.support._util import checkSocketPath, isListeningTCP


def _domainNames(listing: str) -> list[str]:
    """
    Names from C{virsh list} output (skipping the two header lines).
    """
    return [line.split()[1] for line in listing.splitlines()[2:] if line.strip()]


class HelperTests(SynchronousTestCase):
    """
    L{freePort}, L{shortTempDir} and socket path checks.
    """

    def test_freePort(self) -> None:
        """
        The port can be bound on 127.0.0.1.
        """
        port = freePort()
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))

    def test_isListeningTCP(self) -> None:
        """
        A listening socket is seen in the kernel's table; a bound but not
        listening one is not.
        """
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            self.assertFalse(isListeningTCP(port))
            s.listen()
            self.assertTrue(isListeningTCP(port))

    def test_isListeningTCPOwner(self) -> None:
        """
        With a pid, only that process's listening socket counts: another
        process listening on the port does not make our daemon ready.
        """
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            self.assertTrue(isListeningTCP(port, os.getpid()))
            child = subprocess.Popen(["sleep", "30"])
            self.addCleanup(child.wait)
            self.addCleanup(child.kill)
            self.assertFalse(isListeningTCP(port, child.pid))

    def test_shortTempDir(self) -> None:
        """
        The directory is new, private and short enough for sockets.
        """
        d = shortTempDir()
        self.addCleanup(removeTree, d)
        self.assertTrue(d.startswith("/tmp/vd"))
        self.assertEqual(os.stat(d).st_mode & 0o777, 0o700)
        self.assertLess(len(d), 40)
        removeTree(d)
        self.assertFalse(os.path.exists(d))
        removeTree(d)  # already gone: no error

    def test_socketPathLimit(self) -> None:
        """
        A socket path over the kernel's limit is refused with advice.
        """
        self.assertEqual(checkSocketPath("/tmp/x"), "/tmp/x")
        e = self.assertRaises(ValueError, checkSocketPath, "/" + "x" * 107)
        self.assertIn("shortTempDir", str(e))

    def test_virshArgv(self) -> None:
        """
        A string is one argument for virsh to parse; a list is argv.
        """
        self.assertEqual(
            virshArgv("test:///default", "suspend test; resume test"),
            ["/usr/bin/virsh", "-c", "test:///default", "suspend test; resume test"],
        )
        self.assertEqual(
            virshArgv("u", ["dominfo", "test"], readonly=True),
            ["/usr/bin/virsh", "-r", "-c", "u", "dominfo", "test"],
        )


class RunVirshTests(TestCase):
    """
    L{runVirsh} and L{runVirshDeferred}, against libvirt's in-process test
    driver (no daemon needed).
    """

    def test_result(self) -> None:
        """
        The exit status and both outputs come back as text.
        """
        rc, out, err = runVirsh("test:///default", "list --all")
        self.assertEqual((rc, _domainNames(out), err), (0, ["test"], ""))
        rc, out, err = runVirsh("test:///default", ["dominfo", "nosuchdomain"])
        self.assertEqual(rc, 1)
        self.assertIn("nosuchdomain", err)

    def test_oneSession(self) -> None:
        """
        Several commands in one string share one connection.
        """
        rc, out, err = runVirsh("test:///default", "suspend test; domstate test")
        self.assertEqual(rc, 0, err)
        self.assertIn("paused", out)

    def test_timeout(self) -> None:
        """
        A virsh that runs too long is killed and reported with its output.
        """
        e = self.assertRaises(
            VirshTimeout, runVirsh, "test:///default", "event --all --loop --timeout 20",
            timeout=1,
        )
        self.assertIn("did not finish within 1s", str(e))

    def test_deferred(self) -> None:
        """
        L{runVirshDeferred} runs virsh without blocking the reactor.
        """
        d = runVirshDeferred("test:///default", "list --all")
        d.addCallback(lambda r: self.assertEqual(_domainNames(r[1]), ["test"]))
        return d


class RealLibvirtdTests(TestCase):
    """
    L{RealLibvirtd} starts a private libvirtd with the test driver.
    """

    def test_unix(self) -> None:
        """
        virsh lists the test domain over the read-write socket, and over the
        read-only socket with C{-r}.
        """
        daemon = RealLibvirtd.forTest(self)
        self.assertEqual(daemon.uri(), f"test+unix:///default?socket={daemon.sock}")
        rc, out, err = runVirsh(daemon.uri("unix"), "list --all")
        self.assertEqual((rc, _domainNames(out)), (0, ["test"]), err)
        rc, out, err = runVirsh(daemon.uri("unix", readonly=True), "list --all", readonly=True)
        self.assertEqual((rc, _domainNames(out)), (0, ["test"]), err)
        # The read-only socket really is read-only.
        rc, out, err = runVirsh(daemon.uri("unix", readonly=True), "destroy test", readonly=True)
        self.assertNotEqual(rc, 0)
        self.assertIn("read only", err.lower().replace("-", " "))

    def test_tcpAndTls(self) -> None:
        """
        The TCP and TLS listeners work, with generated certificates.
        """
        daemon = RealLibvirtd.forTest(self, tls=True)
        self.assertEqual(daemon.uri("tcp"), f"test+tcp://127.0.0.1:{daemon.tcpPort}/default")
        for transport in ("tcp", "tls"):
            rc, out, err = runVirsh(daemon.uri(transport), "list --all")
            self.assertEqual((rc, _domainNames(out)), (0, ["test"]), f"{transport}: {err}")
        self.assertTrue(os.path.exists(os.path.join(daemon.caDir, "cakey.pem")))

    def test_libvirtPython(self) -> None:
        """
        libvirt-python connects too.
        """
        import libvirt

        daemon = RealLibvirtd.forTest(self)
        conn = libvirt.open(daemon.uri("tcp"))
        self.addCleanup(conn.close)
        self.assertEqual([d.name() for d in conn.listAllDomains()], ["test"])

    def test_twoAtOnce(self) -> None:
        """
        Two daemons run side by side without sharing anything.
        """
        first = RealLibvirtd.forTest(self)
        second = RealLibvirtd.forTest(self)
        self.assertNotEqual(first.directory, second.directory)
        self.assertNotEqual(first.tcpPort, second.tcpPort)
        for daemon in (first, second):
            rc, out, err = runVirsh(daemon.uri("tcp"), "list --all")
            self.assertEqual(rc, 0, err)

    def test_stop(self) -> None:
        """
        L{RealLibvirtd.stop} ends the process, removes its directory, and
        may be called twice.
        """
        daemon = RealLibvirtd(tcp=False)
        daemon.start()
        self.assertTrue(daemon.running)
        daemon.stop()
        self.assertFalse(daemon.running)
        self.assertIsNotNone(daemon.process.returncode)
        self.assertFalse(os.path.exists(daemon.directory))
        daemon.stop()

    def test_givenDirectoryKept(self) -> None:
        """
        A directory the caller passed is left in place, with the log.
        """
        d = shortTempDir()
        self.addCleanup(removeTree, d)
        daemon = RealLibvirtd(directory=d, tcp=False)
        daemon.start()
        daemon.stop()
        self.assertTrue(os.path.exists(daemon.logFile))

    def test_startFailureExplained(self) -> None:
        """
        When libvirtd cannot start (here: its port is taken), the error says
        so and quotes libvirtd's log.
        """
        with socket.socket() as blocker:
            blocker.bind(("127.0.0.1", 0))
            blocker.listen()
            port = blocker.getsockname()[1]
            daemon = RealLibvirtd(tcpPort=port)
            self.addCleanup(daemon.stop)
            e = self.assertRaises(LibvirtdError, daemon.start)
        message = str(e)
        self.assertIn("libvirtd did not start", message)
        self.assertIn(daemon.logFile, message)
        self.assertIn("in use", message)

    def test_uriErrors(self) -> None:
        """
        Asking for a transport the daemon does not serve is an error.
        """
        daemon = RealLibvirtd(tcp=False)
        self.addCleanup(daemon.stop)
        self.assertRaises(ValueError, daemon.uri, "tcp")
        self.assertRaises(ValueError, daemon.uri, "tls")
        self.assertRaises(ValueError, daemon.uri, "carrier-pigeon")


class PrivateSshdTests(TestCase):
    """
    L{PrivateSshd} accepts its key, proves its host key, and carries virsh.
    """

    def test_ssh(self) -> None:
        """
        C{ssh -i key -p PORT root@127.0.0.1 true} works with strict host key
        checking against L{PrivateSshd.knownHostsFile}.
        """
        sshd = PrivateSshd.forTest(self)
        result = subprocess.run(
            [
                "ssh", "-i", sshd.keyfile, "-p", str(sshd.port),
                "-o", f"UserKnownHostsFile={sshd.knownHostsFile}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                "root@127.0.0.1", "true",
            ],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        self.assertEqual(result.returncode, 0, result.stderr)
        result = subprocess.run(
            sshd.sshCommand("echo", "hello"), capture_output=True, text=True, timeout=30,
            stdin=subprocess.DEVNULL,
        )
        self.assertEqual((result.returncode, result.stdout), (0, "hello\n"), result.stderr)

    def test_wrongHostKeyRefused(self) -> None:
        """
        The known_hosts file pins this server's key: another server's file
        does not verify it.
        """
        first = PrivateSshd.forTest(self)
        second = PrivateSshd.forTest(self)
        with open(second.knownHostsFile) as f:
            otherKey = f.read().split(None, 1)[1]
        with open(first.knownHostsFile, "w") as f:
            f.write(f"[127.0.0.1]:{first.port} {otherKey}")
        result = subprocess.run(
            first.sshCommand("true"), capture_output=True, text=True, timeout=30,
            stdin=subprocess.DEVNULL,
        )
        self.assertEqual(result.returncode, 255)
        self.assertIn("REMOTE HOST IDENTIFICATION HAS CHANGED", result.stderr)

    def test_virshOverSsh(self) -> None:
        """
        virsh reaches a real libvirtd's unix socket through the private sshd
        (C{test+ssh://root@127.0.0.1:PORT/default?socket=...&keyfile=...}).
        """
        sshd = PrivateSshd.forTest(self)
        daemon = RealLibvirtd.forTest(self, tcp=False)
        for noVerify in (False, True):
            uri = sshd.libvirtURI(daemon.sock, noVerify=noVerify)
            self.assertTrue(uri.startswith(f"test+ssh://root@127.0.0.1:{sshd.port}/default?"))
            self.assertIn(f"socket={daemon.sock}&keyfile={sshd.keyfile}", uri)
            rc, out, err = runVirsh(uri, "list --all")
            self.assertEqual((rc, _domainNames(out)), (0, ["test"]), err)

    def test_stop(self) -> None:
        """
        After L{PrivateSshd.stop} nothing listens and the directory is gone.
        """
        sshd = PrivateSshd()
        sshd.start()
        sshd.stop()
        self.assertIsNotNone(sshd.process.returncode)
        self.assertFalse(os.path.exists(sshd.directory))
        with socket.socket() as s:
            self.assertNotEqual(s.connect_ex(("127.0.0.1", sshd.port)), 0)
