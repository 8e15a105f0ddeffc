"""
What the event loop keeps for each libvirt registration: the
C{VIR_EVENT_HANDLE_*} bits, one record per handle watch and per timeout,
and the descriptor the reactor watches for each libvirt fd.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IDelayedCall, IReadDescriptor, IWriteDescriptor
from twisted.python.failure import Failure
from zope.interface import implementer

if TYPE_CHECKING:
    from virtd.eventloop.loop import TwistedEventLoop

__all__ = [
    "VIR_EVENT_HANDLE_READABLE",
    "VIR_EVENT_HANDLE_WRITABLE",
    "VIR_EVENT_HANDLE_ERROR",
    "VIR_EVENT_HANDLE_HANGUP",
]

VIR_EVENT_HANDLE_READABLE = 1
VIR_EVENT_HANDLE_WRITABLE = 2
VIR_EVENT_HANDLE_ERROR = 4
VIR_EVENT_HANDLE_HANGUP = 8


@dataclass(eq=False, slots=True)
class _Watch:
    """
    One libvirt handle watch: the events libvirt wants on C{fd} and the
    callback/opaque pair libvirt-python gave us.
    """

    watchId: int
    fd: int
    events: int
    cb: Callable[..., Any]
    opaque: Any
    descriptor: _Descriptor
    removed: bool = False


@dataclass(eq=False, slots=True)
class _Timer:
    """
    One libvirt timeout: interval in ms (-1 disabled, 0 every iteration).
    C{delayedCall} is only touched on the reactor thread.
    """

    timerId: int
    interval: int
    cb: Callable[..., Any]
    opaque: Any
    removed: bool = False
    delayedCall: IDelayedCall | None = None


@implementer(IReadDescriptor, IWriteDescriptor)
class _Descriptor:
    """
    What the reactor watches for one libvirt fd: a private C{dup()} of it,
    shared by every libvirt watch on that fd (libvirt may register several,
    and a reactor keeps one reader/writer per fd number).

    C{reading}, C{writing}, C{lost} and C{closed} are reactor-thread state.
    C{watches} and C{detached} are guarded by the loop's lock.
    """

    def __init__(self, loop: TwistedEventLoop, fd: int) -> None:
        self._loop = loop
        self.fd = fd
        self._dupFd = os.dup(fd)
        self.watches: dict[int, _Watch] = {}
        self.detached = False
        self.reading = False
        self.writing = False
        self.lost = False
        self.closed = False

    def fileno(self) -> int:
        return -1 if self.closed else self._dupFd

    def closeDup(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._dupFd)

    def logPrefix(self) -> str:
        return f"libvirt-fd-{self.fd}"

    def doRead(self) -> None:
        # Returning None keeps the reactor from treating this as a disconnect.
        self._loop._dispatchHandle(self, VIR_EVENT_HANDLE_READABLE)

    def doWrite(self) -> None:
        self._loop._dispatchHandle(self, VIR_EVENT_HANDLE_WRITABLE)

    def connectionLost(self, reason: Failure) -> None:
        self._loop._descriptorLost(self, reason)
