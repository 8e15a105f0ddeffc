"""
The in-memory plumbing behind L{virtd.testing.MemoryVirtd}: a loopback
between two protocols made of L{StringTransport}s, and a worker pool that
runs its jobs on the caller's thread.

Nothing here opens a socket or starts a thread, so a
L{twisted.trial.unittest.SynchronousTestCase} can drive a whole
client/daemon conversation and read results with C{successResultOf}.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet import address
from twisted.internet.error import ConnectionAborted, ConnectionDone, ConnectionLost
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

__all__ = ["InlineWorkerPool", "Loopback", "MemoryTransport", "Pump"]


class MemoryTransport(StringTransport):
    """
    One end of a L{Loopback}: a L{StringTransport} that tells its L{Pump}
    whenever there may be something to move (bytes written, a close, reading
    resumed).
    """

    def __init__(self, pump: Pump, host: Any, peer: Any) -> None:
        super().__init__(hostAddress=host, peerAddress=peer, lenient=True)
        self._pump = pump
        self.lost = False

    def write(self, data: bytes) -> None:
        if self.disconnecting or self.lost:
            return  # like a real transport: writes after a close vanish
        super().write(data)
        self._pump.poke()

    def writeSequence(self, data: Any) -> None:
        self.write(b"".join(data))

    def loseConnection(self) -> None:
        super().loseConnection()
        self._pump.poke()

    def abortConnection(self) -> None:
        super().abortConnection()
        self._pump.poke()

    def resumeProducing(self) -> None:
        super().resumeProducing()
        self._pump.poke()


class Loopback:
    """
    A client protocol and a server protocol joined in memory.

    Bytes move only when the L{Pump} runs, never from inside C{write}, so a
    protocol is never re-entered while it is writing. A receiver whose
    transport is paused (C{pauseProducing}, as the daemon does at its
    in-flight limit) gets nothing until it resumes.
    """

    def __init__(self, pump: Pump, client: Any, server: Any,
                 clientAddress: Any = None, serverAddress: Any = None) -> None:
        clientAddress = clientAddress or address.UNIXAddress(None)
        serverAddress = serverAddress or address.UNIXAddress(b"virtd-memory")
        self.client = client
        self.server = server
        self.clientTransport = MemoryTransport(pump, clientAddress, serverAddress)
        self.serverTransport = MemoryTransport(pump, serverAddress, clientAddress)
        self.closed = False

    def start(self) -> None:
        """
        Call C{makeConnection} on both protocols (server first, as a
        listening daemon would have accepted before the client sees it).
        """
        self.server.makeConnection(self.serverTransport)
        self.client.makeConnection(self.clientTransport)

    @staticmethod
    def _move(source: MemoryTransport, target: MemoryTransport,
              protocol: Any) -> bool:
        data = source.value()
        if not data or target.producerState != "producing":
            return False
        source.clear()
        protocol.dataReceived(data)
        return True

    def step(self) -> bool:
        """
        Deliver what is waiting in each direction, then a close if one is due.

        @return: whether anything happened.
        """
        if self.closed:
            return False
        c, s = self.clientTransport, self.serverTransport
        aborted = c.disconnected or s.disconnected
        moved = False
        if not aborted:
            moved = self._move(c, s, self.server)
            moved = self._move(s, c, self.client) or moved
        if aborted or ((c.disconnecting or s.disconnecting)
                       and not c.value() and not s.value()):
            self._close(aborted)
            return True
        return moved

    def _close(self, aborted: bool) -> None:
        self.closed = True
        c, s = self.clientTransport, self.serverTransport
        for transport, protocol in ((c, self.client), (s, self.server)):
            transport.clear()
            transport.connected = False
            transport.lost = True
            if aborted:
                why = ConnectionAborted() if transport.disconnected else \
                    ConnectionLost("the other end aborted the connection")
            else:
                why = ConnectionDone("the connection was closed cleanly")
            protocol.connectionLost(Failure(why))


class InlineWorkerPool:
    """
    A stand-in for L{virtd.server.pool.WorkerPool} with the same interface
    (C{submit}, C{busy}, C{size}, C{idle}, C{catchUp}, C{stop}) that runs
    jobs on the caller's thread when its L{Pump} runs, instead of in worker
    threads.

    Jobs are queued by C{submit} and run in submission order by
    L{runPending}, so a job never runs inside the dispatcher call that
    submitted it.
    """

    def __init__(self, pump: Pump, name: str, size: int) -> None:
        self._pump = pump
        self.name = name
        self.size = size
        self.busy = 0
        self._jobs: deque = deque()
        self.stopped = False
        #: Called after each batch of deliveries, as by the real pool (the
        #: dispatcher flushes the replies it held for the batch).
        self.afterDelivery: Callable[[], None] | None = None
        #: Accepted for the real pool's interface; every completion here is
        #: delivered when the job runs.
        self.urgent: Callable[[Any, bool, Any], bool] | None = None

    def submit(self, fn: Callable, args: tuple,
               done: Callable[[Any, bool, Any], None], tag: Any = None) -> None:
        """
        Queue C{fn(*args)}; L{runPending} runs it and calls
        C{done(tag, ok, result)} as the real pool does.
        """
        self.busy += 1
        self._jobs.append((fn, args, done, tag))
        self._pump.poke()

    @property
    def idle(self) -> bool:
        return self.busy < self.size

    def catchUp(self) -> None:
        """
        Nothing waits: L{runPending} delivers every completion as it runs.
        """

    def runPending(self) -> int:
        """
        Run the queued jobs (and those they queue).

        @return: how many ran.
        """
        count = 0
        while self._jobs:
            fn, args, done, tag = self._jobs.popleft()
            try:
                result, ok = fn(*args), True
            except Exception as e:
                result, ok = e, False
            self.busy -= 1
            done(tag, ok, result)
            count += 1
        if count and self.afterDelivery is not None:
            self.afterDelivery()
        return count

    def stop(self, timeout: float = 0.0) -> list[str]:
        """
        Nothing to stop: there are no threads.

        @return: an empty list (no thread is left running).
        """
        self.stopped = True
        return []


class Pump:
    """
    Moves bytes between the L{Loopback}s and runs the L{InlineWorkerPool}
    jobs until nothing more happens.

    @ivar auto: pump as soon as something is written or submitted (outside
        any protocol callback: a poke during a pump only asks for another
        round). With C{auto} off, nothing moves until L{flush}.
    """

    def __init__(self, auto: bool = True) -> None:
        self.auto = auto
        self.links: list[Loopback] = []
        self.pools: list[InlineWorkerPool] = []
        self._running = False

    def poke(self) -> None:
        """
        Something may be ready to move.
        """
        if self.auto and not self._running:
            self.flush()

    def flush(self) -> bool:
        """
        Move everything that can move.

        @return: whether anything happened.
        """
        if self._running:
            return False
        self._running = True
        anything = False
        try:
            progress = True
            while progress:
                progress = False
                for pool in self.pools:
                    if pool.runPending():
                        progress = True
                for link in list(self.links):
                    if link.step():
                        progress = True
                    if link.closed:
                        self.links.remove(link)
                anything = anything or progress
        finally:
            self._running = False
        return anything
