"""
Tests for L{virtd.eventloop}: libvirt-python's event loop on the running
reactor, exercised through real libvirt-python (the C library calls our six
functions), the built-in test driver, real sockets and a real libvirtd.

libvirt accepts one event loop per process, so every test shares the loop
that L{eventloop.install} registers on the global reactor; tests compare the
loop's counters with a baseline taken in C{setUp} instead of expecting zero.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import libvirt
from twisted.internet import reactor, task, threads
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import globalLogPublisher
from twisted.python.threadable import isInIOThread
from twisted.trial import unittest

from tests.support import RealLibvirtd
from virtd import eventloop
from virtd.eventloop import (
    VIR_EVENT_HANDLE_HANGUP,
    VIR_EVENT_HANDLE_READABLE,
    VIR_EVENT_HANDLE_WRITABLE,
)

LIFECYCLE = libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE

# (event, detail) the test driver emits for suspend, resume, destroy, create.
EXPECTED_LIFECYCLE = [
    (libvirt.VIR_DOMAIN_EVENT_SUSPENDED, libvirt.VIR_DOMAIN_EVENT_SUSPENDED_PAUSED),
    (libvirt.VIR_DOMAIN_EVENT_RESUMED, libvirt.VIR_DOMAIN_EVENT_RESUMED_UNPAUSED),
    (libvirt.VIR_DOMAIN_EVENT_STOPPED, libvirt.VIR_DOMAIN_EVENT_STOPPED_DESTROYED),
    (libvirt.VIR_DOMAIN_EVENT_STARTED, libvirt.VIR_DOMAIN_EVENT_STARTED_BOOTED),
]


def sleep(seconds: float) -> Deferred[None]:
    """
    @return: a Deferred firing after C{seconds} of reactor time.
    """
    return task.deferLater(reactor, seconds, lambda: None)


@inlineCallbacks
def waitUntil(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> Any:
    """
    Let the reactor run until C{condition()} is true.

    @param condition: checked every few milliseconds.
    @param what: what is awaited, for the failure message.
    @param timeout: seconds before giving up.
    @raise AssertionError: if it does not happen in time.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        yield sleep(0.005)


class LoopTestCase(unittest.TestCase):
    """
    Installs the shared loop and checks each test leaves it as it found it.
    """

    def setUp(self) -> None:
        self.loop = eventloop.install()
        self.baseline = self.loop.stats()
        self.reactorThread = threading.get_ident()
        self.addCleanup(self.assertNoLeaks)

    @inlineCallbacks
    def assertNoLeaks(self) -> Any:
        yield self.loop.settle()
        self.assertEqual(self.loop.stats(), self.baseline)

    def lifecycleRecorder(self) -> tuple[list[tuple[int, int]], Callable[..., None]]:
        """
        @return: a list of (event, detail) and a lifecycle callback that
            appends to it, checking it runs on the reactor thread.
        """
        events: list[tuple[int, int]] = []

        def cb(conn: Any, dom: Any, event: int, detail: int, opaque: Any) -> None:
            self.assertEqual(threading.get_ident(), self.reactorThread)
            self.assertEqual(dom.name(), "test")
            events.append((event, detail))

        return events, cb

    def assertFreeLater(self) -> None:
        """
        Right after a remove*() call, libvirt's free callback is still
        pending: it must never run inside remove*().  (libvirt-python's own
        virEventAdd*() register no free function, so the opaque itself is
        never released; the free callbacks of libvirt's internal timers are
        exercised by the domain event tests.)
        """
        self.assertEqual(self.loop.stats()["pendingFrees"], self.baseline["pendingFrees"] + 1)


class InstallTests(LoopTestCase):
    """
    L{eventloop.install} registers once and is idempotent.
    """

    def test_idempotent(self) -> None:
        """
        Every call returns the same loop, bound to the global reactor.
        """
        self.assertIs(eventloop.install(), self.loop)
        self.assertIs(eventloop.install(reactor), self.loop)
        self.assertIs(eventloop.installed(), self.loop)
        self.assertIs(self.loop.reactor, reactor)

    def test_otherReactorRefused(self) -> None:
        """
        Asking for a different reactor once one is installed is an error that
        says why.
        """
        e = self.assertRaises(eventloop.EventLoopError, eventloop.install, MemoryReactorClock())
        self.assertIn("only one event loop per process", str(e))
        self.assertIs(eventloop.installed(), self.loop)

    def test_reactorThread(self) -> None:
        """
        Tests run on the reactor thread, which is the thread the loop treats
        as its own.
        """
        self.assertTrue(isInIOThread())


