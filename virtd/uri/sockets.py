"""
Where a connection name leads on the machine that serves it: the unix
socket path (L{socketPath}), whether it is a user session
(L{isUserSession}), and the CONNECT_OPEN flags libvirt's client sends
(L{openFlags}).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from virtd.uri.connectionname import ConnectionName

__all__ = [
    "socketPath",
    "openFlags",
    "isUserSession",
    "REMOTE_DRIVER_OPEN_RO",
    "REMOTE_DRIVER_OPEN_USER",
    "REMOTE_DRIVER_OPEN_AUTOSTART",
]

# The client's CONNECT_OPEN flag bits (remote_sockets.h).
REMOTE_DRIVER_OPEN_RO = 1
REMOTE_DRIVER_OPEN_USER = 2
REMOTE_DRIVER_OPEN_AUTOSTART = 4

SYSTEM_SOCKET_DIR = "/var/run/libvirt"


def _euid(euid: int | None) -> int:
    return os.geteuid() if euid is None else euid


def isUserSession(name: ConnectionName, euid: int | None = None) -> bool:
    """
    Whether libvirt treats this name as a user-session connection: a
    non-root caller with a C{/session} path, a C{test+...} scheme, or no
    name at all.

    @param name: the parsed name.
    @param euid: the effective uid to assume (default: ours).
    """
    euid = _euid(euid)
    if euid == 0:
        return False
    if name.syntax == "uri" and name.scheme is None:
        return True  # no URI at all: a normal user probes its session daemon
    return name.path == "/session" or (name.scheme or "").startswith("test+")


def openFlags(name: ConnectionName, readonly: bool = False, *,
              euid: int | None = None,
              environ: Mapping[str, str] | None = None) -> int:
    """
    The C{flags} libvirt's client sends in CONNECT_OPEN for this name
    (wire facts section 4.4): bit 1 read-only, bit 2 user session (non-root
    and a C{/session} path or a C{test+...} scheme), bit 4 autostart.

    @param name: the parsed name.
    @param readonly: whether the connection is read-only.
    @param euid: the effective uid to assume (default: the process's).
    @param environ: where to read C{LIBVIRT_AUTOSTART} (default: C{os.environ}).
    @return: the flags word.
    """
    env = os.environ if environ is None else environ
    flags = REMOTE_DRIVER_OPEN_RO if readonly else 0
    if isUserSession(name, _euid(euid)):
        flags |= REMOTE_DRIVER_OPEN_USER
        if name.transport == "unix" and env.get("LIBVIRT_AUTOSTART", "1") != "0":
            flags |= REMOTE_DRIVER_OPEN_AUTOSTART
    return flags


def _runtimeDir(env: Mapping[str, str]) -> str:
    base = env.get("XDG_RUNTIME_DIR")
    if not base:
        base = os.path.join(env.get("HOME") or os.path.expanduser("~"), ".cache")
    return os.path.join(base, "libvirt")


def socketPath(name: ConnectionName, readonly: bool = False, *,
               euid: int | None = None,
               environ: Mapping[str, str] | None = None,
               exists: Any = os.path.exists) -> str:
    """
    The unix socket a name leads to: the local socket for unix, the socket
    on the far host for the ssh family (what C{nc -U} opens there).

    As libvirt 9.0: C{socket=} wins; otherwise user sessions (see
    L{openFlags}) use C{$XDG_RUNTIME_DIR/libvirt/libvirt-sock} (no read-only
    socket); the system daemon listens on C{/var/run/libvirt/libvirt-sock}
    and C{libvirt-sock-ro}. C{mode=direct} picks the per-driver daemon
    (C{virtqemud-sock}, ...); C{mode=auto} (the default) does so for unix
    when that socket exists, and otherwise uses libvirtd's socket (Debian's
    build default is legacy; over ssh auto always means legacy).

    @param name: the parsed name.
    @param readonly: whether to use the read-only socket.
    @param euid: the effective uid to assume (default: the process's).
    @param environ: the environment (default: C{os.environ}).
    @param exists: the file-existence test (for tests).
    @return: the socket path.
    """
    if "socket" in name.params:
        return name.params["socket"]
    env = os.environ if environ is None else environ
    session = isUserSession(name, _euid(euid))
    directory = _runtimeDir(env) if session else SYSTEM_SOCKET_DIR
    suffix = "-sock" if session or not readonly else "-sock-ro"
    driver = name.driver if name.driver and name.driver != "remote" else "proxy"
    direct = os.path.join(directory, f"virt{driver}d{suffix}")
    legacy = os.path.join(directory, f"libvirt{suffix}")
    mode = name.params.get("mode", "auto")
    if mode == "direct":
        return direct
    if mode == "auto" and name.transport == "unix" and exists(direct):
        return direct
    return legacy
