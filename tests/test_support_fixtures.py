"""
Tests that the daemon fixtures of L{tests.support} die with the process
that started them, even when it is killed outright (SIGKILL) and never
runs its cleanups.

Each test starts a real Python process that starts a real daemon from a
short-lived thread (as C{deferToThread(daemon.start)} does), SIGKILLs that
process, and watches the daemon's pid go away.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from tests.support._util import removeTree, spawnDaemon, waitFor
from tests.support.libvirtd import LIBVIRTD
from tests.support.sshd import SSHD

REPO = Path(__file__).resolve().parent.parent

# Started as "python -c STARTER kind": starts the fixture from a thread that
# has ended by the time the pid is printed, then waits to be killed.
STARTER = """
import sys, threading, time
from tests.support import PrivateSshd, RealLibvirtd
kind = sys.argv[1]
started = []
def start():
    fixture = RealLibvirtd(tcp=False) if kind == "libvirtd" else PrivateSshd()
    fixture.start()
    started.append(fixture)
thread = threading.Thread(target=start)
thread.start()
thread.join()
fixture = started[0]
print(fixture.process.pid, fixture.directory, flush=True)
time.sleep(120)
"""

# How long a killed runner's daemon may take to go.
DEATH_TIMEOUT = 5.0
# How long a daemon must outlive the thread that started it, in this test.
THREAD_GRACE = 1.0


def isRunning(pid: int) -> bool:
    """
    @param pid: a process id.
    @return: whether that process exists and is not a zombie (a daemon
        whose parent died is reaped by init, which in a container may be
        slow or never do it).
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    # The state letter follows the parenthesised command name.
    return stat[stat.rindex(")") + 2] not in "ZX"


class DieWithRunnerTests(SynchronousTestCase):
    """
    L{tests.support._util.spawnDaemon}, and the fixtures built on it.
    """

    def startRunner(self, kind: str) -> tuple[subprocess.Popen[bytes], int, str]:
        """
        Start a Python process that starts the fixture C{kind}.

        @param kind: C{"libvirtd"} or C{"sshd"}.
        @return: the runner process, the daemon's pid, and the fixture's
            directory; cleanups kill whatever is left and remove it.
        """
        env = dict(os.environ, PYTHONPATH=str(REPO))
        runner = subprocess.Popen(
            [sys.executable, "-c", STARTER, kind],
            cwd=REPO, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.addCleanup(self.reap, runner)
        ready, _, _ = select.select([runner.stdout], [], [], 30)
        line = runner.stdout.readline().decode() if ready else ""  # type: ignore[union-attr]
        if not line:
            runner.kill()
            _, err = runner.communicate()
            self.fail(f"the runner did not start {kind}:\n{err.decode(errors='replace')}")
        pidText, directory = line.split()
        pid = int(pidText)
        self.addCleanup(removeTree, directory)
        self.addCleanup(self.killLeftover, pid)
        return runner, pid, directory

    def reap(self, runner: subprocess.Popen[bytes]) -> None:
        if runner.poll() is None:
            runner.kill()
        runner.communicate()

    def killLeftover(self, pid: int) -> None:
        # Only reached with a live daemon when the test has failed.
        if isRunning(pid):
            os.kill(pid, signal.SIGKILL)
            waitFor(lambda: not isRunning(pid), DEATH_TIMEOUT)

    def assertDiesWithRunner(self, kind: str, program: str) -> None:
        runner, pid, _ = self.startRunner(kind)
        # The real daemon, not a wrapper, and still up a while after the
        # thread that started it ended (a daemon tied to that thread gets
        # SIGTERM then; libvirtd takes a moment to shut down).
        self.assertEqual(os.readlink(f"/proc/{pid}/exe"), program)
        self.assertFalse(
            waitFor(lambda: not isRunning(pid), THREAD_GRACE),
            f"{program} (pid {pid}) ended with the thread that started it",
        )

        runner.send_signal(signal.SIGKILL)
        runner.wait()
        start = time.monotonic()
        gone = waitFor(lambda: not isRunning(pid), DEATH_TIMEOUT)
        self.assertTrue(
            gone,
            f"{program} (pid {pid}) still runs {time.monotonic() - start:.1f}s "
            f"after its runner was SIGKILLed",
        )

    def test_libvirtdDiesWithRunner(self) -> None:
        """
        A L{RealLibvirtd} goes away when the process that started it is
        SIGKILLed.
        """
        self.assertDiesWithRunner("libvirtd", LIBVIRTD)

    def test_sshdDiesWithRunner(self) -> None:
        """
        A L{PrivateSshd} goes away when the process that started it is
        SIGKILLed.
        """
        self.assertDiesWithRunner("sshd", SSHD)

    def test_outlivesStartingThread(self) -> None:
        """
        A daemon started from a thread that then ends keeps running: the
        fork happens on a thread that lives as long as the process.
        """
        started: list[subprocess.Popen[bytes]] = []
        thread = threading.Thread(
            target=lambda: started.append(spawnDaemon(["sleep", "30"]))
        )
        thread.start()
        thread.join()
        process = started[0]
        self.addCleanup(process.wait)
        self.addCleanup(process.kill)
        # PR_SET_PDEATHSIG would have fired at once had that thread forked.
        self.assertFalse(waitFor(lambda: process.poll() is not None, 0.5))

    def test_refusesPreexecFn(self) -> None:
        """
        L{spawnDaemon} owns C{preexec_fn}; passing one is an error.
        """
        self.assertRaises(TypeError, spawnDaemon, ["true"], preexec_fn=lambda: None)

    def test_startFailureRaised(self) -> None:
        """
        A program that cannot be started raises in the caller's thread.
        """
        self.assertRaises(FileNotFoundError, spawnDaemon, ["/nonexistent/virtd-test"])
