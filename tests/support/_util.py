"""
Small helpers shared by the fixtures: ports, short temporary directories,
waiting for a listener, reading a log's tail, and starting daemons that die
with the test runner (L{spawnDaemon}).
"""

from __future__ import annotations

import ctypes
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

# sun_path is 108 bytes including the terminating NUL.
MAX_UNIX_PATH = 107


def freePort(host: str = "127.0.0.1") -> int:
    """
    Find a TCP port that is free on C{host} right now.

    Another process may take it before you bind it; fixtures that start
    servers on such ports retry with fresh ones when the bind fails.

    @param host: the address to probe.
    @return: a port number.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def shortTempDir(prefix: str = "vd") -> str:
    """
    Create a private temporary directory under C{/tmp} with a short path,
    so unix socket paths inside it stay well under the 108-byte limit
    (trial's C{_trial_temp} paths are often too long).

    @param prefix: the directory name prefix.
    @return: the new directory's path; the caller removes it (see
        L{removeTree}).
    """
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")


def removeTree(path: str) -> None:
    """
    Remove a directory tree, ignoring one that is already gone.

    @param path: the directory.
    """
    shutil.rmtree(path, ignore_errors=True)


def checkSocketPath(path: str) -> str:
    """
    @param path: a unix socket path about to be used.
    @return: C{path}, unchanged.
    @raise ValueError: if the path is too long for a unix socket.
    """
    if len(os.fsencode(path)) > MAX_UNIX_PATH:
        raise ValueError(
            f"unix socket path is {len(os.fsencode(path))} bytes, over the "
            f"{MAX_UNIX_PATH}-byte limit: {path}; use a directory from "
            f"tests.support.shortTempDir()"
        )
    return path


def canConnectUNIX(path: str) -> bool:
    """
    @param path: a unix socket path.
    @return: whether something accepts connections there.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        try:
            s.connect(path)
        except OSError:
            return False
        return True


def canConnectTCP(port: int, host: str = "127.0.0.1") -> bool:
    """
    @param port: a TCP port.
    @param host: the address.
    @return: whether something accepts connections there.
    """
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def isListeningTCP(port: int, pid: int | None = None) -> bool:
    """
    Whether some socket listens on TCP C{port}, found from the kernel's
    tables instead of by connecting (a probe connection makes a TLS server
    log a failed handshake).

    @param port: a TCP port.
    @param pid: if given, the listening socket must be one of this
        process's descriptors: under C{trial -j} another worker's server
        may hold a port our daemon was meant to take, and a check that
        anyone listens would send our clients to it.
    @return: whether a listening socket (of C{pid}) has that local port.
    """
    wanted = f":{port:04X}"
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    # fields[1] is local address:port in hex, fields[3] the
                    # state (0A = LISTEN), fields[9] the socket's inode.
                    if fields[3] == "0A" and fields[1].endswith(wanted):
                        inodes.add(fields[9])
        except OSError:
            continue
    if pid is None or not inodes:
        return bool(inodes)
    wantedLinks = {f"socket:[{inode}]" for inode in inodes}
    fdDir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fdDir)
    except OSError:
        return False
    for name in names:
        try:
            if os.readlink(os.path.join(fdDir, name)) in wantedLinks:
                return True
        except OSError:
            continue
    return False


def waitFor(
    condition: Callable[[], bool],
    timeout: float,
    stillAlive: Callable[[], bool] = lambda: True,
    interval: float = 0.05,
) -> bool:
    """
    Poll C{condition} until it is true, the deadline passes, or
    C{stillAlive} says the thing we wait for has died.

    @param condition: returns true when ready.
    @param timeout: seconds to wait at most.
    @param stillAlive: returns false when waiting is pointless.
    @param interval: seconds between polls.
    @return: whether C{condition} became true.
    """
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if not stillAlive() or time.monotonic() > deadline:
            return condition()
        time.sleep(interval)


def logTail(path: str, lines: int = 30) -> str:
    """
    @param path: a log file.
    @param lines: how many lines to return at most.
    @return: the last lines of the file, or a note that it is missing.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return f"(no log at {path}: {e.strerror})"
    text = data.decode("utf-8", "replace").rstrip("\n")
    if not text:
        return f"({path} is empty)"
    return "\n".join(text.splitlines()[-lines:])


# -- daemons that die with the test runner ---------------------------------

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Resolved now: the child must not look anything up between fork and exec.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _dieWithParent(parentPid: int) -> Callable[[], None]:
    """
    @param parentPid: the pid of the process that forks.
    @return: a C{preexec_fn} that makes the child receive SIGTERM when the
        thread that forked it ends (see L{spawnDaemon}).
    """

    def preexec() -> None:
        if _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        # The parent may have died between fork and prctl: then nobody
        # would ever send the signal, so go now.
        if os.getppid() != parentPid:
            os._exit(1)

    return preexec


class _Spawner:
    """
    One thread, started on first use and alive until the process ends, that
    does every fork for L{spawnDaemon}.

    C{PR_SET_PDEATHSIG} fires when the I{thread} that forked the child ends,
    not when the process does. Fixtures are started from trial's main thread,
    from reactor thread-pool workers (C{deferToThread(daemon.start)}) and from
    benchmark threads; a pool worker can end long before the test does, which
    would take the daemon with it. Forking on this thread instead ties the
    daemon's life to the process's.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._requests: queue.SimpleQueue[
            tuple[Future[subprocess.Popen[bytes]], list[str], dict[str, Any]]
        ] = queue.SimpleQueue()

    def popen(self, argv: list[str], kwargs: dict[str, Any]) -> subprocess.Popen[bytes]:
        if threading.current_thread() is self._thread:
            return self._popen(argv, kwargs)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tests.support daemon spawner", daemon=True
                )
                self._thread.start()
        result: Future[subprocess.Popen[bytes]] = Future()
        self._requests.put((result, argv, kwargs))
        return result.result()

    def _run(self) -> None:
        while True:
            result, argv, kwargs = self._requests.get()
            try:
                result.set_result(self._popen(argv, kwargs))
            except BaseException as e:  # the caller gets it; this thread lives on
                result.set_exception(e)

    @staticmethod
    def _popen(argv: list[str], kwargs: dict[str, Any]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv, preexec_fn=_dieWithParent(os.getpid()), **kwargs)


_spawner = _Spawner()


def spawnDaemon(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """
    Start a daemon that gets SIGTERM when this process dies, however it
    dies (a SIGKILLed trial included), so fixtures never outlive the run.

    The child sets C{PR_SET_PDEATHSIG} before it executes C{argv}; the
    setting survives C{execve} but not C{fork}, so C{argv[0]} must be the
    daemon itself, or a wrapper that C{exec}s it, and the daemon must run
    in the foreground (no daemonising fork). The fork happens on a
    dedicated thread that lives as long as the process (see L{_Spawner}),
    so any thread may call this.

    @param argv: the program and its arguments.
    @param kwargs: more L{subprocess.Popen} arguments (not C{preexec_fn}).
    @return: the started process; its C{pid} is the daemon's.
    @raise OSError: if the program cannot be started.
    """
    if "preexec_fn" in kwargs:
        raise TypeError("spawnDaemon sets preexec_fn itself")
    return _spawner.popen(argv, kwargs)
