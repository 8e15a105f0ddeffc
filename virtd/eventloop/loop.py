"""
L{TwistedEventLoop}: libvirt's six event-loop functions on a Twisted
reactor.

libvirt calls the entry points from any thread; they do the book-keeping
under one lock and queue what the reactor must change, which then runs on
the reactor thread (see the L{virtd.eventloop} docstring for the rules).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Any

import libvirt
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IDelayedCall, IReactorCore
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure
from twisted.python.threadable import isInIOThread

from virtd.eventloop.watches import (
    VIR_EVENT_HANDLE_ERROR,
    VIR_EVENT_HANDLE_HANGUP,
    VIR_EVENT_HANDLE_READABLE,
    VIR_EVENT_HANDLE_WRITABLE,
    _Descriptor,
    _Timer,
    _Watch,
)

__all__ = ["TwistedEventLoop"]

# The namespace the loop logged under before it was split into modules.
log = Logger(namespace="virtd.eventloop")


class TwistedEventLoop:
    """
    libvirt's six event-loop functions on a Twisted reactor.

    Build one through L{install}; the bound methods L{addHandle},
    L{updateHandle}, L{removeHandle}, L{addTimeout}, L{updateTimeout} and
    L{removeTimeout} are what C{libvirt.virEventRegisterImpl} receives.

    @ivar reactor: the reactor everything runs on.
    """

    def __init__(self, reactor: IReactorCore) -> None:
        """
        @param reactor: the reactor the application runs (it must provide
            C{IReactorFDSet}, C{IReactorTime} and C{IReactorThreads}).
        """
        # Any: the loop needs IReactorFDSet, IReactorTime and IReactorThreads.
        self.reactor: Any = reactor
        self._lock = threading.Lock()
        self._nextId = 1
        self._watches: dict[int, _Watch] = {}
        self._descriptors: dict[int, _Descriptor] = {}
        self._timers: dict[int, _Timer] = {}
        # Reactor-side work, in the order libvirt asked for it.
        self._ops: collections.deque[Callable[[], None]] = collections.deque()
        self._drainScheduled = False
        self._draining = False
        self._pendingFrees = 0
        self._dispatching = threading.local()
        self._stopping = False

    # -- libvirt's entry points (any thread) --------------------------------

    def addHandle(self, fd: int, events: int, cb: Callable[..., Any], opaque: Any) -> int:
        """
        Start watching C{fd} for C{events}.

        @param fd: the file descriptor libvirt wants watched.
        @param events: C{VIR_EVENT_HANDLE_*} bits.
        @param cb: libvirt-python's dispatcher, called as
            C{cb(watch, fd, events, opaque)}.
        @param opaque: libvirt-python's data for C{cb} and the free callback.
        @return: the watch id (positive), or -1 if C{fd} cannot be watched.
        """
        try:
            with self._lock:
                descriptor = self._descriptors.get(fd)
                if descriptor is None:
                    descriptor = _Descriptor(self, fd)
                    self._descriptors[fd] = descriptor
                watchId = self._allocateId()
                watch = _Watch(watchId, fd, events, cb, opaque, descriptor)
                descriptor.watches[watchId] = watch
                self._watches[watchId] = watch
                self._enqueue(lambda: self._syncDescriptor(descriptor))
        except OSError as e:
            log.error(
                "libvirt asked to watch fd {fd}, which cannot be duplicated "
                "({error}); the handle was refused",
                fd=fd,
                error=e,
            )
            return -1
        self._kick()
        return watchId

    def updateHandle(self, watch: int, events: int) -> None:
        """
        Change the events watched by C{watch}; 0 pauses it.

        @param watch: an id returned by L{addHandle}.
        @param events: the new C{VIR_EVENT_HANDLE_*} bits.
        """
        with self._lock:
            w = self._watches.get(watch)
            if w is None:
                unknown = True
            else:
                unknown = False
                w.events = events
                descriptor = w.descriptor
                self._enqueue(lambda: self._syncDescriptor(descriptor))
        if unknown:
            log.warn("libvirt updated unknown handle watch {watch}", watch=watch)
            return
        self._kick()

    def removeHandle(self, watch: int) -> int:
        """
        Stop watching; libvirt's free callback runs on a later reactor turn.

        @param watch: an id returned by L{addHandle}.
        @return: 0, or -1 if C{watch} is unknown.
        """
        with self._lock:
            w = self._watches.pop(watch, None)
            if w is None:
                unknown = True
            else:
                unknown = False
                w.removed = True
                descriptor = w.descriptor
                del descriptor.watches[watch]
                if not descriptor.watches:
                    descriptor.detached = True
                    if self._descriptors.get(descriptor.fd) is descriptor:
                        del self._descriptors[descriptor.fd]
                self._pendingFrees += 1
                opaque = w.opaque
                self._enqueue(lambda: self._syncDescriptor(descriptor))
                self._enqueue(lambda: self._scheduleFree(opaque))
        if unknown:
            log.warn("libvirt removed unknown handle watch {watch}", watch=watch)
            return -1
        self._kick()
        return 0

    def addTimeout(self, interval: int, cb: Callable[..., Any], opaque: Any) -> int:
        """
        Register a timeout.

        @param interval: milliseconds between calls; -1 disabled, 0 on every
            reactor iteration.
        @param cb: libvirt-python's dispatcher, called as C{cb(timer, opaque)}.
        @param opaque: libvirt-python's data for C{cb} and the free callback.
        @return: the timer id (positive).
        """
        with self._lock:
            timerId = self._allocateId()
            timer = _Timer(timerId, interval, cb, opaque)
            self._timers[timerId] = timer
            self._enqueue(lambda: self._syncTimer(timer))
        self._kick()
        return timerId

    def updateTimeout(self, timer: int, interval: int) -> None:
        """
        Change a timeout's interval; the next call is C{interval} ms from now.

        @param timer: an id returned by L{addTimeout}.
        @param interval: new interval in ms (-1 disabled, 0 every iteration).
        """
        with self._lock:
            t = self._timers.get(timer)
            if t is not None:
                t.interval = interval
                self._enqueue(lambda: self._syncTimer(t))
        if t is None:
            log.warn("libvirt updated unknown timeout {timer}", timer=timer)
            return
        self._kick()

    def removeTimeout(self, timer: int) -> int:
        """
        Remove a timeout; libvirt's free callback runs on a later reactor turn.

        @param timer: an id returned by L{addTimeout}.
        @return: 0, or -1 if C{timer} is unknown.
        """
        with self._lock:
            t = self._timers.pop(timer, None)
            if t is not None:
                t.removed = True
                self._pendingFrees += 1
                opaque = t.opaque
                self._enqueue(lambda: self._syncTimer(t))
                self._enqueue(lambda: self._scheduleFree(opaque))
        if t is None:
            log.warn("libvirt removed unknown timeout {timer}", timer=timer)
            return -1
        self._kick()
        return 0

    # -- introspection --------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """
        Counts for leak checks.

        @return: C{handles} (live watches), C{descriptors} (fds with at least
            one watch), C{timers} (live timeouts), C{enabledTimers} (those with
            interval >= 0), C{pendingFrees} (free callbacks not yet run) and
            C{pendingOps} (reactor work not yet done).
        """
        with self._lock:
            return {
                "handles": len(self._watches),
                "descriptors": len(self._descriptors),
                "timers": len(self._timers),
                "enabledTimers": sum(1 for t in self._timers.values() if t.interval >= 0),
                "pendingFrees": self._pendingFrees,
                "pendingOps": len(self._ops),
            }

    def handles(self) -> list[dict[str, int]]:
        """
        @return: one C{{"watch", "fd", "events"}} dict per live watch.
        """
        with self._lock:
            return [
                {"watch": w.watchId, "fd": w.fd, "events": w.events} for w in self._watches.values()
            ]

    def timers(self) -> list[dict[str, int]]:
        """
        @return: one C{{"timer", "interval"}} dict per live timeout.
        """
        with self._lock:
            return [{"timer": t.timerId, "interval": t.interval} for t in self._timers.values()]

    def settle(self) -> Deferred[None]:
        """
        Wait until queued reactor work and pending free callbacks have run.

        Call on the reactor thread.  Useful before asserting L{stats} after
        closing a connection, since libvirt frees its data a turn later.

        @return: a Deferred that fires with L{None}.
        """
        d: Deferred[None] = Deferred()

        def check() -> None:
            with self._lock:
                busy = bool(self._ops) or self._pendingFrees > 0
            if busy:
                self.reactor.callLater(0, check)
            else:
                d.callback(None)

        self.reactor.callLater(0, check)
        return d

    # -- queue ---------------------------------------------------------------

    def _allocateId(self) -> int:
        # Caller holds the lock.  Ids are shared by handles and timers and
        # never reused, so a stale id can never hit a newer registration.
        i = self._nextId
        self._nextId += 1
        return i

    def _enqueue(self, op: Callable[[], None]) -> None:
        # Caller holds the lock, so queue order is the order libvirt called us.
        self._ops.append(op)

    def _kick(self) -> None:
        """
        Run queued work now if on the reactor thread, else get it there.
        """
        if isInIOThread():
            self._drain()
            return
        with self._lock:
            if self._drainScheduled or not self._ops:
                return
            self._drainScheduled = True
        self.reactor.callFromThread(self._drainFromThread)

    def _drainFromThread(self) -> None:
        with self._lock:
            self._drainScheduled = False
        self._drain()

    def _drain(self) -> None:
        if self._draining:
            # The outer loop below will pick up whatever was just queued.
            return
        self._draining = True
        try:
            while True:
                with self._lock:
                    if not self._ops:
                        return
                    op = self._ops.popleft()
                try:
                    op()
                except Exception:
                    log.failure("libvirt event loop: reactor update failed")
        finally:
            self._draining = False

    # -- reactor side: handles -------------------------------------------------

    def _syncDescriptor(self, descriptor: _Descriptor) -> None:
        """
        Make the reactor's view of C{descriptor} match what libvirt wants.
        """
        if descriptor.closed:
            return
        with self._lock:
            mask = 0
            for w in descriptor.watches.values():
                mask |= w.events
            detached = descriptor.detached
        wantRead = bool(mask & VIR_EVENT_HANDLE_READABLE) and not descriptor.lost
        wantWrite = bool(mask & VIR_EVENT_HANDLE_WRITABLE) and not descriptor.lost
        reactor = self.reactor
        if wantRead != descriptor.reading:
            descriptor.reading = wantRead
            if wantRead:
                reactor.addReader(descriptor)
            else:
                reactor.removeReader(descriptor)
        if wantWrite != descriptor.writing:
            descriptor.writing = wantWrite
            if wantWrite:
                reactor.addWriter(descriptor)
            else:
                reactor.removeWriter(descriptor)
        if detached:
            descriptor.closeDup()

    def _dispatchHandle(self, descriptor: _Descriptor, event: int) -> None:
        with self._lock:
            targets = [w for w in descriptor.watches.values() if w.events & event]
        for w in targets:
            # An earlier callback in this loop may have removed or paused it.
            with self._lock:
                live = not w.removed and bool(w.events & event)
            if live:
                self._invoke("handle", w.watchId, w.cb, w.watchId, w.fd, event, w.opaque)

    def _descriptorLost(self, descriptor: _Descriptor, reason: Failure) -> None:
        """
        The reactor dropped C{descriptor} (hang-up, error, or shutdown).

        Report it once to every watch; libvirt reports ERROR and HANGUP
        whatever the mask.  The fd is not watched again: libvirt is expected
        to remove the watch, and re-adding it would make the reactor spin.
        """
        # The reactor already removed it from its readers and writers.
        descriptor.reading = False
        descriptor.writing = False
        descriptor.lost = True
        if self._stopping:
            # The reactor drops every descriptor at shutdown; that is not the
            # peer hanging up, and libvirt should not log it as an I/O error.
            return
        if reason.check(ConnectionDone):
            event = VIR_EVENT_HANDLE_HANGUP
        else:
            event = VIR_EVENT_HANDLE_HANGUP | VIR_EVENT_HANDLE_ERROR
        with self._lock:
            # New watches on this fd number must get a fresh descriptor.
            if self._descriptors.get(descriptor.fd) is descriptor:
                del self._descriptors[descriptor.fd]
            targets = list(descriptor.watches.values())
            detached = descriptor.detached
        if detached:
            descriptor.closeDup()
        for w in targets:
            with self._lock:
                live = not w.removed
            if live:
                self._invoke("handle", w.watchId, w.cb, w.watchId, w.fd, event, w.opaque)

    # -- reactor side: timers --------------------------------------------------

    def _syncTimer(self, timer: _Timer) -> None:
        """
        (Re)arm C{timer} from now according to its current interval.
        """
        with self._lock:
            interval = -1 if timer.removed else timer.interval
        dc, timer.delayedCall = timer.delayedCall, None
        if dc is not None and dc.active():
            dc.cancel()
        if interval >= 0:
            timer.delayedCall = self._arm(timer, interval)

    def _arm(self, timer: _Timer, interval: int) -> IDelayedCall:
        # callLater(0) scheduled while the reactor runs its timed calls waits
        # for the next iteration, so a 0 timer fires once per loop turn and
        # never starves I/O.
        return self.reactor.callLater(interval / 1000.0, self._fireTimer, timer)

    def _fireTimer(self, timer: _Timer) -> None:
        timer.delayedCall = None
        with self._lock:
            live = not timer.removed and timer.interval >= 0
        if not live:
            return
        self._invoke("timeout", timer.timerId, timer.cb, timer.timerId, timer.opaque)
        if timer.delayedCall is None:
            # Not re-armed by an update made from inside the callback.
            with self._lock:
                interval = -1 if timer.removed else timer.interval
            if interval >= 0:
                timer.delayedCall = self._arm(timer, interval)

    # -- reactor side: free callbacks and invocation --------------------------

    def _scheduleFree(self, opaque: Any) -> None:
        # libvirt forbids running the free callback inside remove*(): it may
        # take locks the caller of remove*() holds.
        self.reactor.callLater(0, self._runFree, opaque)

    def _runFree(self, opaque: Any) -> None:
        try:
            libvirt.virEventInvokeFreeCallback(opaque)
        except Exception:
            log.failure("libvirt event loop: free callback failed")
        finally:
            with self._lock:
                self._pendingFrees -= 1

    def _invoke(self, kind: str, ident: int, cb: Callable[..., Any], *args: Any) -> None:
        """
        Call into libvirt, logging anything raised instead of letting it reach
        the reactor.
        """
        state = self._dispatching
        state.depth = getattr(state, "depth", 0) + 1
        try:
            cb(*args)
        except Exception:
            log.failure(
                "libvirt {kind} callback {ident} raised",
                kind=kind,
                ident=ident,
                level=LogLevel.error,
            )
        finally:
            state.depth -= 1

    def _isDispatching(self) -> bool:
        return getattr(self._dispatching, "depth", 0) > 0

    # -- shutdown --------------------------------------------------------------

    def _reactorStopping(self) -> None:
        self._stopping = True

    def _reactorStopped(self) -> None:
        # The reactor has dropped its descriptors; if it goes on running
        # (trial's -j workers fire "shutdown" after every test they run),
        # hang-ups of descriptors watched from now on are real again.
        self._stopping = False
