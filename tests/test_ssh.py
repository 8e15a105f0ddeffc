"""
Tests for L{virtd.ssh}: the system ssh path, conch (remote:ssh:, +libssh,
+libssh2) and error reporting, against a private sshd and a real libvirtd.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from typing import Any
from urllib.parse import quote

from twisted.internet import defer, reactor
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.support import PrivateSshd, RealLibvirtd, removeTree, shortTempDir
from tests.test_transports import RawRPC, authListOver, factoryFor, writeScript
from virtd.errors import VIR_ERR_AUTH_FAILED, VIR_ERR_SYSTEM_ERROR, LibvirtError
from virtd.ssh import ConchEndpoint, remoteCommand, sshArgv, sshEnvironment
from virtd.transports import SpawnedProcessEndpoint, endpointFor
from virtd.uri import parse


class ArgvTests(SynchronousTestCase):
    def test_libvirtShape(self) -> None:
        """
        The ssh argument vector as libvirt 9.0 builds it.
        """
        name = parse("qemu+ssh://bob@host:2222/system?keyfile=/k&no_tty=1&no_verify=1"
                     "&socket=/s")
        argv = sshArgv(name)
        self.assertEqual(argv[:-1], [
            "ssh", "-p", "2222", "-l", "bob", "-i", "/k", "-T", "-e", "none",
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "--", "host"])
        self.assertEqual(sshArgv(parse("qemu+ssh://host/system?socket=/s"))[:-1],
                         ["ssh", "-T", "-e", "none", "--", "host"])
        self.assertEqual(sshArgv(parse("qemu+ssh://host/system?command=/bin/rsh"))[0],
                         "/bin/rsh")

    def test_remoteCommand(self) -> None:
        """
        netcat with -q0 detection for socket= and remote: names; the helper
        for native; auto tries the helper first.
        """
        cmd = remoteCommand(parse("qemu+ssh://h/system?socket=/run/my%20sock&netcat=/bin/nc"))
        self.assertTrue(cmd.startswith("sh -c "))
        script = shlex.split(cmd)[2]
        self.assertIn("/bin/nc -q 2>&1 | grep \"requires an argument\"", script)
        self.assertIn("ARG=-q0", script)
        self.assertTrue(script.endswith("/bin/nc $ARG -U '/run/my sock'"))
        ro = shlex.split(remoteCommand(parse("remote:ssh:h"), readonly=True))[2]
        self.assertTrue(ro.endswith("nc $ARG -U /var/run/libvirt/libvirt-sock-ro"))
        native = shlex.split(remoteCommand(parse("qemu+ssh://h/system?proxy=native"),
                                           readonly=True))[2]
        self.assertEqual(native, "virt-ssh-helper -r qemu:///system")
        auto = shlex.split(remoteCommand(parse("qemu+ssh://h/system")))[2]
        self.assertTrue(auto.startswith("which virt-ssh-helper"))
        self.assertIn("virt-ssh-helper qemu:///system", auto)
        self.assertIn("-U /var/run/libvirt/libvirt-sock", auto)

    def test_environment(self) -> None:
        env = sshEnvironment({"PATH": "/bin", "HOME": "/h", "SSH_AUTH_SOCK": "/a",
                              "SECRET": "x"})
        self.assertEqual(env, {"PATH": "/bin", "HOME": "/h", "SSH_AUTH_SOCK": "/a",
                               "LC_ALL": "C"})

    def test_endpointChoice(self) -> None:
        """
        +ssh URIs and remote:ssh with command= spawn a program; remote:ssh
        and +libssh/+libssh2 use conch.
        """
        def ep(name: str) -> Any:
            return endpointFor(reactor, parse(name))

        self.assertIsInstance(ep("qemu+ssh://h/system"), SpawnedProcessEndpoint)
        self.assertIsInstance(ep("remote:ssh:h command=/bin/rsh"), SpawnedProcessEndpoint)
        self.assertIsInstance(ep("remote:ssh:h"), ConchEndpoint)
        self.assertIsInstance(ep("qemu+libssh://h/system"), ConchEndpoint)
        self.assertIsInstance(ep("qemu+libssh2://h/system"), ConchEndpoint)
        self.assertEqual(ep("qemu+libssh2://h/system").username, "root")


class SshTests(TestCase):
    timeout = 90

    def setUp(self) -> None:
        self.sshd = PrivateSshd.forTest(self)
        self.daemon = RealLibvirtd.forTest(self, tcp=False)
        self.tmp = shortTempDir("vdssh")
        self.addCleanup(removeTree, self.tmp)

    def conchName(self, extra: str = "", knownHosts: str | None = None) -> str:
        s = self.sshd
        return (f"remote:ssh:root@127.0.0.1:{s.port} socket={quote(self.daemon.sock)} "
                f"keyfile={quote(s.keyfile)} "
                f"known_hosts={quote(knownHosts or s.knownHostsFile)} {extra}")

    def connect(self, name: str, proto: RawRPC | None = None) -> Any:
        ep = endpointFor(reactor, parse(name.strip()), timeout=20)
        return ep.connect(factoryFor(proto or RawRPC()))

    def test_systemSsh(self) -> None:
        """
        test+ssh:// runs the system ssh (through the fixture's wrapper that
        pins known_hosts) and nc -U on the far side.
        """
        ep = endpointFor(reactor, parse(self.sshd.libvirtURI(self.daemon.sock)))
        return authListOver(self, ep)

    def test_seedSshWithCommand(self) -> None:
        """
        remote:ssh: with command= spawns that program in place of ssh.
        """
        s = self.sshd
        name = (f"remote:ssh:root@127.0.0.1:{s.port} command={quote(s.sshWrapper)} "
                f"socket={quote(self.daemon.sock)} keyfile={quote(s.keyfile)}")
        return authListOver(self, endpointFor(reactor, parse(name)))

    def test_conch(self) -> None:
        """
        remote:ssh: names use conch in-process.
        """
        ep = endpointFor(reactor, parse(self.conchName()))
        self.assertIsInstance(ep, ConchEndpoint)
        return authListOver(self, ep)

    @defer.inlineCallbacks
    def test_libssh(self) -> None:
        s = self.sshd
        for transport in ("libssh", "libssh2"):
            name = (f"test+{transport}://root@127.0.0.1:{s.port}/default?"
                    f"socket={quote(self.daemon.sock)}&keyfile={quote(s.keyfile)}"
                    f"&known_hosts={quote(s.knownHostsFile)}&sshauth=privkey")
            yield authListOver(self, endpointFor(reactor, parse(name)))

    @defer.inlineCallbacks
    def test_conchUnknownHostKey(self) -> None:
        """
        An unknown host key is refused with advice; no_verify=1 accepts it
        without writing the file; known_hosts_verify=auto accepts and saves.
        """
        empty = os.path.join(self.tmp, "known_hosts")
        open(empty, "w").close()
        e = yield self.assertFailure(self.connect(self.conchName(knownHosts=empty)),
                                     LibvirtError)
        message = e.get_error_message()
        self.assertIn(f"is not in {empty}", message)
        self.assertIn(f"ssh-keyscan -p {self.sshd.port} 127.0.0.1", message)
        self.assertIn("no_verify=1", message)

        yield authListOver(self, endpointFor(reactor, parse(
            self.conchName("no_verify=1", knownHosts=empty))))
        self.assertEqual(os.path.getsize(empty), 0)

        yield authListOver(self, endpointFor(reactor, parse(
            self.conchName("known_hosts_verify=auto", knownHosts=empty))))
        # conch saves hashed entries (as OpenSSH's HashKnownHosts does)
        with open(empty) as f:
            self.assertIn(" ssh-ed25519 ", f.read())
        yield authListOver(self, endpointFor(reactor, parse(
            self.conchName(knownHosts=empty))))

    @defer.inlineCallbacks
    def test_conchChangedHostKey(self) -> None:
        """
        A known_hosts entry with another key for the host is refused.
        """
        keyfile = os.path.join(self.tmp, "otherhost")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", keyfile],
                       check=True)
        with open(keyfile + ".pub") as f:
            key = " ".join(f.read().split()[:2])
        hosts = os.path.join(self.tmp, "known_hosts")
        with open(hosts, "w") as f:
            f.write(f"[127.0.0.1]:{self.sshd.port} {key}\n")
        e = yield self.assertFailure(self.connect(self.conchName(knownHosts=hosts)),
                                     LibvirtError)
        self.assertIn("does NOT match", e.get_error_message())

    @defer.inlineCallbacks
    def test_conchAuthFailure(self) -> None:
        keyfile = os.path.join(self.tmp, "stranger")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", keyfile],
                       check=True)
        s = self.sshd
        name = (f"remote:ssh:root@127.0.0.1:{s.port} socket={quote(self.daemon.sock)} "
                f"keyfile={quote(keyfile)} known_hosts={quote(s.knownHostsFile)} "
                f"sshauth=privkey")
        e = yield self.assertFailure(self.connect(name), LibvirtError)
        self.assertEqual(e.get_error_code(), VIR_ERR_AUTH_FAILED)
        self.assertIn(f"ssh authentication to root@127.0.0.1:{s.port} failed",
                      e.get_error_message())
        self.assertIn(keyfile, e.get_error_message())

    @defer.inlineCallbacks
    def test_conchRemoteStderr(self) -> None:
        """
        The far side's stderr reaches the error (conch path).
        """
        fake = writeScript(self.tmp, "fakenc", "echo \"nc: invalid option -- 'U'\" >&2; exit 1")
        proto = RawRPC()
        yield self.connect(self.conchName(f"netcat={quote(fake)}"), proto)
        e = yield self.assertFailure(proto.reply, LibvirtError)
        self.assertIn("nc: invalid option -- 'U'", e.get_error_message())
        self.assertIn("exited with status 1", e.get_error_message())

    @defer.inlineCallbacks
    def test_systemSshRemoteStderr(self) -> None:
        """
        The far side's stderr reaches the error (system ssh path).
        """
        fake = writeScript(self.tmp, "fakenc", "echo \"nc: invalid option -- 'U'\" >&2; exit 1")
        proto = RawRPC()
        yield self.connect(self.sshd.libvirtURI(self.daemon.sock) + f"&netcat={quote(fake)}",
                           proto)
        e = yield self.assertFailure(proto.reply, LibvirtError)
        self.assertIn("nc: invalid option -- 'U'", e.get_error_message())
        self.assertEqual(e.get_error_code(), VIR_ERR_SYSTEM_ERROR)

    @defer.inlineCallbacks
    def test_sshHelperFails(self) -> None:
        """
        command= names a helper that prints an error and exits 1: the
        LibvirtError holds its text.
        """
        helper = writeScript(self.tmp, "badssh",
                             "echo 'ssh: connect to host nowhere port 22: No route' >&2; exit 1")
        proto = RawRPC()
        yield self.connect(f"test+ssh://nowhere/default?command={quote(helper)}", proto)
        e = yield self.assertFailure(proto.reply, LibvirtError)
        self.assertIn("ssh: connect to host nowhere port 22: No route", e.get_error_message())
        self.assertIn("exited with status 1", e.get_error_message())
