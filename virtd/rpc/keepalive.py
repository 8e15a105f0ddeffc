"""
libvirt's keepalive state machine, driven by a clock (wire facts 2.1).

Any frame received from the peer counts as a sign of life. After C{interval}
seconds without one, a PING is sent and the remaining count drops by one;
when a further interval passes with the count at zero, the peer is declared
dead. A silent peer is therefore dropped C{interval * (count + 1)} seconds
after the last frame it sent.

Receiving a frame only records the time: the timer is re-armed lazily when it
fires, so the per-frame cost is one clock read and two attribute stores.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime

__all__ = ["Keepalive"]


class Keepalive:
    """
    One connection's keepalive timer.

    @ivar interval: seconds of silence before a PING.
    @ivar count: PINGs sent without an answer before the peer is dead.
    @ivar running: whether L{start} was called and the peer is not dead yet.
    """

    def __init__(self, clock: IReactorTime, interval: float, count: int,
                 sendPing: Callable[[], object],
                 onDead: Callable[[], object]) -> None:
        """
        @param clock: the reactor (or a L{twisted.internet.task.Clock}).
        @param interval: seconds of silence before each PING; must be > 0.
        @param count: unanswered PINGs tolerated; must be >= 0.
        @param sendPing: called to send one PING.
        @param onDead: called once, when the peer is declared dead.
        @raise ValueError: a non-positive interval or a negative count.
        """
        if not interval > 0:
            raise ValueError(f"keepalive interval must be > 0, not {interval}")
        if count < 0:
            raise ValueError(f"keepalive count must be >= 0, not {count}")
        self.clock = clock
        self.interval = interval
        self.count = count
        self.sendPing = sendPing
        self.onDead = onDead
        self.running = False
        self._seconds = clock.seconds
        self._last = 0.0
        self._left = count
        self._timer: IDelayedCall | None = None

    def start(self) -> None:
        """
        Start counting silence from now. Does nothing if already running.
        """
        if self.running:
            return
        self.running = True
        self._last = self._seconds()
        self._left = self.count
        self._timer = self.clock.callLater(self.interval, self._fire)

    def stop(self) -> None:
        """
        Stop the timer; no more PINGs and no death.
        """
        self.running = False
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None

    def received(self) -> None:
        """
        Note that a frame arrived from the peer.
        """
        self._last = self._seconds()
        self._left = self.count

    def silentFor(self) -> float:
        """
        Seconds since the last frame from the peer (or since L{start}).
        """
        return self._seconds() - self._last

    def _fire(self) -> None:
        self._timer = None
        if not self.running:
            return
        now = self._seconds()
        quiet = now - self._last
        if quiet < self.interval:
            # Something arrived since this timer was armed.
            self._timer = self.clock.callLater(self.interval - quiet,
                                               self._fire)
            return
        if self._left <= 0:
            self.running = False
            self.onDead()
            return
        self._left -= 1
        self._timer = self.clock.callLater(self.interval, self._fire)
        self.sendPing()
