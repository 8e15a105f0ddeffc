"""
Run the real C{virsh} against a daemon, with a timeout.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence

from twisted.internet import threads
from twisted.internet.defer import Deferred

VIRSH = "/usr/bin/virsh"


class VirshTimeout(AssertionError):
    """
    virsh did not finish in time; the message holds what it printed so far.
    """


def virshArgv(uri: str, commands: str | Sequence[str], readonly: bool = False) -> list[str]:
    """
    Build virsh's argv.

    @param uri: the connection URI (C{-c}).
    @param commands: a string is one argument that virsh parses itself (it
        may hold several commands separated by C{;}, run in one connection:
        C{"suspend test; domstate test"}); a sequence is passed as separate
        arguments (C{["dominfo", "test"]}).
    @param readonly: pass C{-r} (needed for a read-only socket).
    @return: the argv.
    """
    argv = [VIRSH]
    if readonly:
        argv.append("-r")
    argv += ["-c", uri]
    if isinstance(commands, str):
        argv.append(commands)
    else:
        argv.extend(commands)
    return argv


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("LIBVIRT_DEFAULT_URI", "VIRSH_DEFAULT_CONNECT_URI", "LIBVIRT_AUTH_FILE"):
        env.pop(name, None)
    env["LC_ALL"] = "C"
    return env


def runVirsh(
    uri: str,
    commands: str | Sequence[str],
    readonly: bool = False,
    timeout: float = 30,
) -> tuple[int, str, str]:
    """
    Run virsh and wait for it. Blocks: from a test whose daemon runs on the
    trial reactor, use L{runVirshDeferred} instead.

    @param uri: the connection URI, e.g. L{RealLibvirtd.uri}C{("tcp")}.
    @param commands: see L{virshArgv}.
    @param readonly: pass C{-r}.
    @param timeout: seconds before virsh is killed.
    @return: C{(exit status, stdout, stderr)}.
    @raise VirshTimeout: if virsh ran longer than C{timeout}.
    """
    argv = virshArgv(uri, commands, readonly)
    try:
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            env=_environment(),
        )
    except subprocess.TimeoutExpired as e:
        raise VirshTimeout(
            f"virsh did not finish within {timeout:g}s: {argv!r}\n"
            f"stdout so far: {_text(e.stdout)!r}\nstderr so far: {_text(e.stderr)!r}"
        ) from None
    return result.returncode, _text(result.stdout), _text(result.stderr)


def runVirshDeferred(
    uri: str,
    commands: str | Sequence[str],
    readonly: bool = False,
    timeout: float = 30,
) -> Deferred[tuple[int, str, str]]:
    """
    Like L{runVirsh}, but in a thread, so the reactor keeps running (use it
    when the daemon under test lives in the test's own reactor).

    @return: a L{Deferred} firing with C{(exit status, stdout, stderr)}, or
        failing with L{VirshTimeout}.
    """
    return threads.deferToThread(runVirsh, uri, commands, readonly, timeout)


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data
