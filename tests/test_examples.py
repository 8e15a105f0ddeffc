"""
The programs in examples/, run as a user would run them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from twisted.internet import defer, protocol, reactor
from twisted.trial import unittest

from tests.support import freePort, removeTree, shortTempDir
from tests.support.libvirtd import RealLibvirtd
from tests.test_docs import _ready
from tests.test_server_fixture import InProcessVirtd, inThread

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
VENV = os.path.join(ROOT, ".venv", "bin")


def _virsh(uri: str, commands: str) -> subprocess.CompletedProcess:
    return subprocess.run(["virsh", "-c", uri, commands], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


class WebAndVirtdTacTests(unittest.SynchronousTestCase):
    """
    examples/web_and_virtd.tac under C{twistd -ny}: the web page lists the
    domains through the daemon it runs beside, and virsh reaches that
    daemon too.
    """

    def test_tac(self) -> None:
        directory = shortTempDir("vwe")
        self.addCleanup(removeTree, directory)
        port = freePort()
        env = dict(os.environ, VIRTD_RUN_DIR=os.path.join(directory, "run"),
                   VIRTD_WEB_ENDPOINT=f"tcp:{port}:interface=127.0.0.1",
                   PYTHONPATH=ROOT)
        log = open(os.path.join(directory, "twistd.log"), "w")
        self.addCleanup(log.close)
        process = subprocess.Popen(
            [os.path.join(VENV, "twistd"), "-n", "--pidfile=", "-y",
             os.path.join(EXAMPLES, "web_and_virtd.tac")],
            cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)

        def stop() -> None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

        self.addCleanup(stop)
        deadline = time.monotonic() + 60
        while not (_ready(f"tcp:{port}", directory)
                   and _ready("unix:run/virtd-sock", directory)):
            if process.poll() is not None or time.monotonic() > deadline:
                with open(log.name) as f:
                    self.fail(f"the tac did not start:\n{f.read()}")
            time.sleep(0.2)

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/domains",
                                    timeout=30) as response:
            self.assertEqual(response.headers["content-type"],
                             "application/json")
            domains = json.loads(response.read())
        self.assertEqual(domains, [{
            "name": "test", "uuid": "6695eb01-f6a4-8304-79aa-97f2502e193f",
            "state": 1, "memory": 2097152, "vcpus": 2}])

        sock = os.path.join(directory, "run", "virtd-sock")
        done = _virsh(f"test+unix:///default?socket={sock}", "list --all")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn(" 1    test   running", done.stdout)


class _Lines(protocol.ProcessProtocol):
    """
    Collects a child's output lines; fires waiters when a line appears.
    """

    def __init__(self) -> None:
        self.buffer = b""
        self.lines: list[str] = []
        self.waiters: list[tuple[set[str], defer.Deferred]] = []
        self.ended: defer.Deferred = defer.Deferred()

    def outReceived(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            self.lines.append(line.decode())
        self._check()

    errReceived = outReceived

    def _check(self) -> None:
        for entry in list(self.waiters):
            wanted, d = entry
            if wanted <= set(self.lines):
                self.waiters.remove(entry)
                d.callback(self.lines)

    def waitFor(self, *lines: str) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        self.waiters.append((set(lines), d))
        self._check()
        return d

    def processEnded(self, reason) -> None:
        self.ended.callback(None)


class WatchEventsTests(unittest.TestCase):
    """
    examples/watch_events.py watching two hosts -- virtd in this process
    and a real libvirtd -- while virsh suspends and resumes a domain on
    each.
    """

    timeout = 120

    @defer.inlineCallbacks
    def test_twoHosts(self):
        ours = yield InProcessVirtd.forTest(self)
        theirs = RealLibvirtd.forTest(self)
        names = {"virtd": ours.uri("unix"), "libvirtd": theirs.uri("unix")}
        out = _Lines()
        env = dict(os.environ, PYTHONPATH=ROOT)
        child = reactor.spawnProcess(
            out, sys.executable,
            [sys.executable, os.path.join(EXAMPLES, "watch_events.py"),
             *(f"{label}={name}" for label, name in names.items())],
            env=env)

        def kill() -> defer.Deferred:
            if out.ended.called:
                return out.ended
            child.signalProcess("TERM")
            return out.ended

        self.addCleanup(kill)
        yield _timeout(out.waitFor(*(f"{label}: watching {name}"
                                     for label, name in names.items())),
                       out)
        for name in names.values():
            done = yield inThread(_virsh, name, "suspend test; resume test")
            self.assertEqual(done.returncode, 0, done.stderr)
        yield _timeout(out.waitFor(
            "virtd: test suspended (detail 0)",
            "virtd: test resumed (detail 0)",
            "libvirtd: test suspended (detail 0)",
            "libvirtd: test resumed (detail 0)"), out)
        # Each host's events arrive in order, labelled with that host only.
        for label in names:
            mine = [line for line in out.lines
                    if line.startswith(f"{label}: test ")]
            self.assertEqual(mine, [f"{label}: test suspended (detail 0)",
                                    f"{label}: test resumed (detail 0)"])


def _timeout(d: defer.Deferred, out: _Lines, seconds: float = 60
             ) -> defer.Deferred:
    """
    Fail with the child's output so far if C{d} takes too long.
    """
    def explain(failure):
        if failure.check(defer.CancelledError, defer.TimeoutError):
            raise AssertionError("watch_events.py printed only:\n"
                                 + "\n".join(out.lines + [out.buffer.decode()]))
        return failure

    return d.addTimeout(seconds, reactor).addErrback(explain)
