"""
Small helpers shared by the fixtures: ports, short temporary directories,
waiting for a listener, reading a log's tail.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable

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


def isListeningTCP(port: int) -> bool:
    """
    Whether some socket listens on TCP C{port}, found from the kernel's
    tables instead of by connecting (a probe connection makes a TLS server
    log a failed handshake).

    @param port: a TCP port.
    @return: whether a listening socket has that local port.
    """
    wanted = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    # fields[1] is local address:port in hex, fields[3] the state; 0A = LISTEN
                    if fields[3] == "0A" and fields[1].endswith(wanted):
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