class TimeoutTests(LoopTestCase):
    """
    Timeouts registered through C{libvirt.virEventAddTimeout}.
    """

    def addTimeout(self, interval: int, cb: Callable[[int, Any], None], opaque: Any = None) -> int:
        timer = libvirt.virEventAddTimeout(interval, cb, opaque)
        self.assertGreater(timer, 0)
        return timer

    @inlineCallbacks
    def test_zeroFiresEveryIteration(self) -> Any:
        """
        Interval 0 fires once per reactor iteration without starving other
        work; removing it stops it and frees its data on a later turn.
        """
        calls: list[tuple[int, Any]] = []
        opaque = object()
        timer = self.addTimeout(0, lambda t, o: calls.append((t, o)), opaque)
        other: list[bool] = []
        reactor.callLater(0.02, other.append, True)
        yield waitUntil(lambda: len(calls) >= 5 and other, "5 fires and a 20 ms call")
        self.assertEqual(calls[0], (timer, opaque))
        libvirt.virEventRemoveTimeout(timer)
        self.assertFreeLater()
        count = len(calls)
        yield self.loop.settle()
        yield sleep(0.02)
        self.assertEqual(len(calls), count)

    @inlineCallbacks
    def test_disabledThenEnabled(self) -> Any:
        """
        Interval -1 never fires; updating it to a period starts it, back to
        -1 stops it.
        """
        calls: list[int] = []
        timer = self.addTimeout(-1, lambda t, o: calls.append(t))
        self.assertEqual(self.loop.stats()["enabledTimers"], self.baseline["enabledTimers"])
        yield sleep(0.05)
        self.assertEqual(calls, [])
        libvirt.virEventUpdateTimeout(timer, 5)
        yield waitUntil(lambda: len(calls) >= 2, "the enabled timer to fire twice")
        libvirt.virEventUpdateTimeout(timer, -1)
        count = len(calls)
        yield sleep(0.05)
        self.assertEqual(len(calls), count)
        libvirt.virEventRemoveTimeout(timer)

    @inlineCallbacks
    def test_positivePeriod(self) -> Any:
        """
        A positive interval fires periodically, no faster than asked.
        """
        times: list[float] = []
        start = time.monotonic()
        timer = self.addTimeout(40, lambda t, o: times.append(time.monotonic()))
        yield waitUntil(lambda: len(times) >= 3, "three 40 ms periods")
        libvirt.virEventRemoveTimeout(timer)
        gaps = [b - a for a, b in zip([start] + times[:-1], times, strict=True)]
        for gap in gaps:
            self.assertGreaterEqual(gap, 0.035)

    @inlineCallbacks
    def test_removeInsideCallback(self) -> Any:
        """
        A timer that removes itself from its own callback fires exactly once.
        """
        calls: list[int] = []

        def cb(timer: int, opaque: Any) -> None:
            calls.append(timer)
            libvirt.virEventRemoveTimeout(timer)

        self.addTimeout(0, cb)
        yield waitUntil(lambda: calls, "the first fire")
        yield sleep(0.03)
        self.assertEqual(len(calls), 1)

    @inlineCallbacks
    def test_updateInsideCallback(self) -> Any:
        """
        A timer can change its own interval from its callback: 0 then -1.
        """
        calls: list[int] = []

        def cb(timer: int, opaque: Any) -> None:
            calls.append(timer)
            if len(calls) == 3:
                libvirt.virEventUpdateTimeout(timer, -1)

        timer = self.addTimeout(0, cb)
        yield waitUntil(lambda: len(calls) >= 3, "three fires")
        yield sleep(0.03)
        self.assertEqual(len(calls), 3)
        libvirt.virEventRemoveTimeout(timer)

    @inlineCallbacks
    def test_fromAnotherThread(self) -> Any:
        """
        A timeout added, updated and removed from a worker thread gets its
        id at once and runs its callback on the reactor thread.
        """
        fired: list[int] = []

        def cb(timer: int, opaque: Any) -> None:
            fired.append(threading.get_ident())

        timer = yield threads.deferToThread(libvirt.virEventAddTimeout, -1, cb, None)
        self.assertGreater(timer, 0)
        yield threads.deferToThread(libvirt.virEventUpdateTimeout, timer, 1)
        yield waitUntil(lambda: fired, "the timer to fire")
        self.assertEqual(set(fired), {self.reactorThread})
        yield threads.deferToThread(libvirt.virEventRemoveTimeout, timer)
        count = len(fired)
        yield self.loop.settle()
        yield sleep(0.02)
        self.assertEqual(len(fired), count)

    @inlineCallbacks
    def test_raisingCallbackLogged(self) -> Any:
        """
        An exception in a timeout callback is logged and the timer keeps
        firing.
        """
        calls: list[int] = []

        def cb(timer: int, opaque: Any) -> None:
            calls.append(timer)
            if len(calls) == 1:
                raise ZeroDivisionError("first fire fails")

        timer = self.addTimeout(0, cb)
        yield waitUntil(lambda: len(calls) >= 3, "fires after the failing one")
        libvirt.virEventRemoveTimeout(timer)
        errors = self.flushLoggedErrors(ZeroDivisionError)
        self.assertEqual(len(errors), 1)
        self.assertEqual(str(errors[0].value), "first fire fails")


