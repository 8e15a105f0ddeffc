"""
A private OpenSSH server on 127.0.0.1 for the ssh transport's interop tests.
"""

from __future__ import annotations

import os
import socket
import subprocess
from typing import Any
from urllib.parse import quote

from tests.support._util import (
    freePort,
    isListeningTCP,
    logTail,
    removeTree,
    shortTempDir,
    spawnDaemon,
    waitFor,
)

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "/usr/bin/ssh-keygen"


class SshdError(RuntimeError):
    """
    sshd could not be started; the message holds its log's tail.
    """


def _bannerReady(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            return s.recv(4).startswith(b"SSH-")
    except OSError:
        return False


class PrivateSshd:
    """
    A private C{/usr/sbin/sshd} listening on 127.0.0.1, accepting one
    generated key for C{root}, with its own host key and a matching
    C{known_hosts} file, so clients can verify it strictly.

    Nothing outside L{directory} is touched except C{/run/sshd} (sshd's
    privilege-separation directory, created if missing).

    Typical use in a trial test::

        sshd = PrivateSshd.forTest(self)
        daemon = RealLibvirtd.forTest(self)
        rc, out, err = runVirsh(sshd.libvirtURI(daemon.sock), "list --all")

    @ivar directory: the private directory (short, under C{/tmp}).
    @ivar port: the TCP port on 127.0.0.1.
    @ivar user: the login user (C{root}).
    @ivar keyfile: the client's private key (ed25519, no passphrase).
    @ivar knownHostsFile: a C{known_hosts} file holding this server's host key
        for C{[127.0.0.1]:port}.
    @ivar hostKeyFile: the server's private host key.
    @ivar authorizedKeysFile: the keys allowed to log in.
    @ivar sshWrapper: an executable that runs C{ssh} with L{knownHostsFile}
        and batch mode, for libvirt's C{command=} URI parameter (so nothing
        is written to C{~/.ssh/known_hosts}).
    @ivar configFile: the generated C{sshd_config}.
    @ivar logFile: sshd's log (C{-e}: stderr).
    @ivar process: the L{subprocess.Popen}, once started.

    sshd gets SIGTERM if the process that started it dies without stopping
    it (see L{tests.support._util.spawnDaemon}).
    """

    startTimeout = 15.0
    stopTimeout = 10.0

    def __init__(
        self, directory: str | None = None, port: int | None = None, user: str = "root"
    ) -> None:
        """
        @param directory: where to put everything; default: a new short
            temporary directory, removed again by L{stop}.
        @param port: a fixed port; default: a free one.
        @param user: the account clients log in as.
        """
        self._ownsDirectory = directory is None
        self.directory = directory if directory is not None else shortTempDir("vds")
        self._fixedPort = port is not None
        self.port = port if port is not None else freePort()
        self.user = user
        self.keyfile = os.path.join(self.directory, "id_ed25519")
        self.hostKeyFile = os.path.join(self.directory, "ssh_host_ed25519_key")
        self.authorizedKeysFile = os.path.join(self.directory, "authorized_keys")
        self.knownHostsFile = os.path.join(self.directory, "known_hosts")
        self.sshWrapper = os.path.join(self.directory, "ssh")
        self.configFile = os.path.join(self.directory, "sshd_config")
        self.pidFile = os.path.join(self.directory, "sshd.pid")
        self.logFile = os.path.join(self.directory, "sshd.log")
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def forTest(cls, testCase: Any, **kwargs: Any) -> PrivateSshd:
        """
        Start an sshd and stop it when the test ends.

        @param testCase: a trial test case (anything with C{addCleanup}).
        @param kwargs: passed to the constructor.
        @return: the started server.
        """
        server = cls(**kwargs)
        testCase.addCleanup(server.stop)
        server.start()
        return server

    def start(self) -> None:
        """
        Generate keys and config, start sshd, and return once it sends its
        banner.

        @raise SshdError: if it exits or does not answer within
            L{startTimeout} seconds.
        """
        if self.process is not None:
            raise SshdError(f"sshd in {self.directory} was already started")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self._makeKeys()
        for attempt in range(3):
            self._writeFiles()
            with open(self.logFile, "ab") as log:
                # spawnDaemon: sshd (-D: no daemonising fork) dies with this
                # process even when it is SIGKILLed.
                self.process = spawnDaemon(
                    [SSHD, "-D", "-e", "-f", self.configFile],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.directory,
                    start_new_session=True,
                )
            if waitFor(self._ready, self.startTimeout, self._alive):
                return
            self._terminate()
            if self._fixedPort or "in use" not in logTail(self.logFile) or attempt == 2:
                break
            self.port = freePort()
        raise SshdError(
            f"sshd did not start on 127.0.0.1:{self.port} in {self.directory} "
            f"(exit status {self.process.returncode if self.process else None})\n"
            f"--- {self.logFile} ---\n{logTail(self.logFile)}"
        )

    def _ready(self) -> bool:
        # Our sshd's own socket, then its banner: under trial -j another
        # worker's sshd may answer on a port that was free when picked.
        pid = self.process.pid if self.process is not None else None
        return isListeningTCP(self.port, pid) and _bannerReady(self.port)

    def stop(self) -> None:
        """
        Stop sshd, wait for it, and remove L{directory} if this object
        created it. Safe to call more than once.
        """
        self._terminate()
        if self._ownsDirectory:
            removeTree(self.directory)

    def __enter__(self) -> PrivateSshd:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- client side ------------------------------------------------------

    def sshOptions(self) -> list[str]:
        """
        @return: C{ssh} options that log in to this server with L{keyfile},
            verifying its host key against L{knownHostsFile}, never
            prompting.
        """
        return ["-p", str(self.port), "-i", self.keyfile, *self._verifyOptions()]

    def _verifyOptions(self) -> list[str]:
        return [
            "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={self.knownHostsFile}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=10",
        ]  # fmt: skip

    def sshCommand(self, *remote: str) -> list[str]:
        """
        @param remote: the command to run on the server.
        @return: an argv running C{remote} through this server.
        """
        return ["ssh", *self.sshOptions(), f"{self.user}@127.0.0.1", *remote]

    def libvirtURI(
        self, socketPath: str, noVerify: bool = False, driverPath: str = "test:///default"
    ) -> str:
        """
        Build a C{+ssh} libvirt URI that tunnels to a unix socket through
        this server (libvirt runs C{nc -U socketPath} on the far side).

        @param socketPath: the daemon's socket, e.g. L{RealLibvirtd.sock}.
        @param noVerify: add C{no_verify=1} (libvirt then accepts unknown
            host keys).
        @param driverPath: the driver URI to open on the far side;
            C{test:///default} becomes C{test+ssh://...:port/default}.
        @return: the URI; it uses L{sshWrapper} as the ssh command so the
            host key is checked against L{knownHostsFile}.
        """
        driver, _, path = driverPath.partition("://")
        uri = (
            f"{driver}+ssh://{self.user}@127.0.0.1:{self.port}{path}"
            f"?socket={quote(socketPath)}&keyfile={quote(self.keyfile)}"
            f"&command={quote(self.sshWrapper)}"
        )
        if noVerify:
            uri += "&no_verify=1"
        return uri

    # -- internals --------------------------------------------------------

    def _alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _makeKeys(self) -> None:
        for path, comment in ((self.hostKeyFile, "virtd-test-host"), (self.keyfile, "virtd-test")):
            if not os.path.exists(path):
                subprocess.run(
                    [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
                    check=True,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                )

    def _writeFiles(self) -> None:
        with open(self.keyfile + ".pub") as f:
            clientKey = f.read().strip()
        with open(self.hostKeyFile + ".pub") as f:
            hostKey = " ".join(f.read().split()[:2])
        with open(self.authorizedKeysFile, "w") as f:
            f.write(clientKey + "\n")
        with open(self.knownHostsFile, "w") as f:
            f.write(f"[127.0.0.1]:{self.port} {hostKey}\n")
        with open(self.configFile, "w") as f:
            f.write(
                f"Port {self.port}\n"
                "ListenAddress 127.0.0.1\n"
                f"HostKey {self.hostKeyFile}\n"
                f"PidFile {self.pidFile}\n"
                f"AuthorizedKeysFile {self.authorizedKeysFile}\n"
                "PermitRootLogin prohibit-password\n"
                "PubkeyAuthentication yes\n"
                "PasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\n"
                # No PAM session (pam_loginuid fails in containers) and our
                # files live under /tmp, which StrictModes would refuse.
                "UsePAM no\n"
                "StrictModes no\n"
                "PrintMotd no\n"
                "LogLevel VERBOSE\n"
            )
        with open(self.sshWrapper, "w") as f:
            options = " ".join(_shellQuote(o) for o in self._verifyOptions())
            f.write(f'#!/bin/sh\nexec ssh {options} "$@"\n')
        os.chmod(self.sshWrapper, 0o755)

    def _terminate(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(self.stopTimeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _shellQuote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"
