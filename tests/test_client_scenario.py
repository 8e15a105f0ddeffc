"""
Helpers (no tests here) for the client interop tests:
Run one scenario of API calls through libvirt-python and through virtd's
client, so tests can compare the two step by step.

A scenario is a list of L{Step}s. Each step's C{call(ctx)} is written once
against libvirt-python's API; run through virtd it returns Deferreds, which
the runner awaits. Results are normalised (handles become tuples naming the
object, errors become C{('error', code, domain, message)}) and compared by
C{repr}, so C{1} and C{True}, or a list and a tuple, differ.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread


class Ctx:
    """
    Values saved by earlier steps (C{ctx.dom}, ...); C{ctx.conn} is the
    connection.
    """


class Step:
    def __init__(self, label: str, call: Callable[[Ctx], Any],
                 save: str | None = None,
                 norm: Callable[[Any], Any] | None = None) -> None:
        self.label = label
        self.call = call
        self.save = save
        self.norm = norm


def _handleKey(value: Any) -> Any:
    kind = type(value).__name__
    kind = kind[3:] if kind.startswith("vir") else kind
    if kind == "Domain":
        return ("Domain", value.name(), value.UUIDString(), value.ID())
    if kind in ("Network", "StoragePool"):
        return (kind, value.name(), value.UUIDString())
    if kind == "StorageVol":
        return (kind, value.name(), value.key())
    if kind == "Interface":
        return (kind, value.name(), value.MACString())
    if kind == "NodeDevice":
        return (kind, value.name())
    if kind == "DomainSnapshot":
        return (kind, value.getName(), value.getDomain().name())
    return None


def normalise(value: Any) -> Any:
    key = _handleKey(value)
    if key is not None:
        return key
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, tuple):
        return tuple(normalise(v) for v in value)
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    return value


def errorKey(e: Any) -> tuple:
    return ("error", e.get_error_code(), e.get_error_domain(),
            e.get_error_message())


_TIMES = re.compile(r"<creationTime>\d+</creationTime>")


def noTimes(value: Any) -> Any:
    """
    Drop values that change by themselves (snapshot creation times).
    """
    if isinstance(value, str):
        return _TIMES.sub("<creationTime>T</creationTime>", value)
    return value


def noCpuTime(info: Any) -> Any:
    """
    C{dom.info()} without its CPU time.
    """
    if isinstance(info, list) and len(info) == 5:
        return info[:4] + ["cpuTime"]
    return info


def noVcpuTimes(vcpus: Any) -> Any:
    if isinstance(vcpus, tuple) and len(vcpus) == 2:
        return ([(n, s, "t", c) for n, s, _, c in vcpus[0]], vcpus[1])
    return vcpus


def shapeOnly(value: Any) -> Any:
    """
    Counters that grow by themselves: keep only the shape and types.
    """
    if isinstance(value, (list, tuple)):
        return type(value)(shapeOnly(v) for v in value)
    return type(value).__name__


def sortedList(value: Any) -> Any:
    return sorted(value, key=repr) if isinstance(value, list) else value


def _finish(step: Step, value: Any) -> str:
    value = normalise(value)
    if step.norm is not None:
        value = step.norm(value)
    return repr(value)


def runLibvirtPython(uri: str, steps: list[Step]) -> Deferred:
    """
    Run C{steps} with libvirt-python in a thread.

    @return: a Deferred firing with C{[(label, repr)]}.
    """
    import libvirt

    def run() -> list[tuple[str, str]]:
        ctx = Ctx()
        ctx.conn = libvirt.open(uri)
        out = []
        try:
            for step in steps:
                try:
                    value = step.call(ctx)
                except libvirt.libvirtError as e:
                    out.append((step.label, repr(errorKey(e))))
                    continue
                if step.save:
                    setattr(ctx, step.save, value)
                out.append((step.label, _finish(step, value)))
        finally:
            ctx.conn.close()
        return out

    return deferToThread(run)


def waitForFreshState(uri: str, timeout: float = 10.0) -> Deferred:
    """
    Wait until a new connection to C{uri} sees test:///default as it
    starts (see L{tests.test_server_fixture.isInitialState}).

    libvirtd closes a departed client's driver connection after answering
    its CONNECT_CLOSE, and the test driver keeps its state until the last
    connection is gone: a scenario started right after another could see
    the state the first one left.

    @return: a Deferred firing with C{True} once fresh, C{False} if still
        not fresh after C{timeout} seconds (the comparison then shows it).
    """
    import libvirt

    from tests.test_server_fixture import isInitialState

    def fresh() -> bool:
        conn = libvirt.open(uri)
        try:
            return isInitialState(conn)
        except libvirt.libvirtError:
            return True  # not the test driver's default state: nothing to wait for
        finally:
            conn.close()

    def poll() -> bool:
        deadline = time.monotonic() + timeout
        while not fresh():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    return deferToThread(poll)


async def runVirtd(uri: str, steps: list[Step], **connectArgs: Any
                   ) -> list[tuple[str, str]]:
    """
    Run C{steps} with virtd's client.

    @return: C{[(label, repr)]}.
    """
    import virtd

    ctx = Ctx()
    ctx.conn = await virtd.connect(uri, **connectArgs)
    out = []
    try:
        for step in steps:
            try:
                value = step.call(ctx)
                if isinstance(value, Deferred):
                    value = await value
            except virtd.LibvirtError as e:
                out.append((step.label, repr(errorKey(e))))
                continue
            if step.save:
                setattr(ctx, step.save, value)
            out.append((step.label, _finish(step, value)))
    finally:
        await ctx.conn.close()
    return out