class HandleTests(LoopTestCase):
    """
    File handles registered through C{libvirt.virEventAddHandle} on real
    sockets and pipes.
    """

    def socketpair(self) -> tuple[socket.socket, socket.socket]:
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        return a, b

    def addHandle(self, fd: int, events: int, cb: Callable[..., None], opaque: Any = None) -> int:
        watch = libvirt.virEventAddHandle(fd, events, cb, opaque)
        self.assertGreater(watch, 0)
        return watch

    @inlineCallbacks
    def test_readable(self) -> Any:
        """
        A readable socket calls back with (watch, fd, READABLE, opaque), and
        not before there is something to read; the opaque is freed after
        removal.
        """
        a, b = self.socketpair()
        calls: list[tuple[int, int, int, Any]] = []
        opaque = object()

        def cb(watch: int, fd: int, events: int, o: Any) -> None:
            calls.append((watch, fd, events, o))
            a.recv(100)

        watch = self.addHandle(a.fileno(), VIR_EVENT_HANDLE_READABLE, cb, opaque)
        self.assertEqual(
            self.loop.handles()[-1],
            {"watch": watch, "fd": a.fileno(), "events": VIR_EVENT_HANDLE_READABLE},
        )
        yield sleep(0.02)
        self.assertEqual(calls, [])
        b.send(b"x")
        yield waitUntil(lambda: calls, "a readable event")
        self.assertEqual(calls, [(watch, a.fileno(), VIR_EVENT_HANDLE_READABLE, opaque)])
        calls.clear()
        self.assertEqual(libvirt.virEventRemoveHandle(watch), 0)
        self.assertFreeLater()
        b.send(b"y")
        yield self.loop.settle()
        yield sleep(0.02)
        self.assertEqual(calls, [])

    @inlineCallbacks
    def test_updateMask(self) -> Any:
        """
        Updating the mask to 0 pauses a handle even with data waiting;
        setting READABLE again resumes it.
        """
        a, b = self.socketpair()
        calls: list[int] = []

        def cb(watch: int, fd: int, events: int, o: Any) -> None:
            # Do not read: the data stays, so only the mask stops the calls.
            calls.append(events)
            libvirt.virEventUpdateHandle(watch, 0)

        watch = self.addHandle(a.fileno(), VIR_EVENT_HANDLE_READABLE, cb)
        b.send(b"x")
        yield waitUntil(lambda: calls, "a readable event")
        yield sleep(0.03)
        self.assertEqual(calls, [VIR_EVENT_HANDLE_READABLE])
        libvirt.virEventUpdateHandle(watch, VIR_EVENT_HANDLE_READABLE)
        yield waitUntil(lambda: len(calls) == 2, "the resumed handle")
        libvirt.virEventRemoveHandle(watch)

    @inlineCallbacks
    def test_writableAndBoth(self) -> Any:
        """
        WRITABLE fires on a writable socket; a watch for both gets each event
        separately.
        """
        a, b = self.socketpair()
        calls: list[int] = []

        def cb(watch: int, fd: int, events: int, o: Any) -> None:
            calls.append(events)
            if events & VIR_EVENT_HANDLE_READABLE:
                a.recv(100)
            if events & VIR_EVENT_HANDLE_WRITABLE:
                libvirt.virEventUpdateHandle(watch, VIR_EVENT_HANDLE_READABLE)

        b.send(b"x")
        watch = self.addHandle(
            a.fileno(), VIR_EVENT_HANDLE_READABLE | VIR_EVENT_HANDLE_WRITABLE, cb
        )
        yield waitUntil(
            lambda: set(calls) == {VIR_EVENT_HANDLE_READABLE, VIR_EVENT_HANDLE_WRITABLE},
            "a readable and a writable event",
        )
        libvirt.virEventRemoveHandle(watch)

    @inlineCallbacks
    def test_hangup(self) -> Any:
        """
        The read end of a pipe whose writer closed reports HANGUP once.
        """
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        calls: list[int] = []
        watch = self.addHandle(r, VIR_EVENT_HANDLE_READABLE, lambda wa, fd, ev, o: calls.append(ev))
        os.close(w)
        yield waitUntil(lambda: calls, "a hangup event")
        yield sleep(0.02)
        self.assertEqual(calls, [VIR_EVENT_HANDLE_HANGUP])
        libvirt.virEventRemoveHandle(watch)

    def test_badFdRefused(self) -> None:
        """
        A closed fd cannot be watched: libvirt gets -1 (libvirt-python raises)
        and the loop logs which fd was refused.
        """
        logged: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        r, w = os.pipe()
        os.close(r)
        os.close(w)
        self.assertRaises(
            libvirt.libvirtError,
            libvirt.virEventAddHandle,
            r,
            VIR_EVENT_HANDLE_READABLE,
            lambda *args: None,
            None,
        )
        self.assertEqual([e.get("fd") for e in logged if "fd" in e], [r])

    @inlineCallbacks
    def test_twoWatchesOneFd(self) -> Any:
        """
        Two watches on one fd are both served; removing one keeps the other.
        """
        a, b = self.socketpair()
        calls: list[int] = []

        def cb(watch: int, fd: int, events: int, o: Any) -> None:
            calls.append(watch)

        def drain(watch: int, fd: int, events: int, o: Any) -> None:
            calls.append(watch)
            a.recv(100)

        first = self.addHandle(a.fileno(), VIR_EVENT_HANDLE_READABLE, cb)
        second = self.addHandle(a.fileno(), VIR_EVENT_HANDLE_READABLE, drain)
        self.assertEqual(self.loop.stats()["descriptors"], self.baseline["descriptors"] + 1)
        b.send(b"x")
        yield waitUntil(lambda: len(calls) >= 2, "both watches")
        self.assertEqual(calls[:2], [first, second])
        libvirt.virEventRemoveHandle(first)
        calls.clear()
        b.send(b"y")
        yield waitUntil(lambda: calls, "the remaining watch")
        self.assertEqual(calls, [second])
        libvirt.virEventRemoveHandle(second)

    @inlineCallbacks
    def test_fdNumberReusedAcrossThreads(self) -> Any:
        """
        A worker thread removes a watch, and the same fd number then refers
        to a new socket that gets watched, all before the reactor catches up;
        the new socket is watched correctly.
        """
        calls: list[tuple[int, int]] = []
        a, b = socket.socketpair()
        fd = a.detach()
        self.addCleanup(os.close, fd)
        watch = self.addHandle(fd, VIR_EVENT_HANDLE_READABLE, lambda *args: None)
        peer: list[socket.socket] = []

        def cb(w: int, cbFd: int, events: int, o: Any) -> None:
            calls.append((w, cbFd))
            os.read(fd, 100)

        def inThread() -> int:
            libvirt.virEventRemoveHandle(watch)
            c, d = socket.socketpair()
            # dup2 closes the old socket behind fd and puts the new one there
            # in one step, so nothing else can take the number in between.
            os.dup2(c.fileno(), fd)
            c.close()
            b.close()
            peer.append(d)
            return libvirt.virEventAddHandle(fd, VIR_EVENT_HANDLE_READABLE, cb, None)

        newWatch = yield threads.deferToThread(inThread)
        self.addCleanup(peer[0].close)
        peer[0].send(b"x")
        yield waitUntil(lambda: calls, "an event on the new socket")
        self.assertEqual(calls, [(newWatch, fd)])
        libvirt.virEventRemoveHandle(newWatch)

    @inlineCallbacks
    def test_fromAnotherThread(self) -> Any:
        """
        A handle added from a worker thread gets its id at once and is served
        on the reactor thread.
        """
        a, b = self.socketpair()
        fired: list[int] = []

        def cb(watch: int, fd: int, events: int, o: Any) -> None:
            fired.append(threading.get_ident())
            a.recv(100)

        watch = yield threads.deferToThread(
            libvirt.virEventAddHandle, a.fileno(), VIR_EVENT_HANDLE_READABLE, cb, None
        )
        self.assertGreater(watch, 0)
        b.send(b"x")
        yield waitUntil(lambda: fired, "the handle callback")
        self.assertEqual(fired, [self.reactorThread])
        yield threads.deferToThread(libvirt.virEventRemoveHandle, watch)

    @inlineCallbacks
    def test_raisingCallbackLogged(self) -> Any:
        """
        An exception in a handle callback is logged and the handle keeps
        working.
        """
        a, b = self.socketpair()
        calls: list[int] = []

        def cb(watch: int, fd: int, events: int, o: Any) -> None:
            calls.append(events)
            a.recv(100)
            if len(calls) == 1:
                raise ZeroDivisionError("handle callback fails")

        watch = self.addHandle(a.fileno(), VIR_EVENT_HANDLE_READABLE, cb)
        b.send(b"x")
        yield waitUntil(lambda: calls, "the failing callback")
        b.send(b"y")
        yield waitUntil(lambda: len(calls) == 2, "the next callback")
        libvirt.virEventRemoveHandle(watch)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)


