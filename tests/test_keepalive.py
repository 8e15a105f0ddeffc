"""
Tests for L{virtd.rpc.keepalive.Keepalive} against a L{Clock}.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from virtd.rpc.keepalive import Keepalive


class KeepaliveTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.events: list[tuple[str, float]] = []

    def make(self, interval: float = 5, count: int = 5) -> Keepalive:
        return Keepalive(
            self.clock, interval, count,
            lambda: self.events.append(("ping", self.clock.seconds())),
            lambda: self.events.append(("dead", self.clock.seconds())))

    def advanceTo(self, until: float, step: float = 0.25) -> None:
        while self.clock.seconds() < until:
            self.clock.advance(step)

    def test_silentPeer(self) -> None:
        """
        A silent peer gets a PING after each interval, C{count} of them, and
        is declared dead at interval * (count + 1), once.
        """
        ka = self.make(5, 5)
        ka.start()
        self.advanceTo(100)
        self.assertEqual(self.events, [
            ("ping", 5.0), ("ping", 10.0), ("ping", 15.0), ("ping", 20.0),
            ("ping", 25.0), ("dead", 30.0)])
        self.assertFalse(ka.running)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_virshDefaults(self) -> None:
        """
        virsh's 5 s / 6 drops a silent daemon after 35 s (wire facts 11.13).
        """
        ka = self.make(5, 6)
        ka.start()
        self.advanceTo(34.75)
        self.assertNotIn("dead", [e for e, _ in self.events])
        self.advanceTo(35)
        self.assertEqual(self.events[-1], ("dead", 35.0))
        self.assertEqual(len(self.events), 7)

    def test_anyFrameResets(self) -> None:
        """
        Any frame received restarts the interval and restores the count.
        """
        ka = self.make(5, 2)
        ka.start()
        self.advanceTo(3)
        ka.received()
        self.advanceTo(7.75)
        self.assertEqual(self.events, [])
        self.advanceTo(8)
        self.assertEqual(self.events, [("ping", 8.0)])
        self.advanceTo(12)
        ka.received()  # after one PING: the count is back to 2
        self.advanceTo(17)
        self.assertEqual(self.events, [("ping", 8.0), ("ping", 17.0)])
        self.advanceTo(40)
        self.assertEqual(self.events, [
            ("ping", 8.0), ("ping", 17.0), ("ping", 22.0), ("dead", 27.0)])

    def test_busyPeerNeverPinged(self) -> None:
        """
        A peer that sends a frame more often than the interval is never
        pinged, and the timer does not pile up delayed calls.
        """
        ka = self.make(5, 1)
        ka.start()
        for _ in range(100):
            self.clock.advance(1)
            ka.received()
            self.assertLessEqual(len(self.clock.getDelayedCalls()), 1)
        self.assertEqual(self.events, [])

    def test_stop(self) -> None:
        """
        C{stop} cancels the timer; C{start} again starts a fresh countdown.
        """
        ka = self.make(5, 0)
        ka.start()
        ka.start()
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.advanceTo(3)
        ka.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.advanceTo(20)
        self.assertEqual(self.events, [])
        ka.start()
        self.advanceTo(30)
        self.assertEqual(self.events, [("dead", 25.0)])

    def test_silentFor(self) -> None:
        """
        C{silentFor} counts from the last frame.
        """
        ka = self.make()
        ka.start()
        self.clock.advance(3)
        self.assertEqual(ka.silentFor(), 3)
        ka.received()
        self.clock.advance(1)
        self.assertEqual(ka.silentFor(), 1)

    def test_badSettings(self) -> None:
        """
        Intervals must be positive and counts not negative.
        """
        self.assertRaises(ValueError, self.make, 0, 5)
        self.assertRaises(ValueError, self.make, -1, 5)
        self.assertRaises(ValueError, self.make, 5, -1)
