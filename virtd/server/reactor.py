"""
The daemon's reactor: Twisted's epoll reactor, minus one layer per event.

For every ready descriptor, Twisted's epoll reactor calls
C{twisted.python.log.callWithLogger}, which copies the legacy logging
context, pushes it with the descriptor's C{logPrefix()} as its C{system},
runs the handler and pops it again. The context is read only by
C{twisted.python.log.msg}, the legacy API; the daemon logs through
C{twisted.logger}, which does not look at it. That bookkeeping costs
about 2 us per event, a few per cent of a quick call (docs/benchmarks.rst,
*The daemon's own reactor*), so L{DaemonReactor} hands each event straight
to Twisted's own read/write/disconnect handling.

What changes for an operator: a traceback Twisted logs for an exception
escaping a protocol's C{dataReceived} names the system C{-} instead of the
protocol's log prefix (the traceback still names the code). Twisted's
reactor is used as before when twistd is given C{--reactor}, and C{twistd
virtd --twisted-reactor} keeps twistd's default.
"""

from __future__ import annotations

import errno
import sys
from typing import Any

__all__ = ["DaemonReactor", "installIfNoneChosen"]

try:
    from twisted.internet.epollreactor import EPollReactor
except ImportError:  # pragma: no cover - a system without epoll
    EPollReactor = None  # type: ignore[assignment,misc]


if EPollReactor is not None:

    class DaemonReactor(EPollReactor):  # type: ignore[valid-type,misc]
        """
        C{EPollReactor} that dispatches events without the per-event legacy
        log context.
        """

        def doPoll(self, timeout: float | None) -> None:
            """
            Wait at most C{timeout} seconds (C{None}: until an event), then
            handle every ready descriptor.
            """
            if timeout is None:
                timeout = -1
            try:
                ready = self._poller.poll(timeout, len(self._selectables))
            except OSError as e:
                if e.errno == errno.EINTR:
                    return
                raise
            handle = self._doReadOrWrite
            selectables = self._selectables
            for fd, event in ready:
                # An earlier event in this batch may have closed it.
                selectable = selectables.get(fd)
                if selectable is not None:
                    handle(selectable, fd, event)

        doIteration = doPoll

else:  # pragma: no cover
    DaemonReactor = None  # type: ignore[assignment,misc]


def installIfNoneChosen() -> Any:
    """
    Install a L{DaemonReactor} as the global reactor, unless a reactor is
    already installed (twistd's C{--reactor}, a tac file or an application
    that imported one) or the system has no epoll.

    @return: the installed reactor, or L{None} if nothing was installed.
    """
    if DaemonReactor is None or "twisted.internet.reactor" in sys.modules:
        return None
    from twisted.internet.main import installReactor

    reactor = DaemonReactor()
    installReactor(reactor)
    return reactor