class DomainEventTests(LoopTestCase):
    """
    Lifecycle events from the test driver, with no default event loop and no
    thread running one: only the reactor.
    """

    def open(self) -> libvirt.virConnect:
        conn = libvirt.open("test:///default")
        self.addCleanup(conn.close)
        return conn

    @inlineCallbacks
    def test_callsOnReactorThread(self) -> Any:
        """
        Suspend, resume, destroy and create called on the reactor thread
        deliver the four lifecycle events with their details.
        """
        conn = self.open()
        events, cb = self.lifecycleRecorder()
        cid = conn.domainEventRegisterAny(None, LIFECYCLE, cb, None)
        dom = conn.lookupByName("test")
        dom.suspend()
        yield waitUntil(lambda: events, "the suspend event")
        dom.resume()
        dom.destroy()
        dom.create()
        yield waitUntil(lambda: len(events) == 4, "four lifecycle events")
        self.assertEqual(events, EXPECTED_LIFECYCLE)
        conn.domainEventDeregisterAny(cid)

    @inlineCallbacks
    def test_callsFromThreads(self) -> Any:
        """
        The same, with every libvirt call made from the reactor's thread pool.
        """
        conn = yield threads.deferToThread(libvirt.open, "test:///default")
        events, cb = self.lifecycleRecorder()
        cid = yield threads.deferToThread(conn.domainEventRegisterAny, None, LIFECYCLE, cb, None)
        dom = yield threads.deferToThread(conn.lookupByName, "test")
        for call in (dom.suspend, dom.resume, dom.destroy, dom.create):
            yield threads.deferToThread(call)
        yield waitUntil(lambda: len(events) == 4, "four lifecycle events")
        self.assertEqual(events, EXPECTED_LIFECYCLE)
        yield threads.deferToThread(conn.domainEventDeregisterAny, cid)

    @inlineCallbacks
    def test_raisingCallbackLogged(self) -> Any:
        """
        A lifecycle callback that raises is logged through twisted.logger and
        neither it nor another connection's callback misses later events.

        (libvirt-python allows one lifecycle callback per connection for the
        same domain, hence the second connection.) Once the errors are
        handled, nothing keeps the domains the callback got, so the
        connection is freed when closed.
        """
        conn = libvirt.open("test:///default")
        other = self.open()
        raised: list[tuple[int, int]] = []

        def bad(conn: Any, dom: Any, event: int, detail: int, opaque: Any) -> None:
            raised.append((event, detail))
            raise ZeroDivisionError(f"callback failed on event {event}")

        events, good = self.lifecycleRecorder()
        badId = conn.domainEventRegisterAny(None, LIFECYCLE, bad, None)
        goodId = other.domainEventRegisterAny(None, LIFECYCLE, good, None)
        dom = conn.lookupByName("test")
        dom.suspend()
        yield waitUntil(lambda: raised and events, "the suspend event on both")
        dom.resume()
        yield waitUntil(lambda: len(raised) == len(events) == 2, "the resume event")
        self.assertEqual(raised, EXPECTED_LIFECYCLE[:2])
        self.assertEqual(events, EXPECTED_LIFECYCLE[:2])
        errors = self.flushLoggedErrors(ZeroDivisionError)
        self.assertEqual(
            [str(e.value) for e in errors],
            ["callback failed on event 3", "callback failed on event 4"],
        )
        conn.domainEventDeregisterAny(badId)
        other.domainEventDeregisterAny(goodId)
        del errors, dom
        # libvirt's close() answers the references left on the connection.
        self.assertEqual(conn.close(), 0)

    @inlineCallbacks
    def test_deregisterLeavesNothing(self) -> Any:
        """
        Registering adds libvirt's event timer; deregistering and closing
        removes it and frees its data, leaving the loop as it was.
        """
        conn = libvirt.open("test:///default")
        events, cb = self.lifecycleRecorder()
        cid = conn.domainEventRegisterAny(None, LIFECYCLE, cb, None)
        self.assertEqual(self.loop.stats()["timers"], self.baseline["timers"] + 1)
        conn.lookupByName("test").suspend()
        yield waitUntil(lambda: events, "the suspend event")
        conn.domainEventDeregisterAny(cid)
        conn.close()
        yield self.loop.settle()
        self.assertEqual(self.loop.stats(), self.baseline)


