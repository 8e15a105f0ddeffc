"""
Where processes run: the C{--split-cpus} diagnostic for the client cases.

On one machine the client and libvirtd take CPU from each other, so C1
and C2 measure the pair, not the client alone. With the CPUs split,
libvirtd runs on the first CPU and the load generators on the others, as
if they were two hosts: when libvirtd's CPU is full (C{daemonCpu} near
1.0) it is what limits a row, whichever client loads it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["confined", "pinProcess", "splitCPUs", "threadCPUs"]


def splitCPUs() -> tuple[frozenset[int], frozenset[int]]:
    """
    Cut the CPUs this process may use in two: the first for the daemon,
    the rest for the clients.

    @return: C{(daemonCPUs, clientCPUs)}.
    @raise RuntimeError: with fewer than two CPUs to split.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise RuntimeError(f"--split-cpus needs two CPUs or more; this process may "
                           f"use {len(cpus)} ({cpus})")
    return frozenset(cpus[:1]), frozenset(cpus[1:])


def _threads(pid: int) -> list[int]:
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        return []


def pinProcess(pid: int, cpus: frozenset[int] | set[int]) -> None:
    """
    Let every thread of process C{pid} run only on C{cpus}; threads it
    starts later inherit their creator's set.

    @raise OSError: if the process may not be moved.
    """
    for tid in _threads(pid):
        try:
            os.sched_setaffinity(tid, cpus)
        except ProcessLookupError:
            pass  # the thread ended meanwhile


def threadCPUs(pid: int) -> dict[int, frozenset[int]]:
    """
    @return: thread id -> the CPUs it may run on, for every thread of C{pid}.
    """
    out = {}
    for tid in _threads(pid):
        try:
            out[tid] = frozenset(os.sched_getaffinity(tid))
        except ProcessLookupError:
            pass
    return out


@contextmanager
def confined(pid: int, split: bool) -> Iterator[list[int] | None]:
    """
    With C{split}, keep the daemon C{pid} on the first CPU while the block
    runs and give it back every CPU this process may use afterwards (the
    daemon serves other cases too).

    @return: a context manager yielding the CPUs for the load generators
        (a list, for a JSON spec), or C{None} without C{split}.
    """
    if not split:
        yield None
        return
    daemonCPUs, clientCPUs = splitCPUs()
    try:
        pinProcess(pid, daemonCPUs)
        yield sorted(clientCPUs)
    finally:
        pinProcess(pid, daemonCPUs | clientCPUs)