class RealLibvirtdTests(LoopTestCase):
    """
    libvirt-python talking to a real libvirtd over a unix socket, with only
    this loop driving its socket handle, keepalive and event timers.
    """

    @inlineCallbacks
    def setUp(self) -> Any:
        LoopTestCase.setUp(self)
        daemon = RealLibvirtd(tcp=False)
        # Cleanups run last-in first-out: the leak check comes after this.
        self.addCleanup(threads.deferToThread, daemon.stop)
        yield threads.deferToThread(daemon.start)
        self.daemon = daemon

    @inlineCallbacks
    def test_lifecycleEvents(self) -> Any:
        """
        Lifecycle events from a real libvirtd arrive through the reactor, with
        calls made both from threads and on the reactor thread; keepalive
        keeps an idle connection alive; closing leaves nothing behind.
        """
        conn = yield threads.deferToThread(libvirt.open, self.daemon.uri("unix"))
        self.addCleanup(threads.deferToThread, conn.close)
        stats = self.loop.stats()
        self.assertGreater(stats["handles"], self.baseline["handles"])
        events, cb = self.lifecycleRecorder()
        # Registration blocks on an RPC; libvirt runs that I/O itself.
        cid = conn.domainEventRegisterAny(None, LIFECYCLE, cb, None)
        dom = yield threads.deferToThread(conn.lookupByName, "test")
        yield threads.deferToThread(dom.suspend)
        yield waitUntil(lambda: events, "the suspend event")
        dom.resume()
        yield threads.deferToThread(dom.destroy)
        dom.create()
        yield waitUntil(lambda: len(events) == 4, "four lifecycle events")
        self.assertEqual(events, EXPECTED_LIFECYCLE)

        # Keepalive every 1 s, give up after 1 missed reply: only our loop
        # answers the daemon's PINGs and sends ours while the connection idles.
        yield threads.deferToThread(conn.setKeepAlive, 1, 1)
        self.assertIn(1000, [t["interval"] for t in self.loop.timers()])
        yield sleep(2.5)
        self.assertEqual(conn.isAlive(), 1)
        yield threads.deferToThread(dom.suspend)
        yield waitUntil(lambda: len(events) == 5, "an event after idling")

        yield threads.deferToThread(conn.domainEventDeregisterAny, cid)
        # The connection closes in a cleanup, before the leak check.
